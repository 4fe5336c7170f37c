"""The 15 s remix API of the simulator (seed 003), over real HTTP."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_provider_videogen.models import TaskState, VideoTask
from airflow_provider_videogen.simulator import NO_CREDITS_API_KEY, SimulatorServer
from airflow_provider_videogen.simulator.state import remix_body
from tests.simulator.helpers import JPEG_BYTES, data_uri, decode_errors, png_bytes, poll_until, video_duration

if TYPE_CHECKING:
    from pathlib import Path

REMIX = "veo_3_1-fast-remix"


def create_remix(
    client: httpx.Client,
    *,
    model: str = REMIX,
    prompt: str = "a lighthouse at dusk",
    prompt_extend: str = "the camera flies out to sea",
    size: str | None = "1280x720",
    references: list[Any] | None = None,
) -> httpx.Response:
    """POST /v1/videos as multipart: text fields, then ``input_reference[]`` parts in order."""
    data: list[tuple[str, str]] = [("model", model), ("prompt", prompt), ("prompt_extend", prompt_extend)]
    if size:
        data.append(("size", size))
    files: list[tuple[str, Any]] = []
    for ref in references or []:
        # httpx sends text fields before files; to interleave, send every reference as a part.
        if isinstance(ref, tuple):
            files.append(("input_reference[]", ref))
        else:
            files.append(("input_reference[]", (None, ref)))
    if not files:
        files.append(("_", (None, "")))  # force multipart even without references
    return client.post("/v1/videos", data=dict(data), files=files)


def task_id_of(body: dict[str, Any]) -> str:
    return str(VideoTask.from_remix_response(body).id)


def test_remix_with_file_url_and_data_uri_references_runs_to_completion(
    client: httpx.Client, simulator: SimulatorServer, tmp_path: Path
) -> None:
    png = png_bytes()
    references = [
        ("first.jpg", JPEG_BYTES, "image/jpeg"),
        "https://images.example.com/second.png",
        data_uri(png),
    ]
    response = create_remix(client, model="veo_3_1-fast-remix", references=references)

    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "SUBMITTED"
    assert created["data"]["status"] == "queued"
    assert created["data"]["remix_id"].startswith("video_")
    assert "remix_id_extend" not in created["data"]
    assert created["action"] == "referenceGenerate"
    task_id = created["task_id"]
    record = simulator.stats()["remix_requests"][-1]
    assert record["task_id"] == task_id
    assert record["content_type"] == "multipart/form-data"
    assert record["fields"] == {
        "model": REMIX,
        "prompt": "a lighthouse at dusk",
        "prompt_extend": "the camera flies out to sea",
        "size": "1280x720",
    }
    assert [ref["kind"] for ref in record["input_references"]] == ["file", "url", "data_uri"]
    assert [ref["index"] for ref in record["input_references"]] == [0, 1, 2]
    file_ref, url_ref, uri_ref = record["input_references"]
    assert file_ref["filename"] == "first.jpg"
    assert file_ref["content_type"] == "image/jpeg"
    assert file_ref["size"] == len(JPEG_BYTES)
    assert file_ref["sha256"] == hashlib.sha256(JPEG_BYTES).hexdigest()
    assert url_ref["url"] == "https://images.example.com/second.png"
    assert (uri_ref["content_type"], uri_ref["size"]) == ("image/png", len(png))
    assert uri_ref["sha256"] == hashlib.sha256(png).hexdigest()

    seen = poll_until(client, f"/v1/videos/{task_id}", lambda body: body["status"] == "SUCCESS")
    states = [VideoTask.from_remix_response(body).state for body in seen]
    assert states[-1] is TaskState.SUCCEEDED
    final = seen[-1]
    assert final["progress"] == "100%"
    assert final["fail_reason"] == final["result_url"]
    assert final["result_url"] == f"{simulator.url}/v1/videos/{final['data']['id']}/content"
    task = VideoTask.from_remix_response(final)
    assert task.remix_id
    assert task.remix_id_extend
    assert task.first_video_url
    assert task.completed_at is not None

    full = httpx.get(task.video_urls[0], timeout=15)
    first = httpx.get(task.first_video_url, timeout=15)
    assert full.status_code == first.status_code == 200
    assert decode_errors(full.content, tmp_path, "full.mp4") == ""
    assert decode_errors(first.content, tmp_path, "first.mp4") == ""
    assert video_duration(full.content, tmp_path) == pytest.approx(15, abs=0.2)
    assert video_duration(first.content, tmp_path) == pytest.approx(8, abs=0.2)


@pytest.mark.parametrize("shape", ["wrapper", "openai", "envelope"])
def test_every_shape_parses_at_every_status(client: httpx.Client, simulator: SimulatorServer, shape: str) -> None:
    simulator.configure(remix_shape=shape)
    created = create_remix(client, prompt="a forest [sim:render=0.6]")
    assert created.status_code == 200, created.text
    first = VideoTask.from_remix_response(created.json())
    assert first.state is TaskState.PENDING

    seen = poll_until(
        client,
        f"/v1/videos/{first.id}",
        lambda body: VideoTask.from_remix_response(body).state.is_terminal,
    )

    tasks = [VideoTask.from_remix_response(body) for body in seen]
    assert {task.id for task in tasks} == {first.id}
    assert tasks[-1].state is TaskState.SUCCEEDED
    assert tasks[-1].video_urls
    assert tasks[-1].first_video_url
    assert all(task.state in (TaskState.PENDING, TaskState.RUNNING) for task in tasks[:-1])
    if shape == "openai":
        assert seen[-1]["object"] == "video"
        assert seen[-1]["status"] == "completed"
        assert seen[-1]["progress"] == 100
    elif shape == "envelope":
        assert (seen[-1]["code"], seen[-1]["message"]) == ("success", "")
        assert seen[-1]["data"]["status"] == "SUCCESS"
    else:
        assert seen[-1]["status"] == "SUCCESS"


def _fields_at(simulator: SimulatorServer, task_id: str, offset: float) -> dict[str, Any]:
    task = simulator.state.find("remix", task_id)
    assert task is not None
    body = remix_body(task, task.phase(task.created_mono + offset), "http://sim", simulator.config)
    return dict(body["data"])


def test_field_presence_follows_the_seed_table(client: httpx.Client, simulator: SimulatorServer) -> None:
    ok = task_id_of(create_remix(client, prompt="a [sim:render=100]").json())
    extend = task_id_of(create_remix(client, prompt="a [sim:render=100] [sim:extend_fail]").json())
    generate = task_id_of(create_remix(client, prompt="a [sim:render=100] [sim:generate_fail]").json())

    queued = _fields_at(simulator, ok, 1)
    assert (queued["status"], queued["progress"]) == ("queued", 0)
    assert set(queued) >= {"remix_id"}
    assert not set(queued) & {"remix_id_extend", "video_url", "error"}

    first_segment = _fields_at(simulator, ok, 30)
    assert (first_segment["status"], first_segment["progress"]) == ("processing", 30)
    assert "remix_id_extend" not in first_segment

    extension = _fields_at(simulator, ok, 61)
    assert (extension["status"], extension["progress"]) == ("processing", 61)
    assert "remix_id_extend" in extension
    assert not set(extension) & {"video_url", "first_video_url", "error", "completed_at"}

    done = _fields_at(simulator, ok, 100)
    assert done["status"] == "completed"
    assert {"remix_id", "remix_id_extend", "video_url", "first_video_url", "completed_at"} <= set(done)
    assert "error" not in done

    extend_failed = _fields_at(simulator, extend, 80)
    assert (extend_failed["status"], extend_failed["progress"]) == ("failed", 50)
    assert extend_failed["error"]["code"] == "extend_failed"
    assert "E-2003" in extend_failed["error"]["message"]
    assert {"remix_id", "remix_id_extend", "video_url"} <= set(extend_failed)
    assert "first_video_url" not in extend_failed
    assert "completed_at" not in extend_failed

    generate_failed = _fields_at(simulator, generate, 30)
    assert (generate_failed["status"], generate_failed["progress"]) == ("failed", 0)
    assert generate_failed["error"]["code"] == "generate_failed"
    assert "E-1005" in generate_failed["error"]["message"]
    assert set(generate_failed) & {"remix_id_extend", "video_url", "first_video_url"} == set()
    assert "remix_id" in generate_failed


def test_extend_failed_over_http_leaves_the_8_second_clip(client: httpx.Client, tmp_path: Path) -> None:
    task_id = task_id_of(create_remix(client, prompt="a [sim:render=0.4] [sim:extend_fail]").json())

    seen = poll_until(client, f"/v1/videos/{task_id}", lambda body: body["status"] == "FAILURE")

    final = seen[-1]
    assert final["progress"] == "50%"
    assert final["fail_reason"] == final["data"]["error"]["message"]
    task = VideoTask.from_remix_response(final)
    assert task.state is TaskState.FAILED
    assert task.is_partial
    clip = httpx.get(task.video_urls[0], timeout=15)
    assert clip.status_code == 200
    assert video_duration(clip.content, tmp_path) == pytest.approx(8, abs=0.2)


def test_generate_failed_over_http(client: httpx.Client) -> None:
    task_id = task_id_of(create_remix(client, prompt="a [sim:render=0.2] [sim:generate_fail]").json())

    final = poll_until(client, f"/v1/videos/{task_id}", lambda body: body["status"] == "FAILURE")[-1]

    task = VideoTask.from_remix_response(final)
    assert (task.state, task.error_code, task.video_urls) == (TaskState.FAILED, "generate_failed", [])
    assert final["progress"] == "0%"


def test_content_route_needs_the_key_and_a_completed_task(
    client: httpx.Client, simulator: SimulatorServer, tmp_path: Path
) -> None:
    created = create_remix(client, prompt="a [sim:render=0.5]").json()
    data_id = created["data"]["id"]

    early = client.get(f"/v1/videos/{data_id}/content")
    assert early.status_code == 400
    assert early.json()["code"] == "task_not_completed"
    assert early.json()["data"] is None

    poll_until(client, f"/v1/videos/{created['task_id']}", lambda body: body["status"] == "SUCCESS")
    assert httpx.get(f"{simulator.url}/v1/videos/{data_id}/content").status_code == 401
    whole = client.get(f"/v1/videos/{data_id}/content")
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert decode_errors(whole.content, tmp_path) == ""
    part = client.get(f"/v1/videos/{created['task_id']}/content", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert simulator.stats()["remix"]["content_downloads"] == 2


def test_json_body_is_refused_with_a_clear_message(client: httpx.Client) -> None:
    response = client.post("/v1/videos", json={"model": REMIX, "prompt": "a", "prompt_extend": "b"})

    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert "multipart/form-data" in body["message"]
    assert "application/json" in body["message"]


@pytest.mark.parametrize(
    ("kwargs", "code", "param", "words"),
    [
        ({"model": "veo3.1-fast"}, "model_not_found", "model", "-remix"),
        ({"prompt_extend": "   "}, "invalid_parameters", "prompt_extend", "last 7 s"),
        ({"size": "1280X720"}, "invalid_parameters", "size", "WIDTHxHEIGHT"),
        ({"model": "veo_3_1-fast-fl-remix"}, "invalid_parameters", "input_reference[]", "1 to 2"),
        ({"references": ["https://a.example/1.png"] * 4}, "invalid_parameters", "input_reference[]", "at most 3"),
        ({"references": [("notes.txt", b"hello", "text/plain")]}, "invalid_parameters", "input_reference[]", "#1"),
        ({"references": ["data:image/png;base64,aGVsbG8="]}, "invalid_parameters", "input_reference[]", "bytes"),
        ({"prompt": "a [sim:empty_results]"}, "invalid_parameters", "prompt", "unified API"),
    ],
)
def test_invalid_remix_requests_get_400(
    client: httpx.Client, simulator: SimulatorServer, kwargs: dict[str, Any], code: str, param: str, words: str
) -> None:
    response = create_remix(client, **kwargs)

    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["param"], body["data"]) == (code, param, None)
    assert words in body["message"]
    assert simulator.stats()["remix"]["creates_rejected"] == 1
    assert simulator.stats()["tasks"] == {}


def test_reference_field_without_brackets_is_refused(client: httpx.Client) -> None:
    response = client.post(
        "/v1/videos",
        data={"model": REMIX, "prompt": "a", "prompt_extend": "b", "input_reference": "https://a.example/1.png"},
        files=[("_", (None, ""))],
    )

    assert response.status_code == 400
    assert "input_reference[]" in response.json()["message"]


def test_broke_account_gets_403_insufficient_user_quota(simulator: SimulatorServer) -> None:
    with httpx.Client(base_url=simulator.url, headers={"Authorization": f"Bearer {NO_CREDITS_API_KEY}"}) as broke:
        response = create_remix(broke)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_user_quota"
    assert response.json()["data"] is None


def test_unknown_remix_task_is_404_and_requires_a_key(client: httpx.Client, simulator: SimulatorServer) -> None:
    missing = client.get("/v1/videos/task_doesnotexist")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "task_not_found",
        "message": "task task_doesnotexist does not exist",
        "data": None,
    }
    assert httpx.get(f"{simulator.url}/v1/videos/task_doesnotexist").status_code == 401
