"""cancel_on_kill with real Airflow components: a user's kill cancels, a triggerer restart does not.

Through the public REST API, as a user acts:

* a deferred generation (and one started in the triggerer, ``start_from_trigger``) survives a
  triggerer restart (SIGTERM, then a new triggerer): the new
  one polls the same remote task and nothing is cancelled, because Airflow calls a trigger's
  ``on_kill`` only for a user's action and ``cleanup()`` never cancels;
* marking that task ``failed`` makes the triggerer call the trigger's ``on_kill``, which POSTs the
  connection's ``cancel_path``: the simulator sees the cancel, the remote task ends cancelled;
* with ``deferrable=False`` the worker's task process is told to stop; the operator's ``on_kill``
  cancels the same way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.testing.airflow_components import AirflowComponentsError

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.airflow_components import AirflowComponents

pytestmark = pytest.mark.e2e

TASK_ID = "generate"
WAIT = 120.0


@pytest.fixture(scope="module")
def e2e_conn_extra() -> dict[str, Any]:
    return {"retry_backoff": 0.2, "cancel_path": "/v1/tasks/{task_id}/cancel"}


@pytest.fixture(scope="module")
def e2e_env() -> dict[str, str]:
    # The scheduler looks for expired deferrals every second, not 15: the batch test's lost trigger.
    return {"AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "1"}


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def ti_state(components: AirflowComponents, dag_id: str, run_id: str) -> str | None:
    tis = [ti for ti in components.api.task_instances(dag_id, run_id) if ti["task_id"] == TASK_ID]
    return tis[0].get("state") if tis else None


def new_task(simulator: SimulatorServer, before: set[str]) -> str | None:
    """The id of the one remote task created since ``before`` (``None`` while there is none)."""
    tasks = [k for k in simulator.stats()["tasks"] if k not in before]
    assert len(tasks) <= 1, tasks
    return tasks[0] if tasks else None


def polls(simulator: SimulatorServer, task_id: str) -> int:
    return int(simulator.stats()["tasks"][task_id]["polls"])


def cancels(simulator: SimulatorServer) -> int:
    return int(simulator.stats()["generation"]["cancels"])


@pytest.mark.parametrize("dag_id", ["e2e_kill_deferred", "e2e_kill_started"])
def test_triggerer_restart_keeps_the_render_and_a_kill_cancels_it(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer, dag_id: str
) -> None:
    """``e2e_kill_started`` starts in the triggerer: its restart re-attaches through the Variables markers."""
    sim, api = e2e_simulator, airflow_components.api
    before = set(sim.stats()["tasks"])
    cancels_before = cancels(sim)
    run_id = api.trigger(dag_id)
    wait_for("the task to defer", lambda: ti_state(airflow_components, dag_id, run_id) == "deferred")
    remote_id = wait_for("a create request", lambda: new_task(sim, before))
    wait_for("the trigger to poll", lambda: polls(sim, remote_id) >= 2)

    airflow_components.restart("triggerer")
    seen = polls(sim, remote_id)
    wait_for("the new triggerer to poll the same remote task", lambda: polls(sim, remote_id) >= seen + 2)
    assert cancels(sim) == cancels_before, "a triggerer restart cancelled the remote task"
    assert ti_state(airflow_components, dag_id, run_id) == "deferred"
    assert sim.stats()["tasks"][remote_id]["status"] in ("pending", "processing")  # still rendering

    api.set_task_instance_state(dag_id, run_id, TASK_ID, "failed")
    wait_for("the cancel request", lambda: cancels(sim) == cancels_before + 1)
    entry = sim.stats()["tasks"][remote_id]
    assert entry.get("cancelled") is True
    assert entry["status"] == "failed"  # the gateway reports a cancellation as failed/request_cancelled
    trigger_logs = "\n".join(
        p.read_text(errors="replace") for p in airflow_components.task_log_files(dag_id, run_id, TASK_ID)
    )
    assert "asked the gateway to cancel remote task" in trigger_logs + airflow_components.component_log(
        "triggerer"
    ).read_text(errors="replace")


def test_kill_while_polling_in_the_worker_cancels(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    dag_id, sim, api = "e2e_kill_in_worker", e2e_simulator, airflow_components.api
    before = set(sim.stats()["tasks"])
    cancels_before = cancels(sim)
    run_id = api.trigger(dag_id)
    wait_for("the task to run", lambda: ti_state(airflow_components, dag_id, run_id) == "running")
    remote_id = wait_for("a create request", lambda: new_task(sim, before))
    wait_for("the worker to poll", lambda: polls(sim, remote_id) >= 2)

    api.set_task_instance_state(dag_id, run_id, TASK_ID, "failed")
    wait_for("the cancel request", lambda: cancels(sim) == cancels_before + 1)
    assert sim.stats()["tasks"][remote_id].get("cancelled") is True


# ---- a batch (issue 23): the deferral safety net, triggerer restarts, and a kill cancel every item ----


def test_a_batch_whose_triggerer_dies_is_retried_onto_the_same_videos_and_a_kill_cancels_every_item(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    """``e2e_batch_kill`` (``tests/dag_files/e2e/e2e_batch.py``): two 300 s renders in one task.

    The triggerer is killed (SIGKILL) while it polls them, so the trigger is lost; the first try's
    deferral timeout is five seconds: Airflow's safety net fires, the retry re-attaches to both remote
    tasks (no create), and a new triggerer polls the same two; nothing was cancelled on the way.
    Marking the task failed then makes the triggerer cancel both. (A SIGTERM restart of the
    triggerer is the test above: it costs the old triggerer's 30 s health-check threshold.)
    """
    dag_id, sim, api = "e2e_batch_kill", e2e_simulator, airflow_components.api
    before = set(sim.stats()["tasks"])
    creates_before, cancels_before = int(sim.stats()["generation"]["creates"]), cancels(sim)

    def ti() -> dict[str, Any]:
        tis = [t for t in api.task_instances(dag_id, run_id) if t["task_id"] == TASK_ID]
        return tis[0] if tis else {}

    def two_created() -> list[str] | None:
        found = [k for k in sim.stats()["tasks"] if k not in before]
        return found if len(found) == 2 else None

    def polled_again(ids: list[str], times: int) -> Callable[[], bool]:
        seen = {remote_id: polls(sim, remote_id) + times for remote_id in ids}
        return lambda: all(polls(sim, remote_id) >= seen[remote_id] for remote_id in ids)

    api.wait_for_dag(dag_id)
    run_id = api.trigger(dag_id)
    ids: list[str] = wait_for("two creates", two_created)
    wait_for("try 1 to defer", lambda: ti().get("state") == "deferred")
    wait_for("the triggerer to poll both remote tasks", polled_again(ids, 1))
    airflow_components.kill("triggerer")
    try:
        wait_for("the deferral timeout to end try 1, and a retry", lambda: ti().get("try_number", 0) >= 2)
        airflow_components.start_component("triggerer")  # starts while try 2 re-attaches and defers
        wait_for("try 2 to defer", lambda: ti().get("state") == "deferred")
        assert int(sim.stats()["generation"]["creates"]) == creates_before + 2, "the retry paid again"
        retry_log = api.task_log(dag_id, run_id, TASK_ID, 2)
        for remote_id in ids:
            assert f"Re-attaching instead of submitting: task {remote_id}" in retry_log, retry_log[-3000:]
        assert "lost trigger" in api.task_log(dag_id, run_id, TASK_ID, 1)
        wait_for("the new triggerer to poll both remote tasks", polled_again(ids, 2))
    finally:
        try:
            airflow_components.pid("triggerer")
        except AirflowComponentsError:  # left down by a failure above: the next test needs one
            airflow_components.start_component("triggerer")
    assert cancels(sim) == cancels_before, "a dead triggerer or the safety net cancelled a render"
    assert all(sim.stats()["tasks"][remote_id]["status"] in ("pending", "processing") for remote_id in ids)

    api.set_task_instance_state(dag_id, run_id, TASK_ID, "failed")
    wait_for("both cancel requests", lambda: cancels(sim) == cancels_before + 2)
    assert all(sim.stats()["tasks"][remote_id].get("cancelled") is True for remote_id in ids)
    assert int(sim.stats()["generation"]["creates"]) == creates_before + 2
