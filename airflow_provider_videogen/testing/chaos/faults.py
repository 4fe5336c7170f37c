"""Injectors: carry out a :class:`~.schedule.Schedule` on the running stack, and heal it afterwards.

Each fault has a start and an end action (the end of a kill is the restart, as Kubernetes would
restart a pod; the end of a gateway storm clears its simulator setting). :class:`Injector` runs
them at their offsets, from the caller's thread (:meth:`Injector.step`, called by the driver's
loop), and records what it did (:attr:`Injector.done`):
the invariants need to know which components the driver killed and when PostgreSQL was down.
:meth:`Injector.heal` runs every end action still pending, so the stack is whole when the load
drains and every run can end.

Why no thread of its own: a component is started with ``PR_SET_PDEATHSIG`` (it dies with its
parent), and Linux ties that to the *thread* that forked it. A component restarted from a
thread that then ends is SIGKILLed at that moment (the first version did so: every component it
had restarted died when the injector thread ended, and the supervisor logged six crashes).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_videogen.simulator.config import ResponseFault
from airflow_provider_videogen.testing.chaos.schedule import RETRYABLE_RENDER_CODE

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.chaos.schedule import Fault, Schedule
    from airflow_provider_videogen.testing.cluster import AirflowCluster
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

#: The text every chaos prompt carries; a failing-renders window fails the tasks created from them.
CHAOS_PROMPT_MARK = "[chaos-"


@dataclass(frozen=True)
class Done:
    """One action the injector carried out (or skipped, with why), at ``time.time()``."""

    at: float
    fault: int
    action: str
    ok: bool = True


class Injector:
    """Runs a schedule's faults against the cluster, the simulator and the SeaweedFS."""

    def __init__(
        self, schedule: Schedule, cluster: AirflowCluster, simulator: SimulatorServer, s3: SeaweedFS | None
    ) -> None:
        self.schedule = schedule
        self.cluster = cluster
        self.simulator = simulator
        self.s3 = s3
        self.done: list[Done] = []
        #: ``(name, time.time())`` of every SIGKILL the driver sent.
        self.kills: list[tuple[str, float]] = []
        #: ``(stopped, started)`` wall times of each PostgreSQL restart (``started`` 0 until it is back).
        self.postgres_down: list[list[float]] = []
        self._queue: list[tuple[float, int, int, str, Callable[[], object]]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._t0 = 0.0
        self._initial_retry_after = simulator.config.retry_after_seconds

    # ---- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Offsets count from this call; :meth:`step` carries out what is due."""
        self._t0 = time.monotonic()
        for index, fault in enumerate(self.schedule.faults):
            self._push(fault.at, index, f"start {fault.kind}", self._starter(index, fault))

    def _push(self, at: float, index: int, what: str, action: Callable[[], object]) -> None:
        with self._lock:
            heapq.heappush(self._queue, (at, next(self._order), index, what, action))

    def step(self) -> None:
        """Carry out every action that is due (call it often, from the thread that lives longest)."""
        while True:
            with self._lock:
                due = self._queue and self._queue[0][0] <= time.monotonic() - self._t0
                item = heapq.heappop(self._queue) if due else None
            if item is None:
                return
            self._do(item[2], item[3], item[4])

    def _do(self, index: int, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # one failed injection must not stop the others, nor the healing
            self.done.append(Done(time.time(), index, f"{what}: {type(exc).__name__}: {exc}"[:300], ok=False))
            print(f"[chaos] fault {index} {what} failed: {exc!r}", flush=True)
            return
        self.done.append(Done(time.time(), index, what))
        print(f"[chaos] t+{time.monotonic() - self._t0:6.1f}s fault {index}: {what}", flush=True)

    def heal(self) -> None:
        """Stop injecting; run every pending end action (restarts, settings cleared) now, in order."""
        with self._lock:
            pending = sorted(self._queue)
            self._queue = []
        for _, _, index, what, action in pending:
            if not what.startswith("start "):
                self._do(index, what, action)
        self.simulator.configure(
            next_responses=[],
            rate_429=0.0,
            retry_after_seconds=self._initial_retry_after,
            slow_seconds=0.0,
            get_status=None,
            fail_prompts_containing={},
        )

    @property
    def injected(self) -> int:
        """Faults whose start action was carried out."""
        return sum(1 for d in self.done if d.ok and d.action.startswith("start "))

    # ---- the faults ----------------------------------------------------------------------

    def _starter(self, index: int, fault: Fault) -> Callable[[], object]:
        def start() -> None:
            end = getattr(self, "_start_" + fault.kind.replace("-", "_"))(fault)
            if end is not None:
                self._push(fault.at + fault.duration, index, f"end {fault.kind}", end)

        return start

    def _start_kill(self, fault: Fault) -> Callable[[], object]:
        killed = []
        for name in fault.targets:
            if name not in self.cluster.names(_kind(name)):
                print(f"[chaos] {name} is not running (being restarted): not killed", flush=True)
                continue
            self.cluster.kill(name)
            self.kills.append((name, time.time()))
            killed.append(name)

        def restart() -> None:
            for name in killed:
                self.cluster.start_component(name)

        return restart

    def _start_postgres_restart(self, fault: Fault) -> Callable[[], object]:
        window = [time.time(), 0.0]
        self.postgres_down.append(window)
        self.cluster.stop_postgres()

        def start() -> None:
            self.cluster.start_postgres()
            window[1] = time.time()

        return start

    def _start_lost_answers(self, fault: Fault) -> None:
        lose = ResponseFault(
            status=502, method="POST", path="/v1/videos/generations", after_create=True, times=fault.count
        )
        self._queue_answer(lose)

    def _start_trickle(self, fault: Fault) -> None:
        slow = ResponseFault(status=503, method="GET", path="/v1/", trickle_seconds=fault.rate, times=fault.count)
        self._queue_answer(slow)

    def _queue_answer(self, answer: ResponseFault) -> None:
        """Queue ``answer`` behind the queued answers not used up yet (setting the queue replaces it)."""
        left = [
            ResponseFault(**{**{k: v for k, v in entry.items() if k != "remaining"}, "times": entry["remaining"]})
            for entry in self.simulator.state.faults.pending()
        ]
        self.simulator.configure(next_responses=[*left, answer])

    def _start_rate_429(self, fault: Fault) -> Callable[[], object]:
        self.simulator.configure(rate_429=fault.rate, retry_after_seconds=fault.retry_after)
        return lambda: self.simulator.configure(rate_429=0.0)

    def _start_storm_5xx(self, fault: Fault) -> Callable[[], object]:
        self.simulator.configure(get_status=503)
        return lambda: self.simulator.configure(get_status=None)

    def _start_slow(self, fault: Fault) -> Callable[[], object]:
        self.simulator.configure(slow_seconds=fault.rate)
        return lambda: self.simulator.configure(slow_seconds=0.0)

    def _start_failing_renders(self, fault: Fault) -> Callable[[], object]:
        self.simulator.configure(fail_prompts_containing={CHAOS_PROMPT_MARK: RETRYABLE_RENDER_CODE})
        return lambda: self.simulator.configure(fail_prompts_containing={})

    def _start_s3_freeze(self, fault: Fault) -> Callable[[], object] | None:
        pid = self.s3.pid if self.s3 is not None else None
        if not pid:
            return None
        os.killpg(pid, signal.SIGSTOP)

        def thaw() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)

        return thaw

    def _proxy_fault(self, attribute: str) -> Callable[[], object] | None:
        from airflow_provider_videogen.testing.cluster_stack import s3_proxy

        proxy = s3_proxy(self.cluster)
        if proxy is None:
            print("[chaos] no S3 fault proxy on this cluster: not injected", flush=True)
            return None
        setattr(proxy, attribute, True)
        return lambda: setattr(proxy, attribute, False)

    def _start_ledger_fail(self, fault: Fault) -> Callable[[], object] | None:
        return self._proxy_fault("fail_ledger")

    def _start_upload_fail(self, fault: Fault) -> Callable[[], object] | None:
        return self._proxy_fault("fail_uploads")


def _kind(name: str) -> str:
    from airflow_provider_videogen.testing.airflow_components import component_kind

    return component_kind(name)
