"""How a trigger ends its task with a result a downstream task can read.

Airflow 3.3.2 stores the XComs carried by a ``TaskSuccessEvent`` with ``XComModel.set(serialize=True)``
in the triggerer: the value is ``json.dumps``-ed into a JSON *string*, while a worker's XCom goes
through the execution API and is stored as the JSON object itself. The REST API decodes both, so the
Airflow UI shows the dict, but a downstream *worker* task (``ti.xcom_pull``, ``video.output``) reads
the string: ``result["id"]`` then fails with ``TypeError``, and the example pipeline's collectors did
(see ``tests/e2e/test_real_components.py::test_a_task_that_ended_in_the_triggerer_hands_its_result_on_as_a_dict``).

So the result is written the way a worker writes it: through the execution API (``BaseXCom.set``,
which the triggerer answers like a worker's supervisor), before the event that ends the task, and the
event carries no XCom. When the write cannot be made (no task instance, as under ``dag.test()``, or
the API failed), the caller hands the task to a worker instead: the worker pushes the same result and
nothing is lost but the saved workload.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent

RETURN_VALUE_KEY = "return_value"


def write_xcom(ti: Any, key: str, value: Any) -> None:
    """Write an XCom of ``ti`` through the execution API, as a worker's task would (synchronous)."""
    from airflow.sdk.bases.xcom import BaseXCom

    map_index = getattr(ti, "map_index", None)
    BaseXCom.set(
        key,
        value,
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=-1 if map_index is None else map_index,
    )


async def success_with_result(trigger: BaseTrigger, result: Any, log: Any) -> TaskSuccessEvent | None:
    """Write ``result`` as the task's return value, then the event that ends the task successfully.

    ``None`` when it could not be written: the caller yields its ordinary event and a worker
    completes the task (pushing the same result itself).
    """
    ti = trigger.task_instance
    if ti is None or not all(getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id")):
        return None
    try:
        # The triggerer's comms are synchronous; a thread keeps the event loop (other triggers) going.
        await asyncio.to_thread(write_xcom, ti, RETURN_VALUE_KEY, result)
    except Exception as exc:  # any failure only costs the workload we meant to save
        log.warning("Could not write the result here (%s); a worker completes the task", type(exc).__name__)
        return None
    return TaskSuccessEvent()
