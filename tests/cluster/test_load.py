"""Load on the real shape: mapped generations through Celery, the ``videogen_api`` pool and two triggerers.

The suite runs 50 (``cluster_load_short``); ``make load`` runs the full 200 (``cluster_load``)
whose figures benchmarks/README.md quotes.

Asserts what must hold (all succeed, one create each, both triggerers carried triggers) and
prints what was measured, for benchmarks/README.md: wall time, worker slot-seconds per video
(from the Celery workers' own "succeeded in Xs" lines) and each triggerer's CPU seconds (read
from ``/proc/<pid>/stat`` for the triggerer and its trigger-runner child, before and after).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.cluster.conftest import POOL_SLOTS, WORKER_CONCURRENCY
from tests.cluster.helpers import creates, running_job_ids, wait_for_end
from tests.dag_files.cluster.cluster_dags import LOAD_POLL, LOAD_RENDER, LOAD_SHORT_TASKS, LOAD_TASKS

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # the first test also starts the cluster

#: ``make load`` (``VIDEOGEN_LOAD_FULL=1``) runs the full 200; the suite runs 50 of the same shape.
FULL = os.environ.get("VIDEOGEN_LOAD_FULL") == "1"
DAG_ID, TASKS = ("cluster_load", LOAD_TASKS) if FULL else ("cluster_load_short", LOAD_SHORT_TASKS)
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


def test_mapped_generations_on_celery_with_two_triggerers(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer
) -> None:
    api = cluster.api
    api.wait_for_dag(DAG_ID)
    triggerers = {name: cluster.pid(name) for name in cluster.names("triggerer")}
    before = {name: tree_cpu_seconds(pid) for name, pid in triggerers.items()}
    started = time.monotonic()
    run_id = api.trigger(DAG_ID)
    run, tis = wait_for_end(api, DAG_ID, run_id, timeout=900, poll=5)
    wall = time.monotonic() - started
    after = {name: tree_cpu_seconds(pid) for name, pid in triggerers.items()}

    states = Counter(ti["state"] for ti in tis)
    assert run["state"] == "success", states
    assert states == {"success": TASKS}
    assert creates(cluster_simulator, "[load]") == TASKS
    # Both triggerers carried triggers: each wrote trigger logs named after its job id.
    jobs = running_job_ids(cluster, "TriggererJob")
    root = cluster.log_folder / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    carried = Counter(p.name.rsplit(".", 2)[-2] for p in root.rglob("attempt=1.log.trigger.*.log"))
    per_triggerer = {name: carried.get(str(job), 0) for name, job in jobs.items()}
    assert sum(carried.values()) == TASKS, carried
    assert all(count > 0 for count in per_triggerer.values()), per_triggerer

    cpu = {
        name: sum(after[name].get(pid, 0.0) - seconds for pid, seconds in before[name].items())
        + sum(seconds for pid, seconds in after[name].items() if pid not in before[name])
        for name in triggerers
    }
    slot_seconds, workloads = worker_slot_seconds(cluster, DAG_ID)
    cpu_text = {name: round(seconds, 1) for name, seconds in cpu.items()}
    slots = WORKER_CONCURRENCY * len(cluster.names("celery-worker"))
    print(
        f"\n[load] {TASKS} mapped generations, render {LOAD_RENDER} s, poll_interval {LOAD_POLL:g} s, "
        f"pool {POOL_SLOTS} slots, {slots} worker slots, 2 triggerers\n"
        f"[load] wall {wall:.0f} s (trigger to run end)\n"
        f"[load] worker slot-seconds: {slot_seconds:.0f} over {workloads} workloads = "
        f"{slot_seconds / TASKS:.2f} per video\n"
        f"[load] triggers carried {per_triggerer}; triggerer CPU seconds {cpu_text}\n"
        f"[load] creates {TASKS}; polls {cluster_simulator.stats()['generation']['polls']} (whole session)"
    )
    assert workloads >= TASKS  # each task started at least once in a worker
