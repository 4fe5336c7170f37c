"""The request of the unified generation API (``POST /v1/videos/generations``) and its per-model rules.

A :class:`GenerationRequest` is built once from user input, before anything is sent; building
it applies the common rules and, for a model in :data:`~.catalogue.MODEL_SPECS`, that model's
limits, so a request that exists is one the gateway will accept. Model-level rules raise
:class:`~.validation.FieldLimitError` so the message still names the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_provider_videogen.models.catalogue import (
    DEFAULT_PROMPT_MAX_CHARS,
    MODEL_SPECS,
    N_RANGE,
    OPTIONAL_FEATURES,
    SEED_RANGE,
    GenerationType,
    ModelSpec,
    estimate_tokens,
)
from airflow_provider_videogen.models.validation import (
    FieldLimitError,
    allowed_values,
    check_image_url,
    in_range,
    validate_callback_url,
)


class GenerationRequest(BaseModel):
    """Body of ``POST /v1/videos/generations``.

    Known models are checked against :data:`MODEL_SPECS`; an unknown model name is accepted and
    checked by the common rules only, so a model the gateway adds tomorrow works today. Fields
    the package does not model yet go in ``extra_params`` and are sent as they are.
    """

    # Links may carry a secret (a presigned image, a webhook token): pydantic's own error text and
    # the repr leave them out; InvalidRequestError shows them redacted (validation.LINK_FIELDS).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    model: str = Field(min_length=1)
    prompt: str
    image_urls: list[str] | None = Field(default=None, repr=False)
    aspect_ratio: str | None = None
    duration: int | None = None
    quality: str | None = None
    generation_type: GenerationType | None = None
    generate_audio: bool | None = None
    enhance_prompt: bool | None = None
    n: Annotated[int, in_range(N_RANGE, "videos")] | None = None
    negative_prompt: str | None = None
    seed: Annotated[int, in_range(SEED_RANGE)] | None = None
    person_generation: Literal["allow_adult", "dont_allow"] | None = None
    resize_mode: Literal["pad", "crop"] | None = None
    callback_url: str | None = Field(default=None, repr=False)
    extra_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt is empty; describe the video to generate")
        return value

    @field_validator("image_urls")
    @classmethod
    def _image_urls_are_images(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [check_image_url(u, "image_urls") for u in value]

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return None if value is None else validate_callback_url(value)

    @field_validator("duration")
    @classmethod
    def _duration_positive(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError(f"duration={value} must be a positive number of seconds")
        return value

    @field_validator("extra_params")
    @classmethod
    def _extra_params_do_not_shadow(cls, value: dict[str, Any]) -> dict[str, Any]:
        shadowed = sorted(set(value) & (set(cls.model_fields) - {"extra_params"}))
        if shadowed:
            raise ValueError(
                f"extra_params repeats modelled field(s) {', '.join(shadowed)}; pass them as parameters instead"
            )
        return value

    @model_validator(mode="after")
    def _model_rules(self) -> GenerationRequest:
        if len(self.prompt) > DEFAULT_PROMPT_MAX_CHARS and self.model not in MODEL_SPECS:
            raise FieldLimitError(
                "prompt", f"prompt is {len(self.prompt)} characters; at most {DEFAULT_PROMPT_MAX_CHARS} are accepted"
            )
        spec = MODEL_SPECS.get(self.model)
        if spec is not None:
            _check_against_spec(self, spec)
        return self

    @property
    def spec(self) -> ModelSpec | None:
        """The documented limits of this request's model, or ``None`` for a model the package does not know."""
        return MODEL_SPECS.get(self.model)

    @property
    def effective_generation_type(self) -> str:
        """The mode the gateway will use: explicit, or inferred from the image count as the API does."""
        if self.generation_type:
            return self.generation_type
        return "FIRST&LAST" if self.image_urls else "TEXT"

    def to_api_body(self) -> dict[str, Any]:
        """JSON body for the API: unset fields omitted, ``extra_params`` merged at the top level."""
        body = self.model_dump(exclude_none=True, exclude={"extra_params"})
        body.update(self.extra_params)
        return body

    def billed_seconds(self) -> int | None:
        """Seconds of video this request asks for (duration x n), where known: what the user pays for."""
        duration = self.duration or (self.spec.default_duration if self.spec else None)
        if duration is None:
            return None
        return duration * (self.n or 1)


