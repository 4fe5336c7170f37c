"""Hook error paths that a real server cannot be made to produce (respx): transport failures mid-request.

Everything else about the hook is tested against the simulator over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_videogen.exceptions import (
    InvalidResponseError,
    SubmissionUncertainError,
    VideoGenConnectionError,
)
from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.hooks.retries import RetryPolicy, parse_retry_after
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest

BASE = "https://gateway.test"
KEY = "sk-transport-7d1f0c2e"
CREATE = {
    "id": "task-unified-1-abcdefgh",
    "model": "veo3.1-fast",
    "status": "pending",
    "progress": 0,
    "usage": {"credits_reserved": 25.7},
}


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> VideoGenHook:
    conn = {"conn_type": "videogen", "host": BASE, "password": KEY, "extra": {"retry_backoff": 0.001, "max_retries": 3}}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_TRANSPORT", json.dumps(conn))
    return VideoGenHook("videogen_transport")


REQUEST = GenerationRequest(model="veo3.1-fast", prompt="a cat")


@respx.mock
def test_create_read_timeout_is_uncertain_and_not_retried(hook: VideoGenHook) -> None:
    route = respx.post(f"{BASE}/v1/videos/generations").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(SubmissionUncertainError, match="may have been created") as info:
        hook.submit_generation(REQUEST)
    assert route.call_count == 1
    assert info.value.submission_uncertain
    assert KEY not in str(info.value)


@respx.mock
def test_create_connection_reset_after_send_is_not_retried(hook: VideoGenHook) -> None:
    route = respx.post(f"{BASE}/v1/videos/generations").mock(side_effect=httpx.RemoteProtocolError("reset"))
    with pytest.raises(SubmissionUncertainError):
        hook.submit_generation(REQUEST)
    assert route.call_count == 1


@respx.mock
def test_create_connect_error_is_retried_because_nothing_was_sent(hook: VideoGenHook) -> None:
    route = respx.post(f"{BASE}/v1/videos/generations").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=CREATE)]
    )
    task = hook.submit_generation(REQUEST)
    assert task.id == CREATE["id"]
    assert route.call_count == 2


@respx.mock
def test_get_read_timeouts_are_retried_then_reported(hook: VideoGenHook) -> None:
    route = respx.get(f"{BASE}/v1/tasks/task-unified-1-abcdefgh").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(VideoGenConnectionError, match="ReadTimeout"):
        hook.get_generation("task-unified-1-abcdefgh")
    assert route.call_count == 4  # first try + max_retries


@respx.mock
def test_truncated_json_on_create_is_invalid_and_uncertain(hook: VideoGenHook) -> None:
    respx.post(f"{BASE}/v1/videos/generations").mock(
        return_value=httpx.Response(
            200, content=b'{"id": "task-unified-1-ab', headers={"content-type": "application/json"}
        )
    )
    with pytest.raises(InvalidResponseError, match="HTTP 200") as info:
        hook.submit_generation(REQUEST)
    assert info.value.submission_uncertain
    assert '{"id": "task-unified-1-ab' in str(info.value)


@respx.mock
async def test_async_get_retries_connect_errors(hook: VideoGenHook) -> None:
    route = respx.get(f"{BASE}/v1/tasks/task-unified-1-abcdefgh").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={**CREATE, "status": "processing"})]
    )
    task = await hook.aget_generation("task-unified-1-abcdefgh")
    assert task.state.value == "running"
    assert route.call_count == 2


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_bounded_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=10, backoff=1.0, backoff_max=8.0)
    delays = [policy.delay(i) for i in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert policy.delay(0, retry_after=5.0) >= 5.0
    assert policy.delay(0, retry_after=10_000) <= 120.0
    assert not policy.should_retry_status("POST", 503)
    assert policy.should_retry_status("GET", 503)
    assert policy.should_retry_status("GET", 429)
    assert not policy.should_retry_status("GET", 404)


STATUS_URL = f"{BASE}/v1/tasks/task-unified-1-abcdefgh"


def flaky_then_running() -> list[object]:
    """A refused connection, then a 503, then an answer: two retries."""
    return [
        httpx.ConnectError("refused"),
        httpx.Response(503, json={"error": {"message": "busy"}}),
        httpx.Response(200, json={**CREATE, "status": "processing"}),
    ]


def assert_two_retries_logged(text: str) -> None:
    assert "GET /v1/tasks/task-unified-1-abcdefgh: ConnectError; retrying in" in text
    assert "GET /v1/tasks/task-unified-1-abcdefgh -> HTTP 503; retrying in" in text
    assert "(retry 1 of 3)" in text
    assert "(retry 2 of 3)" in text


@respx.mock
def test_sync_retries_are_logged(hook: VideoGenHook, log_text: Any) -> None:
    route = respx.get(STATUS_URL).mock(side_effect=flaky_then_running())
    assert hook.get_generation("task-unified-1-abcdefgh").state.value == "running"
    assert route.call_count == 3
    assert_two_retries_logged(log_text())


@respx.mock
async def test_async_retries_are_logged_like_sync_ones(hook: VideoGenHook, log_text: Any) -> None:
    route = respx.get(STATUS_URL).mock(side_effect=flaky_then_running())
    assert (await hook.aget_generation("task-unified-1-abcdefgh")).state.value == "running"
    assert route.call_count == 3
    assert_two_retries_logged(log_text())


@respx.mock
def test_download_open_retries_only_what_was_never_sent(hook: VideoGenHook, log_text: Any) -> None:
    """Opening a stream retries a refused connection; an answer (even 503) is the caller's to judge."""
    url = "https://cdn.test/v/clip.mp4?sig=SIGNATURE0123456789"
    route = respx.get(url).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)])
    with hook.stream_download(url) as response:
        assert response.status_code == 503
    assert route.call_count == 2
    retries = [line for line in log_text().splitlines() if "retrying in" in line]
    assert len(retries) == 1
    assert f"GET {redact_url(url)}: ConnectError" in retries[0]
    assert "clip.mp4" not in retries[0]
    assert "SIGNATURE" not in retries[0]


@respx.mock
def test_a_status_answer_for_another_task_is_refused(hook: VideoGenHook) -> None:
    """A lying gateway (or a caching proxy) answers for task B when asked about A: never re-used as A."""
    other = {**CREATE, "id": "task-unified-2-zzzzzzzz", "status": "completed", "progress": 100}
    respx.get(f"{BASE}/v1/tasks/{CREATE['id']}").mock(return_value=httpx.Response(200, json=other))
    with pytest.raises(InvalidResponseError, match="for task 'task-unified-1-abcdefgh' with task 'task-unified-2"):
        hook.get_task(ApiKind.GENERATION, str(CREATE["id"]))
    with pytest.raises(InvalidResponseError, match="with task 'task-unified-2"):
        asyncio.run(hook.aget_task(ApiKind.GENERATION, str(CREATE["id"])))
