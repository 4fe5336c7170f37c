"""A gateway that echoes a link in its error text: nothing that downloads it gets further.

A failed task's ``error.message`` and a 4xx error body are free text the gateway writes; it may
quote the reference image, the webhook or the clip it was given. The hook shows every link in
them as ``redact_url`` does (scheme, host, fingerprint), so the trigger event, the task log and
``VideoTaskFailedError`` hold none; completion scrubs an event written before that, too. Against
the simulator's queued raw answers (``next_responses``).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import VideoGenHTTPError, VideoTaskFailedError
from airflow_provider_videogen.hooks.redaction import redact_links_in, redact_url
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

TASK_ID = "task-unified-1795000000-abcdefgh"
TOKENS = ("SIGQUERY0123456789", "pathTOKEN0123456789", "hookTOKEN987654321", "QUJDREVGR0hJSktMTU5PUA")
ECHO = (
    "could not fetch https://cdn.example.com/in/cat.png?X-Amz-Signature=SIGQUERY0123456789, "
    "nor http://127.0.0.1:9/files/pathTOKEN0123456789.mp4. Webhook (https://hooks.example/cb/hookTOKEN987654321) "
    "and data:image/png;base64,QUJDREVGR0hJSktMTU5PUA== refused"
)


def _no_token(text: str) -> None:
    for token in TOKENS:
        assert token not in text


async def test_a_failed_task_echoing_links_reaches_no_event_nor_error(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    code = "bad_input:https://cdn.example.com/in/x.png?sig=SIGQUERY0123456789"
    failed = {"id": TASK_ID, "status": "failed", "model": ECHO, "error": {"code": code, "message": ECHO}}
    simulator.configure(
        next_responses=[{"status": 200, "method": "GET", "path": "/v1/tasks/", "body": json.dumps(failed)}]
    )
    trigger = VideoTaskTrigger(
        videogen_conn_id=videogen_conn,
        remote_task_id=TASK_ID,
        api=ApiKind.GENERATION,
        poll_interval=0.05,
        deadline=time.time() + 30,
    )
    payloads = [event.payload async for event in trigger.run()]
    assert len(payloads) == 1
    _no_token(json.dumps(payloads[0]))
    event = VideoTaskEvent.from_payload(payloads[0])
    assert event.status == "failed"
    assert "cdn.example.com" in event.message  # the host still says which link it was

    operator = VideoGenerationOperator(task_id="t", prompt="p", model="veo3.1-fast")
    with pytest.raises((VideoTaskFailedError, AirflowFailException)) as info:
        operator.on_remote_failure({}, event)  # type: ignore[arg-type]
    _no_token(str(info.value))


def test_an_event_written_unscrubbed_is_scrubbed_at_completion() -> None:
    """A failed event from before the hook scrubbed messages (still in the triggerer's table)."""
    event = VideoTaskEvent(
        status="failed", task_id=TASK_ID, api=ApiKind.GENERATION, message=ECHO, error_code="x", retryable=True
    )
    operator = VideoGenerationOperator(task_id="t", prompt="p", model="veo3.1-fast")
    with pytest.raises(VideoTaskFailedError) as info:
        operator.on_remote_failure({}, event)  # type: ignore[arg-type]
    _no_token(str(info.value))


def test_an_error_body_echoing_a_link_is_scrubbed(simulator: SimulatorServer, videogen_conn: str) -> None:
    link = "https://cdn.example.com/in/cat.png?X-Amz-Signature=SIGQUERY0123456789"
    echo: dict[str, Any] = {"error": {"code": link, "message": ECHO, "param": link}}
    hook = VideoGenHook(videogen_conn)
    for body in (json.dumps(echo), f"<html>{ECHO}</html>"):
        simulator.configure(next_responses=[{"status": 400, "method": "POST", "body": body}])
        with pytest.raises(VideoGenHTTPError) as info:
            hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
        _no_token(str(info.value))
        _no_token(repr(vars(info.value)))


def test_redact_links_in_keeps_text_and_origins() -> None:
    link = "https://cdn.example.com/v/a.mp4?sig=SECRET0123456789"
    assert redact_links_in(f"failed for {link}. Retry at https://gw.example") == (
        f"failed for {redact_url(link)}. Retry at https://gw.example"
    )


async def test_a_malformed_answer_holding_a_link_reaches_no_event(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    """An answer the hook cannot read is quoted in the error: never with the video link it holds."""
    link = "https://cdn.example.com/v/a.mp4?X-Amz-Signature=SIGQUERY0123456789"
    bad = {"id": TASK_ID, "video_url": link, "status": "completed", "created": 1e20}
    simulator.configure(
        next_responses=[{"status": 200, "method": "GET", "path": "/v1/tasks/", "body": json.dumps(bad)}]
    )
    trigger = VideoTaskTrigger(
        videogen_conn_id=videogen_conn,
        remote_task_id=TASK_ID,
        api=ApiKind.GENERATION,
        poll_interval=0.05,
        deadline=time.time() + 30,
        max_consecutive_failures=1,
    )
    payloads = [event.payload async for event in trigger.run()]
    assert [VideoTaskEvent.from_payload(p).status for p in payloads] == ["error"]
    _no_token(json.dumps(payloads))
