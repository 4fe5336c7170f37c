"""Operator for the 15-second remix API: an 8 s clip from ``prompt``, extended by 7 s from ``prompt_extend``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.hooks.redaction import mask_link
from airflow_provider_videogen.lineage import dataset_name
from airflow_provider_videogen.models import (
    REMIX_SEGMENT_SECONDS,
    ApiKind,
    RemixReference,
    RemixRequest,
    VideoTask,
)
from airflow_provider_videogen.operators.video_task import BaseVideoTaskOperator, has_template, validate
from airflow_provider_videogen.references import (
    InvalidReferenceError,
    as_reference_list,
    preview_reference,
    to_reference,
)
from airflow_provider_videogen.remix_result import (
    FIRST_SEGMENT_URL_KEY,
    PARTIAL_RESULT_KEY,
    REMIX_ID_EXTEND_KEY,
    REMIX_ID_KEY,
    ExtendFailurePolicy,
    check_extend_failure_policy,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import jinja2
    from airflow.sdk import Context

    from airflow_provider_videogen.hooks.videogen import BeforeSend, VideoGenHook
    from airflow_provider_videogen.lineage import LineageFacts

__all__ = [
    "FIRST_SEGMENT_URL_KEY",
    "PARTIAL_RESULT_KEY",
    "REMIX_ID_EXTEND_KEY",
    "REMIX_ID_KEY",
    "VideoRemixOperator",
]

#: Operator parameters that are fields of :class:`RemixRequest` (and templated).
REQUEST_FIELDS: tuple[str, ...] = ("model", "prompt", "prompt_extend", "size", "input_references")


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
        check_extend_failure_policy(on_extend_failure)
        self.model = model
        self.prompt = prompt
        self.prompt_extend = prompt_extend
        self.size = size
        self.input_references = input_references
        self.on_extend_failure = on_extend_failure
        self._validate_literals()

    # ---- rendering ----------------------------------------------------------------------------------

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render, then register signed reference links (path and query) with the secrets masker.

        As the archive does (``VideoToS3Operator``): the task runner stores the rendered fields
        (the "Rendered Template" tab) right after rendering, before ``execute``, and the masker
        redacts what it knows at that moment; the logs of the request that follows are masked too.
        """
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self:
            mask_reference_signatures(self.input_references)

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
        return validate(RemixRequest, "RemixRequest", **fields)  # type: ignore[no-any-return]

    def submit(self, hook: VideoGenHook, request: Any, before_send: BeforeSend | None = None) -> VideoTask:
        return hook.submit_remix(request, before_send=before_send)

    def describe_lineage(self, facts: LineageFacts) -> None:
        facts.duration = sum(REMIX_SEGMENT_SECONDS)
        facts.size = self.size or None
        facts.inputs = [
            name for name in map(dataset_name, as_reference_list(self.input_references)) if name is not None
        ]

    def describe_request(self, request: Any) -> str:
        refs = request.input_references
        first, extension = REMIX_SEGMENT_SECONDS
        what = ", ".join(ref.describe() for ref in refs) if refs else "text only"
        return (
            f"{request.model} 15 s remix ({first} s + {extension} s extension, size "
            f"{request.size or 'default'}; {len(refs)} reference(s): {what})"
        )


def mask_reference_signatures(value: Any) -> None:
    """Register every http(s) reference's path and query with Airflow's secrets masker
    (``X-Amz-Signature=...`` of a presigned link, or a token in its path): URLs are sent to the
    gateway as text and shown in the UI's rendered fields, and a link must appear in neither log nor UI."""
    for item in as_reference_list(value):
        text = item.value if isinstance(item, RemixReference) and item.kind == "url" else item
        if isinstance(text, str) and text.strip().lower().startswith(("http://", "https://")):
            mask_link(text.strip())


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
