"""Keep secrets out of logs, exceptions and XCom: the API key, and the signatures in video links.

One set of rules for every module that shows a URL or a response body (hook errors, retry log
lines, the S3 archive, frame extraction), so no two places redact differently.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

#: Shorter query strings are not signatures (and masking them would garble ordinary log text).
_MIN_MASKED_QUERY = 8


def _forms(secret: str) -> tuple[str, ...]:
    """The key as it may appear in text: as is, JSON-escaped, or as a Python repr escapes it."""
    escaped = json.dumps(secret)[1:-1]
    return tuple(dict.fromkeys((secret, escaped, repr(secret)[1:-1])))


def redact(text: str, secret: str | None) -> str:
    """Remove the API key from text that came from elsewhere (an error page may echo headers)."""
    if not secret:
        return text
    for form in _forms(secret):
        if form and form in text:
            text = text.replace(form, "***")
    return text


def redact_value(value: Any, secret: str | None) -> Any:
    """``value`` (a parsed JSON body: dicts, lists, strings) with the key removed from every string."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {redact(str(k), secret) if isinstance(k, str) else k: redact_value(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, secret) for item in value]
    return value


def scrub_exception(exc: BaseException, secret: str | None) -> BaseException:
    """Remove the key from an exception's text and string attributes, in place; return it."""
    if not secret:
        return exc
    exc.args = tuple(redact(a, secret) if isinstance(a, str) else a for a in exc.args)
    for name, attr in list(vars(exc).items()):
        if isinstance(attr, str):
            setattr(exc, name, redact(attr, secret))
    return exc


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
