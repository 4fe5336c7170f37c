"""Load on the real shape: mapped generations through Celery, the ``videogen_api`` pool and two triggerers.

It runs the same videos in several modes on the same cluster, one after the other:
``classic`` (every task resumes in a worker after its trigger fired: two workloads per video),
``end`` (the task ends in the triggerer, ``end_from_trigger``: one workload per video),
``start`` (the task starts and ends there, ``start_from_trigger``: none) and ``batch``
(``VideoGenerationBatchOperator``, mapped over batches of 25: one workload per batch, ending in the
triggerer). The suite runs 24 videos in ``classic``, ``start`` and ``batch`` (``cluster_load_short_*``,
batches of 8); ``make load`` runs all four at the full 200 (``cluster_load_*``), whose figures
benchmarks/README.md quotes.

Asserts what must hold in each mode (all succeed, one create per video, every task had a trigger,
both triggerers carried some where deferrals trickle in one per video, the number of worker
workloads: two per video classic, one end, none start, one per batch) and prints what was
measured, last the side-by-side line of ``classic`` and the last mode run (``batch``): worker
slot-seconds per video (from the Celery workers' own "succeeded in Xs" lines), wall time, and
triggerer CPU seconds per video (read from ``/proc/<pid>/stat`` for each triggerer and its
trigger-runner child, before and after).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.cluster.conftest import POOL_SLOTS, WORKER_CONCURRENCY
from tests.cluster.helpers import creates, running_job_ids, wait_for_end
from tests.dag_files.cluster.cluster_dags import (
    LOAD_BATCH_SIZE,
    LOAD_POLL,
    LOAD_RENDER,
    LOAD_SHORT_BATCH_SIZE,
    LOAD_SHORT_TASKS,
    LOAD_TASKS,
)

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # the first test also starts the cluster

#: ``make load`` (``VIDEOGEN_LOAD_FULL=1``) runs the full 200; the suite runs 50 of the same shape.
FULL = os.environ.get("VIDEOGEN_LOAD_FULL") == "1"
DAG_PREFIX, TASKS = ("cluster_load", LOAD_TASKS) if FULL else ("cluster_load_short", LOAD_SHORT_TASKS)
BATCH_SIZE = LOAD_BATCH_SIZE if FULL else LOAD_SHORT_BATCH_SIZE
#: ``VIDEOGEN_LOAD_MODES=classic,batch`` runs only those (``classic`` and the last one are compared).
MODES = tuple(
    os.environ.get("VIDEOGEN_LOAD_MODES", "classic,end,start,batch" if FULL else "classic,start,batch").split(",")
)
#: Worker workloads per video in each mode: the point of the modes, counted rather than timed.
WORKLOADS_PER_VIDEO = {"classic": 2, "end": 1, "start": 0, "batch": 1 / BATCH_SIZE}
#: Task instances per mode: one per video, or one per batch.
TASK_INSTANCES = {"classic": TASKS, "end": TASKS, "start": TASKS, "batch": -(-TASKS // BATCH_SIZE)}
#: ``VIDEOGEN_LOAD_PROFILE=<dir>``: record each triggerer (and its runner) with py-spy while a mode
#: runs, as collapsed stacks ``<dir>/<mode>-<triggerer>.txt`` (``pip install py-spy``; diagnosis only).
PROFILE_DIR = os.environ.get("VIDEOGEN_LOAD_PROFILE")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_EXECUTING = re.compile(r"\[([0-9a-f-]{36})\] Executing workload in Celery: .*?log_path='dag_id=([^/]+)/")
_SUCCEEDED = re.compile(r"Task execute_workload\[([0-9a-f-]{36})\] (?:succeeded|raised .*?) in ([0-9.]+)s")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from ``/proc/<pid>/stat`` (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of a process and each of its descendants, by pid."""
    pids = [pid] + [child.pid for child in psutil.Process(pid).children(recursive=True)]
    found = {}
    for each in pids:
        try:
            found[each] = proc_cpu_seconds(each)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def worker_slot_seconds(cluster: AirflowCluster, dag_id: str) -> tuple[float, int]:
    """Seconds Celery worker slots spent on ``dag_id``'s workloads, and how many workloads."""
    dags: dict[str, str] = {}
    durations: dict[str, float] = {}
    for name in cluster.names("celery-worker"):
        text = cluster.component_log(name).read_text(errors="replace")
        dags.update({m.group(1): m.group(2) for m in _EXECUTING.finditer(text)})
        durations.update({m.group(1): float(m.group(2)) for m in _SUCCEEDED.finditer(text)})
    mine = [seconds for uuid, seconds in durations.items() if dags.get(uuid) == dag_id]
    return sum(mine), len(mine)


