"""Which store holds a video task's submission markers, and where a human finds them.

A task that starts in the triggerer keeps them in Airflow Variables (a trigger cannot reach the
task state store, :mod:`.variable_store`); any other task in the task state store. A retry or a
clear (try 2 and later) also reads the other mode's store, in case the DAG switched
``start_from_trigger`` since the try that paid (:class:`~.variable_store.EitherStore`); a trigger
never runs such a try (it hands it to a worker), so only a worker needs both.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, where_to_delete
from airflow_provider_videogen.operators.variable_store import EitherStore, VariableStateStore
from airflow_provider_videogen.triggers.start_claim import StopBeforeSending


def markers_store(context: Any, *, start_from_trigger: bool) -> Any:
    """The store the submission and spend guards use for this task instance."""
    ti, own = context.get("ti"), context.get("task_state_store")
    if ti is None:
        return own
    if start_from_trigger:
        variables = VariableStateStore.for_ti(ti)
        return EitherStore(variables, own) if own is not None else variables
    identified = all(getattr(ti, name, None) is not None for name in ("dag_id", "run_id", "task_id"))
    retry = (getattr(ti, "try_number", 1) or 1) > 1
    if own is not None and retry and identified and not isinstance(own, StopBeforeSending):
        return EitherStore(own, VariableStateStore.for_ti(ti))
    return own


def in_flight_location(context: Any, *, start_from_trigger: bool) -> str:
    """Where a human finds the in-flight marker: a Variable for a task that starts in the triggerer."""
    ti = context.get("ti")
    if ti is not None and (start_from_trigger or isinstance(context.get("task_state_store"), StopBeforeSending)):
        return VariableStateStore.for_ti(ti).where(IN_FLIGHT_KEY)
    return where_to_delete(ti)
