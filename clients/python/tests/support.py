"""
What the tests need around the client: where tokenhub and the simulators are (from the
environment), a counting proxy in front of tokenhub, the simulators' control API, and local servers
that refuse, hang or answer garbage.

Environment (the defaults are the apps of `npm start`'s demo):

    TOKENHUB_URL, TOKENHUB_KEY          tokenhub, and a client key allowed the apps below (required)
    TOKENHUB_SIM_URL                    the platform simulators tokenhub talks to (required)
    TOKENHUB_TEST_FEISHU_APP            a Feishu custom app   (feishu-main)
    TOKENHUB_TEST_FEISHU_APP_ID         its app id            (cli_demo_feishu_main)
    TOKENHUB_TEST_STORE_APP             a Feishu store app    (feishu-store)
    TOKENHUB_TEST_STORE_APP_ID          its app id            (cli_demo_feishu_store)
    TOKENHUB_TEST_WECHAT_APP            a WeChat account      (wechat-main)
    TOKENHUB_TEST_WECHAT_APP_ID         its app id            (wxdemo0main0account)
"""

from __future__ import annotations

import collections
import http.client
import http.server
import json
import os
import pathlib
import socket
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Optional

# The package beside tests/, ahead of any installed copy: the tests test this tree.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tokenhub_client import TokenHubClient  # noqa: E402 - after the path is set

REQUIRED = ("TOKENHUB_URL", "TOKENHUB_KEY", "TOKENHUB_SIM_URL")
MISSING = [name for name in REQUIRED if not os.environ.get(name)]
SKIP_REASON = f"no tokenhub: set {', '.join(MISSING)} (clients/python/README.md, Tests)"


#: The token kind the tests ask for: Feishu's tenant token.
KIND = "tenant_access_token"
#: The Feishu simulator's counters of tenant token calls (src/sim/feishu.ts FEISHU_ENDPOINTS).
CUSTOM_TENANT_CALLS = "tenant_access_token/internal"
STORE_TENANT_CALLS = "tenant_access_token"


def needs_tokenhub(cls):  # type: ignore[no-untyped-def]
    """Skips a test class, saying why, unless the environment names a tokenhub and its simulators."""
    return unittest.skipIf(bool(MISSING), SKIP_REASON)(cls)


def env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


class Setup:
    url = env("TOKENHUB_URL").rstrip("/")
    key = env("TOKENHUB_KEY")
    sim_url = env("TOKENHUB_SIM_URL").rstrip("/")
    feishu_app = env("TOKENHUB_TEST_FEISHU_APP", "feishu-main")
    feishu_app_id = env("TOKENHUB_TEST_FEISHU_APP_ID", "cli_demo_feishu_main")
    store_app = env("TOKENHUB_TEST_STORE_APP", "feishu-store")
    store_app_id = env("TOKENHUB_TEST_STORE_APP_ID", "cli_demo_feishu_store")
    wechat_app = env("TOKENHUB_TEST_WECHAT_APP", "wechat-main")
    wechat_app_id = env("TOKENHUB_TEST_WECHAT_APP_ID", "wxdemo0main0account")


def post_json(url: str, body: Dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with _direct.open(request, timeout=10) as res:
        return json.loads(res.read())


def get_json(url: str) -> Any:
    with _direct.open(url, timeout=10) as res:
        return json.loads(res.read())


# Loopback servers only: never through a proxy from the environment.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Simulators:
    """The simulators' control API (`/_sim/{platform}/…`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def count(self, platform: str, endpoint: str, app_id: str) -> int:
        """Calls the simulator took at `endpoint` for `app_id` since it started (or was reset)."""
        counters = get_json(f"{self.url}/_sim/{platform}/stats")["counters"]
        return int(counters["endpoints"].get(endpoint, {"apps": {}})["apps"].get(app_id, 0))

    def revoke(self, platform: str, token: str) -> bool:
        """Makes the platform reject `token` from now on, as if it had been replaced elsewhere."""
        return bool(post_json(f"{self.url}/_sim/{platform}/revoke", {"token": token})["revoked"])

    def fault(self, platform: str, mode: str) -> None:
        """Breaks the platform's token endpoints (`status500`, `down`, …) until set back to `none`."""
        post_json(f"{self.url}/_sim/{platform}/fault", {"mode": mode})

    def verify(self, platform: str, config: Dict[str, Any]) -> Dict[str, Any]:
        """The platform's JS-SDK verdict on a page's config: `{"ok": true}` or `{"ok": false, "reason"}`."""
        return post_json(f"{self.url}/_sim/{platform}/jsapi/verify", config)


class LocalServer:
    """A loopback HTTP server answering every request with `answer(handler)`, or never (None)."""

    def __init__(self, answer: Optional[Callable[[http.server.BaseHTTPRequestHandler], None]] = None) -> None:
        self._stop = threading.Event()
        stop = self._stop

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if answer is None:
                    stop.wait(30)
                else:
                    answer(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


def reply(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, headers: Optional[Dict[str, str]] = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class CountingProxy(LocalServer):
    """
    Forwards every request to tokenhub and counts them by method and path (query left out), so
    that a test can tell how many requests the client made. `fail` makes it answer 502 with an
    HTML page instead, as a broken reverse proxy would; while `gate` is clear, requests wait.
    """

    def __init__(self, target: str) -> None:
        self.target = urllib.parse.urlsplit(target)
        self.requests: "collections.Counter[str]" = collections.Counter()
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        super().__init__(self._forward)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.requests[f"{method} {path}"]

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def close(self) -> None:
        self.gate.set()
        super().close()

    def _forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests[f"{handler.command} {handler.path.split('?', 1)[0]}"] += 1
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        self.gate.wait(30)
        if self.fail:
            reply(handler, 502, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"})
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        upstream = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            res = upstream.getresponse()
            passed = {
                name: value
                for name, value in res.getheaders()
                if name.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive")
            }
            reply(handler, res.status, res.read(), passed)
        finally:
            upstream.close()


class HubTestCase(unittest.TestCase):
    """A test against tokenhub: a counting proxy in front of it, the simulators' control API."""

    def setUp(self) -> None:
        self.proxy = CountingProxy(Setup.url)
        self.addCleanup(self.proxy.close)
        self.sims = Simulators(Setup.sim_url)

    def client(self, **options: Any) -> TokenHubClient:
        """A client that talks to tokenhub through the counting proxy."""
        return TokenHubClient(self.proxy.url, Setup.key, **options)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def in_threads(n: int, call: Callable[[], Any], while_running: Optional[Callable[[], None]] = None, wait: bool = True) -> Any:
    """
    `call` from `n` threads released at once; their results (or exceptions) in order.
    `while_running` runs in this thread once they are started. With `wait=False`, answers at once
    a function that waits for the results.
    """
    barrier = threading.Barrier(n)
    results: List[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    if while_running is not None:
        while_running()

    def finished() -> List[Any]:
        for t in threads:
            t.join(60)
        return results

    return finished() if wait else finished


class FakeClock:
    """A clock the test moves forward, for the client's cache (``clock=``)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
