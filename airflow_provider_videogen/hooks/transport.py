"""HTTP plumbing shared by the sync and async paths of :class:`VideoGenHook`.

Kept apart from the hook so that the two rules that cost money are written once:

* **what may be retried**: a query (GET) is retried on 429, 5xx and transport failures; a
  create (POST) only when the connection was never established, because a create that may
  have reached the gateway may be rendering, and a duplicate bills the user twice;
* **what an error means**: each HTTP status becomes the exception a user acts on.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import ssl
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_videogen import __version__
from airflow_provider_videogen.exceptions import (
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    VideoGenHTTPError,
)
from airflow_provider_videogen.models import ApiError

USER_AGENT = f"airflow-provider-videogen/{__version__} httpx/{httpx.__version__}"
#: How much of an undecodable body to show in an error.
BODY_EXCERPT_CHARS = 200
#: Default connections per client (connection extra ``pool_size``). One triggerer shares one
#: async client per connection, so this bounds the TCP connections it opens to the gateway
#: however many triggers it runs. Small on purpose: httpcore rescans its pool on every request,
#: so CPU per poll grows with the pool (benchmarks/README.md: 10 beats 50 at 1,000 triggers).
POOL_SIZE = 10
#: Never wait longer than this for one retry, whatever Retry-After says.
MAX_RETRY_SLEEP = 120.0


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
    def origin(self) -> tuple[str, str, int | None]:
        return _origin(self.base_url)

    def client_key(self) -> tuple[Any, ...]:
        """Identity of a client: triggers with equal settings share one connection pool."""
        return (self.base_url, hash(self.api_key), self.timeout, self.connect_timeout, self.verify_ssl, self.pool_size)


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


#: Shorter query strings are not signatures (and masking them would garble ordinary log text).
_MIN_MASKED_QUERY = 8


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


def masking_request_hook(home: tuple[str, str, int | None] | None = None) -> Callable[[httpx.Request], None]:
    """An httpx ``request`` event hook that masks the query of every request not sent to ``home``.

    httpx runs request hooks for each redirect hop (auth flows run once per call), so a gateway
    link that answers 302 with a signed CDN URL gets that signature masked before httpx logs the
    URL (it logs every request at INFO) or an error message could show it. For the sync
    clients that download videos; the triggerer's async client only talks to the gateway.
    """

    def hook(request: httpx.Request) -> None:
        if home is None or _origin(request.url) != home:
            mask_signed_query(request.url)

    return hook


def public_download_client(timeout: httpx.Timeout | float) -> httpx.Client:
    """A keyless client for video links outside any videogen connection (CDN or public URLs):
    follows redirects, and masks every hop's signed query (:func:`masking_request_hook`)."""
    return httpx.Client(timeout=timeout, follow_redirects=True, event_hooks={"request": [masking_request_hook()]})


class GatewayAuth(httpx.Auth):
    """Bearer auth sent only to the gateway's own origin.

    Video links often point to a CDN or object store; sending the API key there would hand it
    to a third party. (httpx also drops ``Authorization`` on cross-origin redirects.)
    """

    def __init__(self, api_key: str, origin: tuple[str, str, int | None]) -> None:
        self._header = f"Bearer {api_key}"
        self._origin = origin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"GatewayAuth(origin={self._origin!r})"


def build_client_kwargs(settings: ConnectionSettings, ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """Keyword arguments shared by the sync and the async client: one place sets auth, timeouts, UA."""
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else settings.verify_ssl
    return {
        "base_url": settings.base_url,
        "auth": GatewayAuth(settings.api_key, settings.origin),
        "timeout": httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "verify": verify,
        "follow_redirects": True,
        "limits": httpx.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size),
    }


# ---------------------------------------------------------------------------------------------
# Retry policy
# ---------------------------------------------------------------------------------------------

#: Transport errors that prove the request never left this machine: safe to retry even a create.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter, honouring ``Retry-After``."""

    max_retries: int
    backoff: float
    backoff_max: float
    rng: random.Random = field(default_factory=random.Random)

    def should_retry_status(self, method: str, status: int) -> bool:
        return method == "GET" and (status == 429 or status >= 500)

    @staticmethod
    def should_retry_transport(method: str, exc: Exception) -> bool:
        if isinstance(exc, NOT_SENT_ERRORS):
            return True
        return method == "GET" and isinstance(exc, httpx.TransportError)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        ceiling = min(self.backoff_max, self.backoff * (2**attempt))
        wait = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, MAX_RETRY_SLEEP)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


# ---------------------------------------------------------------------------------------------
# Responses and errors
# ---------------------------------------------------------------------------------------------


