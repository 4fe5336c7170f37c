"""Deterministic answers of the simulator's ``POST /v1/chat/completions``.

The provider uses a chat model to expand one idea into several video prompts. The simulator
answers from the last user message alone, through a stable hash, so the same conversation always
gets the same prompts (tests can assert them) and different conversations get different ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from airflow_provider_videogen.models import estimate_tokens

DEFAULT_PROMPT_COUNT = 3
MAX_PROMPT_COUNT = 20

_CAMERAS = (
    "Wide establishing shot",
    "Slow dolly-in close-up",
    "Handheld tracking shot",
    "Aerial drone shot",
    "Low-angle hero shot",
    "Overhead top-down shot",
    "Macro detail shot",
    "Orbiting 360-degree shot",
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
    "vibrant anime style",
    "documentary realism",
    "dreamy pastel palette",
    "high-contrast black-and-white noir",
)
_COUNT_RE = re.compile(r"\b(\d{1,2})\b")
_SUBJECT_RE = re.compile(r"\b(?:about|of|featuring|showing|for)\s+(.+)", re.IGNORECASE | re.DOTALL)


class ChatRequestError(ValueError):
    """A chat request the simulator cannot answer (400); ``param`` names the field."""

    def __init__(self, message: str, param: str | None = "messages") -> None:
        super().__init__(message)
        self.param = param


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError("messages must be a non-empty list of {role, content} objects")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise ChatRequestError(f"messages[{index}] must be an object with 'role' and 'content'")
    for message in reversed(messages):
        if message.get("role") == "user":
            text = content_text(message.get("content")).strip()
            if text:
                return text
    raise ChatRequestError("messages has no user message with text content")


def prompt_count(text: str) -> int:
    """How many prompts were asked for: the first number from 1 to 20 in the message, else 3."""
    for match in _COUNT_RE.finditer(text):
        value = int(match.group(1))
        if 1 <= value <= MAX_PROMPT_COUNT:
            return value
    return DEFAULT_PROMPT_COUNT


def subject_of(text: str) -> str:
    match = _SUBJECT_RE.search(text)
    subject = match.group(1) if match else text
    subject = " ".join(subject.split()).rstrip(" .!?;:")
    return subject[:300] or "a quiet landscape"


def derive_prompts(text: str) -> list[str]:
    """Distinct, numbered-in-order video prompts derived from ``text`` (stable across runs)."""
    digest = int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)
    subject = subject_of(text)
    prompts = []
    for i in range(prompt_count(text)):
        # (i mod 8, i mod 6) differs for every i below 24, so no two prompts are equal.
        camera = _CAMERAS[(digest + i) % len(_CAMERAS)]
        light = _LIGHTS[(digest // 7 + i) % len(_LIGHTS)]
        style = _STYLES[(digest // 13 + 2 * i) % len(_STYLES)]
        prompts.append(f"{camera} of {subject} {light}, {style}.")
    return prompts


def completion(body: dict[str, Any], created: int) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object answering ``body``; raise :class:`ChatRequestError`."""
    text = last_user_text(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ChatRequestError("model is required", param="model")
    prompts = derive_prompts(text)
    response_format = body.get("response_format")
    json_mode = isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")
    if json_mode:
        content = json.dumps({"prompts": prompts}, ensure_ascii=False)
    else:
        content = "\n".join(f"{number}. {prompt}" for number, prompt in enumerate(prompts, start=1))
    prompt_tokens = sum(
        estimate_tokens(content_text(m.get("content"))) for m in body["messages"] if isinstance(m, dict)
    )
    completion_tokens = estimate_tokens(content)
    digest = hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()[:24]
    return {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
