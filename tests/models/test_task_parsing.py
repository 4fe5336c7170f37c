"""VideoTask parsing: both APIs, the seeds' examples and the three remix response shapes, each status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_videogen.models import (
    ApiError,
    ApiKind,
    TaskState,
    VideoTask,
    parse_progress,
    parse_status,
)

# --- seed 000 / 002: unified API ---------------------------------------------------------------

CREATE_000 = {
    "created": 1757169743,
    "id": "task-unified-1757169743-7cvnl5zw",
    "model": "veo3.1-fast",
    "object": "video.generation.task",
    "progress": 0,
    "status": "pending",
    "task_info": {"can_cancel": True, "estimated_time": 180, "video_duration": 8},
    "type": "video",
    "usage": {"billing_rule": "per_call", "credits_reserved": 25.7, "user_group": "default"},
}


def test_generation_create_response_from_seed() -> None:
    task = VideoTask.from_generation_response(CREATE_000)
    assert (task.id, task.model, task.state, task.progress) == (
        "task-unified-1757169743-7cvnl5zw",
        "veo3.1-fast",
        TaskState.PENDING,
        0,
    )
    assert task.credits_reserved == 25.7
    assert task.billing_rule == "per_call"
    assert task.estimated_time == 180
    assert task.video_duration == 8
    assert task.raw["object"] == "video.generation.task"


@pytest.mark.parametrize(
    ("status", "extra", "state"),
    [
        ("pending", {}, TaskState.PENDING),
        ("processing", {"progress": 42}, TaskState.RUNNING),
        ("completed", {"results": ["https://cdn.example.com/v.mp4"]}, TaskState.SUCCEEDED),
        ("failed", {"error": {"code": "content_policy_violation", "message": "blocked"}}, TaskState.FAILED),
        ("failed", {"error": {"code": "request_cancelled", "message": "user"}}, TaskState.CANCELLED),
        ("cancelled", {}, TaskState.CANCELLED),
    ],
)
def test_generation_query_statuses(status: str, extra: dict[str, Any], state: TaskState) -> None:
    body = {**CREATE_000, "status": status, **extra}
    task = VideoTask.from_generation_response(body)
    assert task.state is state
    if state is TaskState.SUCCEEDED:
        assert task.video_urls == ["https://cdn.example.com/v.mp4"]
        assert task.progress == 100
    if "error" in extra:
        assert task.error_code == extra["error"]["code"]


def test_generation_result_data_and_integer_error_code() -> None:
    body = {**CREATE_000, "status": "completed", "result_data": [{"video_url": "https://c/x.mp4"}]}
    assert VideoTask.from_generation_response(body).video_urls == ["https://c/x.mp4"]
    failed = {**CREATE_000, "status": "failed", "error": {"code": 500, "message": "upstream"}}
    assert VideoTask.from_generation_response(failed).error_code == "500"


def test_unknown_status_is_an_error_not_running() -> None:
    with pytest.raises(ValueError, match="unknown task status 'exploded'"):
        VideoTask.from_generation_response({**CREATE_000, "status": "exploded"})


@pytest.mark.parametrize(
    ("raw", "value"), [(61, 61), ("61%", 61), ("61", 61), (61.7, 61), (None, 0), ("x", 0), (140, 100)]
)
def test_progress_forms(raw: Any, value: int) -> None:
    assert parse_progress(raw) == value


# --- seed 003: remix task wrapper --------------------------------------------------------------

WRAPPER_RUNNING = {
    "id": 1235905,
    "created_at": 1777175740,
    "updated_at": 1777175888,
    "task_id": "task_zgUBKXVW6YhJkXPvuTJ2Y0jaLnycfEu9",
    "platform": "1",
    "user_id": 2,
    "channel_id": 7,
    "quota": 425000,
    "action": "textGenerate",
    "status": "IN_PROGRESS",
    "fail_reason": "",
    "submit_time": 1777175740,
    "start_time": 1777175789,
    "finish_time": 0,
    "progress": "61%",
    "properties": {"upstream_model_name": "veo_3_1-fast-remix", "origin_model_name": "veo_3_1-fast-remix"},
    "data": {
        "id": "task_Dg8gD60Ntv0QgabS5jmGY6IwgraflRXo",
        "model": "veo_3_1-fast-remix",
        "object": "video",
        "status": "processing",
        "progress": 61,
        "remix_id": "video_08a9eb19-2ea9-4753-8fde-4ae1b0867952",
        "created_at": 1777175740,
        "remix_id_extend": "video_e8fb1fff-cf79-431d-8c57-9c87e8d36fd0",
    },
}
WRAPPER_SUCCESS = {
    **WRAPPER_RUNNING,
    "status": "SUCCESS",
    "fail_reason": "https://xxx.com/v1/videos/task_Dg8gD60Ntv0QgabS5jmGY6IwgraflRXo/content",
    "result_url": "https://xxx.com/v1/videos/task_Dg8gD60Ntv0QgabS5jmGY6IwgraflRXo/content",
    "finish_time": 1777175907,
    "progress": "100%",
    "data": {
        **WRAPPER_RUNNING["data"],  # type: ignore[dict-item]
        "status": "completed",
        "progress": 100,
        "video_url": "https://videos-us3.ss2.life/extend/xxxxx175907133_3bd6883e.mp4",
        "completed_at": 1777175907,
        "first_video_url": "https://videos-us3.ss2.life/video/a8a0f0cb?Expires=1",
    },
}
WRAPPER_EXTEND_FAILED = {
    "id": 1235906,
    "task_id": "task_xxxxxxxxxxxx",
    "status": "FAILURE",
    "fail_reason": "第一段视频生成成功,但二创失败:线路繁忙,请重试 (E-2003)",
    "progress": "50%",
    "data": {
        "id": "task_yyyyyyyyyyyy",
        "model": "veo_3_1-fast-remix",
        "object": "video",
        "status": "failed",
        "progress": 50,
        "created_at": 1777175740,
        "error": {"code": "extend_failed", "message": "第一段视频生成成功,但二创失败:线路繁忙,请重试 (E-2003)"},
        "video_url": "https://videos-us3.ss2.life/video/a8a0f0cb-xxxx-xxxx",
        "remix_id": "video_08a9eb19-xxxx-xxxx",
        "remix_id_extend": "video_e8fb1fff-xxxx-xxxx",
    },
}
WRAPPER_GENERATE_FAILED = {
    "id": 1235907,
    "task_id": "task_xxxxxxxxxxxx",
    "status": "FAILURE",
    "fail_reason": "视频生成失败:违反谷歌AI安全协议 请调整图片和提示词 (E-1005)",
    "progress": "0%",
    "data": {
        "id": "task_zzzzzzzzzzzz",
        "model": "veo_3_1-fast-remix",
        "object": "video",
        "status": "failed",
        "progress": 0,
        "created_at": 1777175740,
        "error": {"code": "generate_failed", "message": "视频生成失败:违反谷歌AI安全协议 请调整图片和提示词 (E-1005)"},
        "remix_id": "video_xxxxxxxx-xxxx-xxxx",
    },
}
WRAPPER_QUEUED = {
    "id": 1,
    "task_id": "task_q",
    "status": "SUBMITTED",
    "progress": "0%",
    "data": {"id": "task_q_mid", "model": "veo_3_1-fast-remix", "object": "video", "status": "queued", "progress": 0},
}


def to_openai(wrapper: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI-style video object the open-source gateway returns on the same path."""
    data = copy.deepcopy(wrapper["data"])
    status = {"queued": "queued", "processing": "in_progress", "completed": "completed", "failed": "failed"}
    data["status"] = status[data["status"]]
    data["id"] = wrapper["task_id"]
    return data


