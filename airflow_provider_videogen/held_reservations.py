"""Reservations left held by task instances that will not run again, and releasing the safe ones.

A try takes its reservation in the budget's ledger before it sends the create. A try killed in
between, whose task instance then fails for good (no retry left, or nobody clears it), leaves the
estimate held: the budget shrinks by it for the rest of the period, and before this nothing listed
it (found by the chaos runs, CHAOS.md, finding 4). The next try of the same request would re-use it,
but there is no next try.

``python -m airflow_provider_videogen.uncertain held --dag-id D`` lists every reservation a task
instance's store still calls ``reserved`` while the task instance has no live try, and says which
of them provably had nothing sent (the guard marks a reservation ``sent`` *before* the create
leaves, :mod:`.spend.guard`). ``release-held --conn-id C ... --apply`` frees those in the ledger of
connection ``C``'s budget and marks them released in the store, so a later clear takes a new
reservation, checked against the budget. Released only under the task instance's row lock, from
its store's record as it is then (not as it was listed), when that record names the task
instance's own reservation id, and once its last try's process can no longer be running (its
last heartbeat older than ``[scheduler] task_instance_heartbeat_timeout``: a try marked failed
by a user runs on until its supervisor stops it). A reservation a create may have been sent under is never
released here: it is an uncertain submission (``uncertain list``), settled by re-attaching when the
gateway has the task; a human who finds it has none says so with ``resolve --mark-lost`` first.

A batch task instance (``VideoGenerationBatchOperator``) holds one reservation per item, each
under its item's key ``videogen_spend_reservation__item<i>``, all with the task instance's
reservation key and different nonces. Each is listed and released on its own, from (and into)
its own key; a reservation id that two keys of the task instance name (a copied or hand-edited
row) is never released: which one's create it covers cannot be told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_videogen.operators.batch import item_key
from airflow_provider_videogen.spend.reservation import SPEND_KEY, SpendRecord
from airflow_provider_videogen.uncertain import keys_filter, split_item_key, where_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow_provider_videogen.spend.ledger import S3Ledger


@dataclass(frozen=True)
class HeldReservation:
    """A task instance's reservation still held in the ledger, and what its store says of it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    record: SpendRecord
    state: str | None
    #: The batch item whose reservation this is (key ``videogen_spend_reservation__item<i>``); ``None``: the task's.
    item: int | None = None
    #: Another key of the same task instance whose record names the same reservation id (a copied row).
    twin: str | None = None

    @property
    def key(self) -> str:
        """The task state store key the record lives under."""
        return SPEND_KEY if self.item is None else item_key(SPEND_KEY, self.item)

    @property
    def own(self) -> bool:
        """The record names this task instance's own reservation id (``<key>#<seq>.<nonce>``, :mod:`.reservation`).

        A record naming another task instance's entry (forged, hand-edited, copied between runs)
        would otherwise release that one, which may be billing; a record without a nonce was not
        written by a version that tracks ``sent`` (the guard never re-uses one either). Every item
        of a batch has the task instance's key (with its own nonce).
        """
        r = self.record
        key = f"{self.dag_id}/{self.run_id}/{self.task_id}/{self.map_index}"
        return r.nonce is not None and r.reservation_id == f"{key}#{r.seq}.{r.nonce}"

    @property
    def nothing_sent(self) -> bool:
        return not self.record.sent and self.own and self.twin is None

    def describe(self) -> str:
        where = where_of(self.dag_id, self.run_id, self.task_id, self.map_index, self.item, SPEND_KEY)
        r = self.record
        if not self.own:
            sent = "the record does not name this task instance's own reservation, so it is never released here"
        elif self.twin is not None:
            sent = f"key {self.twin} of the same task instance names it too, so it is never released here"
        elif self.nothing_sent:
            sent = "nothing was sent under it"
        else:
            sent = "a create may have been sent under it"
        return (
            f"{where}: reservation {r.reservation_id} of {r.estimate} credits in budget {r.budget!r} "
            f"(period {r.period_id}) is held; {sent}; task instance {self.state or 'no state'}"
        )


