"""TokenHubClient: tokens cached until near expiry, concurrent calls made once, compare-and-refresh."""

from __future__ import annotations

import copy
import math
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ._errors import TokenHubClientError
from ._http import Transport, bad_response, build_opener
from ._single_flight import SingleFlight

#: Defaults of the options of :class:`TokenHubClient`.
DEFAULT_CLIENT_OPTIONS: Dict[str, float] = {
    # Seconds for connecting to tokenhub and for each read of its answer.
    "timeout": 10.0,
    # Ask tokenhub again when a cached token has less than this left (seconds)…
    "refresh_margin": 60.0,
    # …or less than this fraction of its lifetime, whichever is more.
    "refresh_fraction": 0.1,
}

#: A token still this good (seconds) is served when tokenhub cannot be reached, rather than failing.
STALE_FLOOR_SECONDS = 5.0

_HTTP_URL = re.compile(r"^https?://[^/]", re.IGNORECASE)

_Slot = Tuple[str, str, Optional[str]]


@dataclass(frozen=True)
class TokenInfo:
    """A token with what tokenhub said about it. Its ``repr`` leaves the token out."""

    token: str = field(repr=False)
    app: str
    platform: str
    kind: str
    tenant_key: Optional[str]
    #: Expiry in seconds since the epoch of this machine's clock (counted from tokenhub's
    #: ``expiresIn``, so that the two machines' clocks need not agree).
    expires_at: float


@dataclass(frozen=True)
class _Entry:
    info: TokenInfo
    #: Expiry and the time to ask tokenhub again, on the client's clock.
    expires: float
    refresh_at: float


class _Invalidation:
    def __init__(self, rejected: str) -> None:
        self.rejected = rejected
        self.future: "Future[_Entry]" = Future()


