"""Components die mid-run; the survivors finish the work without paying twice.

* Triggerer failover: 20 mapped deferrable generations; once all are deferred, SIGKILL the
  triggerer that holds most of them. The other one takes their triggers over (after
  ``[triggerer] triggerer_health_check_threshold``), all 20 succeed, the gateway saw exactly
  20 creates, and each moved trigger wrote its log under the surviving triggerer's job id.
* Scheduler killed mid-run: SIGKILL one of the two schedulers while a run is in progress; the
  other completes it (it adopts what the dead one had queued), one create per task.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from tests.cluster.helpers import assert_gone, creates, restart, running_job_ids, wait_for_end, wait_until
from tests.dag_files.cluster.cluster_dags import FAILOVER_TASKS, SCHEDULER_TASKS

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # the first test also starts the cluster

TASK_ID = "generate"


def _all_deferred_and_assigned(count: int):  # type: ignore[no-untyped-def]
    def check(run: dict[str, Any], tis: list[dict[str, Any]]) -> bool:
        mapped = [ti for ti in tis if ti["task_id"] == TASK_ID]
        return len(mapped) == count and all(
            ti["state"] == "deferred" and (ti.get("trigger") or {}).get("triggerer_id") for ti in mapped
        )

    return check


def test_triggerer_failover_moves_every_trigger_and_pays_once(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer
) -> None:
    api = cluster.api
    api.wait_for_dag("cluster_failover")
    run_id = api.trigger("cluster_failover")
    _, deferred = wait_until(
        api,
        "cluster_failover",
        run_id,
        _all_deferred_and_assigned(FAILOVER_TASKS),
        timeout=150,
        what=f"all {FAILOVER_TASKS} deferred with a triggerer",
    )
    holders = Counter(int(ti["trigger"]["triggerer_id"]) for ti in deferred)
    jobs = running_job_ids(cluster, "TriggererJob")
    by_job = {job_id: name for name, job_id in jobs.items()}
    victim_job, held = holders.most_common(1)[0]
    victim = by_job[victim_job]
    survivor, survivor_job = next((name, job) for name, job in jobs.items() if name != victim)
    moved = sorted(int(ti["map_index"]) for ti in deferred if int(ti["trigger"]["triggerer_id"]) == victim_job)
    print(f"\n[failover] triggerers {jobs}; triggers per job {dict(holders)}; killing {victim} (job {victim_job})")

    pid = cluster.kill(victim)
    try:
        assert_gone(pid)
        run, tis = wait_for_end(api, "cluster_failover", run_id, timeout=240)
    finally:
        restart(cluster, [victim])

    assert run["state"] == "success", [(ti["map_index"], ti["state"]) for ti in tis]
    assert [ti["state"] for ti in tis] == ["success"] * FAILOVER_TASKS
    assert held == len(moved) >= 1
    assert creates(cluster_simulator, "[failover]") == FAILOVER_TASKS
    # Each trigger the dead triggerer held resumed under the survivor's job id: the survivor wrote
    # that trigger's log (named after its job), with the trigger's progress and its event.
    for map_index in moved:
        folder = (
            cluster.log_folder / "dag_id=cluster_failover" / f"run_id={run_id}" / f"task_id={TASK_ID}"
            / f"map_index={map_index}"
        )  # fmt: skip
        survivor_log = folder / f"attempt=1.log.trigger.{survivor_job}.log"
        assert survivor_log.is_file(), f"map index {map_index}: no log from {survivor} (job {survivor_job}) in {folder}"
        text = survivor_log.read_text()
        assert "Trigger fired event" in text, text[-2000:]
        assert ": succeeded, 100%" in text, text[-2000:]
    # ...and the REST API serves it in the task's log, as the UI shows it.
    log = api.task_log("cluster_failover", run_id, TASK_ID, 1, map_index=moved[0])
    assert ": succeeded, 100%" in log, log[-3000:]
    print(
        f"[failover] {len(moved)} triggers moved from job {victim_job} to job {survivor_job}; creates {FAILOVER_TASKS}"
    )


def test_scheduler_killed_mid_run_the_other_completes_it(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer
) -> None:
    api = cluster.api
    api.wait_for_dag("cluster_scheduler_kill")
    run_id = api.trigger("cluster_scheduler_kill")
    wait_until(
        api,
        "cluster_scheduler_kill",
        run_id,
        lambda run, tis: sum(ti["state"] in ("running", "deferred") for ti in tis) >= 2,
        timeout=120,
        what="in progress",
        poll=0.5,
    )
    victim, survivor = "scheduler-1", "scheduler-2"
    assert survivor in cluster.names("scheduler")
    pid = cluster.kill(victim)
    try:
        assert_gone(pid)
        run, tis = wait_for_end(api, "cluster_scheduler_kill", run_id, timeout=240)
    finally:
        restart(cluster, [victim])

    assert run["state"] == "success", [(ti["map_index"], ti["state"]) for ti in tis]
    assert len(tis) == SCHEDULER_TASKS
    assert creates(cluster_simulator, "[scheduler-kill]") == SCHEDULER_TASKS
    print(
        f"\n[scheduler-kill] killed {victim} (pid {pid}); {survivor} completed the run; creates {SCHEDULER_TASKS}; "
        f"restarts after crashes so far: {cluster.crashes}"
    )
