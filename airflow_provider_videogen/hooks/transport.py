"""HTTP plumbing shared by the sync and async paths of :class:`VideoGenHook`.

Kept apart from the hook so that what an error means is written once: each HTTP status becomes
the exception a user acts on. Also here: the clients themselves (auth sent only to the gateway,
the masking request hook for download links) and the async clients shared per event loop, with
their life cycle. Which calls are retried lives in :mod:`.retries`; what is hidden from logs in
:mod:`.redaction`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
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
from airflow_provider_videogen.hooks.addresses import AddressPolicy, guarded_client_kwargs
from airflow_provider_videogen.hooks.redaction import mask_link, redact, redact_links_in, redact_url, redact_value
from airflow_provider_videogen.hooks.retries import NOT_SENT_ERRORS, RetryPolicy, parse_retry_after
from airflow_provider_videogen.hooks.settings import ConnectionSettings, Origin, url_origin
from airflow_provider_videogen.models import ApiError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Generator

USER_AGENT = f"airflow-provider-videogen/{__version__} httpx/{httpx.__version__}"
#: How much of an undecodable body to show in an error.
BODY_EXCERPT_CHARS = 200
#: Largest JSON answer the hook reads. A task answer is a few KiB; a bigger one is a broken or
#: hostile gateway, and parsing 300 MiB of JSON would take about 900 MiB of a triggerer's memory.
MAX_JSON_BODY_BYTES = 4 * 1024 * 1024
#: Transport errors that prove the request never left this machine (nothing can have been
#: created): the ones the retry policy may retry, and a URL scheme httpx cannot send to.
UNSENT_ERRORS: tuple[type[Exception], ...] = (*NOT_SENT_ERRORS, httpx.UnsupportedProtocol)


def masking_request_hook(home: Origin | None = None) -> Callable[[httpx.Request], None]:
    """An httpx ``request`` event hook that masks the link (path and query) of every request not sent to ``home``.

    httpx runs request hooks for each redirect hop (auth flows run once per call), so a gateway
    link that answers 302 with a signed CDN URL gets that link masked before httpx logs the
    URL (it logs every request at INFO) or an error message could show it. For the sync
    clients that download videos; the triggerer's async client only talks to the gateway.
    """

    def hook(request: httpx.Request) -> None:
        if home is None or url_origin(request.url) != home:
            mask_link(request.url)

    return hook


def public_download_client(timeout: httpx.Timeout | float, *, allow_private_hosts: bool = False) -> httpx.Client:
    """A keyless client for video links outside any videogen connection (CDN or public URLs):
    follows redirects, masks every hop's signed query (:func:`masking_request_hook`) and, unless
    ``allow_private_hosts``, refuses non-public hosts at every hop (:mod:`.addresses`)."""
    guard = guarded_client_kwargs(AddressPolicy(allow_private=allow_private_hosts))
    hooks = [masking_request_hook(), *guard.pop("event_hooks", {}).get("request", [])]
    return httpx.Client(timeout=timeout, follow_redirects=True, event_hooks={"request": hooks}, **guard)


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
# Sending one request: a bounded body in a bounded time
# ---------------------------------------------------------------------------------------------


class TotalTimeout(httpx.ReadTimeout):
    """The answer did not arrive whole within the request's total time limit.

    httpx's timeouts bound each read, so a server sending a byte a second never trips them; this
    bounds the whole exchange. A ``ReadTimeout``, so the retry policy treats it like one: a query
    is retried, a create is reported as possibly received (its bytes were sent).
    """


def _too_large(response: httpx.Response, limit: int) -> InvalidResponseError:
    request = response.request
    return InvalidResponseError(
        f"the answer is larger than {limit // (1024 * 1024)} MiB, the most the hook reads for a JSON answer; "
        "a task answer is a few KiB",
        status_code=response.status_code,
        method=request.method,
        url=redact_url(request.url),
    )


def _check_length(response: httpx.Response, limit: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and len(declared) < 20 and int(declared) > limit:
        raise _too_large(response, limit)


def _buffered(response: httpx.Response, chunks: list[bytes]) -> httpx.Response:
    """A fully read copy of a streamed answer (decoded already, so without encoding headers)."""
    headers = [
        (k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request)


#: Redirects a gateway API call follows, all within the gateway's own origin (see :func:`gateway_hop`).
MAX_GATEWAY_REDIRECTS = 5


def gateway_hop(
    client: httpx.Client | httpx.AsyncClient, request: httpx.Request, response: httpx.Response, hops: int
) -> httpx.Request | None:
    """The next request of a redirect an API call may follow, or ``None`` to stop at this answer.

    API calls (status queries, cancels, the connection test) talk to the gateway and nothing
    else: a redirect is followed only to the same scheme, host and port as the request, and at
    most :data:`MAX_GATEWAY_REDIRECTS` times. A redirect to another host (a CDN, ``127.0.0.1``,
    the cloud metadata address) is never fetched: its answer, whatever it holds, would land in
    the error text, the trigger event and the task log. The 3xx answer itself is then returned,
    and :func:`error_for_response` says what happened. Downloads, which do follow links to
    other hosts, do not come through here (``VideoGenHook.stream_download``).
    """
    if not response.is_redirect or hops >= MAX_GATEWAY_REDIRECTS:
        return None
    try:
        target = request.url.join(response.headers["location"])
        if url_origin(target) != url_origin(request.url):
            return None
    except (httpx.InvalidURL, ValueError):
        return None
    return client.build_request(request.method, target)


def send_bounded(
    client: httpx.Client,
    request: httpx.Request,
    *,
    follow_redirects: bool,
    time_limit: float,
    limit: int = MAX_JSON_BODY_BYTES,
) -> httpx.Response:
    """Send ``request`` and read its answer, at most ``limit`` bytes and ``time_limit`` seconds in all.

    Streamed, so an oversized answer is refused after ``limit`` bytes instead of being read
    whole. The time is checked between chunks: the total is bounded by ``time_limit`` plus one
    read timeout. ``follow_redirects`` follows them within the gateway only (:func:`gateway_hop`).
    """
    started = time.monotonic()
    response = client.send(request, stream=True, follow_redirects=False)
    hops = 0
    while follow_redirects and (hop := gateway_hop(client, request, response, hops)) is not None:
        response.close()
        request, hops = hop, hops + 1
        response = client.send(request, stream=True, follow_redirects=False)
    try:
        _check_length(response, limit)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise _too_large(response, limit)
            chunks.append(chunk)
            if time.monotonic() - started > time_limit:
                raise TotalTimeout(f"the answer took longer than {time_limit:g}s in all", request=request)
    finally:
        response.close()
    return _buffered(response, chunks)


async def asend_bounded(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    follow_redirects: bool,
    time_limit: float,
    limit: int = MAX_JSON_BODY_BYTES,
) -> httpx.Response:
    """:func:`send_bounded` for the event loop, where the time limit is exact (``asyncio.timeout``)."""
    try:
        async with asyncio.timeout(time_limit):
            response = await client.send(request, stream=True, follow_redirects=False)
            hops = 0
            while follow_redirects and (hop := gateway_hop(client, request, response, hops)) is not None:
                await response.aclose()
                request, hops = hop, hops + 1
                response = await client.send(request, stream=True, follow_redirects=False)
            try:
                _check_length(response, limit)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(response, limit)
                    chunks.append(chunk)
            finally:
                await response.aclose()
    except TimeoutError:
        raise TotalTimeout(f"the answer took longer than {time_limit:g}s in all", request=request) from None
    return _buffered(response, chunks)


# ---------------------------------------------------------------------------------------------
# Responses and errors
# ---------------------------------------------------------------------------------------------


def excerpt(response: httpx.Response, secret: str | None = None) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "<unread body>"
    text = redact_links_in(redact(text, secret)).strip().replace("\n", " ")
    return text[:BODY_EXCERPT_CHARS] + ("..." if len(text) > BODY_EXCERPT_CHARS else "")


def decode_json(response: httpx.Response, secret: str | None = None) -> dict[str, Any]:
    """The body as a JSON object, or :class:`InvalidResponseError` naming the status and an excerpt."""
    request = response.request
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    # Everything the gateway wrote may echo the key (a proxy reflecting headers): redact all of it.
    api = ApiError.from_body(redact_value(body, secret))
    common: dict[str, Any] = {
        "status_code": status,
        # code and field are the gateway's free text too: a link in them is shown redacted
        "api_code": redact_links_in(api.code) if api.code else api.code,
        "method": request.method,
        "url": redact_url(request.url),
        "param": redact_links_in(api.param) if api.param else api.param,
    }
    if 300 <= status < 400 and request.method != "POST":
        location = response.headers.get("location", "")
        return InvalidResponseError(
            f"the gateway answered with a redirect to {redact_url(location) if location else 'nowhere'}, which was "
            "not fetched: API calls follow redirects only within the gateway's own scheme, host and port (at most "
            f"{MAX_GATEWAY_REDIRECTS}), never to another host or a private address. Check the connection's base URL",
            **common,
        )
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return BadRequestError(
            f"the gateway answered with a redirect to {redact_url(location) if location else 'nowhere'}, which is "
            "not followed for a create: its body would be sent again to another address (perhaps over plain "
            "http). Nothing was created; set the connection's base URL to the address the gateway uses",
            **common,
        )
    if body is None or (not api.message and not api.code):
        message = f"undecodable error body: {excerpt(response, secret)!r}"
        if status < 500 and status not in (401, 402, 403, 404, 413, 429) and body is None:
            return InvalidResponseError(message, **common)
    else:
        message = redact(api.message or response.reason_phrase or "no message", secret)
        if api.fallback_suggestion:
            message += f" (suggestion: {api.fallback_suggestion})"
        message = redact_links_in(message)  # a 400 may quote the image or callback link it refused
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


@functools.cache
def shared_ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process for the sync clients: loading the CA bundle costs ~50 ms of CPU,
    which a triggerer starting hundreds of tasks (``start_from_trigger``) would pay per task.
    An ``SSLContext`` is safe to share between clients and threads."""
    return ssl_context(verify)


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
            # Only the gateway is ever asked (status queries, cancels): no redirect is followed by
            # httpx itself; asend_bounded follows those that stay on the gateway (gateway_hop).
            client = httpx.AsyncClient(**{**build_client_kwargs(settings, context), "follow_redirects": False})
            closer = _close_with_loop(client)
            shared = SharedAsyncClient(
                client, asyncio.Semaphore(settings.pool_size), RetryPolicy.from_settings(settings), closer
            )
            per_loop[key] = shared
            await anext(closer)  # runs to the ``yield`` at once: registers the generator with this loop
    return shared
