"""The OpenAI-compatible chat endpoint that expands an idea into video prompts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_videogen.simulator.chat import derive_prompts

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


def ask(client: httpx.Client, text: str, **extra: object) -> httpx.Response:
    messages = [{"role": "system", "content": "You write video prompts."}, {"role": "user", "content": text}]
    return client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": messages, **extra})


def test_answers_numbered_distinct_prompts_deterministically(client: httpx.Client, simulator: SimulatorServer) -> None:
    first = ask(client, "Write 5 video prompts about a cat playing piano")
    again = ask(client, "Write 5 video prompts about a cat playing piano")
    other = ask(client, "Write 5 video prompts about a dog surfing")

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    assert body["id"] == again.json()["id"] != other.json()["id"]
    content = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert content == again.json()["choices"][0]["message"]["content"]
    lines = content.splitlines()
    assert [line.split(".", 1)[0] for line in lines] == ["1", "2", "3", "4", "5"]
    assert len(set(lines)) == 5
    assert all("a cat playing piano" in line for line in lines)
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    stats = simulator.stats()["chat"]
    assert stats["calls"] == 3
    assert stats["models"] == {"gpt-4o-mini": {"calls": 3}}


def test_json_mode_returns_a_prompt_list(client: httpx.Client) -> None:
    response = ask(client, "three ideas for a rainy city", response_format={"type": "json_object"})

    prompts = json.loads(response.json()["choices"][0]["message"]["content"])["prompts"]

    assert len(prompts) == 3
    assert prompts == derive_prompts("three ideas for a rainy city")


def test_content_parts_are_read(client: httpx.Client) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "2 prompts of a red kite"}]}]

    response = client.post("/v1/chat/completions", json={"model": "m", "messages": messages})

    assert len(response.json()["choices"][0]["message"]["content"].splitlines()) == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ],
)
def test_bad_chat_requests(client: httpx.Client, body: dict[str, object], param: str) -> None:
    response = client.post("/v1/chat/completions", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_chat_requires_a_key(simulator: SimulatorServer) -> None:
    response = httpx.post(f"{simulator.url}/v1/chat/completions", json={"model": "m", "messages": []})

    assert response.status_code == 401
