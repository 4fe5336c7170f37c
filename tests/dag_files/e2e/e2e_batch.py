"""Batches (``VideoGenerationBatchOperator``, issue 23) run by real Airflow components in tests/e2e.

``e2e_batch``: three short renders in one task that ends in the triggerer (the default); a downstream
worker task reads the list of results (tests/e2e/test_real_components.py, which then clears it).

``e2e_batch_kill``: two long renders whose first try's trigger is lost (the test kills the triggerer
while it polls them). That try's deferral timeout is five seconds instead of the deadline plus five
minutes, so Airflow's safety net fires while the renders run; the retry re-attaches, a new triggerer
polls the same remote tasks, and a user's kill cancels both (tests/e2e/test_kill.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator

START = datetime(2026, 1, 1)


@task
def batch_results_are_dicts(results: object) -> int:
    """A downstream worker task reads the batch's result as the list of dicts it is."""
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise TypeError(f"a downstream task read the batch's result as {type(results).__name__}: {str(results)[:80]}")
    return len(results)


with DAG("e2e_batch", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    batch = VideoGenerationBatchOperator(
        task_id="batch",
        requests=[f"[sim:render=4] [batch] A lantern festival, shot {i}" for i in range(3)],
        model="veo3.1-fast",
        duration=4,
        poll_interval=1,
    )
    batch_results_are_dicts(batch.output)


class LostTriggerOnFirstTry(VideoGenerationBatchOperator):
    """The first try defers with a five-second deferral timeout: Airflow's safety net fires soon."""

    def execute(self, context: Any) -> Any:
        self._first_try = getattr(context.get("ti"), "try_number", None) == 1
        return super().execute(context)

    def defer(self, *, trigger: Any, method_name: str, kwargs: Any = None, timeout: Any = None) -> Any:
        if getattr(self, "_first_try", False):
            timeout = timedelta(seconds=5)
        return super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)


with DAG("e2e_batch_kill", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    LostTriggerOnFirstTry(
        task_id="generate",
        requests=[f"[sim:render=300] [batch-kill] A glacier calving, very slowly, take {i}" for i in range(2)],
        model="veo3.1-fast",
        duration=4,
        poll_interval=1,
        adaptive_polling=False,  # the test waits for polls from the start of a 300 s render
        retries=1,
        retry_delay=timedelta(0),
    )
