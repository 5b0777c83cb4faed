"""What the client raises: tokenhub's codes, its own for a tokenhub out of reach, never a key or token."""

from __future__ import annotations

import http.server
import pickle
import secrets
import traceback
import unittest

from support import KIND, LocalServer, Setup, Simulators, closed_port_url, needs_tokenhub, reply  # first: puts ../tokenhub_client on sys.path
from tokenhub_client import TokenHubClient, TokenHubClientError


SECRET_KEY = "a-client-key-that-must-stay-secret-0123"


def everything_said(err: BaseException) -> str:
    """Every text the error shows: str, repr, and the whole traceback with its causes."""
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__))])


@needs_tokenhub
class TokenhubErrorsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.hub = TokenHubClient(Setup.url, Setup.key)

    def raised(self, call) -> TokenHubClientError:  # type: ignore[no-untyped-def]
        with self.assertRaises(TokenHubClientError) as caught:
            call()
        return caught.exception

    def test_a_wrong_key_is_unauthorized_and_the_key_is_nowhere_in_the_error(self) -> None:
        wrong = TokenHubClient(Setup.url, SECRET_KEY)
        err = self.raised(lambda: wrong.get_token(Setup.feishu_app, KIND))
        self.assertEqual((err.code, err.status), ("TOKENHUB_UNAUTHORIZED", 401))
        self.assertTrue(err.message)
        self.assertNotIn(SECRET_KEY, everything_said(err))
        self.assertNotIn(SECRET_KEY, repr(wrong))
        # Without a kind the client first lists the apps: refused the same way.
        self.assertEqual(self.raised(lambda: wrong.get_token(Setup.feishu_app)).code, "TOKENHUB_UNAUTHORIZED")

    def test_an_unknown_app_is_not_found(self) -> None:
        err = self.raised(lambda: self.hub.get_token("no-such-app", KIND))
        self.assertEqual((err.code, err.status), ("TOKENHUB_APP_NOT_FOUND", 404))
        err = self.raised(lambda: self.hub.get_token("no-such-app"))
        self.assertEqual((err.code, err.status), ("TOKENHUB_APP_NOT_FOUND", 404))
        err = self.raised(lambda: self.hub.jsapi_signature("no-such-app", "https://app.example.com/"))
        self.assertEqual((err.code, err.status), ("TOKENHUB_APP_NOT_FOUND", 404))

    def test_an_unknown_kind_is_a_bad_request(self) -> None:
        err = self.raised(lambda: self.hub.get_token(Setup.feishu_app, "access_token"))
        self.assertEqual((err.code, err.status), ("TOKENHUB_UNKNOWN_KIND", 400))

    def test_errors_made_with_the_real_key_hold_neither_key_nor_token(self) -> None:
        token = self.hub.get_token(Setup.feishu_app, KIND)
        errors = [
            self.raised(lambda: self.hub.get_token("no-such-app", KIND)),
            self.raised(lambda: self.hub.invalidate("no-such-app", KIND, token)),
            self.raised(lambda: self.hub.get_token(Setup.feishu_app, KIND, min_ttl=7300)),
        ]
        for err in errors:
            said = everything_said(err)
            self.assertNotIn(Setup.key, said)
            self.assertNotIn(token, said)
        self.assertNotIn(Setup.key, repr(self.hub))
        self.assertNotIn(Setup.key, str(vars(self.hub)))

    def test_the_platform_down_with_no_token_at_hand_is_503_with_retry_after(self) -> None:
        sims = Simulators(Setup.sim_url)
        # The store app's own token is at hand first, so that only the new tenant's is missing.
        self.hub.get_token(Setup.store_app, KIND, tenant_key=f"py_warm_{secrets.token_hex(4)}")
        sims.fault("feishu", "status500")
        try:
            err = self.raised(lambda: self.hub.get_token(Setup.store_app, KIND, tenant_key=f"py_down_{secrets.token_hex(4)}"))
        finally:
            sims.fault("feishu", "none")
        self.assertEqual((err.code, err.status, err.platform), ("TOKENHUB_PLATFORM_UNAVAILABLE", 503, "feishu"))
        self.assertIsNotNone(err.retry_after)
        self.assertGreaterEqual(err.retry_after, 1)

    def test_an_error_survives_pickling_whole(self) -> None:
        err = self.raised(lambda: self.hub.get_token("no-such-app", KIND))
        copy = pickle.loads(pickle.dumps(err))
        self.assertEqual((copy.code, copy.status, copy.message), (err.code, err.status, err.message))


