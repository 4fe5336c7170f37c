"""Harness of the start_from_trigger audit: run ``VideoStartTrigger`` in-process against the simulator.

Airflow's Variables and XComs are stood in for by dicts (the triggerer's execution-API answers,
not our code); everything of ours (operator, trigger, guard, hook) runs for real over loopback.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk.definitions._internal.types import NOTSET


class AirflowVariables:
    """Airflow's Variable table: get/set/delete as the SDK's ``Variable`` does (values are strings)."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.descriptions: dict[str, str | None] = {}

    def get(self, key: str, default: Any = NOTSET, deserialize_json: bool = False) -> Any:
        if key not in self.rows:
            if default is NOTSET:
                raise KeyError(key)
            return default
        return json.loads(self.rows[key]) if deserialize_json else self.rows[key]

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self.rows[key] = json.dumps(value) if serialize_json else str(value)
        self.descriptions[key] = description

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> AirflowVariables:
    from airflow.sdk import Variable

    table = AirflowVariables()
    monkeypatch.setattr(Variable, "get", staticmethod(table.get))
    monkeypatch.setattr(Variable, "set", staticmethod(table.set))
    monkeypatch.setattr(Variable, "delete", staticmethod(table.delete))
    return table


@pytest.fixture
def xcoms(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str, int], Any]:
    """Airflow's XCom table as the triggerer writes it (``BaseXCom.set``)."""
    from airflow.sdk.bases.xcom import BaseXCom

    table: dict[tuple[str, str, int], Any] = {}

    def xcom_set(key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> None:
        table[(task_id, key, map_index)] = json.loads(json.dumps(value))

    monkeypatch.setattr(BaseXCom, "set", staticmethod(xcom_set))
    return table


class TriggererTI:
    """The task instance the triggerer hands a start trigger (identity, try, XCom reads)."""

    def __init__(
        self,
        xcoms: dict[tuple[str, str, int], Any],
        *,
        task_id: str = "gen",
        try_number: int = 1,
        map_index: int = -1,
        run_id: str = "manual__2026-12-02",
        dag_id: str = "audit",
        task: Any = None,
    ) -> None:
        self.dag_id, self.run_id, self.task_id = dag_id, run_id, task_id
        self.map_index, self.try_number = map_index, try_number
        self._xcoms = xcoms
        if task is not None:
            self.task = task

    def xcom_pull(self, task_ids: str, key: str = "return_value", map_indexes: int = -1) -> Any:
        return self._xcoms.get((task_ids, key, map_indexes))


def start_trigger(op: Any, ti: TriggererTI, context: dict[str, Any] | None = None) -> Any:
    """The trigger the scheduler creates from ``op.start_trigger_args``, with the triggerer's context."""
    from airflow_provider_videogen.triggers.start import VideoStartTrigger

    args = op.start_trigger_args
    trigger = VideoStartTrigger(**args.trigger_kwargs)
    trigger.task_instance = ti
    trigger.render_template_fields({"ds": "2026-12-02", "params": {}, "run_id": ti.run_id, **(context or {})})
    return trigger


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    return None


def run_trigger(trigger: Any) -> Any:
    return asyncio.run(first_event(trigger))


@pytest.fixture(autouse=True)
def _quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start claim's settle and poll times, shortened: the tests wait on the simulator, not on them."""
    from airflow_provider_videogen.triggers import start_claim

    monkeypatch.setattr(start_claim, "CLAIM_SETTLE", 0.05)
    monkeypatch.setattr(start_claim, "CLAIM_POLL", 0.02)