def redact(text: str, secret: str | None) -> str:
    """Remove the API key from text that came from elsewhere (an error page may echo headers)."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text


def excerpt(response: httpx.Response, secret: str | None = None) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "<unread body>"
    text = redact(text, secret).strip().replace("\n", " ")
    return text[:BODY_EXCERPT_CHARS] + ("..." if len(text) > BODY_EXCERPT_CHARS else "")


def _safe_url(request: httpx.Request) -> str:
    """The request URL without its query string (download links may carry signatures)."""
    url = request.url
    return str(url.copy_with(query=None)) if url.query else str(url)


def decode_json(response: httpx.Response, secret: str | None = None) -> dict[str, Any]:
    """The body as a JSON object, or :class:`InvalidResponseError` naming the status and an excerpt."""
    request = response.request
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise InvalidResponseError(
            f"the body is not JSON ({response.headers.get('content-type', 'no content type')}): "
            f"{excerpt(response, secret)!r}",
            status_code=response.status_code,
            method=request.method,
            url=_safe_url(request),
        ) from None
    if not isinstance(body, dict):
        raise InvalidResponseError(
            f"expected a JSON object, got {type(body).__name__}: {excerpt(response, secret)!r}",
            status_code=response.status_code,
            method=request.method,
            url=_safe_url(request),
        )
    return body


def error_for_response(response: httpx.Response, secret: str | None = None) -> VideoGenHTTPError:
    """The exception for a non-2xx answer, with the API's code, message and field where it gave them."""
    request = response.request
    status = response.status_code
    try:
        body: Any = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = None
    api = ApiError.from_body(body)
    common: dict[str, Any] = {
        "status_code": status,
        "api_code": api.code,
        "method": request.method,
        "url": _safe_url(request),
        "param": api.param,
    }
    if body is None or (not api.message and not api.code):
        message = f"undecodable error body: {excerpt(response, secret)!r}"
        if status < 500 and status not in (401, 402, 403, 404, 413, 429) and body is None:
            return InvalidResponseError(message, **common)
    else:
        message = redact(api.message or response.reason_phrase or "no message", secret)
        if api.fallback_suggestion:
            message += f" (suggestion: {api.fallback_suggestion})"
    if status in (400, 413, 422):
        return BadRequestError(message, **common)
    if status == 402 or (status == 403 and api.code in ("insufficient_user_quota", "insufficient_quota")):
        return InsufficientCreditsError(message, **common)
    if status in (401, 403):
        return AuthenticationError(message, **common)
    if status == 404:
        return NotFoundError(message, **common)
    if status == 429:
        return RateLimitedError(message, retry_after=parse_retry_after(response.headers.get("retry-after")), **common)
    if status >= 500:
        return ServerError(message, **common)
    return BadRequestError(message, **common)


# ---------------------------------------------------------------------------------------------
# Shared async clients
# ---------------------------------------------------------------------------------------------


@dataclass
class SharedAsyncClient:
    """An ``AsyncClient`` and the gate that keeps at most ``POOL_SIZE`` requests inside it.

    httpx's pool scans its waiting requests on every state change, so a thousand triggers
    queueing inside one client cost far more CPU than the same thousand waiting on an
    ``asyncio.Semaphore`` in front of it (measured: about 2.5x the throughput at 1,000 in flight).
    """

    client: httpx.AsyncClient
    gate: asyncio.Semaphore
    retry: RetryPolicy


_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], SharedAsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def ssl_context(verify: bool) -> ssl.SSLContext:
    """The TLS context httpx would build; loading the CA bundle takes ~0.1-0.3 s of blocking I/O."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


async def shared_async_client(settings: ConnectionSettings) -> SharedAsyncClient:
    """One ``AsyncClient`` per (event loop, connection settings).

    A triggerer runs every trigger in one event loop; sharing a client there means one
    connection pool for hundreds of polling triggers instead of a TLS handshake per poll.
    Keying by loop keeps a client from being used on a loop it was not created on (httpx
    clients are bound to their loop), which is what ``dag.test()`` and pytest do when they
    start a fresh loop.
    """
    loop = asyncio.get_running_loop()
    per_loop = _ASYNC_CLIENTS.setdefault(loop, {})
    key = settings.client_key()
    shared = per_loop.get(key)
    if shared is None or shared.client.is_closed:
        # The CA bundle is read in a thread: in a triggerer, blocking the loop stalls every trigger.
        context = await asyncio.to_thread(ssl_context, settings.verify_ssl)
        shared = per_loop.get(key)  # another trigger may have built it while we waited
        if shared is None or shared.client.is_closed:
            client = httpx.AsyncClient(**build_client_kwargs(settings, context))
            policy = RetryPolicy(settings.max_retries, settings.retry_backoff, settings.retry_backoff_max)
            shared = SharedAsyncClient(client, asyncio.Semaphore(settings.pool_size), policy)
            per_loop[key] = shared
    return shared


def utcnow() -> datetime:
    return datetime.now(tz=timezone.utc)
