"""One triggerer at a time starts a task (start_claim): the claim and the stop before sending.

The invariant: two incarnations of one start trigger (Airflow moved it while the first still runs)
are never both between "claim granted" and "claim released". Checked with real threads over a
shared store, with the settle and poll times shortened.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_videogen.triggers import start_claim
from airflow_provider_videogen.triggers.start_claim import (
    CLAIM_KEY,
    CLAIM_LEASE,
    ClaimNotGranted,
    StartCancelled,
    StartClaim,
    StopBeforeSending,
)


class DictStore:
    """The store interface (get/set/delete) over a dict, atomic per call like a Variable row."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            return self.data.get(key, default)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        with self.lock:
            self.data[key] = value

    def delete(self, key: str) -> None:
        with self.lock:
            self.data.pop(key, None)


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_claim, "CLAIM_SETTLE", 0.02)
    monkeypatch.setattr(start_claim, "CLAIM_POLL", 0.005)


@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("incarnations", [2, 3])
def test_two_incarnations_are_never_inside_at_once(incarnations: int) -> None:
    store = DictStore()
    inside, most, rounds = [0], [0], 15
    guard = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(rounds):
                claim = StartClaim(store)
                claim.acquire()
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.003)
                with guard:
                    inside[0] -= 1
                claim.release()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(incarnations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert most[0] == 1
    assert CLAIM_KEY not in store.data  # every holder released


def test_a_dead_holders_claim_expires_after_the_lease() -> None:
    store, now = DictStore(), [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    dead = StartClaim(store, clock=lambda: now[0], sleep=sleep)
    dead.acquire()  # and never releases: its triggerer was killed
    later = StartClaim(store, clock=lambda: now[0], sleep=sleep)
    later.acquire()
    assert store.data[CLAIM_KEY]["holder"] == later.holder
    assert sum(slept) >= CLAIM_LEASE  # it waited for the lease, not for ever


def test_a_claim_held_too_long_hands_the_task_to_a_worker() -> None:
    store, now = DictStore(), [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        holder = store.data[CLAIM_KEY]
        holder["at"] = now[0]  # the other incarnation keeps its claim fresh

    StartClaim(store, clock=lambda: now[0], sleep=lambda s: None).acquire()
    with pytest.raises(ClaimNotGranted):
        StartClaim(store, clock=lambda: now[0], sleep=sleep).acquire()


def test_a_cancelled_trigger_stops_before_sending_and_not_before() -> None:
    store, cancelled = DictStore(), threading.Event()
    guarded = StopBeforeSending(store, cancelled)
    guarded.set("in_flight", {"phase": "prepared"})
    cancelled.set()
    guarded.set("in_flight", {"phase": "prepared"})  # nothing is on the wire yet: harmless
    with pytest.raises(StartCancelled):
        guarded.set("in_flight", {"phase": "sending"})
    assert store.data["in_flight"] == {"phase": "prepared"}  # a later incarnation may submit
    guarded.delete("in_flight")
    assert guarded.get("in_flight") is None


def test_a_cancelled_trigger_stops_waiting_for_a_claim() -> None:
    store, cancelled = DictStore(), threading.Event()
    StartClaim(store, sleep=lambda s: None).acquire()
    cancelled.set()
    with pytest.raises(StartCancelled):
        StartClaim(store, sleep=lambda s: None).acquire(cancelled=cancelled)
