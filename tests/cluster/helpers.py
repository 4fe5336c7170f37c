"""What the cluster tests share: counting creates per test, waiting on runs, finding who holds what."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.testing.airflow_components import TERMINAL_RUN_STATES, AirflowApi

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster


def creates(simulator: SimulatorServer, tag: str) -> int:
    """Create requests the simulator accepted (task created, billed) whose prompt carries ``tag``."""
    return len(create_records(simulator, tag))


def create_records(simulator: SimulatorServer, text: str) -> list[dict[str, Any]]:
    records = simulator.stats()["generation_requests"]
    return [r for r in records if r.get("accepted") and text in str((r.get("body") or {}).get("prompt", ""))]


def assert_gone(pid: int) -> None:
    """The process no longer exists (reaped): the kill really happened."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    raise AssertionError(f"process {pid} is still alive after SIGKILL")


def all_task_instances(api: AirflowApi, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every task instance of a run, paging past the API's 100 per page."""
    found: list[dict[str, Any]] = []
    while True:
        page = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": len(found)})[
            "task_instances"
        ]
        found += page
        if len(page) < 100:
            return found


def wait_until(
    api: AirflowApi,
    dag_id: str,
    run_id: str,
    condition: Callable[[dict[str, Any], list[dict[str, Any]]], bool],
    *,
    timeout: float,
    what: str,
    poll: float = 1.0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll a run and its task instances until ``condition`` holds; fail with what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.dag_run(dag_id, run_id)
        tis = all_task_instances(api, dag_id, run_id)
        if condition(run, tis):
            return run, tis
        if time.monotonic() > deadline:
            states = sorted({(str(ti.get("state")), ti.get("hostname")) for ti in tis}, key=str)
            raise AssertionError(
                f"{dag_id}/{run_id}: not {what} within {timeout:.0f} s; run {run.get('state')}, "
                f"task instance states/hosts {states}"
            )
        time.sleep(poll)


def wait_for_end(
    api: AirflowApi, dag_id: str, run_id: str, *, timeout: float, poll: float = 2.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Wait for the run to end, polling only the run (listing 200 task instances every second
    would load the one API server the task processes depend on); then read its task instances."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.dag_run(dag_id, run_id)
        if run.get("state") in TERMINAL_RUN_STATES:
            return run, all_task_instances(api, dag_id, run_id)
        if time.monotonic() > deadline:
            tis = all_task_instances(api, dag_id, run_id)
            states = sorted({(str(ti.get("state")), ti.get("hostname")) for ti in tis}, key=str)
            raise AssertionError(f"{dag_id}/{run_id} not finished within {timeout:.0f} s; task states/hosts {states}")
        time.sleep(poll)


def component_of_job(cluster: AirflowCluster, job_id: int) -> str:
    """The component (``triggerer-2``...) that runs a job: its ``hostname`` is the component's name."""
    for job in cluster.api.jobs():
        if job["id"] == job_id:
            return str(job["hostname"])
    raise AssertionError(f"no job {job_id}")


def running_job_ids(cluster: AirflowCluster, job_type: str) -> dict[str, int]:
    """Component name -> id of its newest running job."""
    found: dict[str, int] = {}
    for job in cluster.api.jobs(job_type):  # newest first
        if job.get("state") == "running":
            found.setdefault(str(job["hostname"]), int(job["id"]))
    return found


def restart(cluster: AirflowCluster, names: Iterable[str]) -> None:
    """Start killed components again (a new process, as a supervisor or Kubernetes would)."""
    for name in names:
        cluster.start_component(name)
