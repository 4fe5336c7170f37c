"""The simulator's HTTP API: both gateway APIs, a chat endpoint, a CDN for videos, control routes.

Routes (``/v1`` and ``/_sim`` routes need ``Authorization: Bearer <key>``, the ``/_sim`` ones JSON
and a loopback ``Host`` too (see :mod:`.control`); ``/files`` and ``/_sim/health`` need no key)::

    POST /v1/videos/generations        unified API create (JSON)           seeds 000-002
    GET  /v1/tasks/{task_id}           unified API query                   api-notes §1
    POST /v1/videos                    15 s remix create (multipart only)  seed 003
    GET  /v1/videos/{task_id}          remix query (shape: remix_shape)    seed 003, api-notes §2
    GET  /v1/videos/{task_id}/content  remix video bytes (Range)           api-notes §2
    POST /v1/chat/completions          OpenAI-compatible, deterministic
    GET  /files/{token}.mp4            video links (no key, expire like a CDN's, Range)
    GET  /_sim/stats   POST /_sim/reset   GET|POST /_sim/config   GET /_sim/health

Every request is handled in the same order, so tests can reason about it: injected faults
(see :mod:`.faults`) -> authentication -> body parsing -> validation with the package's own
request models (:mod:`airflow_provider_videogen.models`, so the simulator and the client can
never disagree about a limit) -> account checks -> task creation -> answer.

A create answer always shows the task just submitted (``pending`` / ``SUBMITTED``, progress 0),
even when it renders in no time: the state is only ever learnt by querying, as with the real
gateway. ``/v1/videos/{id}/content`` does not expire (the remix middleware stores the 15 s video
itself); the ``/files`` links do, ``link_ttl_seconds`` after the task finished.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from airflow_provider_videogen import __version__
from airflow_provider_videogen.models import (
    GENERATION_TASK_ID_PREFIX,
    REMIX_MODELS,
    GenerationRequest,
    RemixReference,
    RemixRequest,
    explain_validation_error,
)
from airflow_provider_videogen.simulator import chat, control
from airflow_provider_videogen.simulator.config import (
    NO_ACCESS_API_KEY,
    NO_CREDITS_API_KEY,
    SimulatorConfig,
)
from airflow_provider_videogen.simulator.faults import (
    REMIX_429_MESSAGE,
    DirectiveError,
    Directives,
    EdgeFault,
    mangle,
    parse_directives,
    status_error,
)
from airflow_provider_videogen.simulator.media import RangeNotSatisfiable, VideoBlob, free_box, parse_range
from airflow_provider_videogen.simulator.state import (
    SUBMITTED,
    MediaRef,
    SimulatorState,
    generation_body,
    remix_body,
)

ApiName = Literal["generation", "remix", "chat"]
KeyKind = Literal["normal", "no_credits"]

#: Largest multipart part accepted: a 10 MB image as a base64 data URI, with room to spare.
MAX_FORM_PART_BYTES = 16 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 64 * 1024
_GENERATION_FIELDS = frozenset(GenerationRequest.model_fields) - {"extra_params"}
_REMIX_TEXT_FIELDS = ("model", "prompt", "prompt_extend", "size")
_REMIX_REFERENCE_FIELD = "input_reference[]"
_DATA_URI_RE = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>;[^,]*)?,", re.IGNORECASE)

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


# --------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------


def gateway_error(
    status: int,
    code: str,
    message: str,
    *,
    type_: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """``{"error": {"code", "message", "type", "param"?}}``: the unified API's and middleware's errors."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "type": type_ or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
    }
    if param is not None:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def task_error(status: int, code: str, message: str, *, param: str | None = None) -> JSONResponse:
    """``{"code", "message", "data": null}``: errors of the remix task routes (api-notes §2)."""
    body: dict[str, Any] = {"code": code, "message": message, "data": None}
    if param is not None:
        body["param"] = param
    return JSONResponse(body, status_code=status)


