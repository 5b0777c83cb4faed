"""The one exception the client raises for tokenhub's answers and for failures to reach it."""

from __future__ import annotations

from typing import Optional, Union

#: tokenhub could not be reached (connection refused or reset, DNS).
CLIENT_UNREACHABLE = "TOKENHUB_CLIENT_UNREACHABLE"
#: tokenhub did not answer within the client's ``timeout``.
CLIENT_TIMEOUT = "TOKENHUB_CLIENT_TIMEOUT"
#: tokenhub's address answered something that is not tokenhub's JSON (a reverse proxy's error page, a redirect).
CLIENT_BAD_RESPONSE = "TOKENHUB_CLIENT_BAD_RESPONSE"


class TokenHubClientError(Exception):
    """
    What :class:`~tokenhub_client.TokenHubClient` raises for tokenhub's error answers and for
    failures to reach it (a bad argument is a ``ValueError`` or ``TypeError``).

    ``code`` is tokenhub's error code (``TOKENHUB_UNAUTHORIZED``, ``TOKENHUB_PLATFORM_REFUSED``, … see
    docs/errors.md) or one of the client's own (``TOKENHUB_CLIENT_UNREACHABLE``,
    ``TOKENHUB_CLIENT_TIMEOUT``, ``TOKENHUB_CLIENT_BAD_RESPONSE``); ``status`` the HTTP status
    tokenhub answered with (None when it did not answer); ``platform`` and ``platform_code`` where a
    platform refused; ``retry_after`` the seconds to wait, where tokenhub said so. The message never
    holds a client key or a token.

    Example::

        try:
            token = hub.get_token("feishu-main", "tenant_access_token")
        except TokenHubClientError as err:
            if err.retry_after is not None:
                time.sleep(err.retry_after)
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: Optional[int] = None,
        platform: Optional[str] = None,
        platform_code: Optional[Union[int, str]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.platform = platform
        self.platform_code = platform_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = "" if self.status is None else f" (HTTP {self.status})"
        return f"{self.code}{status}: {self.message}"

    def __repr__(self) -> str:
        fields = [f"code={self.code!r}", f"status={self.status!r}", f"message={self.message!r}"]
        if self.platform is not None:
            fields.append(f"platform={self.platform!r}")
        if self.platform_code is not None:
            fields.append(f"platform_code={self.platform_code!r}")
        if self.retry_after is not None:
            fields.append(f"retry_after={self.retry_after!r}")
        return f"TokenHubClientError({', '.join(fields)})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only fields: the default pickling would call __init__(message) and fail.
        return (
            _rebuild,
            (self.code, self.message, self.status, self.platform, self.platform_code, self.retry_after),
        )


def _rebuild(
    code: str,
    message: str,
    status: Optional[int],
    platform: Optional[str],
    platform_code: Optional[Union[int, str]],
    retry_after: Optional[float],
) -> TokenHubClientError:
    return TokenHubClientError(
        code, message, status=status, platform=platform, platform_code=platform_code, retry_after=retry_after
    )
