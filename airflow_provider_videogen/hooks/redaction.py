"""Keep secrets out of logs, exceptions and XCom: the API key, and the signatures in video links.

One set of rules for every module that shows a URL or a response body (hook errors, retry log
lines, the S3 archive, frame extraction), so no two places redact differently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

#: Shorter query strings are not signatures (and masking them would garble ordinary log text).
_MIN_MASKED_QUERY = 8


def redact(text: str, secret: str | None) -> str:
    """Remove the API key from text that came from elsewhere (an error page may echo headers)."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text


def redact_url(url: str | httpx.URL) -> str:
    """``scheme://host/path`` without query, fragment or credentials: safe for logs and errors.

    Signed CDN links carry their signature in the query string; a URL with user info carries a
    password. Neither may reach a log line, an exception or XCom. A dropped query shows as
    ``?...`` so a reader knows the link had one.
    """
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rpartition("@")[2]  # host[:port] as written (even a bad port), no credentials
    suffix = "?..." if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, "", "")) + suffix


def mask_signed_query(url: str | httpx.URL) -> None:
    """Register a URL's query string with Airflow's secrets masker (signed links carry their
    signature there); a no-op for short queries and outside an Airflow installation."""
    query = urlsplit(str(url)).query
    if len(query) < _MIN_MASKED_QUERY:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside an Airflow installation
        return
    mask_secret(query)
