"""jsapi_signature and card_signature against a real tokenhub, checked by the simulators' verifiers."""

from __future__ import annotations

import time

from support import HubTestCase, Setup, in_threads, needs_tokenhub, wait_for  # first: puts ../tokenhub_client on sys.path
from tokenhub_client import TokenHubClientError

PAGE = "https://app.example.com/page?x=1"


@needs_tokenhub
class SignatureTest(HubTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.hub = self.client()

    def test_a_page_signature_verifies_at_the_platform_and_its_fragment_is_dropped(self) -> None:
        sig = self.hub.jsapi_signature(Setup.feishu_app, PAGE + "#section")
        self.assertEqual(sig["url"], PAGE)
        self.assertEqual(sig["kind"], "jsapi_ticket")
        self.assertRegex(sig["signature"], r"^[0-9a-f]{40}$")
        self.assertEqual(sig["config"]["appId"], Setup.feishu_app_id)
        # What the page passes to h5sdk.config, checked as the Feishu client checks it.
        self.assertEqual(self.sims.verify("feishu", {**sig["config"], "url": sig["url"]}), {"ok": True})
        self.assertFalse(self.sims.verify("feishu", {**sig["config"], "url": PAGE + "&evil=1"})["ok"])
        sent = self.proxy.count("POST", f"/v1/apps/{Setup.feishu_app}/jsapi/signature")
        self.assertEqual(sent, 1)

    def test_concurrent_signatures_of_one_page_make_one_request_and_nothing_is_cached(self) -> None:
        path = f"/v1/apps/{Setup.feishu_app}/jsapi/signature"

        def hold_the_first_answer() -> None:
            # Nothing is cached: a thread would make a request of its own once the first has been
            # answered. Holding the answer a while lets every thread join the one in flight.
            wait_for(lambda: self.proxy.count("POST", path) >= 1)
            time.sleep(0.3)
            self.proxy.gate.set()

        self.proxy.gate.clear()
        sigs = in_threads(10, lambda: self.hub.jsapi_signature(Setup.feishu_app, PAGE), hold_the_first_answer)
        for sig in sigs:
            self.assertIsInstance(sig, dict, repr(sig))
        self.assertEqual(len({s["nonceStr"] for s in sigs}), 1)
        self.assertEqual(self.proxy.count("POST", path), 1)
        # Each caller has its own copy.
        sigs[0]["config"]["appId"] = "changed"
        self.assertEqual(sigs[1]["config"]["appId"], Setup.feishu_app_id)
        later = self.hub.jsapi_signature(Setup.feishu_app, PAGE)
        self.assertNotEqual(later["nonceStr"], sigs[0]["nonceStr"])
        self.assertEqual(self.proxy.count("POST", path), 2)

    def test_a_store_apps_tenant_page_signature_verifies_for_that_tenant(self) -> None:
        sig = self.hub.jsapi_signature(Setup.store_app, PAGE, tenant_key="py_sig_tenant")
        self.assertEqual(sig["tenantKey"], "py_sig_tenant")
        verdict = self.sims.verify("feishu", {**sig["config"], "url": sig["url"], "tenantKey": "py_sig_tenant"})
        self.assertEqual(verdict, {"ok": True})
        self.assertFalse(self.sims.verify("feishu", {**sig["config"], "url": sig["url"], "tenantKey": "another"})["ok"])

    def test_a_url_that_is_not_http_is_refused_by_tokenhub(self) -> None:
        with self.assertRaises(TokenHubClientError) as caught:
            self.hub.jsapi_signature(Setup.feishu_app, "javascript:alert(1)")
        self.assertEqual((caught.exception.code, caught.exception.status), ("TOKENHUB_BAD_REQUEST", 400))
        with self.assertRaises(ValueError):
            self.hub.jsapi_signature(Setup.feishu_app, "")

    def test_a_wechat_card_signature_verifies_at_the_platform(self) -> None:
        card = self.hub.card_signature(Setup.wechat_app, card_id="pCardA", code="1102", openid="oUser")
        self.assertEqual(card["kind"], "wx_card_ticket")
        self.assertEqual(card["cardId"], "pCardA")
        config = {
            "api": "cardSign",
            "appId": Setup.wechat_app_id,
            "timestamp": card["timestamp"],
            "nonceStr": card["nonceStr"],
            "cardId": "pCardA",
            "code": "1102",
            "openid": "oUser",
            "cardSign": card["cardSign"],
        }
        self.assertEqual(self.sims.verify("wechat", config), {"ok": True})
        self.assertFalse(self.sims.verify("wechat", {**config, "code": "1103"})["ok"])
        choose = self.hub.card_signature(Setup.wechat_app, for_="chooseCard", card_type="GROUPON")
        self.assertRegex(choose["cardSign"], r"^[0-9a-f]{40}$")
        with self.assertRaises(TokenHubClientError) as caught:
            self.hub.card_signature(Setup.feishu_app, card_id="x")
        self.assertEqual((caught.exception.code, caught.exception.status), ("TOKENHUB_BAD_REQUEST", 400))
