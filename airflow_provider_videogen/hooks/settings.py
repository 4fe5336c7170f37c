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

if TYPE_CHECKING:
    import httpx
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

#: Default connections per client (connection extra ``pool_size``). One triggerer shares one
#: async client per connection, so this bounds the TCP connections it opens to the gateway
#: however many triggers it runs. Small on purpose: httpcore rescans its pool on every request,
#: so CPU per poll grows with the pool (benchmarks/README.md: 10 beats 50 at 1,000 triggers).
POOL_SIZE = 10

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
    cancel_path: str | None = None
    verify_ssl: bool = True
    pool_size: int = POOL_SIZE

    @property
    def origin(self) -> Origin:
        return url_origin(self.base_url)

    def client_key(self) -> tuple[Any, ...]:
        """Identity of a client: triggers with equal settings share one connection pool."""
        return (self.base_url, hash(self.api_key), self.timeout, self.connect_timeout, self.verify_ssl, self.pool_size)


def settings_from_connection(conn: Connection) -> ConnectionSettings:
    """Turn an Airflow connection into :class:`ConnectionSettings`.

    ``host`` may be a full URL (``http://127.0.0.1:8000``) or a bare host name; a bare host uses
    the ``schema`` field (or extra ``scheme``) as URL scheme, ``https`` by default.
    """
    extra = conn.extra_dejson or {}
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        base_url = DEFAULT_BASE_URL
    elif "://" in host:
        base_url = host
    else:
        scheme = str(extra.get("scheme") or conn.schema or "https").lower()
        if scheme not in ("http", "https"):
            scheme = "https"
        base_url = f"{scheme}://{host}"
        if conn.port:
            base_url += f":{conn.port}"
    api_key = conn.password or str(extra.get("api_key") or "")
    if not api_key:
        raise VideoGenError(f"Connection {conn.conn_id!r} has no API key: put it in the 'API Key' (password) field.")

    def number(name: str, default: float) -> float:
        value = extra.get(name)
        return default if value in (None, "") else float(value)

    verify = extra.get("verify_ssl", True)
    return ConnectionSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=number("timeout", 30.0),
        connect_timeout=number("connect_timeout", 10.0),
        max_retries=int(number("max_retries", 5)),
        retry_backoff=number("retry_backoff", 1.0),
        retry_backoff_max=number("retry_backoff_max", 30.0),
        cancel_path=extra.get("cancel_path") or None,
        pool_size=int(number("pool_size", POOL_SIZE)),
        verify_ssl=str(verify).lower() not in ("false", "0", "no"),
    )


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
