"""
tokenhub's client for Python: tokens from a tokenhub, cached until near expiry, concurrent calls
from any number of threads made once, compare-and-refresh invalidation, and JS-SDK signatures.
Standard library only (Python 3.9+).

Example::

    import os
    from tokenhub_client import TokenHubClient

    hub = TokenHubClient("http://127.0.0.1:8700", os.environ["TOKENHUB_KEY"])
    token = hub.get_token("feishu-main", "tenant_access_token")
"""

from ._client import DEFAULT_CLIENT_OPTIONS, STALE_FLOOR_SECONDS, TokenHubClient, TokenInfo
from ._errors import CLIENT_BAD_RESPONSE, CLIENT_TIMEOUT, CLIENT_UNREACHABLE, TokenHubClientError

__all__ = [
    "CLIENT_BAD_RESPONSE",
    "CLIENT_TIMEOUT",
    "CLIENT_UNREACHABLE",
    "DEFAULT_CLIENT_OPTIONS",
    "STALE_FLOOR_SECONDS",
    "TokenHubClient",
    "TokenHubClientError",
    "TokenInfo",
]

__version__ = "0.1.0"