def cdn_error(status: int, code: str, message: str, **extra: str) -> Response:
    """An S3/CloudFront-style XML error, as a storage link answers once expired or unknown."""
    fields = "".join(f"<{key}>{value}</{key}>" for key, value in extra.items())
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"{fields}</Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _json_object(raw: bytes) -> tuple[dict[str, Any], str | None]:
    if not raw.strip():
        return {}, "the request body is empty; send a JSON object"
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, f"the request body is not valid JSON: {exc}"
    if not isinstance(value, dict):
        return {}, f"the request body must be a JSON object, not {type(value).__name__}"
    return value, None


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _problems(exc: ValidationError, rename: dict[str, str] | None = None) -> tuple[str, str]:
    """``(param, message)`` for a 400: the first field at fault, and every problem in words."""
    problems = explain_validation_error(exc)
    rename = rename or {}
    fields = [rename.get(field, field) for field, _ in problems]
    message = "; ".join(text for _, text in problems) or str(exc)
    return (fields[0] if fields else "request"), message


# --------------------------------------------------------------------------------------------
# Video responses
# --------------------------------------------------------------------------------------------


class SimulatedConnectionDrop(ConnectionError):
    """Raised after a partial body on purpose: the server then closes the connection mid-body."""


class _QuietDrops(logging.Filter):
    """Hide uvicorn's traceback for drops the simulator made on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not _is_drop(exc)


def _is_drop(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, SimulatedConnectionDrop):
        return True
    nested: Any = getattr(exc, "exceptions", None)
    if not nested:
        return False
    return any(_is_drop(e) for e in nested)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


class VideoResponse(Response):
    """Bytes ``start``..``end`` of a video, optionally cut off after ``drop_after`` bytes."""

    media_type = "video/mp4"

    def __init__(
        self,
        blob: VideoBlob,
        start: int,
        end: int,
        *,
        status_code: int,
        headers: dict[str, str],
        drop_after: int | None,
        on_sent: Callable[[int, bool], None],
    ) -> None:
        super().__init__(content=None, status_code=status_code, headers=headers, media_type=self.media_type)
        self._blob = blob
        self._start = start
        self._end = end
        self._drop_after = drop_after
        self._on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        data = self._blob.read(self._start, self._end)
        drop = self._drop_after
        if drop is not None and drop < len(data):
            if drop:
                await send({"type": "http.response.body", "body": data[:drop], "more_body": True})
            self._on_sent(drop, True)
            raise SimulatedConnectionDrop(f"simulated connection drop after {drop} of {len(data)} bytes")
        for offset in range(0, len(data), DOWNLOAD_CHUNK_BYTES):
            chunk = data[offset : offset + DOWNLOAD_CHUNK_BYTES]
            last = offset + DOWNLOAD_CHUNK_BYTES >= len(data)
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})
        if not data:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._on_sent(len(data), False)


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


class _Gateway:
    """Route handlers around one :class:`SimulatorState`."""

    def __init__(self, sim: SimulatorState) -> None:
        self.sim = sim

    # ---- shared steps ----------------------------------------------------------------------

    def _count_request(self) -> None:
        with self.sim.lock:
            self.sim.stats.requests += 1

    async def _edge(self, request: Request, *, api_route: bool = True) -> EdgeFault | None:
        fault = self.sim.faults.decide(self.sim.config, request.method, request.url.path, api_route=api_route)
        if fault is None:
            return None
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        with self.sim.lock:
            self.sim.stats.fault(fault.source)
        return fault

    def _fault_response(self, fault: EdgeFault, api: ApiName) -> Response:
        status = fault.status or 503
        code, message = status_error(status)
        if api == "remix" and status == 429:
            message = REMIX_429_MESSAGE
        headers = {"Retry-After": _retry_after(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.location is not None:
            headers["Location"] = fault.location
        response = gateway_error(status, fault.code or code, fault.message or message, headers=headers)
        body = fault.body.encode() if fault.body is not None else bytes(response.body)
        if fault.pad_bytes or fault.trickle_seconds:
            return StreamingResponse(
                self._stream(body, fault.pad_bytes, fault.trickle_seconds),
                status_code=status,
                headers=headers,
                media_type="application/json",
            )
        if fault.body is not None:
            return Response(body, status_code=status, headers=headers, media_type="application/json")
        return response

    async def _stream(self, body: bytes, pad_bytes: int, trickle: float) -> AsyncIterator[bytes]:
        """``pad_bytes`` of JSON whitespace then ``body``, generated lazily; a byte per ``trickle`` seconds."""
        finished = False
        kind = "trickle" if trickle else "stream"  # told apart: a padded answer may finish after its test
        try:
            left = pad_bytes
            while left > 0:
                chunk = min(left, DOWNLOAD_CHUNK_BYTES)
                left -= chunk
                yield b" " * chunk
            for index in range(len(body)):
                if trickle:
                    await asyncio.sleep(trickle)
                    yield body[index : index + 1]
                elif index == 0:
                    yield body
            finished = True
            with self.sim.lock:
                self.sim.stats.fault(f"{kind}_completed")
        finally:
            if not finished:
                with self.sim.lock:
                    self.sim.stats.fault(f"{kind}_abandoned")

    @staticmethod
    def _finish(fault: EdgeFault | None, response: Response) -> Response:
        if fault is None or fault.malformed is None or isinstance(response, VideoResponse):
            return response
        status, content_type, body = mangle(fault.malformed, response.status_code, bytes(response.body))
        return Response(body, status_code=status, headers={"content-type": content_type})

    def _authorize(self, request: Request) -> tuple[KeyKind | None, Response | None]:
        """The caller's kind of key, or the 401/403 answer. Never puts the key in a body or a log."""
        config = self.sim.config
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        key = token.strip().encode() if scheme.lower() == "bearer" else b""
        if key:
            if any(hmac.compare_digest(key, known.encode()) for known in config.api_keys):
                return "normal", None
            if config.special_keys and hmac.compare_digest(key, NO_CREDITS_API_KEY.encode()):
                return "no_credits", None
            if config.special_keys and hmac.compare_digest(key, NO_ACCESS_API_KEY.encode()):
                with self.sim.lock:
                    self.sim.stats.auth_failures += 1
                return None, gateway_error(
                    403, "access_denied", "This API key has no access to this API", type_="permission_error"
                )
        with self.sim.lock:
            self.sim.stats.auth_failures += 1
        message = (
            "Invalid API key" if key else "Missing API key: send the header 'Authorization: Bearer <your API key>'"
        )
        return None, gateway_error(401, "invalid_api_key", message, type_="authentication_error")

    def _created(
        self, api: Literal["generation", "remix"], model: str | None, record: dict[str, Any], response: Response,
        *, accepted: bool,
    ) -> Response:  # fmt: skip
        record["status_code"] = response.status_code
        record["accepted"] = accepted
        with self.sim.lock:
            self.sim.stats.create(api, model, accepted=accepted)
            log = self.sim.stats.generation_requests if api == "generation" else self.sim.stats.remix_requests
            log.append(record)
        return response

    def _after_create(self, fault: EdgeFault | None, create_status: int | None, api: ApiName,
                      response: Response) -> Response:  # fmt: skip
        """The answer to a create whose task exists: replaced when a fault says so."""
        if create_status is not None:
            source, status = "create_status", create_status
        elif fault is not None and fault.after_create and fault.status is not None:
            source, status = "after_create", fault.status
        else:
            return response
        with self.sim.lock:
            self.sim.stats.fault(source)
        code, message = status_error(status)
        if fault is not None and fault.after_create:
            code, message = fault.code or code, fault.message or message
        if api == "remix":
            return task_error(status, code, message)
        return gateway_error(status, code, message)

    def _configured_failure(self, directives: Directives, prompt: str | None) -> Directives:
        """Apply ``fail_prompts_containing``: a ``[sim:fail=...]`` the test could not write in the prompt."""
        if directives.fail_code is None and prompt:
            for text, code in self.sim.config.fail_prompts_containing.items():
                if text and text in prompt:
                    return dataclasses.replace(directives, fail_code=code)
        return directives

    @staticmethod
    async def _hold(directives: Directives, response: Response) -> Response:
        """``[sim:hold_answer=N]``: the task exists and is counted; its answer waits N seconds."""
        if directives.hold_answer_seconds > 0:
            await asyncio.sleep(directives.hold_answer_seconds)
        return response

    # ---- unified API -----------------------------------------------------------------------

    async def create_generation(self, request: Request) -> Response:
        self._count_request()
        body, problem = _json_object(await request.body())
        model = body.get("model") if isinstance(body.get("model"), str) else None
        record: dict[str, Any] = {"task_id": None, "model": model, "body": body or None, "unknown_fields": []}

        def reject(response: Response) -> Response:
            return self._created("generation", model, record, response, accepted=False)

        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return reject(self._fault_response(fault, "generation"))
        kind, denied = self._authorize(request)
        if denied is not None:
            return reject(self._finish(fault, denied))
        if problem is not None:
            return reject(self._finish(fault, gateway_error(400, "invalid_parameters", problem)))

        unknown = sorted(key for key in body if key not in _GENERATION_FIELDS)
        record["unknown_fields"] = unknown
        fields: dict[str, Any] = {key: value for key, value in body.items() if key in _GENERATION_FIELDS}
        if unknown:  # tolerated like a real gateway: new API fields travel at the top level
            fields["extra_params"] = {key: body[key] for key in unknown}
        try:
            req = GenerationRequest.model_validate(fields)
        except ValidationError as exc:
            param, message = _problems(exc)
            return reject(self._finish(fault, gateway_error(400, "invalid_parameters", message, param=param)))
        try:
            directives = self._configured_failure(parse_directives(req.prompt, remix=False), req.prompt)
        except DirectiveError as exc:
            return reject(self._finish(fault, gateway_error(400, "invalid_parameters", str(exc), param="prompt")))
        if kind == "no_credits":
            return reject(
                self._finish(
                    fault,
                    gateway_error(
                        402,
                        "insufficient_credits",
                        "Insufficient credits: your balance is 0; top up to submit this task",
                    ),
                )
            )

        task = self.sim.create_generation(req, directives)
        record["task_id"] = task.id
        response: Response = JSONResponse(generation_body(task, SUBMITTED, _base_url(request)))
        response = self._after_create(fault, directives.create_status, "generation", response)
        response = self._created("generation", model, record, self._finish(fault, response), accepted=True)
        return await self._hold(directives, response)

    async def get_generation(self, request: Request, task_id: str) -> Response:
        self._count_request()
        task = self.sim.find("generation", task_id)
        with self.sim.lock:
            self.sim.stats.poll("generation", task)
        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return self._fault_response(fault, "generation")
        _, denied = self._authorize(request)
        if denied is not None:
            return self._finish(fault, denied)
        if not task_id.startswith(GENERATION_TASK_ID_PREFIX):
            return self._finish(
                fault,
                gateway_error(
                    400,
                    "invalid_task_id",
                    f"Invalid task id: unified API task ids start with {GENERATION_TASK_ID_PREFIX!r}",
                    param="task_id",
                ),
            )
        if task is None:
            return self._finish(fault, gateway_error(404, "task_not_found", f"Task {task_id} not found"))
        body = generation_body(task, task.phase(), _base_url(request))
        return self._finish(fault, JSONResponse(body, headers=self.sim.config.status_headers or None))

    # ---- remix API -------------------------------------------------------------------------

    async def create_remix(self, request: Request) -> Response:
        self._count_request()
        content_type = request.headers.get("content-type", "")
        multipart = content_type.lower().startswith("multipart/form-data")
        items: list[tuple[str, str | UploadFile]] = []
        form_problem: str | None = None
        if multipart:
            try:
                form = await request.form(max_files=64, max_fields=256, max_part_size=MAX_FORM_PART_BYTES)
                items = list(form.multi_items())
            except HTTPException as exc:
                form_problem = f"the multipart body could not be read: {exc.detail}"
        model = next((v for k, v in items if k == "model" and isinstance(v, str)), None)
        record: dict[str, Any] = {
            "task_id": None,
            "model": model,
            "content_type": content_type.split(";")[0].strip() or None,
            "fields": {},
            "input_references": [],
            "unknown_fields": [],
        }

        def reject(response: Response) -> Response:
            return self._created("remix", model, record, response, accepted=False)

        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return reject(self._fault_response(fault, "remix"))
        kind, denied = self._authorize(request)
        if denied is not None:
            return reject(self._finish(fault, denied))
        if not multipart:
            what = content_type.split(";")[0].strip() or "no content type"
            return reject(
                self._finish(
                    fault,
                    task_error(
                        400,
                        "invalid_request",
                        f"POST /v1/videos accepts multipart/form-data only (got {what}): send model, prompt, "
                        "prompt_extend, size and input_reference[] as form fields, not a JSON body",
                    ),
                )
            )
        if form_problem is not None:
            return reject(self._finish(fault, task_error(400, "invalid_request", form_problem)))

        fields: dict[str, str] = {}
        raw_refs: list[str | UploadFile] = []
        for name, value in items:
            if name == _REMIX_REFERENCE_FIELD:
                raw_refs.append(value)
            elif name in _REMIX_TEXT_FIELDS and isinstance(value, str):
                fields[name] = value
            elif name in _REMIX_TEXT_FIELDS:
                not_text = task_error(400, "invalid_parameters", f"{name} must be a text field", param=name)
                return reject(self._finish(fault, not_text))
            else:
                record["unknown_fields"].append(name)
        record["fields"] = dict(fields)
        misnamed = [name for name in record["unknown_fields"] if name.startswith("input_reference")]
        if misnamed:
            return reject(
                self._finish(
                    fault,
                    task_error(
                        400,
                        "invalid_parameters",
                        f"unknown field {misnamed[0]!r}: images go in repeated 'input_reference[]' fields "
                        "(with the brackets); the gateway ignores any other name and renders from text only",
                        param=_REMIX_REFERENCE_FIELD,
                    ),
                )
            )

        references: list[RemixReference] = []
        for index, value in enumerate(raw_refs):
            entry, reference, problem = await _reference(index, value)
            record["input_references"].append(entry)
            if problem is not None:
                return reject(
                    self._finish(fault, task_error(400, "invalid_parameters", problem, param=_REMIX_REFERENCE_FIELD))
                )
            if reference is None:
                raise RuntimeError("internal error: reference is unset")  # an invariant, kept under python -O
            references.append(reference)

        if model is not None and model not in REMIX_MODELS and not model.endswith("-remix"):
            return reject(
                self._finish(
                    fault,
                    task_error(
                        400,
                        "model_not_found",
                        f"model {model!r} is not a 15 s remix model; available: {', '.join(REMIX_MODELS)} "
                        "(the 15 s version of an 8 s model is its name with '-remix' appended)",
                        param="model",
                    ),
                )
            )
        values: dict[str, Any] = {key: value for key, value in fields.items() if not (key == "size" and not value)}
        values["input_references"] = references
        try:
            req = RemixRequest.model_validate(values)
        except ValidationError as exc:
            param, message = _problems(exc, {"input_references": _REMIX_REFERENCE_FIELD})
            return reject(self._finish(fault, task_error(400, "invalid_parameters", message, param=param)))
        try:
            directives = self._configured_failure(
                parse_directives(req.prompt, req.prompt_extend, remix=True), req.prompt
            )
        except DirectiveError as exc:
            return reject(self._finish(fault, task_error(400, "invalid_parameters", str(exc), param="prompt")))
        if kind == "no_credits":
            return reject(
                self._finish(
                    fault,
                    task_error(
                        403,
                        "insufficient_user_quota",
                        "预扣费额度失败, 用户剩余额度: $0.000000, 需要预扣费额度: $0.850000",
                    ),
                )
            )

        task = self.sim.create_remix(req, directives)
        record["task_id"] = task.id
        response: Response = JSONResponse(remix_body(task, SUBMITTED, _base_url(request), self.sim.config))
        response = self._after_create(fault, directives.create_status, "remix", response)
        response = self._created("remix", model, record, self._finish(fault, response), accepted=True)
        return await self._hold(directives, response)

    async def get_remix(self, request: Request, task_id: str) -> Response:
        self._count_request()
        task = self.sim.find("remix", task_id)
        with self.sim.lock:
            self.sim.stats.poll("remix", task)
        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return self._fault_response(fault, "remix")
        _, denied = self._authorize(request)
        if denied is not None:
            return self._finish(fault, denied)
        if task is None:
            return self._finish(fault, task_error(404, "task_not_found", f"task {task_id} does not exist"))
        body = remix_body(task, task.phase(), _base_url(request), self.sim.config)
        return self._finish(fault, JSONResponse(body, headers=self.sim.config.status_headers or None))

    async def cancel_generation(self, request: Request, task_id: str) -> Response:
        return await self._cancel(request, "generation", task_id)

    async def cancel_remix(self, request: Request, task_id: str) -> Response:
        return await self._cancel(request, "remix", task_id)

    async def _cancel(self, request: Request, api: Literal["generation", "remix"], task_id: str) -> Response:
        """Simulator extension (no cancel endpoint is documented): end a running task as cancelled."""
        self._count_request()
        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return self._fault_response(fault, api)
        _, denied = self._authorize(request)
        if denied is not None:
            return self._finish(fault, denied)
        task, cancelled = self.sim.cancel(api, task_id)
        if task is None:
            return self._finish(fault, gateway_error(404, "task_not_found", f"Task {task_id} not found"))
        if not cancelled:
            return self._finish(fault, gateway_error(409, "task_not_cancellable", f"Task {task_id} has already ended"))
        base = _base_url(request)
        phase = task.phase()
        if api == "generation":
            body = generation_body(task, phase, base)
        else:
            body = remix_body(task, phase, base, self.sim.config)
        return self._finish(fault, JSONResponse(body))

    async def remix_content(self, request: Request, task_id: str) -> Response:
        self._count_request()
        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return self._fault_response(fault, "remix")
        _, denied = self._authorize(request)
        if denied is not None:
            return self._finish(fault, denied)
        task = self.sim.find("remix", task_id)
        if task is None:
            return self._finish(fault, task_error(404, "task_not_found", f"task {task_id} does not exist"))
        phase = task.phase()
        if phase.status != "completed":
            return self._finish(
                fault,
                task_error(
                    400,
                    "task_not_completed",
                    f"the video is not available: the task is {phase.status} ({phase.progress}%); "
                    "content can be downloaded once it has completed",
                ),
            )
        with self.sim.lock:
            self.sim.stats.apis["remix"]["content_downloads"] += 1
        return await self._serve(request, task.media[0])

    # ---- chat ------------------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        self._count_request()
        fault = await self._edge(request)
        if fault is not None and fault.replaces_answer:
            return self._fault_response(fault, "chat")
        _, denied = self._authorize(request)
        if denied is not None:
            return self._finish(fault, denied)
        body, problem = _json_object(await request.body())
        if problem is not None:
            return self._finish(fault, gateway_error(400, "invalid_request", problem))
        try:
            answer = chat.completion(body, int(time.time()))
        except chat.ChatRequestError as exc:
            return self._finish(fault, gateway_error(400, "invalid_request", str(exc), param=exc.param))
        with self.sim.lock:
            stats = self.sim.stats.chat
            stats["calls"] += 1
            per_model = stats["models"].setdefault(answer["model"], {"calls": 0})
            per_model["calls"] += 1
            self.sim.stats.chat_requests.append(
                {"model": answer["model"], "prompt": chat.last_user_text(body)[:500], "id": answer["id"]}
            )
        return self._finish(fault, JSONResponse(answer))

    # ---- downloads -------------------------------------------------------------------------

    async def download(self, request: Request, name: str) -> Response:
        self._count_request()
        fault = await self._edge(request, api_route=False)
        if fault is not None and fault.replaces_answer:
            return self._fault_response(fault, "generation")
        token = name[: -len(".mp4")] if name.endswith(".mp4") else name
        found = self.sim.resolve_token(token)
        phase = found[0].phase() if found else None
        if found is None or phase is None or not found[0].media_available(found[1], phase):
            with self.sim.lock:
                self.sim.stats.downloads["not_found" if found is None else "not_ready"] += 1
            return cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        task, ref = found
        if phase.finished_after is None:
            raise RuntimeError("internal error: phase.finished_after is unset")  # an invariant, kept under python -O
        expires_mono = task.created_mono + phase.finished_after + self.sim.config.link_ttl_seconds
        if time.monotonic() >= expires_mono:
            with self.sim.lock:
                self.sim.stats.downloads["expired"] += 1
            expired_at = task.created_wall + phase.finished_after + self.sim.config.link_ttl_seconds
            return cdn_error(
                403,
                "AccessDenied",
                "Request has expired",
                Expires=formatdate(expired_at, usegmt=True),
                ServerTime=formatdate(time.time(), usegmt=True),
            )
        return await self._serve(request, ref)

    async def _serve(self, request: Request, ref: MediaRef) -> Response:
        sim = self.sim
        fps = sim.config.media_fps
        base = sim.media.cached(ref.seconds, ref.size, fps)
        if base is None:  # rendered once per (duration, size): off the event loop
            base = await run_in_threadpool(sim.media.render, ref.seconds, ref.size, fps)
        blob = VideoBlob(base, free_box(ref.tag))
        total = blob.size
        etag = f'"{ref.token}"'
        headers = {"accept-ranges": "bytes", "etag": etag, "cache-control": "private, max-age=86400"}
        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if range_header and if_range and if_range.strip() != etag:
            range_header = None  # the file changed since the client's partial copy: send it whole
        try:
            selected = parse_range(range_header, total)
        except RangeNotSatisfiable:
            return Response(
                b"", status_code=416, headers={"content-range": f"bytes */{total}", "accept-ranges": "bytes"}
            )
        if selected is None:
            start, end, status = 0, total - 1, 200
        else:
            start, end = selected
            status = 206
            headers["content-range"] = f"bytes {start}-{end}/{total}"
        headers["content-length"] = str(end - start + 1)
        head = request.method == "HEAD"
        drop = None if head else sim.faults.take_drop(sim.config)
        with sim.lock:
            downloads = sim.stats.downloads
            downloads["requests"] += 1
            if head:
                downloads["head"] += 1
            elif selected is not None:
                downloads["ranges"] += 1
            entry = sim.stats.tasks.get(ref.task_id)
            if entry is not None and not head:
                entry["downloads"] += 1

        def on_sent(sent: int, dropped: bool) -> None:
            with sim.lock:
                sim.stats.downloads["bytes"] += sent
                sim.stats.downloads["dropped" if dropped else "completed"] += 1

        return VideoResponse(blob, start, end, status_code=status, headers=headers, drop_after=drop, on_sent=on_sent)

    # ---- control ---------------------------------------------------------------------------

    def _control_refusal(self, request: Request, body: bytes | None = None) -> Response | None:
        """The answer refusing a control request (no key, not JSON, a DNS name as Host), if any."""
        refused = control.refusal(request, self.sim.config, body=body)
        if refused is None:
            return None
        status, code, message = refused
        return gateway_error(status, code, message)

    async def sim_stats(self, request: Request) -> Response:
        return self._control_refusal(request) or JSONResponse(self.sim.snapshot())

    async def sim_reset(self, request: Request) -> Response:
        refused = self._control_refusal(request, await request.body())
        if refused is not None:
            return refused
        self.sim.reset()
        return JSONResponse({"status": "ok"})

    async def sim_get_config(self, request: Request) -> Response:
        refused = self._control_refusal(request)
        if refused is not None:
            return refused
        return JSONResponse({**self.sim.config.public_dump(), "pending_responses": self.sim.faults.pending()})

    async def sim_set_config(self, request: Request) -> Response:
        raw = await request.body()
        refused = self._control_refusal(request, raw)
        if refused is not None:
            return refused
        body, problem = _json_object(raw)
        if problem is not None:
            return gateway_error(400, "invalid_parameters", problem)
        try:
            config = self.sim.configure(**body)
        except ValidationError as exc:
            param, message = _problems(exc)
            return gateway_error(400, "invalid_parameters", message, param=param)
        return JSONResponse({**config.public_dump(), "pending_responses": self.sim.faults.pending()})

    async def sim_health(self) -> Response:
        return JSONResponse({"status": "ok"})

    async def index(self) -> Response:
        return JSONResponse(
            {"name": "videogen gateway simulator", "version": __version__, "docs": "/docs", "stats": "/_sim/stats"}
        )


