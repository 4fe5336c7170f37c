"""Issue 21 point 7: a succeeded remote task whose answer lists no video URL is never submitted again.

Succeeded means paid. An OpenAI-style gateway lists no URL at all (the bytes are at
``GET /v1/videos/{id}/content``): the remix is re-used through that endpoint. The unified API has
no such endpoint: the task fails asking a human, without a second create.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, RemixRequest, TaskState, VideoTask
from airflow_provider_videogen.operators.reattach import SubmissionRecord, decide, fingerprint
from tests.operators.test_remix_operator import ti_of, xcom

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_videogen.simulator import SimulatorServer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
REMIX = RemixRequest(model="veo_3_1-fast-remix", prompt="[sim:render=0.5] a dog", prompt_extend="surfing")


@pytest.mark.parametrize("api", list(ApiKind))
def test_a_succeeded_task_without_urls_is_never_resubmitted(api: ApiKind) -> None:
    print_ = fingerprint(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    record = SubmissionRecord(id="task_1", api=api, fingerprint=print_, submitted_at=NOW)
    for completed_at in (None, NOW):  # with or without a completion time: no URL is not "expired"
        remote = VideoTask(id="task_1", api=api, state=TaskState.SUCCEEDED, completed_at=completed_at)
        decision = decide(record, None, remote, print_, now=NOW)
        assert decision.action == "reuse", decision.reason
        assert "lists no video URL" in decision.reason


@pytest.mark.parametrize("shape", ["openai", "wrapper"])
def test_a_remix_answered_without_urls_is_read_through_the_content_endpoint(
    simulator: SimulatorServer, videogen_conn: str, tmp_path: Path, shape: str
) -> None:
    simulator.configure(remix_shape=shape, remix_links=False)
    hook = VideoGenHook(videogen_conn)
    created = hook.submit_remix(REMIX)
    deadline = time.monotonic() + 30
    while not (done := hook.get_remix(created.id)).state.is_terminal:
        assert time.monotonic() < deadline, done.summary()
        time.sleep(0.1)
    assert done.state is TaskState.SUCCEEDED
    assert "video_url" not in str(done.raw)  # the gateway's answer names no URL...
    assert done.video_urls == [f"{simulator.url}/v1/videos/{created.id}/content"]  # ...its content endpoint serves it
    assert hook.download(done.video_urls[0], str(tmp_path / "v.mp4")) > 0
    assert simulator.stats()["remix"]["content_downloads"] == 1


@pytest.mark.usefixtures("airflow_db")
def test_a_remix_retry_reuses_the_paid_remix_through_its_content_endpoint(
    run_dag: Any, simulator: SimulatorServer, videogen_conn: str
) -> None:
    simulator.configure(remix_shape="openai", remix_links=False)
    dagrun = run_dag("test_no_links_remix_retry")
    stats = simulator.stats()
    assert stats["remix"]["creates"] == 1, "the retry paid for the remix again"
    assert dagrun.state == "success"
    assert ti_of(dagrun).try_number == 2
    result = xcom(dagrun)
    assert result["video_urls"] == [f"{simulator.url}/v1/videos/{result['id']}/content"]


@pytest.mark.usefixtures("airflow_db")
def test_a_generation_without_urls_fails_asking_a_human_and_is_not_paid_again(
    run_dag: Any, simulator: SimulatorServer, videogen_conn: str, log_text: Any
) -> None:
    dagrun = run_dag("test_no_links_generation_retry")
    assert simulator.stats()["generation"]["creates"] == 1, "the retry paid for the video again"
    ti = ti_of(dagrun, "generate")
    assert (dagrun.state, ti.try_number) == ("failed", 2)
    assert "succeeded (the gateway bills it) but its answer lists no video URL" in log_text()
    assert "Not submitting again" in log_text()