def find_held(
    session: Session, dag_id: str, run_id: str | None, resolvable: frozenset[str | None]
) -> list[HeldReservation]:
    """Every ``reserved`` reservation (of a batch: every item's) of a DAG (or run) whose task instance is resolvable."""
    from airflow.models.task_state_store import TaskStateStoreModel as Row
    from sqlalchemy import select

    query = select(Row).where(Row.dag_id == dag_id, keys_filter(Row.key, SPEND_KEY))
    if run_id is not None:
        query = query.where(Row.run_id == run_id)
    parsed = []
    keys_of: dict[tuple[str, str, int, str], list[str]] = {}
    for row in session.scalars(query):
        base, item = split_item_key(row.key)
        if base != SPEND_KEY:
            continue  # another key that happens to start the same way
        try:
            record = SpendRecord.model_validate(json.loads(row.value))
        except ValueError:
            continue  # not ours to judge; the operator refuses such a record itself
        parsed.append((row.run_id, row.task_id, row.map_index, item, record))
        keys_of.setdefault((row.run_id, row.task_id, row.map_index, record.reservation_id), []).append(row.key)
    found = []
    for run, task, index, item, record in parsed:
        if record.state != "reserved":
            continue
        state = _ti_state(session, dag_id, run, task, index)
        if state not in resolvable:
            continue  # a live try re-uses, settles or releases it itself
        own_key = SPEND_KEY if item is None else item_key(SPEND_KEY, item)
        twins = sorted(k for k in keys_of[(run, task, index, record.reservation_id)] if k != own_key)
        found.append(HeldReservation(dag_id, run, task, index, record, state, item, twins[0] if twins else None))
    return sorted(found, key=lambda h: (h.run_id, h.task_id, h.map_index, -1 if h.item is None else h.item))


def _ti_state(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, *, lock: bool = False
) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    query = select(TaskInstance.state).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id == run_id,
        TaskInstance.task_id == task_id,
        TaskInstance.map_index == map_index,
    )
    raw = session.scalar(query.with_for_update() if lock else query)
    return None if raw is None else str(getattr(raw, "value", raw))


def release_held(
    session: Session, item: HeldReservation, ledger: S3Ledger, ended: frozenset[str | None], *, by: str, reason: str
) -> str:
    """Release one reservation nothing was sent under, in the ledger and then in the task instance's store.

    Returns what was done (one line); a refusal changes nothing and is said the same way, so the
    other reservations of the same call are still released.

    The task instance's row is locked and its state checked again first: a clear in between would
    start a try that re-uses the reservation (it was never sent) while it is being released, and
    its create would then count against nothing. A clear waits for this transaction instead, and
    its try finds the store saying ``released`` and takes a new reservation, checked against the
    budget. The store's record is read again under that lock too: a try that ran (re-used the
    reservation, sent its create, and failed again) between the listing and the lock left a record
    saying ``sent``, and the listing's copy must not release what that create is billing.

    The ledger is written before the store: a crash between the two leaves ``reserved`` in the
    store for an entry the ledger released, which ``held`` lists again (release is idempotent),
    and a try re-using it finds the entry released and takes a new one. An entry the ledger has
    already settled was paid: the store is told so instead of ``released``.
    """
    from airflow.state import TaskScope, get_state_backend

    state = _ti_state(session, item.dag_id, item.run_id, item.task_id, item.map_index, lock=True)
    if state not in ended:
        return f"not releasing {item.describe()}: the task instance is now {state or 'cleared'}"
    alive = _may_still_run(session, item)
    if alive is not None:
        return f"not releasing {item.describe()}: {alive}"
    backend = get_state_backend()
    scope = TaskScope(dag_id=item.dag_id, run_id=item.run_id, task_id=item.task_id, map_index=item.map_index)
    now = _record(backend.get(scope, item.key, session=session))
    if now != item.record:
        return f"not releasing {item.describe()}: its record changed since it was listed; list again"
    twin = _also_named_by(session, item)
    if twin is not None:
        return (
            f"not releasing {item.describe()}: key {twin} of the same task instance names the same reservation, "
            "so it cannot be told which create it covers"
        )
    if not item.nothing_sent:
        why = (
            "it is not this task instance's reservation"
            if not item.own
            else "another key names it too"
            if item.twin is not None
            else "resolve the uncertain submission first"
        )
        return f"not releasing {item.describe()}: {why}"
    if item.record.budget != ledger.config.name:
        return f"not releasing {item.describe()}: the connection's budget is {ledger.config.name!r}"
    note = f"released by {by}: {reason or 'held by a task instance that will not run again; nothing was sent'}"
    entry = ledger.release(item.record.reservation_id, period_id=item.record.period_id, reason=note[:500])
    if entry is not None and entry.state == "settled":
        # A create was sent and billed under it (the record was stale): the money stays counted.
        settled = item.record.model_copy(update={"state": "settled", "sent": True})
        backend.set(scope, item.key, settled.model_dump_json(), expires_at=None, session=session)
        return f"not released: {item.describe()}; the ledger has it settled for remote task {entry.remote_id}"
    released = item.record.model_copy(update={"state": "released"})
    backend.set(scope, item.key, released.model_dump_json(), expires_at=None, session=session)
    where = ledger.config.describe(item.record.period_id)
    missing = "" if entry is not None else f" (no such entry in {where}: nothing was held there)"
    return f"released: {item.describe()}{missing}"