async def _reference(index: int, value: str | UploadFile) -> tuple[dict[str, Any], RemixReference | None, str | None]:
    """What was received for one ``input_reference[]`` part, the reference built from it, or the problem."""
    entry: dict[str, Any] = {"index": index}
    try:
        if isinstance(value, UploadFile):
            content = await value.read()
            entry.update(
                kind="file",
                filename=value.filename,
                content_type=value.content_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
            reference = RemixReference(
                kind="file",
                value=value.filename or f"reference-{index + 1}",
                content=content,
                content_type=value.content_type,
            )
        else:
            text = value.strip()
            if text.lower().startswith("data:"):
                entry.update(kind="data_uri", **_data_uri_facts(text))
            else:
                entry.update(kind="url", url=text)
            reference = RemixReference.from_text(text)
    except ValidationError as exc:
        _, message = _problems(exc)
        return entry, None, f"input_reference[] #{index + 1}: {message}"
    return entry, reference, None


def _data_uri_facts(uri: str) -> dict[str, Any]:
    match = _DATA_URI_RE.match(uri)
    if not match:
        return {"content_type": None, "size": None, "sha256": None}
    payload = uri[match.end() :]
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        return {"content_type": match.group("mime") or None, "size": None, "sha256": None}
    return {
        "content_type": match.group("mime") or None,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def create_app(config: SimulatorConfig | None = None, *, state: SimulatorState | None = None) -> FastAPI:
    """The simulator as an ASGI app; its state is ``app.state.simulator`` (a :class:`SimulatorState`)."""
    sim = state or SimulatorState(config)
    gateway = _Gateway(sim)
    _install_log_filter()
    app = FastAPI(
        title="videogen gateway simulator",
        version=__version__,
        description="Offline stand-in for the video gateway: unified and remix APIs, faults, real MP4s.",
    )
    app.state.simulator = sim
    routes: list[tuple[str, Callable[..., Any], list[str]]] = [
        ("/v1/videos/generations", gateway.create_generation, ["POST"]),
        ("/v1/tasks/{task_id}", gateway.get_generation, ["GET"]),
        ("/v1/videos", gateway.create_remix, ["POST"]),
        ("/v1/videos/{task_id}", gateway.get_remix, ["GET"]),
        ("/v1/tasks/{task_id}/cancel", gateway.cancel_generation, ["POST"]),
        ("/v1/videos/{task_id}/cancel", gateway.cancel_remix, ["POST"]),
        ("/v1/videos/{task_id}/content", gateway.remix_content, ["GET", "HEAD"]),
        ("/v1/chat/completions", gateway.chat_completions, ["POST"]),
        ("/files/{name}", gateway.download, ["GET", "HEAD"]),
        ("/_sim/stats", gateway.sim_stats, ["GET"]),
        ("/_sim/reset", gateway.sim_reset, ["POST"]),
        ("/_sim/config", gateway.sim_get_config, ["GET"]),
        ("/_sim/config", gateway.sim_set_config, ["POST"]),
        ("/_sim/health", gateway.sim_health, ["GET"]),
        ("/", gateway.index, ["GET"]),
    ]
    for path, endpoint, methods in routes:
        app.add_api_route(path, endpoint, methods=methods, response_model=None)
    return app
