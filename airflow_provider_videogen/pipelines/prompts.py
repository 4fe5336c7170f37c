"""Turn a creative brief into N distinct video prompts, checked against the model's limits before anything is paid for.

Two sources of prompts:

* :func:`template_prompts`: deterministic expansion of the brief with camera, light and style
  phrases. Offline, free, and the same brief and ``salt`` always give the same prompts, which is
  what a daily campaign needs: the logical date is the salt, so a backfill gets one distinct,
  reproducible set per day.
* :func:`llm_prompts`: an LLM through the gateway's OpenAI-compatible chat API
  (:meth:`~airflow_provider_videogen.hooks.videogen.VideoGenHook.chat_completion`). It is told
  the model's prompt limit, and its answer is parsed as JSON or as a numbered list.

Either way :func:`plan_variants` builds every request the run will send (the clip's
:class:`~airflow_provider_videogen.models.GenerationRequest` and the remix's
:class:`~airflow_provider_videogen.models.RemixRequest`) and validates them all first: a prompt
that breaks a limit fails the planning task, before the first video is submitted, instead of
failing variant 3 after variants 1 and 2 were billed.

A plan is a list of JSON-able dicts (it travels through XCom); :func:`generation_kwargs` and
the ``remix`` entry are exactly the keyword arguments of the operators, for ``expand_kwargs``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import (
    DEFAULT_PROMPT_MAX_CHARS,
    MODEL_SPECS,
    SEED_RANGE,
    GenerationRequest,
    RemixReference,
    RemixRequest,
    explain_validation_error,
    is_first_last_remix_model,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_videogen.hooks.videogen import VideoGenHook

log = logging.getLogger(__name__)

#: Most variants one plan may hold: each one is a paid video (two with the remix).
MAX_VARIANTS = 20
#: Chat model used for prompt writing unless told otherwise.
DEFAULT_LLM_MODEL = "gpt-4o-mini"

_SHOTS = (
    "Wide establishing shot",
    "Slow dolly-in close-up",
    "Handheld tracking shot",
    "Aerial drone shot",
    "Low-angle hero shot",
    "Overhead top-down shot",
    "Macro detail shot",
    "Orbiting shot",
)
_LIGHTS = (
    "at golden hour",
    "under soft overcast light",
    "on a neon-lit night",
    "in early morning mist",
    "with dramatic rim lighting",
    "by warm candlelight",
)
_STYLES = (
    "cinematic, 35mm film grain",
    "photorealistic, shallow depth of field",
    "vibrant animated style",
    "documentary realism",
    "dreamy pastel palette",
    "high-contrast black-and-white",
)
_COMBINATIONS = len(_SHOTS) * len(_LIGHTS) * len(_STYLES)
#: Coprime with the number of combinations, so consecutive variants walk through distinct ones.
_STRIDE = 97

#: What the second half of a 15 s remix says (the first half continues the clip's own prompt).
REMIX_EXTEND_PROMPT = "The camera slowly pulls back into a final wide shot; same light, same style, calm ending."
#: Stand-in first frame for validating an ``-fl`` remix before the real frame exists.
_FRAME_PLACEHOLDER = RemixReference(kind="file", value="last-frame.png", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 8)

_LIST_PREFIX = re.compile(r"^\s*(?:\d{1,2}\s*[.):-]|[-*\u2022])\s*")


class PromptGenerationError(InvalidRequestError):
    """Prompts could not be produced or broke a limit; nothing was submitted."""


# ---- determinism ------------------------------------------------------------------------------


def stable_int(*parts: object) -> int:
    """A 64-bit integer from ``parts``, identical on every machine and Python run (no ``hash()``)."""
    text = "\x1f".join(str(part) for part in parts)
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)


def derive_seed(*parts: object) -> int:
    """A generation seed in the API's range, derived from ``parts`` (e.g. campaign, date, variant)."""
    low, high = SEED_RANGE
    return low + stable_int(*parts) % (high - low + 1)


def model_takes_seed(model: str) -> bool:
    """True when the model documents ``seed``; an unknown model gets none (it could refuse it)."""
    spec = MODEL_SPECS.get(model)
    return spec is not None and "seed" in spec.features