def start_profilers(mode: str, triggerers: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    if not PROFILE_DIR:
        return []
    Path(PROFILE_DIR).mkdir(parents=True, exist_ok=True)
    spy = ["py-spy", "record", "--subprocesses", "--nonblocking", "-r", "50", "-f", "raw"]
    return [
        subprocess.Popen([*spy, "-o", f"{PROFILE_DIR}/{mode}-{name}.txt", "-p", str(pid)])
        for name, pid in triggerers.items()
    ]


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for each in profilers:
        each.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for each in profilers:
        each.wait(timeout=60)


@dataclass
class Measured:
    """One mode's run: what the side-by-side line compares."""

    mode: str
    wall: float
    slot_seconds: float
    workloads: int
    triggerer_cpu: dict[str, float]

    @property
    def slot_seconds_per_video(self) -> float:
        return self.slot_seconds / TASKS

    @property
    def triggerer_cpu_per_video(self) -> float:
        return sum(self.triggerer_cpu.values()) / TASKS


def run_mode(cluster: AirflowCluster, simulator: SimulatorServer, mode: str) -> Measured:
    """Trigger one mode's DAG, wait for its end, check what must hold and measure."""
    api = cluster.api
    dag_id = f"{DAG_PREFIX}_{mode}"
    api.wait_for_dag(dag_id)
    triggerers = {name: cluster.pid(name) for name in cluster.names("triggerer")}
    before = {name: tree_cpu_seconds(pid) for name, pid in triggerers.items()}
    profilers = start_profilers(mode, triggerers)
    started = time.monotonic()
    run_id = api.trigger(dag_id)
    run, tis = wait_for_end(api, dag_id, run_id, timeout=900, poll=5)
    wall = time.monotonic() - started
    after = {name: tree_cpu_seconds(pid) for name, pid in triggerers.items()}
    stop_profilers(profilers)

    states = Counter(ti["state"] for ti in tis)
    assert run["state"] == "success", (mode, states)
    assert states == {"success": TASK_INSTANCES[mode]}, mode
    assert creates(simulator, f"[load-{mode}]") == TASKS, mode
    # Both triggerers carried triggers: each wrote trigger logs named after its job id.
    jobs = running_job_ids(cluster, "TriggererJob")
    root = cluster.log_folder / f"dag_id={dag_id}" / f"run_id={run_id}"
    logs = list(root.rglob("attempt=1.log.trigger.*.log"))
    carried = Counter(p.name.rsplit(".", 2)[-2] for p in logs)
    per_triggerer = {name: carried.get(str(job), 0) for name, job in jobs.items()}
    assert len({p.parent for p in logs}) == TASK_INSTANCES[mode], (mode, carried)  # every task had its trigger
    if mode in ("classic", "end"):
        # Deferrals trickle in as workers submit, so both triggerers pick some up. Started tasks'
        # triggers are all created at once by the scheduler, and the first triggerer to look takes
        # them all (its capacity is 1,000): Airflow's assignment, not a fault.
        assert all(count > 0 for count in per_triggerer.values()), (mode, per_triggerer)

    cpu = {
        name: sum(after[name].get(pid, 0.0) - seconds for pid, seconds in before[name].items())
        + sum(seconds for pid, seconds in after[name].items() if pid not in before[name])
        for name in triggerers
    }
    slot_seconds, workloads = worker_slot_seconds(cluster, dag_id)
    # What the mode is about, counted rather than timed: a classic video starts twice in a worker
    # (submit + defer, then resume), an "end" one once (the triggerer ends it), a "start" one never.
    # A batch: one workload per batch task (it ends in the triggerer).
    assert workloads == round(WORKLOADS_PER_VIDEO[mode] * TASKS), (mode, workloads)
    slots = WORKER_CONCURRENCY * len(cluster.names("celery-worker"))
    cpu_text = {name: round(seconds, 1) for name, seconds in cpu.items()}
    print(
        f"\n[load:{mode}] {TASKS} mapped generations, render {LOAD_RENDER} s, poll_interval {LOAD_POLL:g} s, "
        f"pool {POOL_SLOTS} slots, {slots} worker slots, 2 triggerers\n"
        f"[load:{mode}] wall {wall:.0f} s (trigger to run end)\n"
        f"[load:{mode}] worker slot-seconds: {slot_seconds:.0f} over {workloads} workloads = "
        f"{slot_seconds / TASKS:.2f} per video\n"
        f"[load:{mode}] triggers carried {per_triggerer}; triggerer CPU seconds {cpu_text}"
    )
    return Measured(mode, wall, slot_seconds, workloads, cpu)


def test_mapped_generations_on_celery_with_two_triggerers(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer
) -> None:
    measured = {mode: run_mode(cluster, cluster_simulator, mode) for mode in MODES}
    classic, new = measured["classic"], measured[MODES[-1]]
    others = "".join(
        f"\n[load] {m.mode}: {m.slot_seconds_per_video:.2f} slot-seconds per video, wall {m.wall:.0f} s, "
        f"triggerer CPU {m.triggerer_cpu_per_video:.3f} s per video"
        for m in measured.values()
    )
    print(
        f"\n[load] creates {len(MODES) * TASKS}; polls {cluster_simulator.stats()['generation']['polls']} "
        f"(whole session){others}\n"
        f"[load] new = {new.mode}\n"
        f"[load] triggerer CPU seconds per video: classic {classic.triggerer_cpu_per_video:.3f} / "
        f"new {new.triggerer_cpu_per_video:.3f}\n"
        f"worker slot-seconds per video: classic {classic.slot_seconds_per_video:.2f} / "
        f"new {new.slot_seconds_per_video:.2f}; wall: classic {classic.wall:.0f} s / new {new.wall:.0f} s"
    )
