"""The API key never appears in logs, exception texts, reprs or returned objects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import GenerationRequest, RemixRequest

SECRET = "sk-DISTINCTIVE-5e1b9c7a2f"


@pytest.fixture
def secret_conn(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    simulator.configure(api_keys=[SECRET], render_seconds=0.3)
    conn = {"conn_type": "videogen", "host": simulator.url, "password": SECRET, "extra": {"retry_backoff": 0.01}}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_SECRET", json.dumps(conn))
    return "videogen_secret"


def test_key_never_leaks_through_success_and_failure(secret_conn: str, simulator: Any, log_text: Any) -> None:
    hook = VideoGenHook(secret_conn)
    seen: list[str] = [repr(hook), repr(hook.settings), repr(hook.get_conn().auth)]

    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    seen += [task.model_dump_json(), repr(task)]
    import time

    while not task.state.is_terminal:
        time.sleep(0.1)
        task = hook.get_generation(task.id)
    seen.append(task.model_dump_json())

    failures: list[Exception] = []
    for call in (
        lambda: hook.get_generation("task-unified-1-missingx"),
        lambda: hook.get_generation("bad-id"),
        lambda: hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="[sim:create_status=500] x")),
        lambda: hook.submit_remix(
            RemixRequest.model_construct(model="nope", prompt="a", prompt_extend="b", input_references=[])
        ),
    ):
        with pytest.raises(VideoGenError) as info:
            call()
        failures.append(info.value)
    simulator.configure(malformed="html")
    with pytest.raises(VideoGenError) as info:
        hook.get_generation(task.id)
    failures.append(info.value)
    seen += [str(e) for e in failures] + [repr(e) for e in failures]

    logs = log_text()
    assert "Submitted veo3.1-fast generation" in logs  # the logs were captured
    seen.append(logs)
    for text in seen:
        assert SECRET not in text