def prompt_limit_chars(model: str) -> int:
    """The longest prompt, in characters, to ask an LLM for (token limits converted, with margin)."""
    spec = MODEL_SPECS.get(model)
    if spec is None:
        return DEFAULT_PROMPT_MAX_CHARS
    if spec.prompt_max_chars is not None:
        return spec.prompt_max_chars
    if spec.prompt_max_tokens is not None:
        return spec.prompt_max_tokens * 3  # about 4 characters per token in English: keep a margin
    return DEFAULT_PROMPT_MAX_CHARS


# ---- prompt sources ---------------------------------------------------------------------------


def _clean_brief(brief: str) -> str:
    text = " ".join(str(brief).split()).rstrip(" .!?;:,")
    if not text:
        raise PromptGenerationError("prompts", [("brief", "the brief is empty; describe what the videos are about")])
    return text


def template_prompts(brief: str, count: int, *, salt: str = "") -> list[str]:
    """``count`` distinct prompts from ``brief``, the same for the same brief and ``salt``.

    Each prompt combines the brief with a shot, a light and a style; up to 288 variants are
    distinct. ``salt`` (a logical date, a campaign name) picks a different walk through the
    combinations.
    """
    _check_count(count)
    subject = _clean_brief(brief)
    start = stable_int(subject, salt) % _COMBINATIONS
    prompts = []
    for i in range(count):
        combo = (start + i * _STRIDE) % _COMBINATIONS
        shot = _SHOTS[combo % len(_SHOTS)]
        light = _LIGHTS[(combo // len(_SHOTS)) % len(_LIGHTS)]
        style = _STYLES[combo // (len(_SHOTS) * len(_LIGHTS))]
        prompts.append(f"{shot} of {subject} {light}, {style}.")
    return prompts


def llm_messages(brief: str, count: int, *, max_chars: int) -> list[dict[str, str]]:
    """The chat conversation asking for ``count`` prompts (the count comes first: some gateways key on it)."""
    system = (
        "You write prompts for a text-to-video model. Each prompt describes one continuous shot: "
        "subject, action, camera, light and style, in one or two sentences. Make the prompts clearly "
        'different from each other. Answer with JSON only: {"prompts": ["...", "..."]}.'
    )
    user = f"Write {count} distinct video prompts, each under {max_chars} characters, about {_clean_brief(brief)}."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_prompt_list(text: str) -> list[str]:
    """Prompts from an LLM answer: ``{"prompts": [...]}``, a JSON list, or a numbered/bulleted list."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = data.get("prompts")
    if isinstance(data, list):
        items = [str(item) for item in data]
    else:
        lines = [line for line in stripped.splitlines() if line.strip()]
        marked = [line for line in lines if _LIST_PREFIX.match(line)]
        # A numbered or bulleted list: its items only, not a preamble such as "Here you go:".
        items = [_LIST_PREFIX.sub("", line) for line in (marked or lines)]
    prompts: list[str] = []
    for item in items:
        prompt = " ".join(item.split()).strip("\"'")
        if prompt and prompt not in prompts:
            prompts.append(prompt)
    return prompts


def llm_prompts(
    hook: VideoGenHook,
    brief: str,
    count: int,
    *,
    model: str,
    llm_model: str = DEFAULT_LLM_MODEL,
) -> list[str]:
    """``count`` distinct prompts written by an LLM through the gateway's chat API.

    The LLM is told the video model's limit. An answer with fewer distinct prompts than asked
    fails (a silently shorter campaign is worse than a clear error); extra ones are dropped.
    """
    _check_count(count)
    messages = llm_messages(brief, count, max_chars=prompt_limit_chars(model))
    answer = hook.chat_completion(messages, model=llm_model, temperature=0.7, response_format={"type": "json_object"})
    prompts = parse_prompt_list(answer)
    if len(prompts) < count:
        raise PromptGenerationError(
            "prompts",
            [
                (
                    "prompts",
                    f"{llm_model} returned {len(prompts)} distinct prompt(s), {count} were asked for: {answer[:300]!r}",
                )
            ],
        )
    return prompts[:count]


def _check_count(count: int) -> None:
    if not 1 <= int(count) <= MAX_VARIANTS:
        raise PromptGenerationError("prompts", [("variants", f"variants={count}; allowed: 1 to {MAX_VARIANTS}")])


# ---- remix ------------------------------------------------------------------------------------


def remix_size(remix_model: str, aspect_ratio: str | None) -> str:
    """The remix ``size`` matching the clip: portrait for ``9:16``, 1080p for ``-hd`` models."""
    width, height = (1920, 1080) if "-hd" in remix_model else (1280, 720)
    if aspect_ratio == "9:16":
        width, height = height, width
    return f"{width}x{height}"


def remix_texts(prompt: str) -> tuple[str, str]:
    """(first 8 s, last 7 s) of the 15 s remix that continues a clip from its last frame."""
    return f"Continuing seamlessly from this exact frame: {prompt}", REMIX_EXTEND_PROMPT


# ---- plans ------------------------------------------------------------------------------------


def plan_variants(
    prompts: Sequence[str],
    *,
    model: str,
    aspect_ratio: str | None = None,
    duration: int | None = None,
    seeds: Sequence[int | None] | None = None,
    remix_model: str | None = None,
    poll_interval: float = 15.0,
) -> list[dict[str, Any]]:
    """Validate every request of the run and return the plan (JSON-able, one dict per variant).

    Each variant: ``index``, ``prompt``, ``seed``, ``generation`` (the keyword arguments of
    :class:`~airflow_provider_videogen.operators.videogen.VideoGenerationOperator`) and
    ``remix`` (those of :class:`~airflow_provider_videogen.operators.remix.VideoRemixOperator`
    without ``input_references``, which the last frame fills in; ``None`` without a remix model).
    Raises :class:`PromptGenerationError` naming every broken limit of every variant.
    """
    seeds = list(seeds) if seeds is not None else [None] * len(prompts)
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
    problems: list[tuple[str, str]] = []
    plan: list[dict[str, Any]] = []
    for index, (prompt, seed) in enumerate(zip(prompts, seeds, strict=True)):
        fields: dict[str, Any] = {"model": model, "prompt": prompt}
        if aspect_ratio:
            fields["aspect_ratio"] = aspect_ratio
        if duration:
            fields["duration"] = int(duration)
        if seed is not None:
            fields["seed"] = int(seed)
        problems += _problems(f"variant {index + 1}", GenerationRequest, fields)
        remix: dict[str, Any] | None = None
        if remix_model:
            first, extend = remix_texts(prompt)
            remix = {
                "model": remix_model,
                "prompt": first,
                "prompt_extend": extend,
                "size": remix_size(remix_model, aspect_ratio),
                "poll_interval": poll_interval,
            }
            request = {k: v for k, v in remix.items() if k != "poll_interval"}
            request["input_references"] = [_FRAME_PLACEHOLDER] if is_first_last_remix_model(remix_model) else []
            problems += _problems(f"variant {index + 1} remix", RemixRequest, request)
        plan.append(
            {
                "index": index,
                "prompt": prompt,
                "seed": seed,
                "generation": {**fields, "poll_interval": poll_interval},
                "remix": remix,
            }
        )
    if problems:
        raise PromptGenerationError("plan (nothing was submitted)", problems)
    return plan


def generation_kwargs(variant: dict[str, Any]) -> dict[str, Any]:
    """The clip's operator keyword arguments of one planned variant (for ``plan.map(...)``)."""
    return dict(variant["generation"])


def plan_fingerprint(plan: Sequence[dict[str, Any]]) -> str:
    """A short, stable id of what a plan asks for (models, prompts, seeds, sizes; not poll intervals)."""
    requests = [
        {
            "generation": {k: v for k, v in variant["generation"].items() if k != "poll_interval"},
            "remix": {k: v for k, v in (variant["remix"] or {}).items() if k != "poll_interval"},
        }
        for variant in plan
    ]
    return hashlib.sha256(json.dumps(requests, sort_keys=True).encode()).hexdigest()[:12]


def _problems(label: str, model_cls: type[BaseModel], fields: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for each limit ``fields`` break, each message prefixed with ``label``."""
    try:
        model_cls(**fields)
    except ValidationError as exc:
        return [(field, f"{label}: {message}") for field, message in explain_validation_error(exc)]
    return []
