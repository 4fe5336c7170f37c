"""DAGs for ``VideoGenerationBatchOperator`` through ``dag.test()`` (tests/batch/test_batch_dagrun.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator

START = datetime(2026, 1, 1)
FAST: dict[str, Any] = {"model": "veo3.1-fast", "duration": 4, "poll_interval": 0.2}


@task
def results_are_dicts(results: Any) -> int:
    """A downstream worker task: fails on anything but the list of result dicts."""
    assert isinstance(results, list), type(results)
    assert all(isinstance(r, dict) and r["state"] == "succeeded" for r in results), results
    return len(results)


with DAG("test_batch_deferrable", schedule=None, start_date=START, catchup=False):
    done = VideoGenerationBatchOperator(
        task_id="generate", requests=[f"[sim:render=1] batch clip {i}" for i in range(3)], **FAST
    )
    results_are_dicts(done.output)

with DAG("test_batch_in_worker", schedule=None, start_date=START, catchup=False):
    VideoGenerationBatchOperator(
        task_id="generate",
        requests=["[sim:render=1] worker clip 0", "[sim:render=1] worker clip 1"],
        deferrable=False,
        **FAST,
    )

with DAG("test_batch_mapped", schedule=None, start_date=START, catchup=False):
    chunks = VideoGenerationBatchOperator.partial(task_id="generate", **FAST).expand(
        requests=[[f"[sim:render=1] mapped {b}.{i}" for i in range(2)] for b in range(2)]
    )
