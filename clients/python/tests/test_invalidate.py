"""invalidate against a real tokenhub: compare-and-refresh, one request for many reports."""

from __future__ import annotations

import secrets
import time

from support import KIND, STORE_TENANT_CALLS, HubTestCase, Setup, in_threads, needs_tokenhub, wait_for  # first: puts ../tokenhub_client on sys.path


@needs_tokenhub
class InvalidateTest(HubTestCase):
    def setUp(self) -> None:
        super().setUp()
        # A tenant of its own for each test: its token is current at tokenhub and was never reported,
        # so that tokenhub's spacing of refreshes on reports does not carry over between runs.
        self.tenant = f"py_inv_{secrets.token_hex(6)}"
        self.path = f"/v1/apps/{Setup.store_app}/tokens/{KIND}"

    def upstream(self) -> int:
        return self.sims.count("feishu", STORE_TENANT_CALLS, Setup.store_app_id)

    def test_20_threads_reporting_the_held_token_refresh_it_once(self) -> None:
        hub = self.client()
        old = hub.get_token(Setup.store_app, KIND, tenant_key=self.tenant)
        self.assertTrue(self.sims.revoke("feishu", old), "the simulator knew the token")
        before = self.upstream()
        fresh = in_threads(20, lambda: hub.invalidate(Setup.store_app, KIND, old, tenant_key=self.tenant))
        for token in fresh:
            self.assertIsInstance(token, str, repr(token))
        self.assertEqual(len(set(fresh)), 1)
        self.assertNotEqual(fresh[0], old)
        self.assertEqual(self.proxy.count("POST", f"{self.path}/invalidate"), 1)
        self.assertEqual(self.upstream() - before, 1)
        # The cache holds the new token now; reporting the old one again costs nothing at all.
        self.assertEqual(hub.get_token(Setup.store_app, KIND, tenant_key=self.tenant), fresh[0])
        self.assertEqual(hub.invalidate(Setup.store_app, KIND, old, tenant_key=self.tenant), fresh[0])
        self.assertEqual(self.proxy.total(), 2)
        self.assertEqual(self.upstream() - before, 1)

    def test_get_token_during_a_report_waits_for_its_answer_instead_of_asking_again(self) -> None:
        hub = self.client()
        old = hub.get_token(Setup.store_app, KIND, tenant_key=self.tenant)
        self.sims.revoke("feishu", old)
        report = f"{self.path}/invalidate"
        self.proxy.gate.clear()  # the report waits at the proxy until the getters are waiting too
        reported = in_threads(1, lambda: hub.invalidate(Setup.store_app, KIND, old, tenant_key=self.tenant), wait=False)
        wait_for(lambda: self.proxy.count("POST", report) == 1)

        def release_the_report() -> None:
            time.sleep(0.3)
            self.proxy.gate.set()

        got = in_threads(5, lambda: hub.get_token(Setup.store_app, KIND, tenant_key=self.tenant), release_the_report)
        fresh = reported()[0]
        self.assertNotEqual(fresh, old)
        self.assertEqual(got, [fresh] * 5)
        self.assertEqual(self.proxy.count("POST", report), 1)
        self.assertEqual(self.proxy.count("GET", self.path), 1, "only the first get_token asked tokenhub")

    def test_a_stale_report_from_another_client_gets_the_current_token_and_refreshes_nothing(self) -> None:
        a, b = self.client(), self.client()
        old = a.get_token(Setup.store_app, KIND, tenant_key=self.tenant)
        self.sims.revoke("feishu", old)
        fresh = a.invalidate(Setup.store_app, KIND, old, tenant_key=self.tenant)
        before = self.upstream()
        # b never saw the new token: it asks tokenhub, which compares and calls nobody.
        self.assertEqual(b.invalidate(Setup.store_app, KIND, old, tenant_key=self.tenant), fresh)
        self.assertEqual(self.proxy.count("POST", f"{self.path}/invalidate"), 2)
        self.assertEqual(self.upstream(), before)

    def test_a_report_of_another_token_than_the_held_one_is_answered_from_the_cache(self) -> None:
        hub = self.client()
        old = hub.get_token(Setup.feishu_app)
        self.assertEqual(hub.invalidate(Setup.feishu_app, KIND, "t-a-token-tokenhub-never-handed-out"), old)
        self.assertEqual(hub.invalidate(Setup.feishu_app, None, "t-another-one"), old)
        self.assertEqual(self.proxy.count("POST", f"/v1/apps/{Setup.feishu_app}/tokens/{KIND}/invalidate"), 0)

    def test_an_empty_token_is_refused_before_any_request(self) -> None:
        hub = self.client()
        with self.assertRaises(ValueError):
            hub.invalidate(Setup.feishu_app, KIND, "")
        self.assertEqual(self.proxy.total(), 0)
