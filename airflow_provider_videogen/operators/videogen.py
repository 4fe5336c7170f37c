"""Operator that generates a video with the unified API (Veo 3.1, Seedance, any gateway model)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.hooks.redaction import mask_links_in
from airflow_provider_videogen.lineage import dataset_name
from airflow_provider_videogen.models import ApiKind, GenerationRequest, VideoTask
from airflow_provider_videogen.operators.video_task import BaseVideoTaskOperator, validate

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import jinja2
    from airflow.sdk import Context

    from airflow_provider_videogen.hooks.videogen import BeforeSend, VideoGenHook
    from airflow_provider_videogen.lineage import LineageFacts

#: A number as Jinja renders it: ASCII digits only.
_INTEGER = re.compile(r"-?[0-9]+")

#: Operator parameters that are fields of :class:`GenerationRequest` (and templated).
REQUEST_FIELDS: tuple[str, ...] = (
    "model",
    "prompt",
    "image_urls",
    "aspect_ratio",
    "duration",
    "quality",
    "generation_type",
    "generate_audio",
    "enhance_prompt",
    "n",
    "negative_prompt",
    "seed",
    "person_generation",
    "resize_mode",
    "callback_url",
    "extra_params",
)


class VideoGenerationOperator(BaseVideoTaskOperator):
    """Generate a video and wait for it without holding a worker slot.

    Every request field is templated and validated by
    :class:`~airflow_provider_videogen.models.GenerationRequest` (the one source of each limit):
    literal values when the DAG file is parsed, templated ones at execute, in both cases before
    anything is sent. Returns a small dict (XCom): ``id``, ``model``, ``state``, ``video_urls``,
    ``progress``, ``credits_reserved``, ``submitted_at``, ``completed_at``, ``expires_at``.

    A retry, or a clear, of the same task instance re-attaches to the task it already paid for
    (see :mod:`airflow_provider_videogen.operators.reattach`).
    """

    api = ApiKind.GENERATION
    template_fields: Sequence[str] = REQUEST_FIELDS
    template_fields_renderers = {"prompt": "md", "extra_params": "json", "negative_prompt": "md"}

    def __init__(
        self,
        *,
        model: str,
        prompt: str,
        image_urls: list[str] | None = None,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        quality: str | None = None,
        generation_type: str | None = None,
        generate_audio: bool | None = None,
        enhance_prompt: bool | None = None,
        n: int | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        person_generation: str | None = None,
        resize_mode: str | None = None,
        callback_url: str | None = None,
        extra_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.prompt = prompt
        self.image_urls = image_urls
        self.aspect_ratio = aspect_ratio
        self.duration = duration
        self.quality = quality
        self.generation_type = generation_type
        self.generate_audio = generate_audio
        self.enhance_prompt = enhance_prompt
        self.n = n
        self.negative_prompt = negative_prompt
        self.seed = seed
        self.person_generation = person_generation
        self.resize_mode = resize_mode
        self.callback_url = callback_url
        self.extra_params = extra_params or {}
        self.validate_at_parse(REQUEST_FIELDS)

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render, then register the links in ``image_urls`` and ``callback_url`` with the secrets masker.

        As the remix operator does for its references: a presigned image link or a webhook token
        must not show in the "Rendered Template" view (stored right after rendering) nor in the
        logs of the request that follows. The values themselves are sent as they are.
        """
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self:
            mask_links_in(self.image_urls, self.callback_url, self.extra_params)

    def build_request(self) -> GenerationRequest:
        return generation_request({name: getattr(self, name) for name in REQUEST_FIELDS})

    def submit(self, hook: VideoGenHook, request: Any, before_send: BeforeSend | None = None) -> VideoTask:
        return hook.submit_generation(request, before_send=before_send)

    def describe_lineage(self, facts: LineageFacts) -> None:
        facts.duration = self.duration if isinstance(self.duration, int) else _int_or_none(self.duration)
        facts.quality = self.quality
        facts.size = self.aspect_ratio
        facts.inputs = [name for name in map(dataset_name, self.image_urls or []) if name is not None]

    def describe_request(self, request: Any) -> str:
        seconds = request.billed_seconds()
        paid = f"{seconds} s of video" if seconds else "video of the model's default length"
        return f"{request.model} generation ({paid}, quality {request.quality or 'default'})"


def generation_request(fields: dict[str, Any], what: str = "GenerationRequest") -> GenerationRequest:
    """Build (and so validate) a request from rendered operator fields: unset ones left out.

    Shared by the operator and each item of ``VideoGenerationBatchOperator``.
    """
    fields = dict(fields)
    for name in ("duration", "n", "seed"):  # Jinja renders numbers as strings
        # ASCII digits only: "²".isdigit() is True but int("²") fails; other text is left for
        # the model to refuse with the field's name and allowed values.
        if isinstance(fields.get(name), str) and _INTEGER.fullmatch(fields[name].strip()):
            fields[name] = int(fields[name])
    fields = {k: v for k, v in fields.items() if v is not None and not (k == "extra_params" and not v)}
    return validate(GenerationRequest, what, **fields)  # type: ignore[no-any-return]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
