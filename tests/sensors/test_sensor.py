"""VideoTaskSensor through real Airflow (dag.test()) against the simulator: deferrable and poke mode.

The DAGs are in ``tests/dag_files/generation_dags.py``: an operator submits with
``wait_for_completion=False`` and the sensor waits for the remote id it returned.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dags.helpers import xcom

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def fast_sim(simulator: Any, videogen_conn: str) -> Any:
    simulator.configure(render_seconds=1.0)
    return simulator


def test_fan_out_then_sensor(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_generation_fan_out_sensor")
    assert dagrun.state == "success"
    submitted = xcom(dagrun, task_id="submit")
    assert submitted["state"] == "pending"
    waited = xcom(dagrun, task_id="wait")
    assert waited["id"] == submitted["id"]
    assert waited["state"] == "succeeded"
    assert fast_sim.stats()["generation"]["creates"] == 1


def test_remix_sensor_keeps_the_first_segment(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_sensor_remix_partial")
    assert dagrun.state == "success"
    waited = xcom(dagrun, task_id="wait")
    assert waited["partial"] is True
    assert waited["video_urls"]
    assert waited["remix_id"]
    assert fast_sim.stats()["remix"]["creates"] == 1


def test_sensor_in_poke_mode(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_sensor_poke_mode")
    assert dagrun.state == "success"
    waited = xcom(dagrun, task_id="wait")
    assert waited["id"] == xcom(dagrun, task_id="submit")["id"]
    assert waited["state"] == "succeeded"
    assert fast_sim.stats()["generation"]["creates"] == 1
