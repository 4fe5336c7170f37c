"""``start_from_trigger``: what a video operator hands the scheduler so that it starts in the triggerer.

See :mod:`airflow_provider_videogen.triggers.start` for what the trigger does with it, and the
README ("Where a video's work runs") for what the mode costs and what it keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.triggers.base import StartTriggerArgs

from airflow_provider_videogen.deadlines import DEFERRAL_GRACE, MAX_WAIT_TIMEOUT
from airflow_provider_videogen.operators.start_args import CannotStartInTriggerer, own_arguments

if TYPE_CHECKING:
    from datetime import timedelta

START_TRIGGER = "airflow_provider_videogen.triggers.start.VideoStartTrigger"


def check_start_from_trigger(operator: Any) -> None:
    """Refuse, when the DAG is parsed, a task that could never start in the triggerer."""
    problems = []
    if not operator.can_start_in_triggerer:
        problems.append(f"{type(operator).__name__} runs a Python function first, in a worker")
    if not operator.deferrable:
        problems.append("deferrable=False polls in a worker")
    if operator.xcom_links:
        problems.append("xcom_links=True would put signed links in what the triggerer logs")
    if not operator.durable:
        problems.append("durable=False keeps no markers, so a triggerer restart would submit again")
    if operator.get_closest_mapped_task_group() is not None:
        problems.append("a task in a mapped task group gets its arguments from the group's expansion")
    if problems:
        raise ValueError(
            f"start_from_trigger=True is not possible for task {operator.task_id!r}: {'; '.join(problems)}"
        )


def start_trigger_args_for(cls: type, operator: Any = None, wait: timedelta | None = None) -> StartTriggerArgs:
    """The class's arguments (a mapped task: read from the serialized task) or one plain task's.

    ``timeout`` is Airflow's safety net for a lost trigger, as ``defer(timeout=...)`` is in a
    worker: the wait plus a grace period (a mapped task: the longest wait accepted).
    """
    kwargs: dict[str, Any] = {"operator_class": f"{cls.__module__}.{cls.__qualname__}", "operator_kwargs": None}
    if operator is not None:
        check_start_from_trigger(operator)
        try:
            kwargs["operator_kwargs"] = own_arguments(operator)
        except CannotStartInTriggerer as exc:
            raise ValueError(f"start_from_trigger=True is not possible for task {operator.task_id!r}: {exc}") from None
    return StartTriggerArgs(
        trigger_cls=START_TRIGGER,
        next_method="execute_complete",
        trigger_kwargs=kwargs,
        next_kwargs=None,
        timeout=(wait or MAX_WAIT_TIMEOUT) + DEFERRAL_GRACE,
    )