def _also_named_by(session: Session, item: HeldReservation) -> str | None:
    """Another reservation key of the same task instance whose record names the same reservation id, if any.

    Each of a batch's items takes its own reservation (its own nonce); two keys naming one id were
    copied or edited by hand, and one of them may cover a create that was sent.
    """
    from airflow.models.task_state_store import TaskStateStoreModel as Row
    from sqlalchemy import select

    rows = session.execute(
        select(Row.key, Row.value).where(
            Row.dag_id == item.dag_id,
            Row.run_id == item.run_id,
            Row.task_id == item.task_id,
            Row.map_index == item.map_index,
            keys_filter(Row.key, SPEND_KEY),
        )
    )
    for key, value in rows:
        if key == item.key or split_item_key(key)[0] != SPEND_KEY:
            continue
        other = _record(value)
        if other is not None and other.reservation_id == item.record.reservation_id:
            return str(key)
    return None


def _may_still_run(session: Session, item: HeldReservation) -> str | None:
    """Why the last try's process may still be running although the task instance has ended; ``None``: it cannot.

    A user who marks a running task instance failed ends it in the database at once, but its
    process runs on until its supervisor's heartbeat is refused, and for as long as the
    ``[scheduler] task_instance_heartbeat_timeout`` when the API server cannot be reached: it may
    still re-use the reservation and send its create (its ``sent`` flag not yet written). A
    release then would leave that create counted against nothing. After the timeout since the
    last heartbeat, the supervisor has killed it.
    """
    from datetime import timedelta

    from airflow.configuration import conf
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    from airflow_provider_videogen.clock import utcnow

    beat = session.scalar(
        select(TaskInstance.last_heartbeat_at).where(
            TaskInstance.dag_id == item.dag_id,
            TaskInstance.run_id == item.run_id,
            TaskInstance.task_id == item.task_id,
            TaskInstance.map_index == item.map_index,
        )
    )
    timeout = timedelta(seconds=conf.getint("scheduler", "task_instance_heartbeat_timeout"))
    if beat is None or utcnow() - beat >= timeout:
        return None
    return (
        f"its last try heartbeat at {beat.isoformat()}, and its process may still be sending a create until "
        f"{(beat + timeout).isoformat()} ([scheduler] task_instance_heartbeat_timeout); try again after that"
    )


def _record(raw: str | None) -> SpendRecord | None:
    try:
        return SpendRecord.model_validate(json.loads(raw)) if raw else None
    except ValueError:
        return None