class TokenHubClient:
    """
    tokenhub's client: tokens cached until near expiry, concurrent requests for one token (from any
    number of threads) made once, compare-and-refresh invalidation, and JS-SDK signatures made by
    tokenhub. Standard library only; knows no platform. Safe to share between threads.

    ``url`` and ``key`` default to the ``TOKENHUB_URL`` and ``TOKENHUB_KEY`` environment variables.
    ``timeout`` (seconds, default 10) bounds connecting to tokenhub and each read of its answer. A
    cached token is served until less than max(``refresh_margin`` 60 s, ``refresh_fraction`` 10 % of
    its lifetime) is left. ``opener`` is the ``urllib.request.OpenerDirector`` to send with (default:
    urllib's, proxies from the environment included, redirects refused so that the key never
    follows one). ``clock`` (default ``time.monotonic``) is what the cache measures time with.

    Example::

        from tokenhub_client import TokenHubClient
        hub = TokenHubClient("http://127.0.0.1:8700", os.environ["TOKENHUB_KEY"])
        token = hub.get_token("feishu-main", "tenant_access_token")
        # …the platform answered "token invalid" (Feishu 99991663):
        token = hub.invalidate("feishu-main", "tenant_access_token", token)
    """

    def __init__(
        self,
        url: Optional[str] = None,
        key: Optional[str] = None,
        *,
        timeout: float = DEFAULT_CLIENT_OPTIONS["timeout"],
        refresh_margin: float = DEFAULT_CLIENT_OPTIONS["refresh_margin"],
        refresh_fraction: float = DEFAULT_CLIENT_OPTIONS["refresh_fraction"],
        opener: Optional[urllib.request.OpenerDirector] = None,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        url = os.environ.get("TOKENHUB_URL") if url is None else url
        key = os.environ.get("TOKENHUB_KEY") if key is None else key
        if not isinstance(url, str) or not _HTTP_URL.match(url):
            raise ValueError("url: expected an http(s) URL (or set TOKENHUB_URL)")
        if not isinstance(key, str) or key.strip() == "":
            raise ValueError("key: expected the client key (or set TOKENHUB_KEY)")
        _number("timeout", timeout, zero_ok=False)
        _number("refresh_margin", refresh_margin, zero_ok=True)
        if _number("refresh_fraction", refresh_fraction, zero_ok=True) >= 1:
            raise ValueError("refresh_fraction: expected a number from 0 up to (not including) 1")
        if clock is not None and not callable(clock):
            raise TypeError("clock: expected a function answering seconds")
        if opener is not None and not callable(getattr(opener, "open", None)):
            raise TypeError("opener: expected a urllib.request.OpenerDirector")
        self._transport = Transport(url.rstrip("/"), key, float(timeout), opener or build_opener())
        self._refresh_margin = float(refresh_margin)
        self._refresh_fraction = float(refresh_fraction)
        self._clock: Callable[[], float] = clock or time.monotonic
        self._lock = threading.Lock()
        self._cache: Dict[_Slot, _Entry] = {}
        self._invalidating: Dict[_Slot, _Invalidation] = {}
        self._pending: SingleFlight[_Entry] = SingleFlight()
        self._signing: SingleFlight[Dict[str, Any]] = SingleFlight()
        self._listing: SingleFlight[List[Dict[str, Any]]] = SingleFlight()
        self._app_list: Optional[List[Dict[str, Any]]] = None

    def __repr__(self) -> str:
        return f"TokenHubClient(url={self._transport.origin!r})"

    def get_token(
        self, app: str, kind: Optional[str] = None, tenant_key: Optional[str] = None, min_ttl: Optional[float] = None
    ) -> str:
        """
        A token of ``app`` (of ``kind``, or the app's default kind): from the local cache while it
        has more than max(``refresh_margin``, ``refresh_fraction`` of its lifetime) left, otherwise
        from tokenhub; concurrent calls for one token share one request. ``tenant_key`` names a store
        app's tenant; ``min_ttl`` (seconds) is the least lifetime the token must have left. If asking
        tokenhub fails, a cached token with at least ``min_ttl`` (and 5 s) left is still returned.

        Example::

            token = hub.get_token("feishu-main")
            urllib.request.urlopen(urllib.request.Request(
                "https://open.feishu.cn/open-apis/im/v1/chats", headers={"Authorization": f"Bearer {token}"}))
        """
        return self.get_token_info(app, kind, tenant_key, min_ttl).token

    def get_token_info(
        self, app: str, kind: Optional[str] = None, tenant_key: Optional[str] = None, min_ttl: Optional[float] = None
    ) -> TokenInfo:
        """:meth:`get_token` with the token's kind, platform and expiry."""
        resolved = self._kind(app, kind)
        _tenant(tenant_key)
        least = 0.0 if min_ttl is None else max(0.0, _number("min_ttl", min_ttl, zero_ok=True))
        slot: _Slot = (app, resolved, tenant_key)
        with self._lock:
            cached = self._cache.get(slot)
            invalidating = self._invalidating.get(slot)
        if cached is not None and self._usable(cached, least):
            return cached.info
        if invalidating is not None:
            try:
                replaced = invalidating.future.result()
            except TokenHubClientError:
                replaced = None
            if replaced is not None and replaced.expires - self._clock() >= least:
                return replaced.info
        try:
            entry = self._pending.run(
                (slot, least), lambda: self._request_token(app, resolved, tenant_key, min_ttl, None)
            )
        except TokenHubClientError:
            # tokenhub is down or failing, but the token at hand is still good for a while: use it.
            if cached is not None and cached.expires - self._clock() >= max(least, STALE_FLOOR_SECONDS):
                return cached.info
            raise
        return entry.info

    def invalidate(self, app: str, kind: Optional[str], token: str, tenant_key: Optional[str] = None) -> str:
        """
        Reports ``token`` as rejected by the platform and answers the token to use instead. tokenhub
        fetches a new one only if ``token`` is still its current one (compare-and-refresh);
        concurrent reports of one token make one request, and a token this client already replaced
        costs none.

        Example::

            token = hub.get_token("feishu-main")
            answer = call_feishu(token)
            if answer.get("code") in FEISHU_TOKEN_INVALID:
                answer = call_feishu(hub.invalidate("feishu-main", None, token))
        """
        if not isinstance(token, str) or token == "":
            raise ValueError("token: expected the token the platform rejected")
        resolved = self._kind(app, kind)
        _tenant(tenant_key)
        slot: _Slot = (app, resolved, tenant_key)
        with self._lock:
            cached = self._cache.get(slot)
            if cached is not None and cached.info.token != token and self._usable(cached, 0.0):
                return cached.info.token
            flight = self._invalidating.get(slot)
            leader = flight is None or flight.rejected != token
            if leader:
                if cached is not None and cached.info.token == token:
                    del self._cache[slot]
                flight = _Invalidation(token)
                self._invalidating[slot] = flight
        assert flight is not None
        if not leader:
            return flight.future.result().info.token
        try:
            entry = self._request_token(app, resolved, tenant_key, None, token)
        except BaseException as err:
            self._forget_invalidation(slot, flight)
            flight.future.set_exception(err)
            raise
        self._forget_invalidation(slot, flight)
        flight.future.set_result(entry)
        return entry.info.token

    def jsapi_signature(
        self, app: str, url: str, kind: Optional[str] = None, tenant_key: Optional[str] = None
    ) -> Dict[str, Any]:
        """
        The signature of the page at ``url`` for the JS-SDK's ``config``
        (``POST /v1/apps/{app}/jsapi/signature``), made by tokenhub with the app's ticket, which never
        leaves it: a dict with ``appId``, ``url``, ``timestamp``, ``nonceStr``, ``signature``
        (``agentId``, ``corpId`` where the platform wants them) and ``config``, the object the page
        passes to ``wx.config`` / ``wx.agentConfig`` / ``dd.config`` / ``h5sdk.config``. ``url`` is
        the page's exact URL, query included; its ``#…`` part is dropped. ``kind`` is
        ``agent_jsapi_ticket`` for WeCom's ``wx.agentConfig``. Concurrent calls for one app, kind,
        tenant and page share one request; nothing is cached.

        Call it from your server, for your page: a client key never goes to a browser.

        Example::

            sig = hub.jsapi_signature("wecom-main", page_url)
            return {"appId": sig["appId"], "timestamp": sig["timestamp"], "nonceStr": sig["nonceStr"], "signature": sig["signature"]}
        """
        path = f"/v1/apps/{_segment('app', app)}/jsapi/signature"
        if not isinstance(url, str) or url == "":
            raise ValueError("url: expected the page's URL")
        _tenant(tenant_key)
        if kind is not None:
            _segment("kind", kind)
        page = url.split("#", 1)[0]
        body: Dict[str, Any] = {"url": page}
        if kind is not None:
            body["kind"] = kind
        if tenant_key is not None:
            body["tenant_key"] = tenant_key

        def sign() -> Dict[str, Any]:
            answer = self._transport.call("POST", path, body)
            return _signed(answer, ("signature", "nonceStr", "url"), f"the JS-SDK signature of {app}")

        # Each caller gets its own copy: the answer is shared by every thread that waited for it.
        return copy.deepcopy(self._signing.run(("signature", app, kind, tenant_key, page), sign))

    def card_signature(
        self,
        app: str,
        *,
        for_: Optional[str] = None,
        card_id: Optional[str] = None,
        card_type: Optional[str] = None,
        code: Optional[str] = None,
        openid: Optional[str] = None,
        fixed_begin_timestamp: Optional[int] = None,
        outer_str: Optional[str] = None,
        shop_id: Optional[str] = None,
        location_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """
        A WeChat card signature (``cardSign``) for ``wx.addCard``'s ``cardExt`` (``for_="addCard"``,
        the default) or ``wx.chooseCard`` (``for_="chooseCard"``), made by tokenhub with the app's
        ``wx_card_ticket`` (``POST /v1/apps/{app}/jsapi/card-signature``): a dict with ``timestamp``,
        ``nonceStr``, ``cardSign`` and the fields signed (``cardExt`` for addCard). Each call is its
        own request: a signature carries its own timestamp and nonce.

        Example::

            s = hub.card_signature("wechat-main", card_id="pFS7Fjg8kV1I…", code="1234", openid="o…")
            wx_add_card = {"cardId": s["cardId"], "cardExt": s["cardExt"]}
        """
        path = f"/v1/apps/{_segment('app', app)}/jsapi/card-signature"
        fields = {
            "for": for_,
            "cardId": card_id,
            "cardType": card_type,
            "code": code,
            "openid": openid,
            "fixedBeginTimestamp": fixed_begin_timestamp,
            "outerStr": outer_str,
            "shopId": shop_id,
            "locationId": location_id,
        }
        body = {name: value for name, value in fields.items() if value is not None}
        answer = self._transport.call("POST", path, body)
        return _signed(answer, ("cardSign", "nonceStr"), f"the card signature of {app}")

    def apps(self) -> List[Dict[str, Any]]:
        """The apps this client may use (``GET /v1/apps``): ``id``, ``platform``, ``kinds``, ``defaultKind``, …"""
        answer = self._transport.call("GET", "/v1/apps")
        apps = answer.get("apps") if isinstance(answer, dict) else None
        if not isinstance(apps, list) or not all(isinstance(a, dict) for a in apps):
            raise bad_response("GET /v1/apps")
        return apps

    def _kind(self, app: str, kind: Optional[str]) -> str:
        _segment("app", app)
        if kind is not None:
            _segment("kind", kind)
            return kind
        return self._default_kind(app)

    def _default_kind(self, app: str) -> str:
        """The app's ``defaultKind`` from ``GET /v1/apps``, listed once (and again for an app not seen yet)."""
        for fresh in (False, True):
            with self._lock:
                listed = None if fresh else self._app_list
            if listed is None:
                listed = self._listing.run("apps", self.apps)
                with self._lock:
                    self._app_list = listed
            for entry in listed:
                if entry.get("id") == app and isinstance(entry.get("defaultKind"), str):
                    return entry["defaultKind"]
        raise TokenHubClientError(
            "TOKENHUB_APP_NOT_FOUND", f"no app {app!r} among those this client may use", status=404
        )

    def _usable(self, entry: _Entry, least: float) -> bool:
        now = self._clock()
        return now < entry.refresh_at and entry.expires - now >= least

    def _forget_invalidation(self, slot: _Slot, flight: _Invalidation) -> None:
        with self._lock:
            if self._invalidating.get(slot) is flight:
                del self._invalidating[slot]

    def _request_token(
        self, app: str, kind: str, tenant_key: Optional[str], min_ttl: Optional[float], rejected: Optional[str]
    ) -> _Entry:
        query: Dict[str, str] = {}
        if tenant_key is not None:
            query["tenant_key"] = tenant_key
        if min_ttl is not None and min_ttl > 0:
            query["min_ttl"] = str(math.ceil(min_ttl))
        qs = "" if not query else "?" + urllib.parse.urlencode(query)
        path = f"/v1/apps/{_segment('app', app)}/tokens/{_segment('kind', kind)}"
        if rejected is None:
            answer = self._transport.call("GET", path + qs)
        else:
            answer = self._transport.call("POST", f"{path}/invalidate{qs}", {"token": rejected})
        received, wall = self._clock(), time.time()
        if (
            not isinstance(answer, dict)
            or not isinstance(answer.get("token"), str)
            or answer["token"] == ""
            or not _is_number(answer.get("expiresIn"))
        ):
            raise bad_response(f"the token of {app}")
        lifetime = float(answer["expiresIn"])
        info = TokenInfo(
            token=answer["token"],
            app=app,
            platform=str(answer.get("platform")),
            kind=kind,
            tenant_key=tenant_key,
            expires_at=wall + lifetime,
        )
        margin = max(self._refresh_margin, self._refresh_fraction * lifetime)
        # A token handed out already inside the margin is checked again at half its remaining life.
        refresh_in = lifetime - margin if lifetime > 2 * margin else lifetime / 2
        entry = _Entry(info=info, expires=received + lifetime, refresh_at=received + refresh_in)
        slot: _Slot = (app, kind, tenant_key)
        with self._lock:
            current = self._cache.get(slot)
            # A slow answer must not replace a newer token (one an invalidation brought in meanwhile).
            if (
                rejected is not None
                or current is None
                or current.info.token == info.token
                or entry.expires >= current.expires
            ):
                self._cache[slot] = entry
        return entry


def _signed(answer: Any, texts: Tuple[str, ...], what: str) -> Dict[str, Any]:
    """A signature answer with its text fields and a numeric ``timestamp``, or a bad-response error."""
    if not isinstance(answer, dict) or not _is_number(answer.get("timestamp")):
        raise bad_response(what)
    if not all(isinstance(answer.get(name), str) for name in texts):
        raise bad_response(what)
    return answer


def _segment(name: str, value: object) -> str:
    if not isinstance(value, str) or value == "":
        raise ValueError(f"{name}: expected a non-empty string")
    return urllib.parse.quote(value, safe="")


def _tenant(tenant_key: object) -> None:
    if tenant_key is not None and (not isinstance(tenant_key, str) or tenant_key == ""):
        raise ValueError("tenant_key: expected a non-empty string or None")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(name: str, value: Union[int, float], *, zero_ok: bool) -> float:
    if not _is_number(value) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name}: expected a {'non-negative' if zero_ok else 'positive'} number, got {value!r}")
    return float(value)
