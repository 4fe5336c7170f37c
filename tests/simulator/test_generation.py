"""The unified generation API of the simulator, over real HTTP."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_videogen.models import ApiError, TaskState, VideoTask
from airflow_provider_videogen.simulator import NO_ACCESS_API_KEY, NO_CREDITS_API_KEY, SimulatorServer
from tests.simulator.helpers import decode_errors, poll_until, video_duration

if TYPE_CHECKING:
    from pathlib import Path

TASK_ID_RE = re.compile(r"^task-unified-\d{10}-[a-z0-9]{8}$")


def test_create_answers_like_seed_000(client: httpx.Client) -> None:
    response = client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": "A cat playing piano"})

    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "created", "id", "model", "object", "progress", "status", "task_info", "type", "usage",
    ]  # fmt: skip
    assert TASK_ID_RE.match(body["id"])
    assert body["id"].split("-")[2] == str(body["created"])
    assert (body["model"], body["object"], body["progress"], body["status"], body["type"]) == (
        "veo3.1-fast",
        "video.generation.task",
        0,
        "pending",
        "video",
    )
    assert body["task_info"] == {"can_cancel": True, "estimated_time": 1, "video_duration": 8}
    # veo3.1-fast without audio: 5.76 credits per second x 8 s (the pricing page).
    assert body["usage"] == {"billing_rule": "per_second", "credits_reserved": 46.08, "user_group": "default"}
    task = VideoTask.from_generation_response(body)
    assert task.state is TaskState.PENDING
    assert task.credits_reserved == 46.08


def test_credits_follow_duration_count_audio_and_quality(client: httpx.Client) -> None:
    def credits(**fields: object) -> float:
        response = client.post("/v1/videos/generations", json={"prompt": "a lighthouse", **fields})
        assert response.status_code == 200, response.text
        return float(response.json()["usage"]["credits_reserved"])

    assert credits(model="veo3.1-fast", duration=4, quality="4k") == pytest.approx(4 * 17.28)
    assert credits(model="veo-3.1-fast-generate-preview", duration=6, n=2) == pytest.approx(6 * 2 * 8.64)
    assert credits(model="veo-3.1-fast-generate-preview", quality="4k", generate_audio=True) == pytest.approx(
        4 * 20.2176
    )
    assert credits(model="doubao-seedance-1.0-pro-fast") == pytest.approx(5.0)


def test_task_runs_to_completion_and_links_download_a_real_mp4(
    client: httpx.Client, simulator: SimulatorServer, tmp_path: Path
) -> None:
    created = client.post(
        "/v1/videos/generations",
        json={"model": "veo-3.1-fast-generate-preview", "prompt": "a red fox", "duration": 4, "n": 2},
    ).json()

    seen = poll_until(client, f"/v1/tasks/{created['id']}", lambda body: body["status"] == "completed")

    statuses = [body["status"] for body in seen]
    assert statuses[-1] == "completed"
    assert set(statuses) <= {"pending", "processing", "completed"}
    progresses = [body["progress"] for body in seen]
    assert progresses == sorted(progresses)
    final = seen[-1]
    assert final["completed_at"] >= final["created"]
    assert final["task_info"]["can_cancel"] is False
    task = VideoTask.from_generation_response(final)
    assert task.state is TaskState.SUCCEEDED
    assert len(task.video_urls) == 2
    assert all(url.startswith(simulator.url + "/files/") for url in task.video_urls)
    assert task.links_valid()

    # Links work without the API key, like a CDN.
    videos = [httpx.get(url, timeout=15) for url in task.video_urls]
    for index, video in enumerate(videos):
        assert video.status_code == 200
        assert video.headers["content-type"] == "video/mp4"
        assert video.headers["accept-ranges"] == "bytes"
        assert int(video.headers["content-length"]) == len(video.content)
        assert decode_errors(video.content, tmp_path, f"{index}.mp4") == ""
    assert videos[0].content != videos[1].content  # byte-distinct per video
    assert video_duration(videos[0].content, tmp_path) == pytest.approx(4, abs=0.2)
    stats = simulator.stats()
    assert stats["tasks"][task.id]["downloads"] == 2
    assert stats["generation"]["polls"] == len(seen)
    assert stats["tasks"][task.id]["polls"] == len(seen)


def test_unknown_model_is_accepted_and_unknown_fields_travel_as_extra_params(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    body = {"model": "sora-2", "prompt": "a boat", "seconds": 12, "style": "noir"}
    response = client.post("/v1/videos/generations", json=body)

    assert response.status_code == 200, response.text
    assert response.json()["usage"]["billing_rule"] == "per_call"
    record = simulator.stats()["generation_requests"][-1]
    assert record["unknown_fields"] == ["seconds", "style"]
    assert record["body"] == body
    assert record["accepted"] is True


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "veo3.1-fast"}, "prompt", "prompt is required"),
        ({"model": "veo3.1-fast", "prompt": "x", "duration": 5}, "duration", "4, 6, 8"),
        ({"model": "veo3.1-fast", "prompt": "x" * 1001}, "prompt", "at most 1000"),
        ({"model": "veo3.1-fast", "prompt": "x", "aspect_ratio": "4:3"}, "aspect_ratio", "'4:3'"),
        ({"model": "doubao-seedance-1.0-pro-fast", "prompt": "x", "quality": "4k"}, "quality", "'4k'"),
        ({"model": "veo-3.1-fast-generate-preview", "prompt": "x", "n": 5}, "n", "1 to 4"),
        (
            {"model": "veo3.1-fast", "prompt": "x", "image_urls": ["https://a.example/1.png"] * 3},
            "image_urls",
            "at most 2",
        ),
        ({"model": "veo3.1-fast", "prompt": "x", "callback_url": "http://10.0.0.1/cb"}, "callback_url", "https"),
        ({"model": "veo3.1-fast", "prompt": "x [sim:explode]"}, "prompt", "unknown simulator directive"),
    ],
)
def test_invalid_requests_get_400_naming_the_field(
    client: httpx.Client, simulator: SimulatorServer, body: dict[str, object], param: str, words: str
) -> None:
    response = client.post("/v1/videos/generations", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert words in error["message"]
    assert ApiError.from_body(response.json()).param == param
    stats = simulator.stats()["generation"]
    assert (stats["creates"], stats["creates_accepted"], stats["creates_rejected"]) == (1, 0, 1)
    assert simulator.stats()["tasks"] == {}


def test_body_that_is_not_a_json_object_is_refused(client: httpx.Client) -> None:
    for content in (b"", b"not json", b"[1, 2]"):
        response = client.post("/v1/videos/generations", content=content, headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_parameters"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic sim-key"}])
def test_missing_or_wrong_key_gets_401_without_echoing_it(simulator: SimulatorServer, headers: dict[str, str]) -> None:
    for method, path in (("POST", "/v1/videos/generations"), ("GET", "/v1/tasks/task-unified-1-abcdefgh")):
        response = httpx.request(method, simulator.url + path, headers=headers, json={"model": "m", "prompt": "p"})
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["code"], error["type"]) == ("invalid_api_key", "authentication_error")
        assert "wrong" not in response.text
        assert "sim-key" not in response.text
    assert simulator.stats()["requests"]["auth_failures"] == 2


def test_special_keys(simulator: SimulatorServer, client: httpx.Client) -> None:
    body = {"model": "veo3.1-fast", "prompt": "a cat"}
    broke = httpx.post(
        simulator.url + "/v1/videos/generations", json=body, headers={"Authorization": f"Bearer {NO_CREDITS_API_KEY}"}
    )
    assert broke.status_code == 402
    assert broke.json()["error"]["code"] == "insufficient_credits"
    assert NO_CREDITS_API_KEY not in broke.text

    denied = httpx.post(
        simulator.url + "/v1/videos/generations", json=body, headers={"Authorization": f"Bearer {NO_ACCESS_API_KEY}"}
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "permission_error"

    # A broke account can still query.
    task_id = client.post("/v1/videos/generations", json=body).json()["id"]
    query = httpx.get(f"{simulator.url}/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {NO_CREDITS_API_KEY}"})
    assert query.status_code == 200
    assert simulator.stats()["generation"]["creates_rejected"] == 2


def test_query_refuses_foreign_ids_and_unknown_tasks(client: httpx.Client) -> None:
    foreign = client.get("/v1/tasks/task_zgUBKXVW6YhJkXPvuTJ2Y0jaLnycfEu9")
    assert foreign.status_code == 400
    assert foreign.json()["error"]["code"] == "invalid_task_id"

    unknown = client.get("/v1/tasks/task-unified-1757169743-7cvnl5zw")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "task_not_found"


def test_create_answer_is_pending_even_for_an_instant_task(client: httpx.Client) -> None:
    created = client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": "a [sim:render=0]"})

    assert (created.json()["status"], created.json()["progress"]) == ("pending", 0)
    assert client.get(f"/v1/tasks/{created.json()['id']}").json()["status"] == "completed"
