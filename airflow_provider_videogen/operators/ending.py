"""Ending a video task in the triggerer: when it may, and how the worker recognises it did.

A deferred task normally costs two worker workloads: one that submits and defers, one that
resumes after the trigger fired and pushes the result. The second does milliseconds of work but
pays for a whole task start (interpreter, imports, DAG parse, execution-API round trips). With
``end_from_trigger`` the trigger ends the task itself on success, with the same XCom result
(:func:`~airflow_provider_videogen.results.video_result`), so a video costs one workload.

What it must not cost:

* **secrets**: the triggerer logs the ending event and stores its XComs, so it is used only with
  ``xcom_links=False`` (the result then holds no signed link);
* **lineage**: Airflow refuses, at DAG import, any task that ends in the triggerer while a
  listener plugin is active (OpenLineage is one), because listeners run in the worker. The
  default therefore switches itself off when a listener is registered, and lineage keeps working
  at the price of the second workload;
* **failure handling**: only a clean success ends there. Failures, timeouts and unreadable
  states resume in a worker exactly as before (retry policy, messages, partial remixes).
"""

from __future__ import annotations

from typing import Any


def listeners_active() -> bool:
    """True when a listener plugin (OpenLineage, ...) is registered in this process.

    When Airflow cannot tell (its listener manager fails to load), answer ``True``: keeping the
    worker workload is the safe side, since a task that ends in the triggerer beside a listener
    makes the whole DAG fail to import.
    """
    try:
        from airflow.listeners.listener import get_listener_manager

        return bool(get_listener_manager().has_listeners)
    except Exception:
        return True


def resolve_end_from_trigger(requested: bool | None, *, xcom_links: bool) -> bool:
    """The operator's ``end_from_trigger``: what was asked, or the safe default for ``None``."""
    if requested is None:
        return not xcom_links and not listeners_active()
    if requested and xcom_links:
        raise ValueError(
            "end_from_trigger=True needs xcom_links=False: the triggerer logs the event that ends the "
            "task, and with xcom_links=True its result would hold the signed download links"
        )
    return bool(requested)


def is_end_event_payload(event: Any) -> bool:
    """The bare state ``dag.test()`` passes on when a trigger yielded ``TaskSuccessEvent``."""
    return isinstance(event, str) and event == "success"
