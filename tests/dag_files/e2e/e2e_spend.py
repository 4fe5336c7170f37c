"""DAGs for the spend guard with real Airflow components (tests/e2e/test_spend_real_components.py).

``e2e_spend_race``: 20 mapped generations of 46.08 credits each against the budget of the
``videogen_budget`` connection, which holds exactly 10 (460.8 credits).

Renders last 20-30 s on purpose: a deferred task whose trigger fires within a few seconds can
be failed by the scheduler on a loaded machine ("finished with state success, but the task
instance's state attribute is queued": the executor's event for the deferral arrives after the
resumed try was queued), an Airflow race unrelated to what these DAGs test.

``e2e_spend_killed_worker``: two generations whose first try kills its own process (SIGKILL, as
the OOM killer would) right after reserving, or right after the create; the retry must settle
the same reservation (``videogen_budget_kill``: another budget, large enough for both).
"""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)

with DAG("e2e_spend_race", schedule=None, start_date=START, catchup=False, max_active_tasks=20, tags=["e2e"]):
    VideoGenerationOperator.partial(
        task_id="generate",
        videogen_conn_id="videogen_budget",
        model="veo3.1-fast",
        duration=8,
        poll_interval=1,
        retries=0,
    ).expand(prompt=[f"[sim:render=20] Clip {i} of the race" for i in range(20)])


class _KillingGuard:
    """Delegates to the real guard; SIGKILLs the task process at one point (the test's fault)."""

    def __init__(self, guard: Any, at: str) -> None:
        self._guard, self._at = guard, at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guard, name)

    def reserve(self, store: Any) -> None:
        self._guard.reserve(store)
        if self._at == "reserve":
            os.kill(os.getpid(), signal.SIGKILL)

    def settle(self, store: Any, task: Any) -> None:
        if self._at == "create":
            os.kill(os.getpid(), signal.SIGKILL)
        self._guard.settle(store, task)


class KilledOnFirstTry(VideoGenerationOperator):
    def __init__(self, *, kill_at: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_at = kill_at

    def _submit_or_reattach(self, context: Any, request: Any) -> Any:
        # The guard handed to SubmissionGuard: it reserves before the create and settles after it.
        if getattr(context.get("ti"), "try_number", None) == 1:
            self._spend = _KillingGuard(self._spend, self.kill_at)  # type: ignore[assignment]
        return super()._submit_or_reattach(context, request)


with DAG("e2e_spend_killed_worker", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    for where in ("reserve", "create"):
        KilledOnFirstTry(
            task_id=f"killed_after_{where}",
            kill_at=where,
            videogen_conn_id="videogen_budget_kill",
            model="veo3.1-fast",
            prompt=f"[sim:render=30] killed after {where}",
            duration=8,
            poll_interval=1,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
