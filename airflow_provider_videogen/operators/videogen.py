"""Operator that generates a video with the unified API (Veo 3.1, Seedance, any gateway model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.models import ApiKind, GenerationRequest, VideoTask
from airflow_provider_videogen.operators.video_task import BaseVideoTaskOperator, validate

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_videogen.hooks.videogen import VideoGenHook

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

    def build_request(self) -> GenerationRequest:
        fields = {name: getattr(self, name) for name in REQUEST_FIELDS}
        for name in ("duration", "n", "seed"):  # Jinja renders numbers as strings
            if isinstance(fields[name], str) and fields[name].strip().lstrip("-").isdigit():
                fields[name] = int(fields[name])
        fields = {k: v for k, v in fields.items() if v is not None and not (k == "extra_params" and not v)}
        return validate(GenerationRequest, "GenerationRequest", **fields)  # type: ignore[no-any-return]

    def submit(self, hook: VideoGenHook, request: Any) -> VideoTask:
        return hook.submit_generation(request)

    def describe_request(self, request: Any) -> str:
        seconds = request.billed_seconds()
        paid = f"{seconds} s of video" if seconds else "video of the model's default length"
        return f"{request.model} generation ({paid}, quality {request.quality or 'default'})"
