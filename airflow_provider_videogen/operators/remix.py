"""Operator for the 15-second remix API: an 8 s clip from ``prompt``, extended by 7 s from ``prompt_extend``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import InvalidRequestError, VideoTaskFailedError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import (
    REMIX_SEGMENT_SECONDS,
    ApiKind,
    RemixReference,
    RemixRequest,
    TaskState,
    VideoTask,
)
from airflow_provider_videogen.operators.video_task import BaseVideoTaskOperator, has_template, validate
from airflow_provider_videogen.references import (
    InvalidReferenceError,
    as_reference_list,
    preview_reference,
    to_reference,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videogen.triggers.videogen import VideoTaskEvent

#: Operator parameters that are fields of :class:`RemixRequest` (and templated).
REQUEST_FIELDS: tuple[str, ...] = ("model", "prompt", "prompt_extend", "size", "input_references")

#: XCom keys pushed when the extension fails, before the task fails, so the paid-for 8 s clip
#: and the id to continue it from are never lost (``on_extend_failure="fail"``).
FIRST_SEGMENT_URL_KEY = "first_segment_url"
REMIX_ID_KEY = "remix_id"
REMIX_ID_EXTEND_KEY = "remix_id_extend"
#: The whole result dict the task would have returned with ``on_extend_failure="accept_first_segment"``.
PARTIAL_RESULT_KEY = "partial_result"

ExtendFailurePolicy = Literal["fail", "accept_first_segment"]
_POLICIES: tuple[str, ...] = ("fail", "accept_first_segment")


class VideoRemixOperator(BaseVideoTaskOperator):
    """Render a 15 s video (8 s + 7 s extension) with a ``*-remix`` model, without holding a worker slot.

    :param model: a remix model (``veo_3_1-fast-remix``, ``veo_3_1-fast-fl-remix``...). ``-fl``
        models take 1-2 images (first frame, then last frame); the others up to 3 reference images
        or none.
    :param prompt: the first 8 seconds.
    :param prompt_extend: the last 7 seconds.
    :param size: ``WIDTHxHEIGHT``, e.g. ``1280x720`` or ``1080x1920``.
    :param input_references: images, in order, each a local path (``str`` or ``pathlib.Path``), an
        ``ObjectStoragePath`` (or an ``s3://``-style string), an http(s) URL, a
        ``data:image/...;base64,`` URI, ``bytes`` or a
        :class:`~airflow_provider_videogen.models.RemixReference`; a single one may be passed
        without a list. Paths are read when the task runs, never when the DAG is parsed, and sent
        as file parts; URLs and data URIs are sent as text (see
        :mod:`airflow_provider_videogen.references`).
    :param on_extend_failure: what to do when the 8 s clip rendered but the 7 s extension failed
        (``extend_failed``). ``"fail"`` (default) fails the task, after pushing the clip's URL
        (XCom ``first_segment_url``), ``remix_id`` and the would-be result (``partial_result``),
        and names both in the error; Airflow's retries then submit a new 15 s task.
        ``"accept_first_segment"`` succeeds with the 8 s clip as the result: ``partial: true``,
        ``state: "succeeded"`` (so archiving and chaining tasks take it like any video),
        ``video_urls`` and ``first_video_url`` both the clip, ``error_code: "extend_failed"``.

    Text fields and references are templated. Limits come from
    :class:`~airflow_provider_videogen.models.RemixRequest`: literal values are checked when the
    DAG file is parsed, templated ones at execute, both before anything is sent.

    Returns (XCom) ``id``, ``model``, ``state``, ``video_urls`` (the 15 s video),
    ``first_video_url`` (the first 8 s), ``remix_id``, ``remix_id_extend``, ``partial``,
    ``expires_at`` and the fields every video operator returns. ``generate_failed`` (nothing
    rendered) fails without retry: a new submission would be billed and fail the same way.
    """

    api = ApiKind.REMIX
    template_fields: Sequence[str] = REQUEST_FIELDS
    template_fields_renderers = {"prompt": "md", "prompt_extend": "md"}

    def __init__(
        self,
        *,
        model: str,
        prompt: str,
        prompt_extend: str,
        size: str | None = None,
        input_references: Any = None,
        on_extend_failure: ExtendFailurePolicy = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_extend_failure not in _POLICIES:
            raise ValueError(
                f"on_extend_failure={on_extend_failure!r}; allowed: {', '.join(repr(p) for p in _POLICIES)}"
            )
        self.model = model
        self.prompt = prompt
        self.prompt_extend = prompt_extend
        self.size = size
        self.input_references = input_references
        self.on_extend_failure = on_extend_failure
        self._validate_literals()

    # ---- request ----------------------------------------------------------------------------------

    def build_request(self) -> RemixRequest:
        """Build the request from the rendered fields, reading file references now (at execute)."""
        return self._request(read_files=True)

    def _validate_literals(self) -> None:
        """Check at DAG parse what is literal: everything but file contents, which are read at execute."""
        fields = [self.model, self.prompt, self.prompt_extend, self.size]
        if any(has_template(value) for value in fields) or not _literal_references(self.input_references):
            return
        self._request(read_files=False)

    def _request(self, *, read_files: bool) -> RemixRequest:
        convert = to_reference if read_files else preview_reference
        references: list[RemixReference] = []
        problems: list[tuple[str, str]] = []
        for index, value in enumerate(as_reference_list(self.input_references), start=1):
            try:
                references.append(convert(value))
            except InvalidReferenceError as exc:
                problems.append(("input_references", f"input_references #{index}: {exc}"))
        if problems:
            raise InvalidRequestError("RemixRequest", problems)
        fields: dict[str, Any] = {"input_references": references}
        for name in ("model", "prompt", "prompt_extend"):
            if getattr(self, name) is not None:  # None reads "is required", not "not a valid string"
                fields[name] = getattr(self, name)
        if self.size not in (None, ""):  # a template rendering nothing means "the model's default"
            fields["size"] = self.size
        return validate(_RemixSubmission, "RemixRequest", **fields)  # type: ignore[no-any-return]

    def submit(self, hook: VideoGenHook, request: Any) -> VideoTask:
        return hook.submit_remix(request)

    def describe_request(self, request: Any) -> str:
        refs = request.input_references
        first, extension = REMIX_SEGMENT_SECONDS
        what = ", ".join(ref.describe() for ref in refs) if refs else "text only"
        return (
            f"{request.model} 15 s remix ({first} s + {extension} s extension, size "
            f"{request.size or 'default'}; {len(refs)} reference(s): {what})"
        )

    # ---- results ----------------------------------------------------------------------------------

    def result_extras(self, task: VideoTask) -> dict[str, Any]:
        return {
            "first_video_url": task.first_video_url,
            "remix_id": task.remix_id,
            "remix_id_extend": task.remix_id_extend,
            "partial": task.is_partial,
        }

    def on_remote_failure(self, context: Context, event: VideoTaskEvent) -> Any:
        """``extend_failed`` keeps the paid-for 8 s clip (XCom, error message); other failures as usual."""
        task = event.task
        if task is None or not task.is_partial:
            return super().on_remote_failure(context, event)
        clip = task.video_urls[0]
        first, extension = REMIX_SEGMENT_SECONDS
        # The 8 s clip is the remix's whole output: present it as a finished task so downstream
        # tasks (archiving, chaining) read it like any result, flagged by ``partial``.
        accepted = task.model_copy(
            update={
                "state": TaskState.SUCCEEDED,
                "first_video_url": task.first_video_url or clip,
                "completed_at": task.completed_at or datetime.now(tz=timezone.utc),
            }
        )
        result = self._result(context, accepted)
        result["error_code"] = task.error_code
        result["error_message"] = task.error_message
        if self.on_extend_failure == "accept_first_segment":
            self.log.warning(
                "Remote task %s: the %d s extension failed (%s); accepting the first %d s as the result "
                "(on_extend_failure='accept_first_segment'): %s",
                task.id,
                extension,
                task.error_message or task.error_code,
                first,
                clip,
            )
            return result
        ti = context["ti"]
        ti.xcom_push(key=FIRST_SEGMENT_URL_KEY, value=clip)
        ti.xcom_push(key=REMIX_ID_KEY, value=task.remix_id)
        ti.xcom_push(key=REMIX_ID_EXTEND_KEY, value=task.remix_id_extend)
        ti.xcom_push(key=PARTIAL_RESULT_KEY, value=result)
        message = (
            f"{task.error_message or 'the extension failed'}. The first {first} s rendered and are kept: "
            f"{clip} (remix_id {task.remix_id}; XCom keys '{FIRST_SEGMENT_URL_KEY}', '{REMIX_ID_KEY}', "
            f"'{PARTIAL_RESULT_KEY}'). Set on_extend_failure='accept_first_segment' to succeed with it"
        )
        error = VideoTaskFailedError(task.id, task.error_code, message, retryable=event.retryable)
        if not event.retryable:
            raise AirflowFailException(str(error))
        raise error


def _literal_references(value: Any) -> bool:
    """True when every reference is known now (no Jinja, no XComArg): they can be checked at parse."""
    return all(_is_literal_reference(item) for item in as_reference_list(value))


def _is_literal_reference(value: Any) -> bool:
    if isinstance(value, str):
        return not has_template(value)
    if isinstance(value, (bytes, bytearray, memoryview, RemixReference)):
        return True
    from airflow.sdk import ObjectStoragePath

    if isinstance(value, ObjectStoragePath):
        return not has_template(str(value))
    return isinstance(value, os.PathLike)


class _RemixSubmission(RemixRequest):
    """A :class:`RemixRequest` whose JSON dump names each file part by its SHA-256, not its bytes.

    ``reattach.fingerprint`` hashes ``model_dump(mode="json")``; pydantic cannot JSON-dump image
    bytes (it tries UTF-8), and a digest keeps the hashed text small while still telling two
    different images apart. Remove this class once ``RemixReference`` serializes ``content`` as
    a digest in JSON mode itself.
    """

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        if kwargs.get("mode") != "json":
            return super().model_dump(**kwargs)
        data = super().model_dump(**{**kwargs, "mode": "python"})
        for ref in data.get("input_references", []):
            content = ref.pop("content", None)
            if content is not None:
                ref["sha256"] = hashlib.sha256(content).hexdigest()
        return data
