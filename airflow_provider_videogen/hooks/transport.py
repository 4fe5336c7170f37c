"""HTTP plumbing shared by the sync and async paths of :class:`VideoGenHook`.

Kept apart from the hook so that what an error means is written once: each HTTP status becomes
the exception a user acts on. Also here: the clients themselves (auth sent only to the gateway,
the masking request hook for download links) and the async clients shared per event loop, with
their life cycle. Which calls are retried lives in :mod:`.retries`; what is hidden from logs in
:mod:`.redaction`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from airflow_provider_videogen.hooks.redaction import mask_signed_query, redact, redact_url
from airflow_provider_videogen.hooks.retries import RetryPolicy, parse_retry_after
from airflow_provider_videogen.hooks.settings import ConnectionSettings, Origin, url_origin
from airflow_provider_videogen.models import ApiError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Generator

USER_AGENT = f"airflow-provider-videogen/{__version__} httpx/{httpx.__version__}"
#: How much of an undecodable body to show in an error.
BODY_EXCERPT_CHARS = 200


def masking_request_hook(home: Origin | None = None) -> Callable[[httpx.Request], None]:
    """An httpx ``request`` event hook that masks the query of every request not sent to ``home``.

    httpx runs request hooks for each redirect hop (auth flows run once per call), so a gateway
    link that answers 302 with a signed CDN URL gets that signature masked before httpx logs the
    URL (it logs every request at INFO) or an error message could show it. For the sync
    clients that download videos; the triggerer's async client only talks to the gateway.
    """

    def hook(request: httpx.Request) -> None:
        if home is None or url_origin(request.url) != home:
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

    def __init__(self, api_key: str, origin: Origin) -> None:
        self._header = f"Bearer {api_key}"
        self._origin = origin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if url_origin(request.url) == self._origin:
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
# Responses and errors
# ---------------------------------------------------------------------------------------------


def excerpt(response: httpx.Response, secret: str | None = None) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "<unread body>"
    text = redact(text, secret).strip().replace("\n", " ")
    return text[:BODY_EXCERPT_CHARS] + ("..." if len(text) > BODY_EXCERPT_CHARS else "")


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
            url=redact_url(request.url),
        ) from None
    if not isinstance(body, dict):
        raise InvalidResponseError(
            f"expected a JSON object, got {type(body).__name__}: {excerpt(response, secret)!r}",
            status_code=response.status_code,
            method=request.method,
            url=redact_url(request.url),
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
        "url": redact_url(request.url),
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
    #: Held so the loop can close the client when it shuts down (see :func:`_close_with_loop`).
    closer: AsyncGenerator[None, None] | None = None


_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], SharedAsyncClient]] = (
    weakref.WeakKeyDictionary()
)


async def _close_with_loop(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """Close ``client`` when its event loop shuts down.

    Started once, this generator waits at its ``yield`` for the life of the loop. Before they
    close a loop, ``asyncio.run`` and ``asyncio.Runner`` (the worker's polling with
    ``deferrable=False``, the triggerer, ``dag.test()``) call ``loop.shutdown_asyncgens()``,
    which resumes every such generator into its ``finally``: the client's sockets are closed
    on the loop they belong to, instead of being left to the garbage collector.
    """
    try:
        yield
    finally:
        await client.aclose()


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
    start a fresh loop. The client is closed when its loop shuts down.
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
            closer = _close_with_loop(client)
            shared = SharedAsyncClient(
                client, asyncio.Semaphore(settings.pool_size), RetryPolicy.from_settings(settings), closer
            )
            per_loop[key] = shared
            await anext(closer)  # runs to the ``yield`` at once: registers the generator with this loop
    return shared
