"""One chaos run on a running stack: draw, print, load, inject, heal, drain, collect, check.

:func:`run_chaos` works on any running stack built by :func:`~..cluster_stack.start_cluster`
(the driver's own, or the cluster tests' shared one), so the suite's short run and ``make
chaos`` are the same code. It ends within ``minutes + drain_minutes`` of the load's start plus
the time to collect the facts; runs still going then are violations, not waits.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_videogen.testing.chaos import facts as facts_module
from airflow_provider_videogen.testing.chaos.chaos_dag import CHAOS_DAG_ID, CHAOS_DAILY_DAG_ID
from airflow_provider_videogen.testing.chaos.faults import Injector
from airflow_provider_videogen.testing.chaos.invariants import check_all
from airflow_provider_videogen.testing.chaos.load import draw_load, try_trigger, wait_for_runs
from airflow_provider_videogen.testing.chaos.schedule import Schedule, draw_schedule
from airflow_provider_videogen.testing.cluster_stack import BUCKET

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

#: Seconds after the fault window in which every run must end (the stack is healed by then).
DEFAULT_DRAIN_MINUTES = 8.0
#: Seconds after the window in which a run the API server did not accept yet may still be triggered.
TRIGGER_GRACE = 120.0


@dataclass
class Result:
    seed: int
    videos: int
    faults: int
    creates: int
    violations: list[str] = field(default_factory=list)
    schedule: Schedule | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"chaos seed {self.seed}: {self.videos} videos, {self.faults} faults, creates {self.creates}, "
            f"violations {len(self.violations)}"
        )


def run_chaos(
    cluster: AirflowCluster,
    simulator: SimulatorServer,
    s3: SeaweedFS,
    *,
    seed: int,
    videos: int,
    minutes: float,
    drain_minutes: float = DEFAULT_DRAIN_MINUTES,
    mean_gap: float = 12.0,
    out: Callable[[str], None] = print,
) -> Result:
    """Run the load under the seed's faults and check the invariants; never raises on a violation."""
    schedule = draw_schedule(seed, minutes=minutes, components=list(cluster.components), mean_gap=mean_gap)
    name = f"s{seed}-{secrets.token_hex(3)}"
    batches = draw_load(seed, videos=videos, minutes=minutes, name=name)
    out(schedule.describe())
    every = [v for b in batches for v in b.videos]
    out(
        f"load: {videos} videos ({sum(1 for v in every if v.task == 'remix')} more remixed) in "
        f"{sum(1 for b in batches if not b.days)} runs of {CHAOS_DAG_ID} and "
        f"{sum(len(b.days) for b in batches)} backfilled days of {CHAOS_DAILY_DAG_ID}, at "
        + ", ".join(f"t+{b.at:.0f}s ({b.kind} {len(b.videos)})" for b in batches)
        + f"; held create answers: {sum(1 for v in every if v.held)}; "
        f"deadline: every run ends within {minutes + drain_minutes:.1f} min of the load's start"
    )
    api = cluster.api
    api.wait_for_dag(CHAOS_DAG_ID)
    if any(b.days for b in batches):
        api.wait_for_dag(CHAOS_DAILY_DAG_ID)
    started_wall, started = time.time(), time.monotonic()
    injector = Injector(schedule, cluster, simulator, s3)
    injector.start()
    pending = list(batches)
    try:
        # One loop, in this thread, carries out the faults and triggers the runs (see faults.py:
        # a component must be restarted from a thread that outlives it).
        while time.monotonic() - started < schedule.window or pending:
            injector.step()
            if pending and time.monotonic() - started >= pending[0].at and try_trigger(api, pending[0], BUCKET):
                batch = pending.pop(0)
                at = time.monotonic() - started
                out(f"[chaos] t+{at:6.1f}s {batch.kind} {', '.join(batch.run_ids)} ({len(batch.videos)} videos)")
            if pending and time.monotonic() - started > schedule.window + TRIGGER_GRACE:
                raise RuntimeError(f"could not trigger {pending[0].run_id}: the API server did not accept it")
            time.sleep(0.2)
    finally:
        injector.heal()
    out(f"[chaos] t+{time.monotonic() - started:6.1f}s faults over ({injector.injected} injected); draining")
    deadline = started + (minutes + drain_minutes) * 60.0
    runs = [(b.dag_id, run_id) for b in batches for run_id in b.run_ids]
    unfinished = wait_for_runs(api, runs, deadline=deadline)
    out(f"[chaos] t+{time.monotonic() - started:6.1f}s runs ended (unfinished: {unfinished or 'none'}); checking")
    facts = facts_module.collect(
        cluster=cluster,
        simulator=simulator,
        s3=s3,
        batches=batches,
        injector=injector,
        started_at=started_wall,
        unfinished=unfinished,
    )
    creates = sum(len(v.creates) for v in facts.videos)
    violations = check_all(facts)
    for violation in violations:
        out(f"VIOLATION: {violation}")
    outcomes: dict[str, int] = {}
    for video in facts.videos:
        outcome = f"{video.task} {video.state}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    out(
        f"[chaos] outcomes {outcomes}; kills {len(injector.kills)}; crashes {len(facts.crashes)}; "
        f"archived objects {len(facts.objects)}; ledger held {facts.ledger_held} of {facts.budget_limit}"
    )
    return Result(
        seed=seed,
        videos=videos,
        faults=injector.injected,
        creates=creates,
        violations=violations,
        schedule=schedule,
        seconds=time.monotonic() - started,
    )
