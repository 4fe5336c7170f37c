"""Hook for the video generation gateway: the only place that knows URLs, headers and retries.

Two APIs live behind one connection:

* the unified generation API: ``POST /v1/videos/generations`` (JSON), ``GET /v1/tasks/{id}``;
* the 15-second remix API: ``POST /v1/videos`` (multipart only), ``GET /v1/videos/{id}``.

Every method returns a :class:`~airflow_provider_videogen.models.VideoTask`, so callers never
read raw bodies. A sync ``httpx.Client`` serves operators, and ``a*`` methods use an
``httpx.AsyncClient`` shared by every trigger of the same connection in an event loop.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from airflow.sdk import BaseHook

from airflow_provider_videogen.exceptions import (
    InvalidResponseError,
    SubmissionUncertainError,
    VideoGenConnectionError,
    VideoGenError,
)
from airflow_provider_videogen.hooks.addresses import AddressPolicy, guarded_client_kwargs
from airflow_provider_videogen.hooks.answers import answer_body, http_error, poll_hint, same_task, scrubbed
from airflow_provider_videogen.hooks.connection_form import CONN_FIELDS, hook_field_behaviour
from airflow_provider_videogen.hooks.connection_probe import probe_connection
from airflow_provider_videogen.hooks.redaction import redact, redact_links_in, redact_url
from airflow_provider_videogen.hooks.retries import RetryPolicy
from airflow_provider_videogen.hooks.settings import (
    ConnectionSettings,
    amask_api_key,
    mask_api_key,
    settings_from_connection,
)
from airflow_provider_videogen.hooks.task_ids import task_path
from airflow_provider_videogen.hooks.transport import (
    UNSENT_ERRORS,
    asend_bounded,
    build_client_kwargs,
    masking_request_hook,
    send_bounded,
    shared_async_client,
    shared_ssl_context,
)
from airflow_provider_videogen.hooks.wire import traces_connections, wire_trace
from airflow_provider_videogen.models import (
    GENERATION_TASK_ID_PREFIX,
    ApiKind,
    GenerationRequest,
    RemixRequest,
    TaskState,
    VideoTask,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import TypeAlias

    #: Runs once the create is built, before anything is sent; may return what to run right before
    #: its first byte leaves (the hook's ``wire_trace``), or ``None``.
    BeforeSend: TypeAlias = Callable[[], Callable[[], None] | None]

GENERATION_CREATE_PATH = "/v1/videos/generations"
GENERATION_QUERY_PATH = "/v1/tasks/{task_id}"
REMIX_CREATE_PATH = "/v1/videos"
REMIX_QUERY_PATH = "/v1/videos/{task_id}"
#: The remix API's bytes of a completed task (api-notes §2): where a gateway that lists no URL serves them.
REMIX_CONTENT_PATH = "/v1/videos/{task_id}/content"
CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
QUERY_PATHS = {ApiKind.GENERATION: GENERATION_QUERY_PATH, ApiKind.REMIX: REMIX_QUERY_PATH}


class VideoGenHook(BaseHook):
    """Talk to the video generation gateway through the ``videogen`` connection.

    :param videogen_conn_id: Airflow connection id: host = base URL, password = API key.
    :param allow_private_hosts: let downloads (``stream_download``/``download``) reach loopback,
        private and link-local hosts other than the gateway itself; also the connection extra
        ``allow_private_hosts`` (see :mod:`airflow_provider_videogen.hooks.addresses`).
    """

    conn_name_attr = "videogen_conn_id"
    default_conn_name = "videogen_default"
    conn_type = "videogen"
    hook_name = "Video Generation Gateway"

    _CONNECTION_PROBE_ID: ClassVar[str] = f"{GENERATION_TASK_ID_PREFIX}0-connectiontest"

    def __init__(
        self, videogen_conn_id: str = default_conn_name, *, allow_private_hosts: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.videogen_conn_id = videogen_conn_id
        self.allow_private_hosts = allow_private_hosts
        self._settings: ConnectionSettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(videogen_conn_id={self.videogen_conn_id!r})"

    # ---- connection form ----------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form's field behaviour, built from the provider info's (Airflow < 3.2 reads this one)."""
        return hook_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            name: StringField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(), description=spec["description"])
            for name, spec in CONN_FIELDS.items()
        }

    # ---- settings and clients -------------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        """Connection settings, resolved once per hook (sync path)."""
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.videogen_conn_id))
            mask_api_key(self._settings.api_key)
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """Connection settings through the async connection API (never blocks the event loop)."""
        if self._settings is None:
            conn = await self.aget_connection(self.videogen_conn_id)
            self._settings = settings_from_connection(conn)
            await amask_api_key(self._settings.api_key)
        return self._settings

    @cached_property
    def _retry(self) -> RetryPolicy:
        return RetryPolicy.from_settings(self.settings)

    def get_conn(self) -> httpx.Client:
        """The hook's sync client, created once and reused for every call of this hook."""
        return self._client

    @cached_property
    def _client(self) -> httpx.Client:
        settings = self.settings
        kwargs = build_client_kwargs(settings, shared_ssl_context(settings.verify_ssl))
        # The gateway an admin configured is trusted; any other host a link or redirect leads to
        # must be public unless private hosts are allowed (hooks/addresses.py).
        _, host, port = settings.origin
        policy = AddressPolicy(
            allow_private=self.allow_private_hosts or settings.allow_private_hosts,
            trusted=frozenset({(host, port or 0)}),
        )
        guard = guarded_client_kwargs(policy, verify=kwargs["verify"], limits=kwargs["limits"])
        hooks = [masking_request_hook(settings.origin), *guard.pop("event_hooks", {}).get("request", [])]
        return httpx.Client(**kwargs, event_hooks={"request": hooks}, **guard)

    def close(self) -> None:
        if "_client" in self.__dict__:
            self._client.close()
            del self.__dict__["_client"]

    # ---- requests: the retry policy's one loop, then our exceptions --------------------------
    #
    # Order matters for money: the connection is resolved and the request built (and its body
    # encoded) first; ``before_send`` (the operators' in-flight marker) runs only then, before
    # anything is sent, so an error that happens locally leaves no marker behind. The callable
    # it may return ("on wire") runs at the last moment before the request's first byte can
    # leave: httpcore's first step after opening the connection (``wire_trace``), so a process
    # that dies while connecting leaves evidence that the gateway received nothing.

    def _request(
        self, method: str, path: str, *, before_send: BeforeSend | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        settings = self.settings
        client, key = self._client, settings.api_key
        request = self._build(client, method, path, key, **kwargs)
        on_wire = before_send() if before_send is not None else None
        if on_wire is not None and traces_connections(client, request.url):
            request.extensions["trace"] = wire_trace(on_wire)  # runs before the request's first byte
        elif on_wire is not None:
            on_wire()  # this transport does not say when it sends: count it as sending now
        try:
            response = self._retry.send(
                lambda: send_bounded(
                    client, request, follow_redirects=method != "POST", time_limit=settings.query_timeout
                ),
                method=method,
                target=path,
                log=self.log,
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(method, path, exc) from None
        except VideoGenError as exc:
            raise scrubbed(exc, method, key) from None
        return answer_body(method, response, key)

    async def _arequest(
        self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The async request; ``deadline`` (epoch seconds, a trigger's) bounds it with its retries."""
        body, _ = await self._arequest_with_hint(method, path, deadline=deadline, **kwargs)
        return body

    async def _arequest_with_hint(
        self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any
    ) -> tuple[dict[str, Any], float | None]:
        """:meth:`_arequest`, plus the answer's poll hint (:func:`~.answers.poll_hint`)."""
        settings = await self.asettings()
        shared = await shared_async_client(settings)
        key = settings.api_key
        request = self._build(shared.client, method, path, key, **kwargs)
        budget = settings.query_timeout

        async def send() -> httpx.Response:
            limit = budget if deadline is None else max(0.001, min(budget, deadline - time.time()))
            async with shared.gate:
                return await asend_bounded(shared.client, request, follow_redirects=method != "POST", time_limit=limit)

        remaining = None if deadline is None else deadline - time.time()
        try:
            if remaining is not None and remaining <= 0:
                raise httpx.ReadTimeout("the deadline had passed before the request", request=request)
            async with asyncio.timeout(remaining):
                response = await shared.retry.asend(send, method=method, target=path, log=self.log)
        except TimeoutError:
            raise VideoGenConnectionError(
                f"{method} {settings.base_url}{path}: the deadline passed before the gateway answered"
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(method, path, exc) from None
        except VideoGenError as exc:
            raise scrubbed(exc, method, key) from None
        return answer_body(method, response, key), poll_hint(response)

    def _build(
        self, client: httpx.Client | httpx.AsyncClient, method: str, path: str, key: str, **kwargs: Any
    ) -> httpx.Request:
        """The request with its body encoded; an error here provably sent nothing."""
        try:
            return client.build_request(method, path, **kwargs)
        except (TypeError, ValueError, httpx.InvalidURL) as exc:
            raise VideoGenError(
                redact(
                    f"{method} {path}: the request cannot be built ({type(exc).__name__}: {exc}); nothing was sent", key
                )
            ) from None

    def _transport_error(self, method: str, path: str, exc: httpx.HTTPError) -> VideoGenError:
        base = self._settings.base_url if self._settings else "the gateway"
        key = self._settings.api_key if self._settings else None
        if method == "POST" and not isinstance(exc, UNSENT_ERRORS):
            return SubmissionUncertainError(
                f"POST {base}{path}: {type(exc).__name__} after the request was sent; the job may have been "
                "created and may be billed. It is not resubmitted automatically: check the gateway's task "
                "list before submitting again."
            )
        if not isinstance(exc, httpx.TransportError):  # a body httpx could not decode, too many redirects
            return InvalidResponseError(
                redact(f"{type(exc).__name__}: {exc or 'no detail'}", key), method=method, url=f"{base}{path}"
            )
        return VideoGenConnectionError(
            redact(f"{method} {base}{path}: {type(exc).__name__}: {exc or 'no detail'}", key)
        )

    # ---- unified generation API ----------------------------------------------------------

    def submit_generation(self, request: GenerationRequest, *, before_send: BeforeSend | None = None) -> VideoTask:
        """Create a generation task. Never retried once sent: a duplicate would be billed.

        ``before_send`` runs once the request is built, before it is sent (the operators write
        their in-flight marker there); the callable it returns, if any, runs right before the
        request's first byte can leave (the marker's "sending" phase).
        """
        body = self._request("POST", GENERATION_CREATE_PATH, json=request.to_api_body(), before_send=before_send)
        task = self._parse(ApiKind.GENERATION, body, uncertain=True)
        self.log.info(
            "Submitted %s generation %s: %s credits reserved (%s), estimated %ss",
            request.model,
            task.id,
            task.credits_reserved,
            task.billing_rule or "billing rule not given",
            task.estimated_time,
        )
        return task

    def get_generation(self, task_id: str) -> VideoTask:
        return self.get_task(ApiKind.GENERATION, task_id)

    async def aget_generation(self, task_id: str) -> VideoTask:
        return await self.aget_task(ApiKind.GENERATION, task_id)

    # ---- 15 s remix API -------------------------------------------------------------------

    def submit_remix(self, request: RemixRequest, *, before_send: BeforeSend | None = None) -> VideoTask:
        """Create a 15 s remix task (multipart/form-data, the only body this API accepts)."""
        parts = request.multipart_parts()
        body = self._request("POST", REMIX_CREATE_PATH, files=parts, before_send=before_send)
        task = self._parse(ApiKind.REMIX, body, uncertain=True)
        self.log.info(
            "Submitted %s remix %s with %d reference(s): %s",
            request.model,
            task.id,
            len(request.input_references),
            ", ".join(ref.describe() for ref in request.input_references) or "text only",
        )
        return task

    def get_remix(self, task_id: str) -> VideoTask:
        return self.get_task(ApiKind.REMIX, task_id)

    # ---- either API ------------------------------------------------------------------------

    def get_task(self, api: ApiKind, task_id: str) -> VideoTask:
        body = self._request("GET", task_path(QUERY_PATHS[api], task_id))
        return same_task(task_id, self._parse(api, body))

    async def aget_task(self, api: ApiKind, task_id: str, *, deadline: float | None = None) -> VideoTask:
        """Query a task; ``deadline`` (epoch seconds) bounds the query and its retries (a trigger's)."""
        body, hint = await self._arequest_with_hint("GET", task_path(QUERY_PATHS[api], task_id), deadline=deadline)
        task = same_task(task_id, self._parse(api, body))
        return task if hint is None else task.model_copy(update={"poll_after": hint})

    async def acancel(self, api: ApiKind, task_id: str) -> bool:
        """POST the connection's ``cancel_path``, if one is configured; ``False`` when none is."""
        settings = await self.asettings()
        if not settings.cancel_path:
            return False
        await self._arequest("POST", task_path(settings.cancel_path, task_id, api=api.value))
        return True

    def cancel(self, api: ApiKind, task_id: str) -> bool:
        """Sync :meth:`acancel`, for an operator's ``on_kill`` in the worker (no event loop to use)."""
        if not self.settings.cancel_path:
            return False
        # The same checked, quoted id as every other path (an id "x/../../admin/purge" never leaves).
        self._request("POST", task_path(self.settings.cancel_path, task_id, api=api.value))
        return True

    def _parse(self, api: ApiKind, body: dict[str, Any], *, uncertain: bool = False) -> VideoTask:
        """The task in an answer (already redacted); any malformed answer is :class:`InvalidResponseError`."""
        try:
            task = self._with_content_link(VideoTask.from_response(api, body))
            # Free text the gateway writes, shown in logs, events and errors: a failed task's message
            # may echo a link it was given (a reference, a webhook), and nothing stops a code or a
            # model name from holding one either.
            texts = {name: getattr(task, name) for name in ("error_message", "error_code", "model")}
            changed = {name: shown for name, text in texts.items() if text and (shown := redact_links_in(text)) != text}
            return task.model_copy(update=changed) if changed else task
        except (ValueError, TypeError, OverflowError, OSError, KeyError, AttributeError, RecursionError) as exc:
            key = self._settings.api_key if self._settings else None
            detail = redact(f"{type(exc).__name__}: {exc}"[:300], key)
            # the body may list the video's (signed) links: shown redacted, then cut
            shown = redact_links_in(redact(str(body), key)[:2000])[:200]
            err = InvalidResponseError(f"unexpected {api.value} task body ({redact_links_in(detail)}): {shown!r}")
            err.submission_uncertain = uncertain
            raise err from None

    def _with_content_link(self, task: VideoTask) -> VideoTask:
        """A completed remix that lists no URL gets the gateway's content endpoint as its link.

        OpenAI-style gateways answer a completed video with no URL at all: its bytes are at
        ``GET /v1/videos/{id}/content`` (with the API key, which the hook sends to the gateway's
        own origin only). Without this, a paid video looks like one whose links expired, and a
        retry would pay for it again. The unified API has no such endpoint: a succeeded task
        without URLs stays without, and completion asks a human (completion.py).
        """
        if task.api is not ApiKind.REMIX or task.state is not TaskState.SUCCEEDED or task.video_urls:
            return task
        base = self.settings.base_url.rstrip("/")
        return task.model_copy(update={"video_urls": [base + task_path(REMIX_CONTENT_PATH, task.id)]})

    # ---- downloads ----------------------------------------------------------------------------

    @contextmanager
    def stream_download(self, url: str, *, start: int = 0) -> Iterator[httpx.Response]:
        """Open a streamed GET of a video URL with the hook's reused client.

        The API key goes only to the gateway's own origin (see ``GatewayAuth``). ``start``
        sends ``Range: bytes=start-`` to resume a dropped download. The status is not checked
        here: the caller decides what an expired link (403/404/410) means for its task.
        """
        headers = {"Accept": "*/*"}
        if start > 0:
            headers["Range"] = f"bytes={start}-"
        client = self._client
        request = client.build_request("GET", url, headers=headers)
        # Retry opening only, and only what was never sent: once bytes flow, resuming is the
        # caller's (Range) business, and so is what an answer's status means.
        response = self._retry.send(
            lambda: client.send(request, stream=True),
            method="GET",
            target=redact_url(url),
            log=self.log,
            only_unsent=True,
        )
        try:
            yield response
        finally:
            response.close()

    def download(self, url: str, path: str, *, chunk_size: int = 1 << 20) -> int:
        """Download a video to a local file (constant memory); return its size in bytes."""
        written = 0
        with self.stream_download(url) as response, open(path, "wb") as out:
            if not response.is_success:
                response.read()
                raise http_error("GET", response, self.settings.api_key)
            for chunk in response.iter_bytes(chunk_size):
                out.write(chunk)
                written += len(chunk)
        return written

    # ---- chat completions (prompt generation) ----------------------------------------------

    def chat_completion(self, messages: Sequence[dict[str, str]], *, model: str, **params: Any) -> str:
        """Ask the gateway's OpenAI-compatible chat API; return the first choice's text."""
        body = self._request("POST", CHAT_COMPLETIONS_PATH, json={"model": model, "messages": list(messages), **params})
        try:  # the body is redacted already (a model asked to repeat its input may echo the key)
            return str(body["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise InvalidResponseError(
                f"chat completion without choices[0].message.content: {str(body)[:200]!r}"
            ) from None

    # ---- UI test button ----------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the base URL and the key without creating (or paying for) anything; say what was checked."""
        return probe_connection(self, task_path(GENERATION_QUERY_PATH, self._CONNECTION_PROBE_ID))
