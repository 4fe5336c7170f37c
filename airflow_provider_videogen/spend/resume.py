"""On a task's completion in a worker: settle the reservation its paid create left unsettled.

The create's settlement can fail after the gateway accepted it (the ledger's object store down, a
conflict storm): the reservation then stays ``reserved`` at its estimate, which keeps the create
counted but never names its remote task. Before this, only a later re-attach (a retry or a clear)
settled it, and a task that succeeded had none, so the entry stayed that way for good (found by the
chaos runs, CHAOS.md, finding 7). Now the operator defers with ``end_from_trigger`` off for such a
task, and the worker that completes it settles here, with the figure the gateway reported.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.spend.guard import SpendGuard
from airflow_provider_videogen.spend.reservation import SPEND_KEY, _load

if TYPE_CHECKING:
    from airflow_provider_videogen.models import VideoTask
    from airflow_provider_videogen.operators.reattach import SubmissionRecord


#: Further tries of the settlement when the ledger still fails at completion (seconds before each):
#: an object store's short outage (a chaos run's 10-18 s faults) must not leave the entry held.
SETTLE_RETRY_DELAYS: tuple[float, ...] = (5.0, 15.0, 30.0)


def settle_left(operator: Any, context: Any, task: VideoTask, record: SubmissionRecord | None) -> None:
    """Settle ``record``'s reservation if the task instance's store still calls it ``reserved``.

    Never fails the task: the video is paid for. A ledger that still fails is tried again a few
    times (:data:`SETTLE_RETRY_DELAYS`, about 50 s in all, in this worker slot); after that the
    entry stays held at its estimate (logged; ``uncertain held`` lists it) until a re-attach.
    """
    if record is None or record.reservation_id is None:
        return  # no budget, or submitted by an older version
    store = operator._state_store(context)
    earlier = _load(store.get(SPEND_KEY)) if store is not None else None
    if earlier is None or earlier.reservation_id != record.reservation_id or earlier.state != "reserved":
        return  # settled (or released) already, or a later reservation that is not this create's
    try:
        guard = SpendGuard.check(
            log=operator.log,
            conn_id=operator.videogen_conn_id,
            request=operator.build_request(),
            context=context,
            max_credits=operator.max_credits,
            allow_unpriced=operator.allow_unpriced,
        )
        for delay in (0.0, *SETTLE_RETRY_DELAYS):
            if delay:
                operator.log.info("Settling reservation %s again in %.0f s", record.reservation_id, delay)
                time.sleep(delay)
            guard.unsettled = False
            guard.settle_reattached(store, task, record)
            if not guard.unsettled:
                return
    except Exception as exc:  # the create was paid: the ledger's trouble must not fail the task
        operator.log.error(
            "Could not settle reservation %s of remote task %s on completion (%s: %s); it stays held at its "
            "estimate until a re-attach settles it",
            record.reservation_id,
            task.id,
            type(exc).__name__,
            str(exc)[:300],
        )
