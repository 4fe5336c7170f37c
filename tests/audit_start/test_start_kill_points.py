"""Audit of start_from_trigger (issue 23): the triggerer dies at each write of a start, then restarts.

The dying write raises a ``BaseException`` (nothing in the trigger catches it, as nothing survives
a killed process); the restarted incarnation finds what was written before. Never two creates,
and a refusal only when a create may have been sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.start import START_IN_WORKER
from tests.audit_start.conftest import AirflowVariables, TriggererTI, run_trigger, start_trigger


class Killed(BaseException):
    """The triggerer process dies here."""


class DiesAtWrite(AirflowVariables):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.writes = at, 0

    def _count(self) -> None:
        self.writes += 1
        if self.writes == self.at:
            raise Killed

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self._count()
        super().set(key, value, description, serialize_json)

    def delete(self, key: str) -> None:
        self._count()
        super().delete(key)


@pytest.mark.parametrize("at", [1, 2, 3, 4])
def test_a_restart_after_a_kill_at_each_write_creates_at_most_once(
    simulator: Any, videogen_conn: str, monkeypatch: pytest.MonkeyPatch, xcoms: Any, at: int
) -> None:
    """Not broken: writes are prepared, sending, record, marker delete; the restart re-attaches or refuses."""
    from airflow.sdk import Variable

    table = DiesAtWrite(at)
    monkeypatch.setattr(Variable, "get", staticmethod(table.get))
    monkeypatch.setattr(Variable, "set", staticmethod(table.set))
    monkeypatch.setattr(Variable, "delete", staticmethod(table.delete))
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="[sim:render=60] a slow cat",
        duration=4,
        wait_for_completion=False,
        start_from_trigger=True,
    )
    with pytest.raises(Killed):
        run_trigger(start_trigger(op, TriggererTI(xcoms)))
    sent = int(simulator.stats()["generation"]["creates_accepted"])
    table.at = 0  # the restarted triggerer
    event = run_trigger(start_trigger(op, TriggererTI(xcoms)))
    assert int(simulator.stats()["generation"]["creates_accepted"]) <= 1
    if isinstance(event.payload, dict) and START_IN_WORKER in event.payload:
        assert sent == 1, f"handed to a worker although nothing was sent: {event.payload}"
        ti = TriggererTI(xcoms)
        ti.xcom_push = lambda key, value: None  # type: ignore[attr-defined]
        with pytest.raises(AirflowFailException, match="Not submitting"):
            op.execute_complete({"ti": ti}, event.payload)  # type: ignore[arg-type]
