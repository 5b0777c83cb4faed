"""One request to tokenhub over urllib, with its failures as TokenHubClientError."""

from __future__ import annotations

import errno
import http.client
import json
import math
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping, Optional

from ._errors import CLIENT_BAD_RESPONSE, CLIENT_TIMEOUT, CLIENT_UNREACHABLE, TokenHubClientError

#: The most of an answer read: tokenhub's answers are a few hundred bytes.
MAX_ANSWER_BYTES = 1 << 20


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """tokenhub never redirects; following one would send the client key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def build_opener() -> urllib.request.OpenerDirector:
    """urllib's default opener (proxies from the environment included) that does not follow redirects."""
    return urllib.request.build_opener(_NoRedirect())


class Transport:
    """Sends JSON requests to one tokenhub with one client key; knows nothing of tokens."""

    def __init__(self, base: str, key: str, timeout: float, opener: urllib.request.OpenerDirector) -> None:
        self._base = base
        self.__key = key
        self._timeout = timeout
        self._opener = opener
        parts = urllib.parse.urlsplit(base)
        # Where errors say tokenhub is: scheme, host and port only (no user info, no path).
        self.origin = f"{parts.scheme}://{parts.hostname}" + ("" if parts.port is None else f":{parts.port}")

    def call(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        """tokenhub's JSON answer to ``method path``; a TokenHubClientError for anything else."""
        headers = {"Authorization": f"Bearer {self.__key}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        request = urllib.request.Request(self._base + path, data=data, headers=headers, method=method)
        what = f"{method} {path.split('?', 1)[0]}"
        try:
            with self._opener.open(request, timeout=self._timeout) as res:
                status, answer_headers, text = res.status, res.headers, res.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as err:
            # An answer, only not a 2xx one: tokenhub's JSON error, or someone else's page.
            try:
                text = err.read(MAX_ANSWER_BYTES)
            except (OSError, http.client.HTTPException):
                text = b""
            finally:
                err.close()
            raise answer_error(err.code, err.headers, text) from None
        except (OSError, http.client.HTTPException) as err:
            raise self._unreachable(err) from err
        if not 200 <= status < 300:
            raise answer_error(status, answer_headers, text)
        try:
            return json.loads(text)
        except ValueError:
            raise bad_response(what, status) from None

    def _unreachable(self, err: BaseException) -> TokenHubClientError:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        if isinstance(reason, socket.timeout) or isinstance(err, socket.timeout):
            return TokenHubClientError(
                CLIENT_TIMEOUT, f"tokenhub at {self.origin} did not answer within {self._timeout:g} s"
            )
        return TokenHubClientError(CLIENT_UNREACHABLE, f"tokenhub at {self.origin} could not be reached ({_why(reason)})")


def _why(reason: object) -> str:
    """The cause in a word: ECONNREFUSED, the resolver's message, the exception's name."""
    if isinstance(reason, socket.gaierror):
        return f"name resolution failed: {reason.strerror or reason}"
    if isinstance(reason, OSError) and reason.errno in errno.errorcode:
        return errno.errorcode[reason.errno]
    if isinstance(reason, BaseException):
        return type(reason).__name__
    # URLError's reason may be a string ("unknown url type"): urllib's own words, holding no key.
    return str(reason)


def bad_response(what: str, status: Optional[int] = None) -> TokenHubClientError:
    return TokenHubClientError(
        CLIENT_BAD_RESPONSE, f"tokenhub answered {what} with something that is not its JSON", status=status
    )


def answer_error(status: int, headers: Optional[Mapping[str, str]], text: bytes) -> TokenHubClientError:
    """tokenhub's JSON error (``{"error": {"code", "message", …}}``) as a TokenHubClientError."""
    retry_header = _number(headers.get("Retry-After")) if headers is not None else None
    error: Any = None
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return TokenHubClientError(
            CLIENT_BAD_RESPONSE,
            f"tokenhub answered HTTP {status} without its JSON error",
            status=status,
            retry_after=retry_header,
        )
    message = error.get("message")
    platform = error.get("platform")
    platform_code = error.get("platformCode")
    retry_after = error.get("retryAfter")
    return TokenHubClientError(
        error["code"],
        message if isinstance(message, str) else error["code"],
        status=status,
        platform=platform if isinstance(platform, str) else None,
        platform_code=platform_code if _is_number(platform_code) or isinstance(platform_code, str) else None,
        retry_after=retry_after if _is_number(retry_after) else retry_header,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None  # an HTTP date: tokenhub sends seconds
    if not math.isfinite(value) or value < 0:
        return None
    return int(value) if value.is_integer() else value
