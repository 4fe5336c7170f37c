"""Run parameters of the example DAGs, built from the limits in the models (one source of truth).

Airflow's trigger form renders each ``Param`` from its JSON schema, and three of its habits
decide how these are written:

* an ``enum`` becomes a drop-down, labelled by ``values_display``: the models and aspect ratios
  the gateway documents are offered instead of free text a user can misspell;
* a ``maximum`` makes the number field silently clamp what the user typed (50 becomes 20), so
  ``variants`` has none: the plan task refuses a count above :data:`~.prompts.MAX_VARIANTS`
  with the limit in the message, before anything is sent;
* ``exclusiveMinimum`` is not enforced by the field, only by the API, which answers with a raw
  JSON-schema dump; a ``minimum`` is enforced in the field.

An empty string counts as "missing" in the form and greys out the Trigger button, so no
required string param defaults to ``""``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from airflow_provider_videogen.models import MODEL_SPECS, REMIX_MODELS, is_first_last_remix_model
from airflow_provider_videogen.operators.batch import MAX_BATCH_SIZE
from airflow_provider_videogen.pipelines.prompts import MAX_VARIANTS

#: ``frame_store`` value for last frames passed inline (a ``data:`` URI through XCom).
INLINE_FRAMES = "inline"
#: Smallest accepted ``poll_interval`` (seconds); the real gateway wants 10 s or more.
MIN_POLL_INTERVAL = 0.1

_ASPECT_NAMES = {
    "auto": "auto (the model decides)",
    "16:9": "16:9 landscape",
    "9:16": "9:16 portrait",
    "1:1": "1:1 square",
    "4:3": "4:3",
    "3:4": "3:4 portrait",
    "21:9": "21:9 cinema",
}


def _seconds(values: tuple[int, ...]) -> str:
    if len(values) > 3 and list(values) == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]} s"
    return "/".join(str(v) for v in values) + " s"


def model_param(default: str, description: str = "the video model") -> Param:
    """A drop-down of every documented generation model, each labelled with its durations and qualities."""
    display = {
        name: f"{name} ({_seconds(spec.durations)}, {'/'.join(spec.qualities)})" for name, spec in MODEL_SPECS.items()
    }
    return Param(default, type="string", enum=list(MODEL_SPECS), values_display=display, description=description)


def aspect_ratio_param(default: str) -> Param:
    """A drop-down of the aspect ratios some model accepts; the plan checks the pair (model, ratio)."""
    ratios: list[str] = []
    for spec in MODEL_SPECS.values():
        ratios += [r for r in spec.aspect_ratios if r not in ratios]
    supported = {r: [n for n, s in MODEL_SPECS.items() if r in s.aspect_ratios] for r in ratios}
    display = {
        r: _ASPECT_NAMES.get(r, r) + ("" if len(names) == len(MODEL_SPECS) else f" - {', '.join(names)} only")
        for r, names in supported.items()
    }
    return Param(
        default,
        type="string",
        enum=ratios,
        values_display=display,
        description="frame shape; not every model takes every ratio (the plan task says which, before sending)",
    )


def remix_model_param(default: str) -> Param:
    """A drop-down of the first/last-frame remix models (the clip's last frame becomes the remix's first)."""
    models = [m for m in REMIX_MODELS if is_first_last_remix_model(m)]
    display = {m: m + (" (1080p)" if "-hd" in m else " (720p)") + (", fast" if "fast" in m else "") for m in models}
    return Param(
        default,
        type="string",
        enum=models,
        values_display=display,
        description="15 s remix model, started from each clip's last frame (8 s + 7 s extension)",
    )


def variants_param(default: int, what: str = "clips") -> Param:
    """How many; no ``maximum`` in the schema (the form would clamp silently), the plan refuses above the limit."""
    return Param(
        default,
        type="integer",
        minimum=1,
        description=f"how many {what} to make, 1 to {MAX_VARIANTS}; each one is billed. More is refused, "
        "with the limit, before anything is sent",
    )


def poll_interval_param(default: float = 15.0) -> Param:
    return Param(
        default,
        type="number",
        minimum=MIN_POLL_INTERVAL,
        description=f"seconds between status checks of a rendering video (at least {MIN_POLL_INTERVAL}; "
        "10-30 against the real gateway)",
    )


def duration_param(default: int | None) -> Param:
    by_range: dict[str, list[str]] = {}
    for name, spec in MODEL_SPECS.items():
        by_range.setdefault(_seconds(spec.durations), []).append(name)
    allowed = "; ".join(f"{seconds} ({', '.join(names)})" for seconds, names in by_range.items())
    return Param(
        default,
        type=["integer", "null"],
        description=f"clip length in seconds; empty for the model's default. Allowed: {allowed}",
    )


def s3_params(bucket: str, prefix: str, layout: str) -> dict[str, Any]:
    return {
        "s3_bucket": Param(
            bucket, type="string", minLength=3, description="bucket the videos and manifest.json are archived to"
        ),
        "s3_prefix": Param(prefix, type="string", description=f"key prefix; objects land under {layout}"),
    }


def batch_size_param() -> Param:
    """0: one task per clip (the default); N: clips submitted N per task. No ``maximum``: the plan refuses above it."""
    return Param(
        0,
        type="integer",
        minimum=0,
        description="0: one generation task per clip; N (1 to "
        f"{MAX_BATCH_SIZE}): the clips are submitted N per task by one batch task each (VideoGenerationBatchOperator: "
        "fewer worker task starts; a clip that fails fails its batch, whose retry pays only for that clip)",
    )
