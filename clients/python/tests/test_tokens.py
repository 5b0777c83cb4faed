"""get_token against a real tokenhub: the cache, coalescing across threads, tenants, the clock."""

from __future__ import annotations

import secrets
import time

from support import CUSTOM_TENANT_CALLS, KIND, STORE_TENANT_CALLS, FakeClock, HubTestCase, Setup, in_threads, needs_tokenhub  # first: puts ../tokenhub_client on sys.path
from tokenhub_client import TokenHubClientError, TokenInfo


@needs_tokenhub
class GetTokenTest(HubTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.app = Setup.feishu_app
        self.token_path = f"/v1/apps/{self.app}/tokens/{KIND}"

    def test_20_threads_cold_make_one_request_to_tokenhub_and_one_upstream_call(self) -> None:
        # A tenant tokenhub has never seen: cold at the client and at tokenhub alike.
        tenant = f"py_{secrets.token_hex(6)}"
        path = f"/v1/apps/{Setup.store_app}/tokens/{KIND}"
        upstream = self.sims.count("feishu", STORE_TENANT_CALLS, Setup.store_app_id)
        hub = self.client()
        tokens = in_threads(20, lambda: hub.get_token(Setup.store_app, KIND, tenant_key=tenant))
        for token in tokens:
            self.assertIsInstance(token, str, repr(token))
        self.assertEqual(len(set(tokens)), 1)
        self.assertEqual(self.proxy.count("GET", path), 1)
        self.assertEqual(self.sims.count("feishu", STORE_TENANT_CALLS, Setup.store_app_id) - upstream, 1)

    def test_a_cached_token_costs_no_request(self) -> None:
        hub = self.client()
        first = hub.get_token(self.app, KIND)
        self.assertEqual(self.proxy.count("GET", self.token_path), 1)
        for _ in range(50):
            self.assertEqual(hub.get_token(self.app, KIND), first)
        self.assertEqual(in_threads(10, lambda: hub.get_token(self.app, KIND)), [first] * 10)
        self.assertEqual(self.proxy.total(), 1)

    def test_token_info_says_what_tokenhub_said_and_its_repr_hides_the_token(self) -> None:
        hub = self.client()
        info = hub.get_token_info(self.app, KIND)
        self.assertIsInstance(info, TokenInfo)
        self.assertEqual((info.app, info.platform, info.kind, info.tenant_key), (self.app, "feishu", KIND, None))
        # Feishu tokens live 2 hours; a cached one has at least the hub's minTtl (60 s) left.
        self.assertGreater(info.expires_at - time.time(), 59)
        self.assertLessEqual(info.expires_at - time.time(), 7200 + 1)
        self.assertNotIn(info.token, repr(info))
        self.assertNotIn(info.token, str(info))

    def test_without_a_kind_the_apps_default_kind_is_used(self) -> None:
        hub = self.client()
        tokens = in_threads(10, lambda: hub.get_token(self.app))
        self.assertEqual(len(set(tokens)), 1)
        self.assertEqual(hub.get_token(self.app, KIND), tokens[0])
        # One listing of the apps, one token request, whatever the number of threads.
        self.assertEqual(self.proxy.count("GET", "/v1/apps"), 1)
        self.assertEqual(self.proxy.count("GET", self.token_path), 1)
        ids = [a["id"] for a in hub.apps()]
        self.assertIn(self.app, ids)

    def test_a_token_near_its_expiry_is_fetched_again(self) -> None:
        clock = FakeClock()
        hub = self.client(clock=clock)
        info = hub.get_token_info(self.app, KIND)
        lifetime = info.expires_at - time.time()
        margin = max(60.0, 0.1 * lifetime)
        self.assertGreater(lifetime, 2 * margin, "the test needs a token with more than twice the margin left")
        # Just before the margin: still served from the cache.
        clock.advance(lifetime - margin - 5)
        self.assertEqual(hub.get_token(self.app, KIND), info.token)
        self.assertEqual(self.proxy.count("GET", self.token_path), 1)
        # Inside it: asked again (tokenhub answers from its own cache, no upstream call needed).
        clock.advance(10)
        upstream = self.sims.count("feishu", CUSTOM_TENANT_CALLS, Setup.feishu_app_id)
        self.assertIsInstance(hub.get_token(self.app, KIND), str)
        self.assertEqual(self.proxy.count("GET", self.token_path), 2)
        self.assertEqual(self.sims.count("feishu", CUSTOM_TENANT_CALLS, Setup.feishu_app_id), upstream)
        # And cached again from then on.
        hub.get_token(self.app, KIND)
        self.assertEqual(self.proxy.count("GET", self.token_path), 2)

    def test_min_ttl_beyond_the_cached_token_asks_tokenhub_which_refuses_the_impossible(self) -> None:
        hub = self.client()
        hub.get_token(self.app, KIND)
        hub.get_token(self.app, KIND, min_ttl=600)
        self.assertEqual(self.proxy.count("GET", self.token_path), 1, "the cached token had enough left")
        with self.assertRaises(TokenHubClientError) as caught:
            hub.get_token(self.app, KIND, min_ttl=7300)
        self.assertEqual((caught.exception.code, caught.exception.status), ("TOKENHUB_BAD_REQUEST", 400))

    def test_when_tokenhub_fails_a_cached_token_still_good_is_served_until_near_its_end(self) -> None:
        clock = FakeClock()
        hub = self.client(clock=clock)
        info = hub.get_token_info(self.app, KIND)
        lifetime = info.expires_at - time.time()
        self.proxy.fail = True
        clock.advance(lifetime - 30)  # past the refresh time (the margin is at least 60 s), 30 s left
        self.assertEqual(hub.get_token(self.app, KIND), info.token)
        self.assertEqual(self.proxy.count("GET", self.token_path), 2, "it did ask")
        with self.assertRaises(TokenHubClientError) as caught:
            hub.get_token(self.app, KIND, min_ttl=60)  # more than is left: not served stale
        self.assertEqual(caught.exception.code, "TOKENHUB_CLIENT_BAD_RESPONSE")
        clock.advance(27)  # 3 s left: below the 5 s floor
        with self.assertRaises(TokenHubClientError) as caught:
            hub.get_token(self.app, KIND)
        self.assertEqual((caught.exception.code, caught.exception.status), ("TOKENHUB_CLIENT_BAD_RESPONSE", 502))

    def test_a_store_apps_tenants_each_have_their_own_token(self) -> None:
        hub = self.client()
        a, b = f"py_a_{secrets.token_hex(4)}", f"py_b_{secrets.token_hex(4)}"
        upstream = self.sims.count("feishu", STORE_TENANT_CALLS, Setup.store_app_id)
        token_a = hub.get_token(Setup.store_app, KIND, tenant_key=a)
        token_b = hub.get_token(Setup.store_app, KIND, tenant_key=b)
        self.assertNotEqual(token_a, token_b)
        self.assertEqual(hub.get_token_info(Setup.store_app, KIND, tenant_key=a).tenant_key, a)
        self.assertEqual(hub.get_token(Setup.store_app, KIND, tenant_key=a), token_a)
        self.assertEqual(hub.get_token(Setup.store_app, KIND, tenant_key=b), token_b)
        self.assertEqual(self.proxy.count("GET", f"/v1/apps/{Setup.store_app}/tokens/{KIND}"), 2)
        self.assertEqual(self.sims.count("feishu", STORE_TENANT_CALLS, Setup.store_app_id) - upstream, 2)
        # A store app's tenant token needs its tenant: tokenhub says so.
        with self.assertRaises(TokenHubClientError) as caught:
            hub.get_token(Setup.store_app, KIND)
        self.assertEqual((caught.exception.code, caught.exception.status), ("TOKENHUB_BAD_REQUEST", 400))
