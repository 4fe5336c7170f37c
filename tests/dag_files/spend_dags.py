"""Test DAGs for the spend guard (caps, shared budget, a crashed try), run with dag.test().

The budget DAGs use the connection ``videogen_budget``, which each test sets (simulator URL,
prices, and a budget whose ledger is a fresh SeaweedFS bucket).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)
FAST = {"poll_interval": 0.2}
BUDGET_CONN = "videogen_budget"

with DAG("test_spend_task_cap", schedule=None, start_date=START, catchup=False):
    # veo3.1-fast, 8 s, 720p, no audio: 46.08 credits, over a cap of 40
    VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt="A cat", duration=8, max_credits=40, retries=2, **FAST
    )

with DAG("test_spend_task_cap_unpriced", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="refused", model="doubao-seedance-1.0-pro-fast", prompt="A cat", max_credits=100, **FAST
    )
    VideoGenerationOperator(
        task_id="allowed",
        model="doubao-seedance-1.0-pro-fast",
        prompt="A cat",
        max_credits=100,
        allow_unpriced=True,
        **FAST,
    )

with DAG("test_spend_budget", schedule=None, start_date=START, catchup=False, max_active_tasks=1):
    # Three 46.08-credit videos in a row against a budget of two (the test sets the budget).
    for i in range(3):
        VideoGenerationOperator(
            task_id=f"generate_{i}",
            videogen_conn_id=BUDGET_CONN,
            model="veo3.1-fast",
            prompt=f"Clip {i}",
            duration=8,
            **FAST,
        )

with DAG("test_spend_budget_refused_create", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="generate", videogen_conn_id=BUDGET_CONN, model="veo3.1-fast", prompt="A cat", duration=8, **FAST
    )


class _CrashingGuard:
    """Delegates to the real guard; dies at one point of the first try (the test's fault)."""

    def __init__(self, guard: Any, at: str) -> None:
        self._guard, self._at = guard, at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guard, name)

    def reserve(self, store: Any) -> None:
        self._guard.reserve(store)
        if self._at == "reserve":
            raise RuntimeError("simulated crash after reserving")

    def settle(self, store: Any, task: Any) -> None:
        if self._at == "create":
            raise RuntimeError(f"simulated crash after creating {task.id}")
        self._guard.settle(store, task)


class CrashOnFirstTry(VideoGenerationOperator):
    """A generation whose first try fails right after reserving (``crash_at="reserve"``) or after the create."""

    def __init__(self, *, crash_at: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_at = crash_at

    def _submit_or_reattach(self, context: Any, request: Any) -> Any:
        # The guard handed to SubmissionGuard: it reserves before the create and settles after it.
        if getattr(context.get("ti"), "try_number", None) == 1:
            self._spend = _CrashingGuard(self._spend, self.crash_at)  # type: ignore[assignment]
        return super()._submit_or_reattach(context, request)


with DAG("test_spend_crashed_try", schedule=None, start_date=START, catchup=False, max_active_tasks=1):
    for where in ("reserve", "create"):
        CrashOnFirstTry(
            task_id=f"crash_after_{where}",
            crash_at=where,
            videogen_conn_id=BUDGET_CONN,
            model="veo3.1-fast",
            prompt=f"[sim:render=1] crash after {where}",
            duration=8,
            retries=1,
            retry_delay=timedelta(0),
            **FAST,
        )


class _LedgerDownAtSettle:
    """The ledger's object store fails the settlement's write (after the paid create), once."""

    #: Settlements that fail, counted across every ledger of the process (the create's, then the
    #: completion's tries): ``VIDEOGEN_TEST_SETTLE_FAILURES`` (default 1), read at the first one.
    failures_left: int | None = None

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def settle(self, *args: Any, **kwargs: Any) -> Any:
        from airflow_provider_videogen.spend.ledger_errors import LedgerError

        if _LedgerDownAtSettle.failures_left is None:
            _LedgerDownAtSettle.failures_left = int(os.environ.get("VIDEOGEN_TEST_SETTLE_FAILURES", "1"))
        if _LedgerDownAtSettle.failures_left > 0:
            _LedgerDownAtSettle.failures_left -= 1
            raise LedgerError("Cannot write the ledger (simulated: ServiceUnavailable)")
        return self._ledger.settle(*args, **kwargs)


class LedgerDownAtSettle(VideoGenerationOperator):
    """A generation whose create's settlement cannot write the ledger (chaos finding 7)."""

    def _submit_or_reattach(self, context: Any, request: Any) -> Any:
        if self._spend is not None and self._spend.ledger is not None:
            self._spend.ledger = _LedgerDownAtSettle(self._spend.ledger)  # type: ignore[assignment]
        return super()._submit_or_reattach(context, request)

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        from airflow_provider_videogen.spend import guard

        checked = guard.SpendGuard.check

        def down(*args: Any, **kwargs: Any) -> Any:
            made = checked(*args, **kwargs)
            if made.ledger is not None:
                made.ledger = _LedgerDownAtSettle(made.ledger)  # type: ignore[assignment]
            return made

        guard.SpendGuard.check = down  # type: ignore[method-assign]
        try:
            return super().execute_complete(context, event)
        finally:
            guard.SpendGuard.check = checked  # type: ignore[method-assign]


with DAG("test_spend_settled_on_completion", schedule=None, start_date=START, catchup=False):
    LedgerDownAtSettle(
        task_id="generate",
        videogen_conn_id=BUDGET_CONN,
        model="veo3.1-fast",
        prompt="[sim:render=1] the ledger is down when the create is settled",
        duration=8,
        **FAST,
    )
