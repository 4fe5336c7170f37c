"""Tasks that start in the triggerer (``start_from_trigger``) survive both triggerers dying.

``cluster_start_kill`` maps six generations that start in the triggerer: three whose create answer
the simulator holds back (the create is accepted and billed, the answer is still on its way) and
three that are rendering (their record written: they pushed their remote id). Both triggerers are
SIGKILLed at that moment and started again, as a supervisor would. Then:

* the rendering ones re-attach through the markers their trigger wrote to Airflow Variables: they
  succeed with one create each, still without any worker workload;
* the ones whose answer was lost cannot know whether the gateway accepted their create: they are
  handed to a worker, which refuses to pay again with the uncertain-submission message (one
  create each, none more).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.cluster.helpers import assert_gone, creates, restart, wait_for_end
from tests.dag_files.cluster.cluster_dags import START_KILL_TASKS

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

DAG_ID = "cluster_start_kill"
HELD, POLLING = "[start-kill-held]", "[start-kill-polling]"


def has_remote_id(cluster: AirflowCluster, run_id: str, map_index: int) -> bool:
    try:
        return bool(cluster.api.xcom(DAG_ID, run_id, "generate", key="videogen_task_id", map_index=map_index))
    except Exception:  # not pushed yet (404)
        return False


def test_triggerers_killed_under_tasks_started_there_pay_once(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer
) -> None:
    api = cluster.api
    api.wait_for_dag(DAG_ID)
    run_id = api.trigger(DAG_ID)
    # The moment: the held creates were accepted (their answers are still on the way), and each
    # rendering task has written its record (it pushed its remote id, which follows the record).
    polling_indexes = range(START_KILL_TASKS, 2 * START_KILL_TASKS)
    deadline = time.monotonic() + 180
    while not (
        creates(cluster_simulator, HELD) == START_KILL_TASKS
        and all(has_remote_id(cluster, run_id, i) for i in polling_indexes)
    ):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"creates held {creates(cluster_simulator, HELD)}, polling {creates(cluster_simulator, POLLING)}; "
                f"remote ids {[has_remote_id(cluster, run_id, i) for i in polling_indexes]}"
            )
        time.sleep(0.5)
    victims = cluster.names("triggerer")
    pids = [cluster.kill(name) for name in victims]
    for pid in pids:
        assert_gone(pid)
    print(f"\n[start-kill] killed {victims} with {START_KILL_TASKS} creates held and {START_KILL_TASKS} rendering")
    restart(cluster, victims)
    run, tis = wait_for_end(api, DAG_ID, run_id, timeout=400)

    by_index: dict[int, dict[str, Any]] = {int(ti["map_index"]): ti for ti in tis}
    held = [by_index[i] for i in range(START_KILL_TASKS)]
    polling = [by_index[i] for i in range(START_KILL_TASKS, 2 * START_KILL_TASKS)]
    assert [ti["state"] for ti in polling] == ["success"] * START_KILL_TASKS, tis
    assert all(ti.get("queued_when") is None for ti in polling), polling  # never in a worker
    assert [ti["state"] for ti in held] == ["failed"] * START_KILL_TASKS, tis
    # One create each, whatever died: nothing was submitted again.
    assert creates(cluster_simulator, HELD) == START_KILL_TASKS
    assert creates(cluster_simulator, POLLING) == START_KILL_TASKS
    for ti in held:
        folder = cluster.log_folder / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=generate"
        text = "".join(p.read_text(errors="replace") for p in (folder / f"map_index={ti['map_index']}").glob("*.log"))
        assert "never learned whether the gateway accepted it" in text, text[-3000:]
        # (A trigger Airflow also ran on the other triggerer may log "Submitting" and then stop
        # before sending, when it is cancelled: the create counts above say what was sent.)
    print(f"[start-kill] {run['state']}: {START_KILL_TASKS} re-attached and succeeded, {START_KILL_TASKS} refused")