class UnreachableTokenhubTest(unittest.TestCase):
    """tokenhub out of reach or not tokenhub: the client's own codes. Local servers only."""

    def test_nothing_listening_is_unreachable_naming_the_cause(self) -> None:
        url = closed_port_url()
        hub = TokenHubClient(url, SECRET_KEY)
        with self.assertRaises(TokenHubClientError) as caught:
            hub.get_token("main", KIND)
        err = caught.exception
        self.assertEqual((err.code, err.status), ("TOKENHUB_CLIENT_UNREACHABLE", None))
        self.assertIn("ECONNREFUSED", err.message)
        self.assertIn(url, err.message)
        self.assertNotIn(SECRET_KEY, everything_said(err))

    def test_no_answer_within_the_timeout_is_a_timeout(self) -> None:
        server = LocalServer()  # never answers
        self.addCleanup(server.close)
        hub = TokenHubClient(server.url, SECRET_KEY, timeout=0.3)
        with self.assertRaises(TokenHubClientError) as caught:
            hub.get_token("main", KIND)
        self.assertEqual(caught.exception.code, "TOKENHUB_CLIENT_TIMEOUT")
        self.assertIn("0.3 s", caught.exception.message)
        self.assertNotIn(SECRET_KEY, everything_said(caught.exception))

    def test_someone_elses_page_is_a_bad_response_with_its_status_and_retry_after(self) -> None:
        def bad_gateway(handler: http.server.BaseHTTPRequestHandler) -> None:
            reply(handler, 502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html", "Retry-After": "7"})

        server = LocalServer(bad_gateway)
        self.addCleanup(server.close)
        with self.assertRaises(TokenHubClientError) as caught:
            TokenHubClient(server.url, SECRET_KEY).get_token("main", KIND)
        err = caught.exception
        self.assertEqual((err.code, err.status, err.retry_after), ("TOKENHUB_CLIENT_BAD_RESPONSE", 502, 7))

    def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(self) -> None:
        seen = []

        def elsewhere(handler: http.server.BaseHTTPRequestHandler) -> None:
            seen.append(handler.headers.get("Authorization"))
            reply(handler, 200, b"{}")

        target = LocalServer(elsewhere)
        self.addCleanup(target.close)

        def redirect(handler: http.server.BaseHTTPRequestHandler) -> None:
            reply(handler, 307, b"", {"Location": target.url + handler.path})

        server = LocalServer(redirect)
        self.addCleanup(server.close)
        with self.assertRaises(TokenHubClientError) as caught:
            TokenHubClient(server.url, SECRET_KEY).get_token("main", KIND)
        self.assertEqual((caught.exception.code, caught.exception.status), ("TOKENHUB_CLIENT_BAD_RESPONSE", 307))
        self.assertEqual(seen, [])

    def test_bad_options_are_refused_naming_the_option(self) -> None:
        for options, name in [
            ({"url": "ftp://x", "key": SECRET_KEY}, "url"),
            ({"url": "http://127.0.0.1:1", "key": " "}, "key"),
            ({"url": "http://127.0.0.1:1", "key": SECRET_KEY, "timeout": 0}, "timeout"),
            ({"url": "http://127.0.0.1:1", "key": SECRET_KEY, "refresh_fraction": 1}, "refresh_fraction"),
        ]:
            with self.assertRaisesRegex(ValueError, f"^{name}:"):
                TokenHubClient(**options)
        hub = TokenHubClient("http://127.0.0.1:1", SECRET_KEY)
        with self.assertRaisesRegex(ValueError, "^app:"):
            hub.get_token("", KIND)
        with self.assertRaisesRegex(ValueError, "^tenant_key:"):
            hub.get_token("main", KIND, tenant_key="")
