"""VideoGenHook against the gateway simulator over real HTTP (loopback)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.exceptions import (
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import (
    GenerationRequest,
    RemixReference,
    RemixRequest,
    TaskState,
    VideoTask,
)

if TYPE_CHECKING:
    from pathlib import Path

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def wait_done(hook: VideoGenHook, task: VideoTask, timeout: float = 30) -> VideoTask:
    deadline = time.monotonic() + timeout
    while not task.state.is_terminal:
        assert time.monotonic() < deadline, f"task {task.id} still {task.state}"
        time.sleep(0.1)
        task = hook.get_task(task.api, task.id)
    return task


def ffmpeg_decodes(path: Path) -> bool:
    import imageio_ffmpeg

    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0 and not result.stderr


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    simulator.configure(render_seconds=0.6)
    return VideoGenHook(videogen_conn)


def test_generation_submit_to_completed_with_a_decodable_video(
    hook: VideoGenHook, simulator: Any, tmp_path: Path
) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="A cat playing piano", duration=4))
    assert task.id.startswith("task-unified-")
    assert task.state is TaskState.PENDING
    assert task.credits_reserved
    assert task.credits_reserved > 0
    done = wait_done(hook, task)
    assert done.state is TaskState.SUCCEEDED
    assert done.progress == 100
    assert done.video_urls
    size = hook.download(done.video_urls[0], str(tmp_path / "v.mp4"))
    assert size > 1000
    assert ffmpeg_decodes(tmp_path / "v.mp4")
    assert simulator.stats()["generation"]["creates"] == 1


def test_remix_with_file_url_and_data_uri_references(hook: VideoGenHook, simulator: Any) -> None:
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    request = RemixRequest(
        model="veo_3_1-fast-remix",
        prompt="A cat walks in",
        prompt_extend="The cat sits down",
        size="1280x720",
        input_references=[
            RemixReference.from_bytes(PNG, "first.png"),
            RemixReference.from_text("https://cdn.example.com/ref.jpg"),
            RemixReference.from_text(data_uri),
        ],
    )
    task = hook.submit_remix(request)
    done = wait_done(hook, task)
    assert done.state is TaskState.SUCCEEDED
    assert done.video_urls
    assert done.first_video_url
    assert done.remix_id
    received = simulator.stats()["remix_requests"][-1]
    kinds = [ref["kind"] for ref in received["input_references"]]
    assert kinds == ["file", "url", "data_uri"]
    assert json.dumps(received).count("first.png") >= 1
    assert simulator.stats()["remix"]["creates"] == 1


@pytest.mark.parametrize(
    ("api_key", "model", "exc"),
    [
        ("wrong-key-3f9a", "veo3.1-fast", AuthenticationError),
        ("sim-no-access", "veo3.1-fast", AuthenticationError),
        ("sim-no-credits", "veo3.1-fast", InsufficientCreditsError),
    ],
)
def test_account_errors_on_create(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, api_key: str, model: str, exc: type[Exception]
) -> None:
    conn = {"conn_type": "videogen", "host": simulator.url, "password": api_key, "extra": {"retry_backoff": 0.01}}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_ACCOUNT", json.dumps(conn))
    with pytest.raises(exc) as info:
        VideoGenHook("videogen_account").submit_generation(GenerationRequest(model=model, prompt="x"))
    assert api_key not in str(info.value)


def test_remix_insufficient_quota_is_403_insufficient_user_quota(
    simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "videogen", "host": simulator.url, "password": "sim-no-credits"}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_ACCOUNT", json.dumps(conn))
    request = RemixRequest(model="veo_3_1-fast-remix", prompt="a", prompt_extend="b")
    with pytest.raises(InsufficientCreditsError) as info:
        VideoGenHook("videogen_account").submit_remix(request)
    assert info.value.status == 403
    assert info.value.api_code == "insufficient_user_quota"


def test_not_found_and_bad_task_id(hook: VideoGenHook) -> None:
    with pytest.raises(NotFoundError) as info:
        hook.get_generation("task-unified-1-doesnotx")
    assert info.value.status == 404
    with pytest.raises(BadRequestError) as bad:
        hook.get_generation("not-a-unified-id")
    assert bad.value.api_code == "invalid_task_id"


def test_bad_request_names_the_field_the_api_named(hook: VideoGenHook) -> None:
    # Skip client-side validation to see the gateway's own 400 (model_construct does not validate).
    request = GenerationRequest.model_construct(model="veo3.1-fast", prompt="x", duration=5, extra_params={})
    with pytest.raises(BadRequestError) as info:
        hook.submit_generation(request)
    assert info.value.status == 400
    assert info.value.param == "duration"
    assert "duration" in str(info.value)


@pytest.mark.parametrize(
    ("status", "exc"), [(429, RateLimitedError), (500, ServerError), (502, ServerError), (503, ServerError)]
)
def test_http_status_classes_on_query(hook: VideoGenHook, simulator: Any, status: int, exc: type[Exception]) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="x"))
    simulator.configure(get_status=status)
    with pytest.raises(exc) as info:
        hook.get_generation(task.id)
    assert info.value.status == status  # type: ignore[attr-defined]


def test_413_is_a_bad_request(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(next_responses=[{"status": 413, "method": "POST", "message": "payload too large"}])
    with pytest.raises(BadRequestError, match="HTTP 413"):
        hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="x"))


@pytest.mark.parametrize("kind", ["html", "truncated"])
def test_undecodable_answers_show_status_and_excerpt(hook: VideoGenHook, simulator: Any, kind: str) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="x"))
    simulator.configure(malformed=kind)
    with pytest.raises(InvalidResponseError) as info:
        hook.get_generation(task.id)
    assert "HTTP 200" in str(info.value)
    assert len(str(info.value)) < 800


def test_query_survives_a_burst_of_429_and_503(hook: VideoGenHook, simulator: Any) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="x"))
    simulator.configure(
        next_responses=[
            {"status": 429, "retry_after": 0, "method": "GET", "times": 2},
            {"status": 503, "method": "GET", "times": 2},
        ]
    )
    assert hook.get_generation(task.id).id == task.id
    assert simulator.stats()["generation"]["polls"] >= 1


def test_create_that_gets_500_is_not_retried(hook: VideoGenHook, simulator: Any) -> None:
    with pytest.raises(ServerError) as info:
        hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="[sim:create_status=500] x"))
    assert info.value.submission_uncertain
    assert simulator.stats()["generation"]["creates"] == 1


def test_create_that_gets_429_is_not_retried(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(next_responses=[{"status": 429, "retry_after": 0, "method": "POST"}])
    with pytest.raises(RateLimitedError) as info:
        hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="x"))
    assert info.value.retry_after == 0
    assert not info.value.submission_uncertain


def test_sync_client_is_reused(hook: VideoGenHook) -> None:
    first = hook.get_conn()
    hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="x"))
    assert hook.get_conn() is first


def test_test_connection(simulator: Any, videogen_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = VideoGenHook(videogen_conn).test_connection()
    assert ok
    assert simulator.url in message
    conn = {"conn_type": "videogen", "host": simulator.url, "password": "bad-key-1234"}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_BAD", json.dumps(conn))
    ok, message = VideoGenHook("videogen_bad").test_connection()
    assert not ok
    assert "401" in message
    assert "bad-key-1234" not in message
    assert simulator.stats()["generation"]["creates"] == 0


def test_connection_from_uri_form(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = simulator.url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_URI", f"videogen://:{simulator.api_key}@{host}:{port}/http?timeout=5")
    hook = VideoGenHook("videogen_uri")
    assert hook.settings.base_url == simulator.url
    assert hook.settings.timeout == 5.0
    assert hook.test_connection()[0]
