"""What the hook needs from a ``videogen`` Airflow connection, parsed once into a frozen object.

Kept apart from the hook so that the rules for reading a connection (full URL or bare host,
password or extra ``api_key``, numbers given as strings by the UI form) live in one place and
can be read without the HTTP code around them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.hooks.connection_form import DEFAULT_BASE_URL
from airflow_provider_videogen.hooks.extras import POOL_SIZE, parse_extras

if TYPE_CHECKING:
    import httpx
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

__all__ = ["POOL_SIZE", "ConnectionSettings", "settings_from_connection"]

#: ``(scheme, host, port)`` of a URL.
Origin = tuple[str, str, int | None]


def url_origin(url: str | httpx.URL) -> Origin:
    """``(scheme, host, port)`` with the scheme's default port filled in: what "same origin" compares."""
    parts = urlsplit(str(url))
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the hook needs from an Airflow connection, resolved once.

    The API key is excluded from ``repr`` so that logging a settings object, or an exception
    that holds one, cannot print it.
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_retries: int = 5
    retry_backoff: float = 1.0
    retry_backoff_max: float = 30.0
    query_timeout: float = 120.0
    cancel_path: str | None = None
    verify_ssl: bool = True
    pool_size: int = POOL_SIZE
    #: Let downloads reach loopback/private/link-local hosts (extra ``allow_private_hosts``); see hooks/addresses.py.
    allow_private_hosts: bool = False

    @property
    def origin(self) -> Origin:
        return url_origin(self.base_url)

    def client_key(self) -> tuple[Any, ...]:
        """Identity of a client: triggers with equal settings share one connection pool."""
        return (self.base_url, hash(self.api_key), self.timeout, self.connect_timeout, self.verify_ssl, self.pool_size)


def settings_from_connection(conn: Connection) -> ConnectionSettings:
    """Turn an Airflow connection into :class:`ConnectionSettings`, or say what is wrong with it.

    ``host`` may be a full URL (``http://127.0.0.1:8000``) or a bare host name; a bare host uses
    the ``schema`` field (or extra ``scheme``) as URL scheme, ``https`` by default. Every extra
    is checked against :class:`~.extras.ConnectionExtras`; the key is stripped of surrounding
    whitespace (file-based secrets backends often add a newline) and refused, without being
    shown, if it holds anything a header cannot carry. All of this happens before any request.
    """
    try:
        extras = parse_extras(conn.extra_dejson, conn.conn_id)
    except ValueError as exc:
        raise VideoGenError(str(exc)) from None
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        base_url = DEFAULT_BASE_URL
    elif "://" in host:
        base_url = host
    else:
        scheme = extras.scheme or str(conn.schema or "https").lower()
        if scheme not in ("http", "https"):
            scheme = "https"
        base_url = f"{scheme}://{host}"
        if conn.port:
            base_url += f":{conn.port}"
    check_base_url(base_url, conn.conn_id)
    api_key = check_api_key(conn.password or extras.api_key or "", conn.conn_id)
    return ConnectionSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=extras.timeout,
        connect_timeout=extras.connect_timeout,
        query_timeout=extras.query_timeout,
        max_retries=extras.max_retries,
        retry_backoff=extras.retry_backoff,
        retry_backoff_max=extras.retry_backoff_max,
        cancel_path=extras.cancel_path,
        # The module's POOL_SIZE when the extra is unset (benchmarks/trigger_scale.py overrides it).
        pool_size=extras.pool_size if "pool_size" in extras.model_fields_set else POOL_SIZE,
        verify_ssl=extras.verify_ssl,
        allow_private_hosts=extras.allow_private_hosts,
    )


def check_base_url(base_url: str, conn_id: str | None) -> None:
    """Refuse a base URL httpx could not send to (``htps://``, no host), naming the connection."""
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise VideoGenError(f"Connection {conn_id!r}: base URL {base_url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VideoGenError(
            f"Connection {conn_id!r}: base URL {base_url!r} must be http:// or https:// followed by a host"
        )


def check_api_key(raw: str, conn_id: str | None) -> str:
    """The key without surrounding whitespace; refuse one with characters a header cannot carry.

    The error names the position and kind of the bad character, never the key: an HTTP library's
    own error (``Illegal header value b'Bearer ...'``) would print it in full.
    """
    key = raw.strip()
    if not key:
        raise VideoGenError(f"Connection {conn_id!r} has no API key: put it in the 'API Key' (password) field.")
    for position, char in enumerate(key, start=1):
        if not 0x21 <= ord(char) <= 0x7E:
            kind = (
                "a space"
                if char == " "
                else ("a control character" if ord(char) < 0x20 or ord(char) == 0x7F else "a non-ASCII character")
            )
            raise VideoGenError(
                f"Connection {conn_id!r}: the API key contains {kind} at position {position} of {len(key)}; "
                "an API key is printable ASCII without spaces. Check the secret's value (the key is not shown)."
            )
    return key


def mask_api_key(secret: str) -> None:
    """Register the key with Airflow's secrets masker (task logs and the supervisor's)."""
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(secret, "api_key")
    except Exception:  # pragma: no cover - masker unavailable outside Airflow processes
        log.debug("secrets masker unavailable")


async def amask_api_key(secret: str) -> None:
    """Async variant: the sync one talks to the supervisor with a blocking send."""
    try:
        from airflow.sdk.log import amask_secret

        await amask_secret(secret, "api_key")
    except Exception:  # pragma: no cover - masker unavailable outside Airflow processes
        log.debug("secrets masker unavailable")
