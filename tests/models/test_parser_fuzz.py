"""Property tests of every parser of gateway answers (issue 13, point 10), with hypothesis.

The property: whatever JSON arrives, a parser either returns its model or raises ``ValueError``
(which the hook turns into ``InvalidResponseError``); never ``OverflowError``, ``OSError``,
``TypeError`` or anything else that would crash a trigger or lose a new task id. Run in the
fast tier with hypothesis's default settings (no deadline: a shared CI machine is slow).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.models import ApiError, ApiKind, VideoTask
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Numbers a hostile gateway sends: huge, tiny, non-finite-after-parsing, negative, fractional.
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False),
    st.sampled_from([1e20, -1e20, 1e308, 10**400, -(10**400), 0, -1, 2**63, 1.5]),
)
texts = st.one_of(st.text(max_size=30), st.sampled_from(["", "61%", "1e400", "nan", "inf", "2026-11-23T12:00:00Z"]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
statuses = st.one_of(
    st.sampled_from(
        ["pending", "processing", "completed", "failed", "cancelled", "SUCCESS", "FAILURE", "IN_PROGRESS", "queued"]
    ),
    scalars,
)
ids = st.one_of(st.just("task-unified-1-abcdefgh"), st.just("video_123"), scalars)


def field(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, json_values)


generation_task = st.fixed_dictionaries(
    {"id": ids, "status": statuses},
    optional={
        "model": field(texts),
        "progress": field(numbers),
        "results": field(st.lists(texts, max_size=2)),
        "result_data": field(st.lists(st.fixed_dictionaries({"video_url": texts}), max_size=2)),
        "video_url": field(texts),
        "error": field(st.fixed_dictionaries({"code": scalars, "message": scalars})),
        "usage": field(st.fixed_dictionaries({"credits_reserved": numbers, "billing_rule": scalars})),
        "task_info": field(st.fixed_dictionaries({"estimated_time": numbers, "video_duration": numbers})),
        "created": field(numbers),
        "completed_at": field(st.one_of(numbers, texts)),
        "finished_at": field(numbers),
    },
)
video_object = st.fixed_dictionaries(
    {"id": ids, "object": st.just("video"), "status": statuses},
    optional={
        "model": field(texts),
        "progress": field(numbers),
        "video_url": field(texts),
        "first_video_url": field(texts),
        "remix_id": field(texts),
        "remix_id_extend": field(texts),
        "error": field(st.fixed_dictionaries({"code": scalars, "message": scalars})),
        "created_at": field(numbers),
        "completed_at": field(numbers),
    },
)
task_wrapper = st.fixed_dictionaries(
    {"task_id": ids, "status": statuses, "data": st.one_of(video_object, json_values)},
    optional={
        "fail_reason": field(texts),
        "result_url": field(texts),
        "progress": field(st.one_of(numbers, texts)),
        "submit_time": field(numbers),
        "finish_time": field(numbers),
        "properties": field(st.fixed_dictionaries({"origin_model_name": scalars})),
    },
)
envelope = st.fixed_dictionaries({"code": scalars, "message": scalars, "data": st.one_of(task_wrapper, video_object)})
error_body = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "error": st.one_of(
                texts,
                st.fixed_dictionaries(
                    {},
                    optional=dict.fromkeys(
                        ("code", "message", "type", "param", "fallback_suggestion", "detail"), scalars
                    ),
                ),
            )
        },
        optional={"code": scalars},
    ),
)


def roundtrip(body: Any) -> Any:
    """What the hook would parse: the body through the JSON encoder and decoder."""
    return json.loads(json.dumps(body))


def parses_or_value_error(api: ApiKind, body: Any) -> None:
    try:
        task = VideoTask.from_response(api, roundtrip(body))
    except ValueError:
        return
    # What parsed must survive what the trigger does with it: an event payload and back.
    event = VideoTaskEvent(status="success", task_id=task.id, api=api, message="m", task=task)
    assert VideoTaskEvent.from_payload(json.loads(json.dumps(event.to_payload()))).task_id == task.id
    assert 0 <= task.progress <= 100


@SETTINGS
@given(generation_task)
def test_generation_task_parser(body: dict[str, Any]) -> None:
    parses_or_value_error(ApiKind.GENERATION, body)


@SETTINGS
@given(st.one_of(task_wrapper, video_object, envelope))
def test_remix_parsers_in_all_three_shapes(body: dict[str, Any]) -> None:
    parses_or_value_error(ApiKind.REMIX, body)


@SETTINGS
@given(error_body)
def test_error_body_parser(body: Any) -> None:
    error = ApiError.from_body(roundtrip(body))
    for value in (error.code, error.message, error.param, error.fallback_suggestion):
        assert value is None or isinstance(value, str)


@SETTINGS
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"status": statuses, "task_id": ids},
            optional={
                "api": field(st.sampled_from(["generation", "remix"])),
                "message": scalars,
                "error_code": scalars,
                "retryable": scalars,
                "task": field(generation_task),
            },
        ),
    )
)
def test_event_payload_parser(payload: Any) -> None:
    with contextlib.suppress(VideoGenError):
        VideoTaskEvent.from_payload(roundtrip(payload))
