"""The model catalogue: which models exist, what each one accepts, and every documented limit.

Limits live here, apart from the request classes that enforce them, because more than the
requests read them: the gateway simulator and the example pipelines ask "what does this model
take?" too. A limit changes in exactly one place (``shared/seeds`` and the API notes are the
source). The catalogue is data (frozen dataclasses and tuples), not behaviour, so a new
model is one :class:`ModelSpec` entry; a model the package does not know is still accepted by the
requests, checked by the common rules only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# --------------------------------------------------------------------------------------------
# Unified generation API: common limits and per-model rules
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


# --------------------------------------------------------------------------------------------
# Remix API (15 s videos, multipart)
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


def is_remix_model(model: str) -> bool:
    """A 15 s remix model: a documented one, or any 8 s model name with the ``-remix`` suffix (seed 003's rule)."""
    return model in REMIX_MODELS or model.endswith("-remix")


def is_first_last_remix_model(model: str) -> bool:
    """``-fl`` remix models take 1-2 images as first and last frame instead of style references."""
    return "-fl-" in model or model.endswith("-fl")
