"""The harness runs a start trigger to its end like the triggerer does (baseline for the attacks)."""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TaskSuccessEvent

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from tests.audit_start.conftest import TriggererTI, run_trigger, start_trigger


def test_a_start_trigger_creates_once_and_ends_the_task(
    simulator: Any, videogen_conn: str, variables: Any, xcoms: Any
) -> None:
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="a cat {{ ds }} [sim:render=0.2]",
        adaptive_polling=False,
        duration=4,
        poll_interval=0.1,
        start_from_trigger=True,
    )
    event = run_trigger(start_trigger(op, TriggererTI(xcoms)))
    assert isinstance(event, TaskSuccessEvent), event
    assert simulator.stats()["generation"]["creates_accepted"] == 1
    assert any(k.startswith("videogen_state__") for k in variables.rows)
