"""List and resolve uncertain submissions in bulk: ``python -m airflow_provider_videogen.uncertain``.

A task instance is *uncertain* when its task state store holds an in-flight marker
(:data:`~.operators.reattach.IN_FLIGHT_KEY`) in phase ``"sending"`` that no record answers
(``record.marker_started_at == marker.started_at``): a create may have reached the gateway and
nobody knows its id, so every retry refuses (``operators/reattach.py``). Only a human who has
compared the gateway's task list or bill with what was sent can say what happened:

* ``list --dag-id D [--run-id R] [--task-id T] [--map-index M] [--item I]``: every uncertain
  task instance, with what was sent (api, model, request fingerprint), when, by which try, and
  the task instance's state;
* ``resolve ... --mark-lost``: the create never became a task: delete the marker so the next
  try submits (once);
* ``resolve ... --resubmit``: the same, and clear the task instance so it runs again now.

* ``held --dag-id D``: reservations still held in the budget's ledger by task instances that will
  not run again, and whether anything was sent under them; ``release-held --conn-id C ...
  --apply`` frees those nothing was sent under (:mod:`.held_reservations`).

A batch task instance (``VideoGenerationBatchOperator``) keeps each item's marker, record and
reservation under the usual key plus ``__item<i>`` (``operators.batch.item_key``): each item is
listed, resolved and released on its own, named by its index and store key (``--item I`` picks
one); ``--resubmit`` clears the whole batch task instance, whose next try re-attaches to the
other items' videos.

``resolve`` and ``release-held`` only list what they would do unless ``--apply`` is given. Each applied decision is
recorded under :data:`DECISION_KEY` in the task instance's store (who, when, why, the marker it
resolved) and logged. It reads and writes the metadata DB directly (like ``airflow tasks
clear``), so it runs where Airflow's CLI runs; it lists from the default (metastore) state
store backend's table. Task instances with a live try (running, queued,
deferred...) are never touched: that try may be sending the create right now.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.operators.batch import item_key
from airflow_provider_videogen.operators.reattach import (
    IN_FLIGHT_KEY,
    RECORD_KEY,
    InFlightMarker,
    SubmissionRecord,
    load_model,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

log = logging.getLogger("videogen.uncertain")

#: Store key of the decisions taken about this task instance's uncertain submissions (a list).
DECISION_KEY = "videogen_uncertain_decisions"
#: Task instance states with no live try: only these may be resolved.
RESOLVABLE_STATES = frozenset({"failed", "up_for_retry", "upstream_failed", "success", "skipped", "removed", None})
#: Task instance states that will not run again on their own: a held reservation's next try never comes.
#: Not ``None``: a cleared task instance is about to run, and its try re-uses the reservation.
ENDED_STATES = RESOLVABLE_STATES - {"up_for_retry", None}
_ITEM = re.compile(r"(?P<base>.+)__item(?P<index>\d+)")


def split_item_key(key: str) -> tuple[str, int | None]:
    """``(usual key, batch item index)`` of a task state store key; ``(key, None)`` for a key without item suffix."""
    match = _ITEM.fullmatch(key)
    if match and item_key(match["base"], int(match["index"])) == key:
        return match["base"], int(match["index"])
    return key, None


def keys_filter(column: Any, key: str) -> Any:
    """SQL: ``column`` is ``key`` or starts as a batch item's ``key__item<i>`` (check with :func:`split_item_key`)."""
    from sqlalchemy import or_

    return or_(column == key, column.startswith(item_key(key, 0)[:-1], autoescape=True))


def where_of(dag_id: str, run_id: str, task_id: str, map_index: int, item: int | None, key: str) -> str:
    """How the listings name a task instance (and a batch item, with its store key)."""
    where = f"{dag_id} {run_id} {task_id}" + (f"[{map_index}]" if map_index >= 0 else "")
    return where if item is None else f"{where} item {item} (store key {item_key(key, item)})"


