"""Typed requests and responses of the video gateway, and every documented limit.

This module is the single source of truth for the API contract (``shared/seeds`` and the API
notes): operators, the hook, the simulator and the example DAGs all read their limits from
here, so a limit changes in exactly one place. Requests are validated when they are built,
which is before any HTTP request is sent: a user who breaks a limit pays nothing and gets a
message naming the field, the value and what is allowed.

Responses are parsed tolerantly (unknown fields kept, progress as ``61`` or ``"61%"``, error
codes as strings or integers, three shapes of the remix query) because gateways drift and a
parser that breaks on a new field would strand a video the user already paid for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

# --------------------------------------------------------------------------------------------
# Task state
# --------------------------------------------------------------------------------------------


class TaskState(str, Enum):
    """Normalized state of a remote task, whatever the API spelled it."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)

    @property
    def is_in_progress(self) -> bool:
        return self in (TaskState.PENDING, TaskState.RUNNING)


class ApiKind(str, Enum):
    """Which of the two gateway APIs a remote task belongs to (they have different query paths)."""

    GENERATION = "generation"
    REMIX = "remix"


#: Download links in ``results`` expire this long after the task completed.
LINK_TTL = timedelta(hours=24)

#: Remote ids of the unified API all start with this prefix; the gateway refuses others with 400.
GENERATION_TASK_ID_PREFIX = "task-unified-"

#: Raw status strings of each API and response shape, mapped to :class:`TaskState`.
_STATUS_MAP: dict[str, TaskState] = {
    # unified API
    "pending": TaskState.PENDING,
    "processing": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.CANCELLED,
    "canceled": TaskState.CANCELLED,
    # remix task wrapper (NewAPI)
    "submitted": TaskState.PENDING,
    "not_start": TaskState.PENDING,
    "queued": TaskState.PENDING,
    "in_progress": TaskState.RUNNING,
    "success": TaskState.SUCCEEDED,
    "failure": TaskState.FAILED,
}


def parse_status(raw: Any) -> TaskState:
    """Map a raw status string to a :class:`TaskState`; raise ``ValueError`` for an unknown one.

    An unknown status is an error rather than "still running" so that a gateway change is
    noticed instead of being polled until the deadline.
    """
    key = str(raw).strip().lower() if raw is not None else ""
    try:
        return _STATUS_MAP[key]
    except KeyError:
        known = sorted({k for k in _STATUS_MAP})
        raise ValueError(f"unknown task status {raw!r}; known statuses: {', '.join(known)}") from None


# --------------------------------------------------------------------------------------------
# Task error codes
# --------------------------------------------------------------------------------------------

#: Task error codes that mean the request itself is at fault: a new submission would fail the
#: same way and be billed again, so operators fail without retrying.
NON_RETRYABLE_TASK_ERRORS: frozenset[str] = frozenset(
    {
        "content_policy_violation",
        "invalid_parameters",
        "image_processing_error",
        "image_dimension_mismatch",
        "request_cancelled",
        "resource_not_found",
        "model_unavailable",
        "generate_failed",
    }
)

#: Task error codes for which a new submission may succeed.
TRANSIENT_TASK_ERRORS: frozenset[str] = frozenset(
    {
        "generation_timeout",
        "quota_exceeded",
        "resource_exhausted",
        "generation_failed_no_content",
        "service_error",
        "service_unavailable",
        "upstream_error",
        "unknown_error",
        "extend_failed",
    }
)


def is_retryable_task_error(code: str | None) -> bool:
    """True when resubmitting might help. Unknown codes count as retryable (Airflow's retries decide)."""
    return code not in NON_RETRYABLE_TASK_ERRORS


# --------------------------------------------------------------------------------------------
# Per-model rules of the unified generation API
# --------------------------------------------------------------------------------------------