def _check_against_spec(req: GenerationRequest, spec: ModelSpec) -> None:
    name = spec.name
    if spec.prompt_max_chars is not None and len(req.prompt) > spec.prompt_max_chars:
        raise FieldLimitError(
            "prompt",
            f"prompt is {len(req.prompt)} characters; {name} accepts at most {spec.prompt_max_chars}",
        )
    if spec.prompt_max_tokens is not None:
        tokens = estimate_tokens(req.prompt)
        if tokens > spec.prompt_max_tokens:
            raise FieldLimitError(
                "prompt",
                f"prompt is about {tokens} tokens; {name} accepts at most {spec.prompt_max_tokens} tokens",
            )
    for feature in OPTIONAL_FEATURES:
        if getattr(req, feature) is not None and feature not in spec.features:
            supporting = sorted(s.name for s in MODEL_SPECS.values() if feature in s.features)
            raise FieldLimitError(
                feature,
                f"{feature}={getattr(req, feature)!r} is not a parameter of {name}; "
                f"models that take it: {', '.join(supporting) or 'none'} "
                "(if the gateway has added it, pass it in extra_params)",
            )
    if req.quality is not None and req.quality not in spec.qualities:
        raise FieldLimitError(
            "quality",
            f"quality={req.quality!r} is not allowed for {name}; allowed: {allowed_values(spec.qualities)}",
        )

    images = req.image_urls or []
    mode = req.effective_generation_type
    if mode not in spec.generation_types:
        raise FieldLimitError(
            "generation_type",
            f"generation_type={mode!r} is not available for {name}; allowed: {allowed_values(spec.generation_types)}",
        )
    if mode == "REFERENCE":
        if spec.reference is None:
            raise RuntimeError("internal error: spec.reference is unset")  # an invariant, kept under python -O
        ref = spec.reference
        if not 1 <= len(images) <= ref.max_images:
            raise FieldLimitError(
                "image_urls",
                f"image_urls has {len(images)} image(s); REFERENCE mode of {name} takes 1 to {ref.max_images}",
            )
        aspect = req.aspect_ratio or ref.aspect_ratios[0]
        if aspect not in ref.aspect_ratios:
            raise FieldLimitError(
                "aspect_ratio",
                f"aspect_ratio={aspect!r} is not allowed in REFERENCE mode of {name}; "
                f"allowed: {allowed_values(ref.aspect_ratios)}",
            )
        if ref.durations is not None and req.duration is not None and req.duration not in ref.durations:
            raise FieldLimitError(
                "duration",
                f"duration={req.duration} is not allowed in REFERENCE mode of {name}; "
                f"allowed: {allowed_values(ref.durations)} seconds",
            )
    else:
        if mode == "TEXT" and images:
            raise FieldLimitError(
                "image_urls",
                f"image_urls has {len(images)} image(s) but generation_type is 'TEXT'; remove one",
            )
        if mode == "FIRST&LAST" and req.generation_type and not images:
            raise FieldLimitError(
                "generation_type",
                "generation_type 'FIRST&LAST' needs 1 or 2 image_urls (first frame, last frame)",
            )
        if len(images) > spec.max_images:
            raise FieldLimitError(
                "image_urls",
                f"image_urls has {len(images)} images; {name} takes at most {spec.max_images} "
                f"in {mode} mode" + (" (first frame, then last frame)" if spec.max_images == 2 else ""),
            )
        aspects = spec.aspect_ratios + (spec.image_aspect_ratios if images else ())
        if req.aspect_ratio is not None and req.aspect_ratio not in aspects:
            extra = (
                f" ({', '.join(spec.image_aspect_ratios)} only with image_urls)"
                if spec.image_aspect_ratios and not images
                else ""
            )
            raise FieldLimitError(
                "aspect_ratio",
                f"aspect_ratio={req.aspect_ratio!r} is not allowed for {name}; "
                f"allowed: {allowed_values(aspects)}{extra}",
            )
    if req.duration is not None and spec.durations and req.duration not in spec.durations:
        raise FieldLimitError(
            "duration",
            f"duration={req.duration} is not allowed for {name}; allowed: {allowed_values(spec.durations)} seconds",
        )
