"""One triggerer at a time starts a task: a claim in the task's Variables, and a stop before sending.

Airflow can run the same trigger on two triggerers for a while: when a triggerer's heartbeat is
late (a busy node, a long pause), the others take its triggers over, and the late one stops them
only when it notices, seconds later. For a trigger that only polls, that costs a few extra status
queries. For :class:`~airflow_provider_videogen.triggers.start.VideoStartTrigger`, which submits,
it could cost a second bill. Seen on the test cluster: under load one triggerer's heartbeat came
back after 25 s, and all 40 of its start triggers also started on the other triggerer.

Two defences, since Variables offer no compare-and-set:

* **a claim**: before anything else, a start trigger waits while another incarnation holds a
  fresh claim (:data:`CLAIM_LEASE`), writes its own, waits :data:`CLAIM_SETTLE` and reads it back;
  only the incarnation whose claim is still there goes on (the other waits again). The holder
  deletes its claim once ``execute`` has finished (record written, or failed); a killed holder's
  claim expires after the lease. The later incarnation then finds the record and re-attaches,
  or the in-flight marker and refuses, as a retry does.
* **a stop before sending**: a trigger cancelled by its triggerer cannot stop the thread that runs
  ``execute``; that thread checks, when it writes the "sending" marker (the last write before the
  create's first byte), whether its trigger was cancelled, and if so stops there: nothing sent.

What remains: two incarnations whose claim writes cross within :data:`CLAIM_SETTLE` of each other
both read their own claim back only if the Variable writes themselves take longer than that.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import threading

#: Store key of the claim (beside the submission markers).
CLAIM_KEY = "start_claim"
#: A claim younger than this is held; older, its holder is taken for dead.
CLAIM_LEASE = 45.0
#: Between writing a claim and reading it back.
CLAIM_SETTLE = 1.0
#: How long a start trigger waits for another incarnation before handing the task to a worker.
CLAIM_WAIT = 120.0
#: How often a waiting trigger reads the claim again.
CLAIM_POLL = 1.0


class ClaimNotGranted(Exception):
    """Another incarnation kept its claim for longer than :data:`CLAIM_WAIT`."""


class StartCancelled(Exception):
    """The trigger was cancelled before its create request was sent; nothing was sent."""


class StartClaim:
    """Claim the start of one task instance in its store, for one trigger incarnation."""

    def __init__(self, store: Any, *, clock: Any = time.time, sleep: Any = time.sleep) -> None:
        self.store = store
        self.holder = uuid.uuid4().hex
        self._clock = clock
        self._sleep = sleep

    def _held_by_other(self) -> bool:
        claim = self.store.get(CLAIM_KEY)
        if not isinstance(claim, dict) or claim.get("holder") == self.holder:
            return False
        try:
            age = self._clock() - float(claim["at"])
        except (KeyError, TypeError, ValueError):
            return False  # unreadable: no live holder can be told from it
        return -CLAIM_LEASE < age < CLAIM_LEASE

    def acquire(self, log: Any = None, cancelled: threading.Event | None = None) -> None:
        deadline = self._clock() + CLAIM_WAIT
        waited = False
        while True:
            while self._held_by_other():
                if cancelled is not None and cancelled.is_set():
                    raise StartCancelled("the trigger was cancelled while another triggerer was starting this task")
                if self._clock() > deadline:
                    raise ClaimNotGranted(f"another triggerer has been starting this task for over {CLAIM_WAIT:.0f} s")
                if not waited and log is not None:
                    log.info("Another triggerer is starting this task (Airflow moved its trigger); waiting for it")
                waited = True
                self._sleep(CLAIM_POLL)
            self.store.set(CLAIM_KEY, {"holder": self.holder, "at": self._clock(), "since": _now_iso()})
            self._sleep(CLAIM_SETTLE)
            if not self._held_by_other():
                return

    def release(self) -> None:
        claim = self.store.get(CLAIM_KEY)
        if isinstance(claim, dict) and claim.get("holder") == self.holder:
            self.store.delete(CLAIM_KEY)


class StopBeforeSending:
    """The task's store, as the submission guard sees it in a start trigger's thread.

    Writing the in-flight marker's "sending" phase is the last step before the create's first
    byte; if the trigger was cancelled meanwhile, that write raises :class:`StartCancelled`
    instead, so a superseded incarnation never sends.
    """

    def __init__(self, store: Any, cancelled: threading.Event) -> None:
        self._store = store
        self._cancelled = cancelled

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        if self._cancelled.is_set() and isinstance(value, dict) and value.get("phase") == "sending":
            raise StartCancelled("the trigger was cancelled before its create request was sent")
        self._store.set(key, value, retention=retention)

    def delete(self, key: str) -> None:
        self._store.delete(key)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
