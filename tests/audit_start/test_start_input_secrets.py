"""Audit of start_from_trigger (issue 23): arguments resolved in the triggerer, secrets in what it emits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, task, task_group
from airflow.triggers.base import TaskSuccessEvent

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.start import START_IN_WORKER, VideoStartTrigger
from tests.audit_start.conftest import AirflowVariables, TriggererTI, run_trigger, start_trigger


def accepted(simulator: Any) -> int:
    return int(simulator.stats()["generation"]["creates_accepted"])


def accepted_count(simulator: Any) -> int:
    return sum(1 for r in simulator.stats()["generation_requests"] if r.get("accepted"))


def test_a_reference_inside_a_mapped_task_group_is_not_read_as_none(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    with DAG("audit", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def seed_for(style: str) -> int:
            return len(style)

        @task_group
        def clips(style: str) -> None:
            VideoGenerationOperator(
                task_id="gen",
                model="veo-3.1-fast-generate-preview",
                prompt="a cat",
                duration=4,
                seed=seed_for(style),
                wait_for_completion=False,
                start_from_trigger=True,
            )

        # Fixed: refused when the DAG is parsed (its group's argument was read as None and paid for).
        with pytest.raises(ValueError, match="mapped task group"):
            clips.expand(style=["noir", "pastel"])
    assert accepted_count(simulator) == 0


@pytest.mark.parametrize(
    "operator_class",
    ["airflow.providers.standard.operators.empty.EmptyOperator", "os.system", "no.such.module.Class"],
)
def test_a_trigger_row_naming_a_foreign_class_hands_the_task_to_a_worker(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any, operator_class: str
) -> None:
    """Not broken: a class that is not a video operator is never built (one DB writer's edit)."""
    trigger = VideoStartTrigger(operator_class=operator_class, operator_kwargs={"task_id": "x", "bash_command": "id"})
    trigger.task_instance = TriggererTI(xcoms)  # type: ignore[assignment]
    trigger.render_template_fields({"ds": "2026-12-02", "params": {}})
    event = run_trigger(trigger)
    assert START_IN_WORKER in event.payload
    assert accepted(simulator) == 0


def test_a_gateway_echoing_the_key_in_a_create_error_leaks_nothing(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any, log_text: Any
) -> None:
    """Not broken: the hook redacts the echoed key; the worker hand-off payload and the logs hold none."""
    key = simulator.api_key
    body = json.dumps({"code": "bad_request", "message": f"invalid request; Authorization: Bearer {key}"})
    simulator.configure(next_responses=[{"method": "POST", "path": "/v1/", "status": 400, "body": body}])
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="a cat",
        duration=4,
        wait_for_completion=False,
        start_from_trigger=True,
    )
    event = run_trigger(start_trigger(op, TriggererTI(xcoms)))
    assert START_IN_WORKER in event.payload
    assert key not in json.dumps(event.payload)
    assert key not in json.dumps(variables.rows)
    assert key not in log_text()


def test_a_successful_start_emits_no_signed_link(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any, log_text: Any
) -> None:
    """Not broken: the ending event, XComs, Variables and logs of a started task hold no download link."""
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="a cat [sim:render=0.2]",
        duration=4,
        poll_interval=0.1,
        start_from_trigger=True,
    )
    event = run_trigger(start_trigger(op, TriggererTI(xcoms)))
    assert isinstance(event, TaskSuccessEvent), event
    emitted = json.dumps([event.xcoms, {str(k): v for k, v in xcoms.items()}, variables.rows], default=str)
    assert "/files" not in emitted
    assert "/files" not in log_text()
    assert xcoms[("gen", "return_value", -1)]["links_in_xcom"] is False