@dataclass(frozen=True)
class Uncertain:
    """One uncertain task instance and what its marker says was sent."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    marker: InFlightMarker
    state: str | None
    #: The batch item whose marker this is (its keys end in ``__item<i>``); ``None``: the task instance's own.
    item: int | None = None

    @property
    def marker_key(self) -> str:
        return IN_FLIGHT_KEY if self.item is None else item_key(IN_FLIGHT_KEY, self.item)

    def describe(self) -> str:
        where = where_of(self.dag_id, self.run_id, self.task_id, self.map_index, self.item, IN_FLIGHT_KEY)
        m = self.marker
        return (
            f"{where}: {m.api.value if m.api else 'api unknown'} create of model {m.model or 'unknown'} "
            f"(request {m.fingerprint}) sent at {m.started_at.isoformat()} by try {m.try_number}; "
            f"task instance {self.state or 'no state'}"
        )


def find_uncertain(session: Session, dag_id: str, run_id: str | None = None) -> list[Uncertain]:
    """Every uncertain task instance (or batch item) of a DAG (or one of its runs), oldest marker first."""
    from airflow.models.task_state_store import TaskStateStoreModel as Row
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import or_, select

    query = select(Row).where(
        Row.dag_id == dag_id, or_(keys_filter(Row.key, IN_FLIGHT_KEY), keys_filter(Row.key, RECORD_KEY))
    )
    if run_id is not None:
        query = query.where(Row.run_id == run_id)
    rows: dict[tuple[str, str, int, int | None], dict[str, Any]] = {}
    for row in session.scalars(query):
        base, item = split_item_key(row.key)
        if base in (IN_FLIGHT_KEY, RECORD_KEY):
            rows.setdefault((row.run_id, row.task_id, row.map_index, item), {})[base] = json.loads(row.value)
    found = []
    for (run, task, index, item), keys in rows.items():
        marker = load_model(InFlightMarker, keys.get(IN_FLIGHT_KEY))
        record = load_model(SubmissionRecord, keys.get(RECORD_KEY))
        if marker is None or marker.phase == "prepared":
            continue  # nothing in flight, or provably nothing sent: the next try submits on its own
        if record is not None and record.marker_started_at == marker.started_at:
            continue  # answered: the try died between recording the task and deleting the marker
        state = session.scalar(
            select(TaskInstance.state).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run,
                TaskInstance.task_id == task,
                TaskInstance.map_index == index,
            )
        )
        found.append(
            Uncertain(
                dag_id, run, task, index, marker, None if state is None else str(getattr(state, "value", state)), item
            )
        )
    return sorted(found, key=lambda u: (u.marker.started_at, -1 if u.item is None else u.item))


def resolve(session: Session, item: Uncertain, *, action: str, by: str, reason: str) -> None:
    """Record the decision, delete the marker and (``resubmit``) clear the task instance, in one transaction.

    A batch item's decision deletes that item's marker only; ``resubmit`` clears the whole batch
    task instance, whose next try re-attaches to the other items' videos.
    """
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.state import TaskScope, get_state_backend
    from sqlalchemy import select

    if item.state not in RESOLVABLE_STATES:
        raise SystemExit(f"not resolving {item.describe()}: a try may be live; wait until it ends")
    backend = get_state_backend()
    scope = TaskScope(dag_id=item.dag_id, run_id=item.run_id, task_id=item.task_id, map_index=item.map_index)
    earlier = backend.get(scope, DECISION_KEY, session=session)
    decisions = json.loads(earlier) if earlier else []
    decisions.append(
        {
            "action": action,
            "by": by,
            "at": utcnow().isoformat(),
            "reason": reason,
            "marker": item.marker.model_dump(mode="json"),
            **({} if item.item is None else {"item": item.item, "key": item.marker_key}),
        }
    )
    backend.set(scope, DECISION_KEY, json.dumps(decisions), expires_at=None, session=session)  # kept: an audit trail
    backend.delete(scope, item.marker_key, session=session)
    if action == "resubmit":
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == item.dag_id,
                TaskInstance.run_id == item.run_id,
                TaskInstance.task_id == item.task_id,
                TaskInstance.map_index == item.map_index,
            )
        ).all()
        clear_task_instances(list(tis), session)
    log.warning("%s by %s: %s (%s)", action, by, item.describe(), reason or "no reason given")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_videogen.uncertain", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("list", "resolve", "held", "release-held"):
        p = sub.add_parser(name)
        p.add_argument("--dag-id", required=True)
        p.add_argument("--run-id")
        p.add_argument("--task-id")
        p.add_argument("--map-index", type=int)
        p.add_argument("--item", type=int, help="only this item of a batch task instance (keys ending in __item<i>)")
        if name == "release-held":
            p.add_argument("--conn-id", required=True, help="the videogen connection whose budget holds them")
            p.add_argument("--by", default=None, help="who decides (default: the OS user)")
            p.add_argument("--reason", default="", help="why")
            p.add_argument("--apply", action="store_true", help="do it (default: only list what would be done)")
        if name == "resolve":
            what = p.add_mutually_exclusive_group(required=True)
            what.add_argument(
                "--mark-lost", action="store_true", help="the gateway has no such task: the next try submits"
            )
            what.add_argument("--resubmit", action="store_true", help="as --mark-lost, and clear the task instance")
            p.add_argument("--by", default=None, help="who decides (default: the OS user)")
            p.add_argument("--reason", default="", help="why (e.g. 'not in the gateway task list of 2026-03-01')")
            p.add_argument("--apply", action="store_true", help="do it (default: only list what would be done)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from airflow.utils.session import create_session

    if args.command in ("held", "release-held"):
        return _held(args)
    with create_session() as session:
        items = [
            u
            for u in find_uncertain(session, args.dag_id, args.run_id)
            if (args.task_id is None or u.task_id == args.task_id)
            and (args.map_index is None or u.map_index == args.map_index)
            and (args.item is None or u.item == args.item)
        ]
        for item in items:
            print(item.describe())
        print(f"{len(items)} uncertain submission(s)")
        if args.command == "list" or not items:
            return 0
        action = "resubmit" if args.resubmit else "mark_lost"
        if not args.apply:
            print(f"dry run: add --apply to {action.replace('_', ' ')} these {len(items)}")
            return 0
        for item in items:
            resolve(session, item, action=action, by=args.by or getpass.getuser(), reason=args.reason)
    return 0


def _held(args: argparse.Namespace) -> int:
    from airflow.utils.session import create_session

    from airflow_provider_videogen.held_reservations import find_held, release_held

    with create_session() as session:
        items = [
            h
            for h in find_held(session, args.dag_id, args.run_id, ENDED_STATES)
            if (args.task_id is None or h.task_id == args.task_id)
            and (args.map_index is None or h.map_index == args.map_index)
            and (args.item is None or h.item == args.item)
        ]
        for item in items:
            print(item.describe())
        safe = [h for h in items if h.nothing_sent]
        print(f"{len(items)} held reservation(s), {len(safe)} with nothing sent")
        if args.command == "held" or not safe:
            return 0
        if not args.apply:
            print(f"dry run: add --apply to release these {len(safe)}")
            return 0
        ledger = _ledger(args.conn_id)
        for item in safe:
            done = release_held(
                session, item, ledger, ENDED_STATES, by=args.by or getpass.getuser(), reason=args.reason
            )
            session.commit()  # each decision on its own: the next one's ledger write cannot undo this store write
            print(done)
            log.warning("%s", done)
    return 0


def _ledger(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    from airflow_provider_videogen.spend.ledger import BudgetConfig, S3Ledger

    config = BudgetConfig.from_extra(BaseHook.get_connection(conn_id).extra_dejson, conn_id)
    if config is None:
        raise SystemExit(f"connection {conn_id!r} has no budget")
    return S3Ledger(config)


if __name__ == "__main__":
    sys.exit(main())
