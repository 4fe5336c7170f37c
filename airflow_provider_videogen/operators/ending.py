"""Ending a video task in the triggerer: when it may, and how the worker recognises it did.

A deferred task normally costs two worker workloads: one that submits and defers, one that
resumes after the trigger fired and pushes the result. The second does milliseconds of work but
pays for a whole task start (interpreter, imports, DAG parse, execution-API round trips). With
``end_from_trigger`` the trigger ends the task itself on success, with the same XCom result
(:func:`~airflow_provider_videogen.results.video_result`), so a video costs one workload.

What it must not cost:

* **secrets**: the triggerer logs the ending event and stores its XComs, so it is used only with
  ``xcom_links=False`` (the result then holds no signed link);
* **lineage**: listeners (OpenLineage is one) run in the worker, so a task that ends in the
  triggerer never tells them it succeeded; Airflow refuses, at DAG import, a task whose
  ``end_from_trigger`` attribute is true while a listener is registered. The default (``None``)
  is therefore decided when the task defers, in the worker, where the task runner has loaded the
  listeners anyway: with a listener registered the task resumes in the worker as before and
  lineage keeps working, at the price of the second workload;
* **failure handling**: only a clean success ends there. Failures, timeouts and unreadable
  states resume in a worker exactly as before (retry policy, messages, partial remixes).
"""

from __future__ import annotations

from typing import Any


def listeners_active() -> bool:
    """True when a listener plugin (OpenLineage, ...) is registered for the task runner.

    When Airflow cannot tell (its listener manager fails to load), answer ``True``: keeping the
    worker workload is the safe side.
    """
    try:
        from airflow.sdk.listener import get_listener_manager

        return bool(get_listener_manager().has_listeners)
    except Exception:
        return True


def check_end_from_trigger(requested: bool | None, *, xcom_links: bool) -> bool | None:
    """Refuse, when the DAG is parsed, what can never end in the triggerer; keep ``None`` as it is.

    ``None`` is decided later, when the task defers (:func:`ends_in_triggerer`). Only an explicit
    ``True`` is stored as a true ``end_from_trigger`` attribute, which is what Airflow's own
    listener check at DAG import looks at.
    """
    if requested and xcom_links:
        raise ValueError(
            "end_from_trigger=True needs xcom_links=False: the triggerer logs the event that ends the "
            "task, and with xcom_links=True its result would hold the signed download links"
        )
    return None if requested is None else bool(requested)


def ends_in_triggerer(requested: bool | None, *, xcom_links: bool) -> bool:
    """Whether the trigger of this try ends the task: what was asked, or for ``None`` the default
    (unless links go to XCom or a listener is registered)."""
    if requested is None:
        return not xcom_links and not listeners_active()
    return bool(requested) and not xcom_links


def is_end_event_payload(event: Any) -> bool:
    """The bare state ``dag.test()`` passes on when a trigger yielded ``TaskSuccessEvent``."""
    return isinstance(event, str) and event == "success"