GenerationType = Literal["TEXT", "FIRST&LAST", "REFERENCE"]
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")
IMAGE_MIME_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
MAX_IMAGE_BYTES = 10 * 1024 * 1024
CALLBACK_URL_MAX_LENGTH = 2048
SEED_RANGE = (1, 4294967295)
N_RANGE = (1, 4)
#: Prompt limit applied to models the package does not know (the common rule).
DEFAULT_PROMPT_MAX_CHARS = 5000

OPTIONAL_FEATURES = (
    "generate_audio",
    "n",
    "seed",
    "negative_prompt",
    "person_generation",
    "resize_mode",
    "enhance_prompt",
    "quality",
    "duration",
    "generation_type",
)


@dataclass(frozen=True)
class ReferenceMode:
    """Limits of REFERENCE mode (style images), where a model offers it."""

    max_images: int = 3
    aspect_ratios: tuple[str, ...] = ("16:9",)
    durations: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Documented limits of one model of the unified API."""

    name: str
    prompt_max_chars: int | None = None
    prompt_max_tokens: int | None = None
    durations: tuple[int, ...] = ()
    default_duration: int | None = None
    qualities: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    #: Extra aspect ratios accepted only with input images (Seedance's ``adaptive``...).
    image_aspect_ratios: tuple[str, ...] = ()
    #: Maximum images for first-frame / first-and-last-frame generation.
    max_images: int = 2
    reference: ReferenceMode | None = None
    features: frozenset[str] = field(default_factory=frozenset)

    @property
    def generation_types(self) -> tuple[str, ...]:
        modes = ["TEXT", "FIRST&LAST"]
        if self.reference is not None:
            modes.append("REFERENCE")
        return tuple(modes)


_VEO_QUALITIES = ("720p", "1080p", "4k")
_VEO_DURATIONS = (4, 6, 8)
_VEO_ASPECTS = ("auto", "16:9", "9:16")
_VEO_LITE = frozenset({"quality", "duration", "generation_type", "enhance_prompt"})
_VEO_PREVIEW = frozenset(OPTIONAL_FEATURES)

MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="veo3.1-fast",
            prompt_max_chars=1000,
            durations=_VEO_DURATIONS,
            default_duration=8,
            qualities=_VEO_QUALITIES,
            aspect_ratios=_VEO_ASPECTS,
            max_images=2,
            reference=ReferenceMode(max_images=3, aspect_ratios=("16:9",)),
            features=_VEO_LITE,
        ),
        ModelSpec(
            name="veo3.1-pro",
            prompt_max_tokens=2000,
            durations=_VEO_DURATIONS,
            default_duration=8,
            qualities=_VEO_QUALITIES,
            aspect_ratios=_VEO_ASPECTS,
            max_images=2,
            features=_VEO_LITE,
        ),
        ModelSpec(
            name="veo-3.1-fast-generate-preview",
            prompt_max_tokens=2000,
            durations=_VEO_DURATIONS,
            default_duration=4,
            qualities=_VEO_QUALITIES,
            aspect_ratios=_VEO_ASPECTS,
            max_images=2,
            features=_VEO_PREVIEW,
        ),
        ModelSpec(
            name="veo-3.1-generate-preview",
            prompt_max_tokens=2000,
            durations=_VEO_DURATIONS,
            default_duration=4,
            qualities=_VEO_QUALITIES,
            aspect_ratios=_VEO_ASPECTS,
            max_images=2,
            reference=ReferenceMode(max_images=3, aspect_ratios=("16:9",), durations=(8,)),
            features=_VEO_PREVIEW,
        ),
        ModelSpec(
            name="doubao-seedance-1.0-pro-fast",
            prompt_max_chars=1000,
            durations=tuple(range(2, 13)),
            default_duration=5,
            qualities=("720p", "1080p"),
            aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9"),
            image_aspect_ratios=("adaptive", "keep_ratio"),
            max_images=1,
            features=frozenset({"quality", "duration"}),
        ),
    )
}


def estimate_tokens(text: str) -> int:
    """Estimate a prompt's token count without a tokenizer.

    CJK characters count one token each, other text one token per four characters (the usual
    rule of thumb for English). It is an estimate: it errs slightly high for English so that a
    prompt it accepts is very unlikely to be refused by the gateway.
    """
    cjk = sum(1 for ch in text if _is_wide(ch))
    other = len(text) - cjk
    return cjk + math.ceil(other / 4)


def _is_wide(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3000 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x2FFFF
    )


class FieldLimitError(ValueError):
    """A limit broken by one field, raised where pydantic cannot attach a location (model-level rules)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def explain_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` for each problem of a pydantic ``ValidationError``, without pydantic's noise.

    Model-level rules raise :class:`FieldLimitError` so that the field is known even where
    pydantic reports no location; the gateway simulator uses this to fill ``param``.
    """
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldLimitError):
            loc = cause.field
        message = str(cause) if isinstance(cause, Exception) else err.get("msg", "")
        if err.get("type") == "missing":
            message = f"{loc} is required"
        elif err.get("type") == "extra_forbidden":
            message = f"{loc} is not a known field (put new API fields in extra_params)"
        elif not isinstance(cause, Exception):
            message = f"{loc}={err.get('input')!r}: {message}"
        problems.append((loc or "request", message))
    return problems


def _allowed(values: tuple[Any, ...]) -> str:
    if values and all(isinstance(v, int) for v in values) and len(values) > 3:
        ints = [int(v) for v in values]
        if ints == list(range(min(ints), max(ints) + 1)):
            return f"an integer from {min(ints)} to {max(ints)}"
    return "one of " + ", ".join(repr(v) for v in values)


# --------------------------------------------------------------------------------------------
# URL rules
# --------------------------------------------------------------------------------------------


def _host_is_private(host: str) -> bool:
    """True for loopback, private, link-local, reserved or otherwise non-public hosts."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not ip.is_global or ip.is_multicast


def validate_callback_url(url: str) -> str:
    """Apply the gateway's callback rules: HTTPS only, no private/loopback/link-local host, <= 2048 chars."""
    if len(url) > CALLBACK_URL_MAX_LENGTH:
        raise ValueError(f"callback_url is {len(url)} characters long; at most {CALLBACK_URL_MAX_LENGTH} are allowed")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise ValueError(f"callback_url {url!r} must use https:// (the gateway refuses {parts.scheme or 'no'} scheme)")
    if not parts.hostname:
        raise ValueError(f"callback_url {url!r} has no host")
    if _host_is_private(parts.hostname):
        raise ValueError(
            f"callback_url host {parts.hostname!r} is a private, loopback or link-local address; "
            "the gateway only calls back public HTTPS hosts"
        )
    return url


def _check_image_url(url: str, field_name: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field_name} entry {url!r} must be an http(s) URL the gateway can download")
    suffix = _suffix(parts.path)
    if suffix and suffix not in IMAGE_EXTENSIONS and suffix in _KNOWN_NON_IMAGE_SUFFIXES:
        raise ValueError(
            f"{field_name} entry {url!r} is a {suffix} file; allowed formats: {', '.join(IMAGE_EXTENSIONS)}"
        )
    return url


_KNOWN_NON_IMAGE_SUFFIXES = frozenset(
    {
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".svg",
        ".heic",
        ".heif",
        ".avif",
        ".ico",
        ".mp4",
        ".mov",
        ".pdf",
        ".txt",
    }
)


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""


# --------------------------------------------------------------------------------------------
# Generation request (unified API)
# --------------------------------------------------------------------------------------------


class GenerationRequest(BaseModel):
    """Body of ``POST /v1/videos/generations``.

    Known models are checked against :data:`MODEL_SPECS`; an unknown model name is accepted and
    checked by the common rules only, so a model the gateway adds tomorrow works today. Fields
    the package does not model yet go in ``extra_params`` and are sent as they are.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    prompt: str
    image_urls: list[str] | None = None
    aspect_ratio: str | None = None
    duration: int | None = None
    quality: str | None = None
    generation_type: GenerationType | None = None
    generate_audio: bool | None = None
    enhance_prompt: bool | None = None
    n: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    person_generation: Literal["allow_adult", "dont_allow"] | None = None
    resize_mode: Literal["pad", "crop"] | None = None
    callback_url: str | None = None
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
        return [_check_image_url(u, "image_urls") for u in value]

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return None if value is None else validate_callback_url(value)

    @field_validator("n")
    @classmethod
    def _n_range(cls, value: int | None) -> int | None:
        if value is not None and not N_RANGE[0] <= value <= N_RANGE[1]:
            raise ValueError(f"n={value} is out of range; allowed: {N_RANGE[0]} to {N_RANGE[1]} videos")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, value: int | None) -> int | None:
        if value is not None and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
            raise ValueError(f"seed={value} is out of range; allowed: {SEED_RANGE[0]} to {SEED_RANGE[1]}")
        return value

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
            f"quality={req.quality!r} is not allowed for {name}; allowed: {_allowed(spec.qualities)}",
        )

    images = req.image_urls or []
    mode = req.effective_generation_type
    if mode not in spec.generation_types:
        raise FieldLimitError(
            "generation_type",
            f"generation_type={mode!r} is not available for {name}; allowed: {_allowed(spec.generation_types)}",
        )
    if mode == "REFERENCE":
        assert spec.reference is not None
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
                f"allowed: {_allowed(ref.aspect_ratios)}",
            )
        if ref.durations is not None and req.duration is not None and req.duration not in ref.durations:
            raise FieldLimitError(
                "duration",
                f"duration={req.duration} is not allowed in REFERENCE mode of {name}; "
                f"allowed: {_allowed(ref.durations)} seconds",
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
                f"aspect_ratio={req.aspect_ratio!r} is not allowed for {name}; allowed: {_allowed(aspects)}{extra}",
            )
    if req.duration is not None and spec.durations and req.duration not in spec.durations:
        raise FieldLimitError(
            "duration",
            f"duration={req.duration} is not allowed for {name}; allowed: {_allowed(spec.durations)} seconds",
        )


# --------------------------------------------------------------------------------------------
# Remix request (15 s API, multipart)
# --------------------------------------------------------------------------------------------

REMIX_MODELS: tuple[str, ...] = (
    "veo_3_1-fast-remix",
    "veo_3_1-fast-hd-remix",
    "veo_3_1-remix",
    "veo_3_1-hd-remix",
    "veo_3_1-fast-fl-remix",
    "veo_3_1-fast-fl-hd-remix",
    "veo_3_1-fl-remix",
    "veo_3_1-hd-fl-remix",
)
REMIX_SIZES: tuple[str, ...] = ("1280x720", "720x1280", "1920x1080", "1080x1920")
REMIX_MAX_REFERENCES = 3
REMIX_FL_MAX_IMAGES = 2
#: Progress below this is the first 8 s segment; from here to 99 the 7 s extension.
REMIX_EXTENSION_PROGRESS = 50
REMIX_SEGMENT_SECONDS = (8, 7)
_SIZE_RE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


def is_remix_model(model: str) -> bool:
    """A 15 s remix model: a documented one, or any 8 s model name with the ``-remix`` suffix (seed 003's rule)."""
    return model in REMIX_MODELS or model.endswith("-remix")


def is_first_last_remix_model(model: str) -> bool:
    """``-fl`` remix models take 1-2 images as first and last frame instead of style references."""
    return "-fl-" in model or model.endswith("-fl")


def sniff_image_type(data: bytes) -> str | None:
    """Content type from an image's magic bytes, or ``None`` when it is not jpg/png/webp."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


_DATA_URI_RE = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]+)*?)(?P<b64>;base64)?,", re.I)


class RemixReference(BaseModel):
    """One ``input_reference[]`` part: a file (sent as a file part), a URL or a data URI (sent as text).

    File content is held as bytes because it is sent in one multipart body anyway and is at most
    10 MB. Building one checks format and size, so a bad reference fails before any request.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["file", "url", "data_uri"]
    value: str = Field(description="URL, data URI, or the file name for a file part")
    content: bytes | None = Field(default=None, repr=False)
    content_type: str | None = None

    @model_validator(mode="after")
    def _check(self) -> RemixReference:
        if self.kind == "file":
            data = self.content or b""
            if not data:
                raise ValueError(f"input_reference {self.value!r} is empty")
            if len(data) > MAX_IMAGE_BYTES:
                raise ValueError(
                    f"input_reference {self.value!r} is {len(data) / 1_048_576:.1f} MB; "
                    f"at most {MAX_IMAGE_BYTES // 1_048_576} MB per image"
                )
            sniffed = sniff_image_type(data)
            if sniffed is None:
                raise ValueError(
                    f"input_reference {self.value!r} is not a JPEG, PNG or WEBP image "
                    f"(allowed formats: {', '.join(IMAGE_EXTENSIONS)})"
                )
            if self.content_type is None:
                object.__setattr__(self, "content_type", sniffed)
        elif self.kind == "url":
            _check_image_url(self.value, "input_reference")
        else:
            _check_data_uri(self.value)
        return self

    @classmethod
    def from_bytes(cls, data: bytes, filename: str = "reference") -> RemixReference:
        sniffed = sniff_image_type(data)
        if sniffed and "." not in filename:
            filename = f"{filename}.{sniffed.split('/')[1].replace('jpeg', 'jpg')}"
        return cls(kind="file", value=filename, content=data, content_type=sniffed)

    @classmethod
    def from_text(cls, text: str) -> RemixReference:
        """A URL or a data URI given as a string."""
        if text.lower().startswith("data:"):
            return cls(kind="data_uri", value=text)
        return cls(kind="url", value=text)

    @field_serializer("content", when_used="json")
    def _content_digest(self, content: bytes | None) -> str | None:
        """JSON dumps (the re-attach fingerprint, logs) name a file by its digest, never its bytes."""
        return None if content is None else "sha256:" + hashlib.sha256(content).hexdigest()

    def describe(self) -> str:
        """Short description for logs: never the bytes or a whole data URI."""
        if self.kind == "file":
            return f"file {self.value} ({len(self.content or b'')} bytes, {self.content_type})"
        if self.kind == "data_uri":
            return f"data URI ({len(self.value)} chars, {self.value[5 : self.value.find(';')]})"
        return f"URL {self.value}"


def _check_data_uri(uri: str) -> None:
    match = _DATA_URI_RE.match(uri)
    if not match or not match.group("b64"):
        raise ValueError("input_reference data URI must look like 'data:image/png;base64,<data>'")
    mime = (match.group("mime") or "").lower()
    if mime not in IMAGE_MIME_TYPES and mime != "image/jpg":
        raise ValueError(
            f"input_reference data URI has type {mime or 'none'!r}; allowed: {', '.join(IMAGE_MIME_TYPES)}"
        )
    payload = uri[match.end() :]
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES + 3:
        raise ValueError(
            f"input_reference data URI holds about {len(payload) * 3 // 4 / 1_048_576:.1f} MB; "
            f"at most {MAX_IMAGE_BYTES // 1_048_576} MB per image"
        )
    try:
        head = base64.b64decode(payload[:64] + "=" * (-len(payload[:64]) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("input_reference data URI is not valid base64") from None
    if sniff_image_type(head) is None:
        raise ValueError(f"input_reference data URI says {mime} but its bytes are not a JPEG, PNG or WEBP image")


class RemixRequest(BaseModel):
    """Form fields of ``POST /v1/videos`` (15 s remix: 8 s from ``prompt`` + 7 s from ``prompt_extend``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    prompt: str
    prompt_extend: str
    size: str | None = None
    input_references: list[RemixReference] = Field(default_factory=list)

    @field_validator("prompt", "prompt_extend")
    @classmethod
    def _not_blank(cls, value: str, info: Any) -> str:
        if not value.strip():
            what = "the first 8 s" if info.field_name == "prompt" else "the last 7 s"
            raise ValueError(f"{info.field_name} is empty; it describes {what} of the 15 s video")
        return value

    @field_validator("size")
    @classmethod
    def _size_format(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _SIZE_RE.match(value):
            raise ValueError(
                f"size={value!r} is not WIDTHxHEIGHT (a lower-case x, e.g. '1280x720'); "
                f"allowed: {_allowed(REMIX_SIZES)}"
            )
        if value not in REMIX_SIZES:
            raise ValueError(f"size={value!r} is not offered; allowed: {_allowed(REMIX_SIZES)}")
        return value

    @model_validator(mode="after")
    def _references(self) -> RemixRequest:
        if not is_remix_model(self.model):
            raise FieldLimitError(
                "model",
                f"model={self.model!r} is not a 15 s remix model; use one of {', '.join(REMIX_MODELS)} "
                "(or an 8 s model name with the '-remix' suffix)",
            )
        count = len(self.input_references)
        if is_first_last_remix_model(self.model):
            if not 1 <= count <= REMIX_FL_MAX_IMAGES:
                raise FieldLimitError(
                    "input_references",
                    f"input_references has {count} image(s); {self.model} is a first/last-frame model and takes "
                    f"1 to {REMIX_FL_MAX_IMAGES} (first frame, then last frame)",
                )
        elif count > REMIX_MAX_REFERENCES:
            raise FieldLimitError(
                "input_references",
                f"input_references has {count} images; {self.model} takes at most {REMIX_MAX_REFERENCES} "
                "reference images",
            )
        return self

    def form_fields(self) -> list[tuple[str, str]]:
        """Text fields of the multipart body, in order (file parts are added by the hook)."""
        fields = [("model", self.model), ("prompt", self.prompt), ("prompt_extend", self.prompt_extend)]
        if self.size:
            fields.append(("size", self.size))
        return fields


# --------------------------------------------------------------------------------------------
# Normalized task (responses of both APIs)
# --------------------------------------------------------------------------------------------


def parse_progress(raw: Any) -> int:
    """``61``, ``61.0``, ``"61"`` or ``"61%"`` -> 61, clamped to 0..100; anything else -> 0."""
    if raw is None or isinstance(raw, bool):
        return 0
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip().rstrip("%").strip()
        try:
            value = float(text)
        except ValueError:
            return 0
    if math.isnan(value):
        return 0
    return int(min(100, max(0, value)))


def _timestamp(raw: Any) -> datetime | None:
    if raw in (None, "", 0):
        return None
    if isinstance(raw, (int, float)):
        return datetime.fromtimestamp(float(raw), tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _code(raw: Any) -> str | None:
    return None if raw in (None, "") else str(raw)


def _dict(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _urls(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw] if raw else []
    out: list[str] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, str) and item:
                out.append(item)
            elif isinstance(item, dict):
                url = item.get("video_url") or item.get("url")
                if isinstance(url, str) and url:
                    out.append(url)
    return out


class VideoTask(BaseModel):
    """One remote task, normalized from whichever API and response shape it came in.

    Everything downstream (trigger events, XCom, logs, re-attach decisions) reads this model,
    never the raw dict; ``raw`` keeps the original body for debugging and for fields the
    package does not model.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    api: ApiKind
    model: str | None = None
    state: TaskState
    remote_status: str | None = None
    progress: int = Field(default=0, ge=0, le=100)
    video_urls: list[str] = Field(default_factory=list)
    first_video_url: str | None = None
    remix_id: str | None = None
    remix_id_extend: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    credits_reserved: float | None = None
    billing_rule: str | None = None
    estimated_time: int | None = None
    video_duration: int | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    # ---- parsing -------------------------------------------------------------------------

    @classmethod
    def from_generation_response(cls, body: Mapping[str, Any]) -> VideoTask:
        """Parse a create or query response of the unified API (``/v1/videos/generations``, ``/v1/tasks``)."""
        data = dict(body)
        if "id" not in data and isinstance(data.get("data"), dict):  # {code, message, data} envelope
            data = dict(data["data"])
        task_id = data.get("id") or data.get("task_id")
        if not task_id:
            raise ValueError("response has no task id ('id')")
        error = _dict(data.get("error"))
        state = parse_status(data.get("status"))
        if state is TaskState.FAILED and error.get("code") == "request_cancelled":
            state = TaskState.CANCELLED
        urls = _urls(data.get("results")) or _urls(data.get("result_data")) or _urls(data.get("video_url"))
        usage = _dict(data.get("usage"))
        info = _dict(data.get("task_info"))
        return cls(
            id=str(task_id),
            api=ApiKind.GENERATION,
            model=data.get("model"),
            state=state,
            remote_status=str(data.get("status")),
            progress=100 if state is TaskState.SUCCEEDED else parse_progress(data.get("progress")),
            video_urls=urls,
            error_code=_code(error.get("code")),
            error_message=error.get("message") or None,
            credits_reserved=_float(usage.get("credits_reserved")),
            billing_rule=usage.get("billing_rule"),
            estimated_time=_int(info.get("estimated_time")),
            video_duration=_int(info.get("video_duration")),
            created_at=_timestamp(data.get("created")),
            completed_at=_timestamp(data.get("completed_at") or data.get("finished_at")),
            raw=dict(body),
        )

    @classmethod
    def from_remix_response(cls, body: Mapping[str, Any]) -> VideoTask:
        """Parse a remix create/query response in any of its three shapes.

        1. the NewAPI task wrapper of seed 003 (``task_id``, ``status`` SUCCESS..., business data in ``data``);
        2. an OpenAI-style video object (``id``, ``object: "video"``, ``status`` queued/in_progress/...);
        3. either of them wrapped in a ``{"code", "message", "data"}`` envelope.
        """
        outer = dict(body)
        if _is_envelope(outer):
            outer = dict(outer["data"])
        inner = _dict(outer.get("data"))
        if "task_id" in outer:  # shape 1: task wrapper, business object in "data"
            task_id = outer["task_id"]
            video = inner
            status_raw = video.get("status") or outer.get("status")
            wrapper_status = outer.get("status")
        else:  # shape 2: the video object itself
            video = outer
            task_id = outer.get("id")
            status_raw = outer.get("status")
            wrapper_status = None
        if not task_id:
            raise ValueError("remix response has no task id ('task_id' or 'id')")
        state = parse_status(status_raw)
        if wrapper_status is not None:
            wrapped = parse_status(wrapper_status)
            # The wrapper settles first on some gateways; trust whichever is terminal.
            if wrapped.is_terminal and not state.is_terminal:
                state = wrapped
        error = _dict(video.get("error")) or _dict(outer.get("error"))
        error_code = _code(error.get("code"))
        error_message = error.get("message") or None
        if state is TaskState.FAILED and error_message is None:
            reason = outer.get("fail_reason")
            error_message = reason if isinstance(reason, str) and reason else None
        urls = _urls(video.get("video_url"))
        if not urls and state is TaskState.SUCCEEDED:
            urls = _urls(outer.get("result_url")) or _urls(video.get("url"))
            if not urls and isinstance(outer.get("fail_reason"), str) and outer["fail_reason"].startswith("http"):
                urls = [outer["fail_reason"]]
        progress = video.get("progress") if video.get("progress") is not None else outer.get("progress")
        return cls(
            id=str(task_id),
            api=ApiKind.REMIX,
            model=video.get("model") or _dict(outer.get("properties")).get("origin_model_name"),
            state=state,
            remote_status=str(status_raw),
            progress=100 if state is TaskState.SUCCEEDED else parse_progress(progress),
            video_urls=urls,
            first_video_url=video.get("first_video_url") or None,
            remix_id=video.get("remix_id") or None,
            remix_id_extend=video.get("remix_id_extend") or None,
            error_code=error_code,
            error_message=error_message,
            created_at=_timestamp(video.get("created_at") or outer.get("submit_time")),
            completed_at=_timestamp(video.get("completed_at") or outer.get("finish_time")),
            raw=dict(body),
        )

    @classmethod
    def from_response(cls, api: ApiKind, body: Mapping[str, Any]) -> VideoTask:
        if api is ApiKind.REMIX:
            return cls.from_remix_response(body)
        return cls.from_generation_response(body)

    # ---- derived facts -------------------------------------------------------------------

    @property
    def is_partial(self) -> bool:
        """A remix whose 7 s extension failed but whose first 8 s exist (``extend_failed``)."""
        return self.error_code == "extend_failed" and bool(self.video_urls)

    @property
    def segment(self) -> str:
        """Which remix segment is rendering, from progress (0-49 first 8 s, 50-99 extension)."""
        if self.progress < REMIX_EXTENSION_PROGRESS:
            return "first 8 s segment"
        return "7 s extension"

    def expires_at(self, now: datetime | None = None) -> datetime | None:
        """When the download links stop working (24 h after completion)."""
        done = self.completed_at
        if done is None and self.state is TaskState.SUCCEEDED:
            done = now or datetime.now(tz=timezone.utc)
        return done + LINK_TTL if done else None

    def links_valid(self, now: datetime | None = None, margin: timedelta = timedelta(minutes=30)) -> bool:
        """True while the links can still be downloaded, with a margin to leave time to archive."""
        expires = self.expires_at(now)
        current = now or datetime.now(tz=timezone.utc)
        return bool(self.video_urls) and expires is not None and expires - margin > current

    def summary(self) -> str:
        """One log line: id, model, state, progress; never a URL's query string (it may be signed)."""
        text = (
            f"{self.api.value} task {self.id} ({self.model or 'unknown model'}): {self.state.value}, {self.progress}%"
        )
        if self.error_code or self.error_message:
            text += f", error {self.error_code or '?'}: {self.error_message or ''}".rstrip()
        return text


def _is_envelope(body: Mapping[str, Any]) -> bool:
    return (
        "code" in body
        and "data" in body
        and isinstance(body.get("data"), dict)
        and "task_id" not in body
        and "status" not in body
    )


def _float(raw: Any) -> float | None:
    try:
        return None if raw is None else float(raw)
    except (TypeError, ValueError):
        return None


def _int(raw: Any) -> int | None:
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# HTTP error bodies
# --------------------------------------------------------------------------------------------


class ApiError(BaseModel):
    """Error body of a non-2xx answer, from ``{"error": {...}}`` or ``{"code", "message", "data"}``."""

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    message: str | None = None
    type: str | None = None
    param: str | None = None
    fallback_suggestion: str | None = None

    @classmethod
    def from_body(cls, body: Any) -> ApiError:
        if not isinstance(body, dict):
            return cls()
        err = body.get("error")
        if isinstance(err, dict):
            src = err
        elif isinstance(err, str):
            src = {"message": err, "code": body.get("code")}
        else:
            src = body
        return cls(
            code=_code(src.get("code")),
            message=_str_or_none(src.get("message") or src.get("detail")),
            type=_str_or_none(src.get("type")),
            param=_str_or_none(src.get("param")),
            fallback_suggestion=_str_or_none(src.get("fallback_suggestion")),
        )


def _str_or_none(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw if isinstance(raw, str) else str(raw)