def to_envelope(body: dict[str, Any]) -> dict[str, Any]:
    return {"code": "success", "message": "", "data": body}


SHAPES = {
    "wrapper": lambda b: b,
    "openai": to_openai,
    "envelope": lambda b: to_envelope(b),
    "envelope+openai": lambda b: to_envelope(to_openai(b)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize(
    ("body", "state", "progress", "code", "url"),
    [
        (WRAPPER_QUEUED, TaskState.PENDING, 0, None, None),
        (WRAPPER_RUNNING, TaskState.RUNNING, 61, None, None),
        (
            WRAPPER_SUCCESS,
            TaskState.SUCCEEDED,
            100,
            None,
            "https://videos-us3.ss2.life/extend/xxxxx175907133_3bd6883e.mp4",
        ),
        (
            WRAPPER_EXTEND_FAILED,
            TaskState.FAILED,
            50,
            "extend_failed",
            "https://videos-us3.ss2.life/video/a8a0f0cb-xxxx-xxxx",
        ),
        (WRAPPER_GENERATE_FAILED, TaskState.FAILED, 0, "generate_failed", None),
    ],
    ids=["queued", "processing", "completed", "extend_failed", "generate_failed"],
)
def test_three_remix_shapes_give_the_same_task(
    shape: str, body: dict[str, Any], state: TaskState, progress: int, code: str | None, url: str | None
) -> None:
    task = VideoTask.from_remix_response(SHAPES[shape](copy.deepcopy(body)))
    assert task.api is ApiKind.REMIX
    assert task.id == body["task_id"]
    assert task.state is state
    assert task.progress == progress
    assert task.error_code == code
    assert task.video_urls == ([url] if url else [])
    assert task.model == "veo_3_1-fast-remix"
    assert task.is_partial == (code == "extend_failed")
    if body is WRAPPER_SUCCESS:
        assert task.first_video_url
        assert task.remix_id
        assert task.remix_id_extend
        assert task.completed_at is not None
        assert task.expires_at() is not None
    if code:
        assert task.error_message
        assert "E-" in task.error_message


def test_remix_segment_from_progress() -> None:
    running = VideoTask.from_remix_response(WRAPPER_RUNNING)
    assert running.segment == "7 s extension"
    early = VideoTask.from_remix_response({**WRAPPER_RUNNING, "data": {**WRAPPER_RUNNING["data"], "progress": 12}})  # type: ignore[dict-item]
    assert early.segment == "first 8 s segment"


@pytest.mark.parametrize(
    ("body", "code", "message", "param"),
    [
        (
            {
                "error": {
                    "code": "invalid_parameters",
                    "message": "bad",
                    "type": "invalid_request_error",
                    "param": "duration",
                }
            },
            "invalid_parameters",
            "bad",
            "duration",
        ),
        ({"error": {"code": 402, "message": "no credits", "fallback_suggestion": "top up"}}, "402", "no credits", None),
        (
            {"code": "insufficient_user_quota", "message": "余额不足", "data": None},
            "insufficient_user_quota",
            "余额不足",
            None,
        ),
        ("not a dict", None, None, None),
    ],
)
def test_api_error_bodies(body: Any, code: str | None, message: str | None, param: str | None) -> None:
    err = ApiError.from_body(body)
    assert (err.code, err.message, err.param) == (code, message, param)


def test_status_map_covers_both_apis() -> None:
    for raw in (
        "pending",
        "processing",
        "completed",
        "failed",
        "cancelled",
        "SUBMITTED",
        "IN_PROGRESS",
        "SUCCESS",
        "FAILURE",
        "queued",
        "in_progress",
    ):
        parse_status(raw)
