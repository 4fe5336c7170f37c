"""Table-driven limits of GenerationRequest: every model in the seeds, valid extremes and each broken rule."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import MODEL_SPECS, GenerationRequest
from airflow_provider_videogen.operators.video_task import validate

IMG = "https://cdn.example.com/frame.png"


def build(**fields: Any) -> GenerationRequest:
    return validate(GenerationRequest, "GenerationRequest", **fields)  # type: ignore[no-any-return]


MINIMAL = {name: {"model": name, "prompt": "A cat playing piano"} for name in MODEL_SPECS}

MAXIMAL: dict[str, dict[str, Any]] = {
    "veo3.1-fast": {
        "prompt": "x" * 1000,
        "duration": 8,
        "quality": "4k",
        "aspect_ratio": "9:16",
        "image_urls": [IMG, IMG],
        "generation_type": "FIRST&LAST",
        "enhance_prompt": True,
        "callback_url": "https://hooks.example.com/" + "a" * (2048 - 26),
    },
    "veo3.1-pro": {
        "prompt": "word " * 1500,  # ~1875 estimated tokens
        "duration": 8,
        "quality": "1080p",
        "aspect_ratio": "auto",
        "image_urls": [IMG, IMG],
    },
    "veo-3.1-fast-generate-preview": {
        "prompt": "x" * 7000,
        "duration": 8,
        "quality": "4k",
        "aspect_ratio": "16:9",
        "image_urls": [IMG, IMG],
        "generate_audio": False,
        "enhance_prompt": False,
        "n": 4,
        "seed": 4294967295,
        "negative_prompt": "blurry, low quality",
        "person_generation": "dont_allow",
        "resize_mode": "crop",
    },
    "veo-3.1-generate-preview": {
        "prompt": "A cat",
        "generation_type": "REFERENCE",
        "image_urls": [IMG, IMG, IMG],
        "aspect_ratio": "16:9",
        "duration": 8,
        "n": 4,
        "seed": 1,
    },
    "doubao-seedance-1.0-pro-fast": {
        "prompt": "y" * 1000,
        "duration": 12,
        "quality": "720p",
        "aspect_ratio": "keep_ratio",
        "image_urls": [IMG],
    },
}


@pytest.mark.parametrize("name", sorted(MODEL_SPECS))
def test_minimal_request_is_valid(name: str) -> None:
    req = build(**MINIMAL[name])
    assert req.to_api_body() == MINIMAL[name]


@pytest.mark.parametrize("name", sorted(MAXIMAL))
def test_maximal_request_is_valid(name: str) -> None:
    req = build(model=name, **MAXIMAL[name])
    assert req.model == name


def test_every_seed_model_has_a_maximal_case() -> None:
    assert set(MAXIMAL) == set(MODEL_SPECS)


# (case id, fields, field named in the error, fragments the message must contain)
INVALID: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("veo duration 5", {"model": "veo3.1-fast", "duration": 5}, "duration", ["duration=5", "4, 6, 8"]),
    (
        "seedance duration 13",
        {"model": "doubao-seedance-1.0-pro-fast", "duration": 13},
        "duration",
        ["duration=13", "2 to 12"],
    ),
    ("n 5", {"model": "veo-3.1-fast-generate-preview", "n": 5}, "n", ["n=5", "1 to 4"]),
    ("seed 0", {"model": "veo-3.1-fast-generate-preview", "seed": 0}, "seed", ["seed=0", "1 to 4294967295"]),
    (
        "3 images in FIRST&LAST",
        {"model": "veo3.1-fast", "image_urls": [IMG] * 3, "generation_type": "FIRST&LAST"},
        "image_urls",
        ["3 images", "at most 2", "FIRST&LAST"],
    ),
    (
        "REFERENCE at 9:16",
        {"model": "veo3.1-fast", "image_urls": [IMG], "generation_type": "REFERENCE", "aspect_ratio": "9:16"},
        "aspect_ratio",
        ["'9:16'", "REFERENCE", "'16:9'"],
    ),
    (
        "REFERENCE with 4 images",
        {"model": "veo-3.1-generate-preview", "image_urls": [IMG] * 4, "generation_type": "REFERENCE"},
        "image_urls",
        ["4 image", "1 to 3"],
    ),
    (
        "REFERENCE preview not 8 s",
        {"model": "veo-3.1-generate-preview", "image_urls": [IMG], "generation_type": "REFERENCE", "duration": 4},
        "duration",
        ["duration=4", "REFERENCE", "8"],
    ),
    (
        "REFERENCE on pro",
        {"model": "veo3.1-pro", "image_urls": [IMG], "generation_type": "REFERENCE"},
        "generation_type",
        ["'REFERENCE'", "veo3.1-pro"],
    ),
    (
        "callback http",
        {"model": "veo3.1-fast", "callback_url": "http://hooks.example.com/done"},
        "callback_url",
        ["https://", "http"],
    ),
    (
        "callback private ip",
        {"model": "veo3.1-fast", "callback_url": "https://192.168.1.20/done"},
        "callback_url",
        ["192.168.1.20", "private"],
    ),
    (
        "callback loopback",
        {"model": "veo3.1-fast", "callback_url": "https://127.0.0.1/done"},
        "callback_url",
        ["127.0.0.1"],
    ),
    (
        "callback link-local",
        {"model": "veo3.1-fast", "callback_url": "https://169.254.169.254/latest"},
        "callback_url",
        ["169.254.169.254"],
    ),
    (
        "callback 2049 chars",
        {"model": "veo3.1-fast", "callback_url": "https://hooks.example.com/" + "a" * (2049 - 26)},
        "callback_url",
        ["2049 characters", "2048"],
    ),
    (
        "prompt 1001 chars veo3.1-fast",
        {"model": "veo3.1-fast", "prompt": "p" * 1001},
        "prompt",
        ["1001 characters", "at most 1000"],
    ),
    (
        "prompt too many tokens",
        {"model": "veo3.1-pro", "prompt": "长" * 2001},
        "prompt",
        ["2001 tokens", "2000"],
    ),
    (
        "seedance 2 images",
        {"model": "doubao-seedance-1.0-pro-fast", "image_urls": [IMG, IMG]},
        "image_urls",
        ["2 images", "at most 1"],
    ),
    (
        "seedance adaptive without image",
        {"model": "doubao-seedance-1.0-pro-fast", "aspect_ratio": "adaptive"},
        "aspect_ratio",
        ["'adaptive'", "only with image_urls"],
    ),
    ("seedance 4k", {"model": "doubao-seedance-1.0-pro-fast", "quality": "4k"}, "quality", ["'4k'", "'720p'"]),
    (
        "n on a lite model",
        {"model": "veo3.1-fast", "n": 2},
        "n",
        ["not a parameter of veo3.1-fast", "extra_params"],
    ),
    ("gif image url", {"model": "veo3.1-fast", "image_urls": ["https://x.example.com/a.gif"]}, "image_urls", [".gif"]),
    ("empty prompt", {"model": "veo3.1-fast", "prompt": "   "}, "prompt", ["prompt is empty"]),
    (
        "unknown field",
        {"model": "veo3.1-fast", "durations": 4},
        "durations",
        ["durations is not a known field", "extra_params"],
    ),
    (
        "extra_params shadows a field",
        {"model": "sora-2", "extra_params": {"prompt": "x"}},
        "extra_params",
        ["repeats modelled field", "prompt"],
    ),
]


@pytest.mark.parametrize(("fields", "field", "fragments"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_out_of_range_values_name_field_value_and_limit(
    fields: dict[str, Any], field: str, fragments: list[str]
) -> None:
    fields = {"prompt": "A cat", **fields}
    with pytest.raises(InvalidRequestError) as info:
        build(**fields)
    assert field in info.value.fields
    for fragment in fragments:
        assert fragment in str(info.value)
    assert "pydantic" not in str(info.value)


def test_unknown_model_uses_common_rules_and_extra_params() -> None:
    req = build(model="sora-2", prompt="A cat", duration=12, extra_params={"resolution": "1792x1024"})
    assert req.spec is None
    assert req.to_api_body() == {"model": "sora-2", "prompt": "A cat", "duration": 12, "resolution": "1792x1024"}
    with pytest.raises(InvalidRequestError, match="seed=0"):
        build(model="sora-2", prompt="A cat", seed=0)
    with pytest.raises(InvalidRequestError, match="callback_url"):
        build(model="sora-2", prompt="A cat", callback_url="https://10.1.2.3/x")


def test_billed_seconds_uses_model_default() -> None:
    assert build(model="doubao-seedance-1.0-pro-fast", prompt="x").billed_seconds() == 5
    assert build(model="veo-3.1-fast-generate-preview", prompt="x", duration=6, n=3).billed_seconds() == 18
