"""The trigger always yields one event, and a trickling gateway cannot hold it past its deadline (issue 13, 9-10).

Against the simulator over loopback; the hostile answers are its ``next_responses`` faults.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.models import ApiKind
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

TASK_ID = "task-unified-1795000000-abcdefgh"
SECRET = "sk-TRIGGER-8c3e1a9f70"


@pytest.fixture
def conn(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    simulator.configure(api_keys=[SECRET])
    extra = {"retry_backoff": 0.01, "max_retries": 0, "timeout": 5}
    conn = {"conn_type": "videogen", "host": simulator.url, "password": SECRET, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_TRIG", json.dumps(conn))
    return "videogen_trig"


def trigger(conn_id: str, **kwargs: Any) -> VideoTaskTrigger:
    params: dict[str, Any] = {"poll_interval": 0.05, "deadline": time.time() + 30, "max_consecutive_failures": 1}
    params.update(kwargs)
    return VideoTaskTrigger(videogen_conn_id=conn_id, remote_task_id=TASK_ID, api=ApiKind.GENERATION, **params)


async def events(trig: VideoTaskTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trig.run()]


def body(raw: str, **fault: Any) -> dict[str, Any]:
    return {"status": 200, "method": "GET", "path": "/v1/tasks/", "body": raw, **fault}


@pytest.mark.parametrize(
    "raw",
    [
        f'{{"id": "{TASK_ID}", "status": "processing", "created": 1e20}}',
        f'{{"id": "{TASK_ID}", "status": "processing", "task_info": {{"video_duration": 1{"0" * 400}}}}}',
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser's recursion limit
        '{"a": ' * 900 + "1" + "}" * 900,  # parseable, too deep for anything after the parser
    ],
    ids=["timestamp 1e20", "duration 10**400", "deep nesting", "parseable deep nesting"],
)
async def test_a_malformed_answer_ends_in_one_error_event(conn: str, simulator: SimulatorServer, raw: str) -> None:
    simulator.configure(next_responses=[body(raw)])
    found = await events(trigger(conn))
    assert len(found) == 1
    event = VideoTaskEvent.from_payload(found[0])
    assert event.status == "error"
    assert event.task_id == TASK_ID


async def test_an_unknown_connection_ends_in_one_error_event() -> None:
    found = await events(trigger("videogen_no_such_connection"))
    assert len(found) == 1
    event = VideoTaskEvent.from_payload(found[0])
    assert event.status == "error"
    assert "videogen_no_such_connection" in event.message


async def test_an_error_event_never_holds_the_key(conn: str, simulator: SimulatorServer) -> None:
    failed = {"id": TASK_ID, "status": "failed", "error": {"code": "upstream_error", "message": f"bad {SECRET}"}}
    echo = {"error": {"code": "x", "message": f"Bearer {SECRET}", "param": SECRET}}
    simulator.configure(next_responses=[body(json.dumps(failed))])
    first = await events(trigger(conn))
    simulator.configure(next_responses=[{**body(json.dumps(echo)), "status": 401}])
    second = await events(trigger(conn))
    for payload in (*first, *second):
        assert SECRET not in json.dumps(payload)
    assert VideoTaskEvent.from_payload(first[0]).status == "failed"
    assert VideoTaskEvent.from_payload(second[0]).status == "error"


async def test_a_trickling_answer_does_not_hold_the_trigger_past_its_deadline(
    conn: str, simulator: SimulatorServer
) -> None:
    task = json.dumps({"id": TASK_ID, "status": "processing", "progress": 10})  # ~70 bytes at 0.1 s each
    simulator.configure(next_responses=[body(task, trickle_seconds=0.1)])
    found = await events(trigger(conn, deadline=time.time() + 1, max_consecutive_failures=5))
    assert [VideoTaskEvent.from_payload(p).status for p in found] == ["timeout"]
    assert "trickle_completed" not in simulator.stats()["faults"]  # the query was cut, not waited out


def test_from_payload_refuses_an_unreadable_event_with_our_error() -> None:
    from airflow_provider_videogen.exceptions import VideoGenError

    bad = {"status": "success", "task_id": TASK_ID, "api": "generation", "message": "m", "task": {"id": 1e400}}
    with pytest.raises(VideoGenError, match="Unreadable trigger event"):
        VideoTaskEvent.from_payload(bad)
