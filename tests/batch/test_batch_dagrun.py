"""``VideoGenerationBatchOperator`` through real Airflow (``dag.test()``) against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operators.test_generation_operator import fast_sim, ti_of, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.dagrun]
__all__ = ["fast_sim"]  # the fixture, shared with the single operator's dag.test tests


def test_a_deferred_batch_returns_one_result_per_request_to_a_downstream_task(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_batch_deferrable")
    assert dagrun.state == "success"
    results = xcom(dagrun)
    assert [r["state"] for r in results] == ["succeeded"] * 3
    assert len({r["id"] for r in results}) == 3
    assert all(r["video_urls"] == [] and r["links_in_xcom"] is False for r in results)  # no bearer link
    assert xcom(dagrun, "results_are_dicts") == 3
    assert xcom(dagrun, key="videogen_task_ids") == [r["id"] for r in results]
    assert fast_sim.stats()["generation"]["creates"] == 3


def test_a_batch_polled_in_the_worker_returns_the_same_shape(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_batch_in_worker")
    assert dagrun.state == "success"
    assert [r["state"] for r in xcom(dagrun)] == ["succeeded"] * 2
    assert ti_of(dagrun).try_number == 1


def test_mapped_batches_each_return_their_list(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_batch_mapped")
    assert dagrun.state == "success"
    assert [len(xcom(dagrun, map_index=i)) for i in range(2)] == [2, 2]
    assert fast_sim.stats()["generation"]["creates"] == 4
