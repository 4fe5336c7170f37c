"""Audit of start_from_trigger (issue 23): what the triggerer renders and builds differs from the worker's.

The worker parses the DAG file: its DAG's Jinja settings and any cluster policy apply. The start
trigger builds the operator without a DAG from the arguments recorded when ``__init__`` ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.spend.guard import check_max_credits
from airflow_provider_videogen.triggers.start import START_IN_WORKER
from tests.audit_start.conftest import AirflowVariables, TriggererTI, run_trigger, start_trigger


def worker_ti(xcoms: Any) -> TriggererTI:
    ti = TriggererTI(xcoms)
    ti.xcom_push = lambda key, value: None  # type: ignore[attr-defined]
    return ti


def sent_prompts(simulator: Any) -> list[str]:
    return [str(r["body"]["prompt"]) for r in simulator.stats()["generation_requests"] if r.get("accepted")]


def accepted(simulator: Any) -> int:
    return int(simulator.stats()["generation"]["creates_accepted"])


def video(dag: DAG, prompt: str, **kwargs: Any) -> VideoGenerationOperator:
    return VideoGenerationOperator(
        task_id="gen",
        dag=dag,
        model="veo3.1-fast",
        prompt=prompt,
        duration=4,
        wait_for_completion=False,
        start_from_trigger=True,
        **kwargs,
    )


def test_a_dags_user_defined_macro_is_rendered_as_in_a_worker(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    dag = DAG("audit", schedule=None, start_date=datetime(2026, 1, 1), user_defined_macros={"brand": "Acme"})
    event = run_trigger(start_trigger(video(dag, "An ad for {{ brand }}"), TriggererTI(xcoms)))
    if isinstance(event.payload, dict) and START_IN_WORKER in event.payload:
        return  # handed to a worker, which renders with the DAG: fine
    assert sent_prompts(simulator) == ["An ad for Acme"]


def test_a_strict_undefined_dag_never_pays_for_a_blank(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    dag = DAG("audit", schedule=None, start_date=datetime(2026, 1, 1), template_undefined=jinja2.StrictUndefined)
    op = video(dag, "A {{ params.style }} cat")
    with pytest.raises(jinja2.UndefinedError):  # the worker: the render fails, nothing is sent
        op.render_template_fields({"params": {}})
    run_trigger(start_trigger(op, TriggererTI(xcoms)))
    assert accepted(simulator) == 0, sent_prompts(simulator)


@pytest.mark.xfail(
    strict=True,
    reason="start_trigger_args are frozen when __init__ ends: a cluster policy (task_policy) that caps "
    "max_credits (or sets videogen_conn_id) afterwards applies in the worker, not in the triggerer",
)
def test_a_cluster_policy_spend_cap_applies_in_the_triggerer(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    dag = DAG("audit", schedule=None, start_date=datetime(2026, 1, 1))
    op = video(dag, "a cat")
    op.max_credits = check_max_credits(
        0.01
    )  # airflow_local_settings.task_policy(task), run after the DAG file built it
    with pytest.raises(AirflowFailException, match="max_credits"):  # the worker refuses before any request
        op.execute({"ti": worker_ti(xcoms)})  # type: ignore[arg-type]
    assert accepted(simulator) == 0
    run_trigger(start_trigger(op, TriggererTI(xcoms)))
    assert accepted(simulator) == 0
