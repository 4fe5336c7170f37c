"""Celery workers SIGKILLed mid-task: the retries never pay twice without being told to.

One scenario, three runs at once (to keep the suite's time down), then one test per outcome:

* ``cluster_poll_kill``: ``deferrable=False``, ``retries=1``: the worker dies while the task
  polls in it. The scheduler fails the task over (``task_instance_heartbeat_timeout``), the
  retry runs on a worker and re-attaches to the remote task: 1 create, success.
* ``cluster_create_kill``: the simulator holds the create's answer (``[sim:hold_answer=N]``:
  the task exists, its id is not sent yet); the worker dies meanwhile. The retry refuses with
  the uncertain-submission message: 1 create, failed.
* ``cluster_create_kill_resubmit``: the same with ``on_uncertain_submission="resubmit"``: the
  retry submits once more: 2 creates, as documented, success.

Each worker holding one of the tasks is SIGKILLed (its whole process group, the task process
included, as a node dying would), the test checks it is gone, and a new worker process of the
same name is started at once, as Kubernetes would restart the pod.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.cluster.helpers import assert_gone, creates, restart, wait_for_end

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # the first test also starts the cluster

TASK_ID = "generate"
RUNS = {  # dag id -> prompt tag
    "cluster_poll_kill": "[poll-kill]",
    "cluster_create_kill": "[create-kill]",
    "cluster_create_kill_resubmit": "[create-kill-resubmit]",
}


def _task(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict[str, Any]:
    return dict(cluster.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}"))


@pytest.fixture(scope="module")
def worker_kills(cluster: AirflowCluster, cluster_simulator: SimulatorServer) -> dict[str, Any]:
    """Start the three runs, kill the workers that hold them at the right moment, wait for the ends."""
    api = cluster.api
    run_ids = {}
    for dag_id in RUNS:
        api.wait_for_dag(dag_id)
        run_ids[dag_id] = api.trigger(dag_id)
    # The moment: every task has sent its create (the simulator counted it), the poll-kill task
    # is polling, and the two held answers have not been sent (they wait HOLD_SECONDS).
    deadline = time.monotonic() + 120
    while True:
        counted = {dag_id: creates(cluster_simulator, tag) for dag_id, tag in RUNS.items()}
        tasks = {dag_id: _task(cluster, dag_id, run_id) for dag_id, run_id in run_ids.items()}
        if all(counted.values()) and all(t["state"] == "running" and t.get("hostname") for t in tasks.values()):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"the three tasks did not all reach their create in time: {counted}, {tasks}")
        time.sleep(0.3)
    hosts = {dag_id: str(task["hostname"]) for dag_id, task in tasks.items()}
    victims = sorted(set(hosts.values()))
    pids = {name: cluster.kill(name) for name in victims}
    for pid in pids.values():
        assert_gone(pid)
    held_creates = {dag_id: creates(cluster_simulator, tag) for dag_id, tag in RUNS.items()}
    print(f"\n[worker-kill] tasks on {hosts}; killed {pids}; creates at the kill {held_creates}")
    restart(cluster, victims)
    ends = {dag_id: wait_for_end(api, dag_id, run_id, timeout=300) for dag_id, run_id in run_ids.items()}
    return {"run_ids": run_ids, "hosts": hosts, "killed": pids, "at_kill": held_creates, "ends": ends}


def _tries(cluster: AirflowCluster, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return sorted(cluster.api.tries(dag_id, run_id, TASK_ID), key=lambda t: t["try_number"])


def test_worker_killed_while_polling_the_retry_reattaches(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, worker_kills: dict[str, Any]
) -> None:
    dag_id = "cluster_poll_kill"
    run_id = worker_kills["run_ids"][dag_id]
    assert worker_kills["killed"][worker_kills["hosts"][dag_id]]  # its worker was killed (and reaped)
    run, _ = worker_kills["ends"][dag_id]
    tries = _tries(cluster, dag_id, run_id)
    assert run["state"] == "success", tries
    assert [t["try_number"] for t in tries] == [1, 2]
    assert tries[-1]["state"] == "success"
    log = cluster.api.task_log(dag_id, run_id, TASK_ID, 2)
    assert "Re-attaching instead of submitting" in log, log[-3000:]
    assert "Submitting" not in log  # neither a first submission nor a new one
    assert creates(cluster_simulator, RUNS[dag_id]) == 1


def test_worker_killed_mid_create_the_retry_refuses_to_pay_again(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, worker_kills: dict[str, Any]
) -> None:
    dag_id = "cluster_create_kill"
    run_id = worker_kills["run_ids"][dag_id]
    assert worker_kills["at_kill"][dag_id] == 1  # the create was accepted, its answer still held
    run, _ = worker_kills["ends"][dag_id]
    tries = _tries(cluster, dag_id, run_id)
    assert run["state"] == "failed"
    assert [(t["try_number"], t["state"]) for t in tries][-1] == (2, "failed"), tries
    # The refusal is the failure's exception: the REST log shows its event line, the file its text.
    (log_file,) = [p for p in cluster.task_log_files(dag_id, run_id, TASK_ID) if p.name == "attempt=2.log"]
    log = log_file.read_text()
    assert "Not submitting: an earlier try (try 1) started submitting this request" in log, log[-3000:]
    assert "never learned whether the gateway accepted it" in log
    assert "Submitting" not in log.replace("Not submitting", "")
    assert creates(cluster_simulator, RUNS[dag_id]) == 1


def test_worker_killed_mid_create_resubmit_pays_once_more(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, worker_kills: dict[str, Any]
) -> None:
    dag_id = "cluster_create_kill_resubmit"
    run_id = worker_kills["run_ids"][dag_id]
    assert worker_kills["at_kill"][dag_id] == 1
    run, _ = worker_kills["ends"][dag_id]
    tries = _tries(cluster, dag_id, run_id)
    assert run["state"] == "success", tries
    assert [t["try_number"] for t in tries] == [1, 2]
    log = cluster.api.task_log(dag_id, run_id, TASK_ID, 2)
    assert "resubmitting because on_uncertain_submission='resubmit'" in log, log[-3000:]
    assert creates(cluster_simulator, RUNS[dag_id]) == 2
