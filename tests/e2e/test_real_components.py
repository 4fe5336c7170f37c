"""End to end with real Airflow components: api-server, scheduler, dag-processor, triggerer.

What ``dag.test()`` cannot show, shown here through the public REST API, as a user sees it:

* a run triggered through the API succeeds, its task was ``deferred`` on the way, and the
  trigger ran in the triggerer (the task instance names the trigger and the triggerer job; the
  triggerer wrote the trigger's progress lines to ``attempt=1.log.trigger.<job id>.log``);
* clearing the successful task re-uses the finished video: Airflow's default
  ``[state_store] clear_on_success = False`` keeps the task state store rows across a clear,
  so the new try finds the remote id and sends no second create (billed) request;
* with one worker slot (``parallelism=1``), three mapped 20 s generations overlap, because a
  deferred task gives its slot back: the run takes far less than 3 x 20 s.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.testing.logs import as_logged

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.airflow_components import AirflowComponents, RunResult

pytestmark = pytest.mark.e2e

SINGLE_DAG = "e2e_generation"
MAPPED_DAG = "e2e_mapped_generation"
TASK_ID = "generate"
TRIGGER_CLASSPATH = "airflow_provider_videogen.triggers.videogen.VideoTaskTrigger"
#: Three mapped generations of 20 s each, as they would run one after another in one slot.
SERIAL_SECONDS = 3 * 20.0
MAX_RATIO = 0.8
RUN_TIMEOUT = 150.0


def creates(simulator: SimulatorServer) -> int:
    return int(simulator.stats()["generation"]["creates"])


def describe(result: RunResult) -> str:
    """What the run looked like, for assertion messages."""
    tis = [(ti["task_id"], ti.get("map_index"), ti.get("state"), ti.get("try_number")) for ti in result.task_instances]
    return (
        f"run {result.dag_id}/{result.run_id} ended {result.state!r} after {result.waited_seconds:.0f} s of waiting; "
        f"task instances {tis}; states seen {result.states_seen}"
    )


@pytest.fixture(scope="module")
def generation_run(airflow_components: AirflowComponents, e2e_simulator: SimulatorServer) -> dict[str, Any]:
    """One run of the single-task DAG, shared by the tests that look at it (and then clear it)."""
    before = creates(e2e_simulator)
    result = airflow_components.api.trigger_and_wait(SINGLE_DAG, timeout=RUN_TIMEOUT)
    return {"result": result, "creates": creates(e2e_simulator) - before}


def test_deferred_run_succeeds_with_the_trigger_in_the_triggerer(
    airflow_components: AirflowComponents, generation_run: dict[str, Any]
) -> None:
    api = airflow_components.api
    result: RunResult = generation_run["result"]
    assert result.state == "success", describe(result)
    assert generation_run["creates"] == 1, f"expected one create request, saw {generation_run['creates']}"

    key = (TASK_ID, -1)
    assert "deferred" in result.states_seen[key], f"the task was never seen deferred: {describe(result)}"
    deferred = result.snapshots[key]["deferred"]
    trigger = deferred.get("trigger") or {}
    assert trigger.get("classpath") == TRIGGER_CLASSPATH, f"deferred task instance: {deferred}"
    triggerer_ids = {job["id"] for job in api.jobs("TriggererJob")}
    assert trigger.get("triggerer_id") in triggerer_ids, (
        f"trigger {trigger} is not assigned to a triggerer job ({sorted(triggerer_ids)})"
    )

    output = api.xcom(SINGLE_DAG, result.run_id, TASK_ID)
    remote_id = output["id"]
    assert output["state"] == "succeeded", output
    assert output["video_urls"] == [], output  # xcom_links=False by default: no signed link in XCom
    assert output["links_in_xcom"] is False, output

    # The triggerer wrote the trigger's own log next to the task's log, named after its job id.
    files = airflow_components.task_log_files(SINGLE_DAG, result.run_id, TASK_ID)
    trigger_log = [p for p in files if p.name == f"attempt=1.log.trigger.{trigger['triggerer_id']}.log"]
    assert trigger_log, f"no trigger log from triggerer {trigger['triggerer_id']} among {[p.name for p in files]}"
    text = trigger_log[0].read_text()
    assert f"Remote task {as_logged(remote_id)}: running" in text, text[-3000:]
    assert "Trigger fired event" in text, text[-3000:]
    # ...and the REST API serves it merged into the try's log, as the UI shows it.
    log = api.task_log(SINGLE_DAG, result.run_id, TASK_ID, 1)
    assert "Deferring: remote task" in log, log[-3000:]
    assert f"Remote task {as_logged(remote_id)}: succeeded, 100%" in log, log[-3000:]
    print(
        f"\n[e2e] {SINGLE_DAG}: success in {result.duration:.1f} s (run start to end); "
        f"states seen {result.states_seen[key]}; trigger {trigger['id']} on triggerer job {trigger['triggerer_id']}"
    )


def test_clear_of_a_successful_task_reuses_the_finished_video(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer, generation_run: dict[str, Any]
) -> None:
    api = airflow_components.api
    first: RunResult = generation_run["result"]
    assert first.state == "success", describe(first)
    first_id = api.xcom(SINGLE_DAG, first.run_id, TASK_ID)["id"]
    creates_before = creates(e2e_simulator)
    polls_before = e2e_simulator.stats()["generation"]["polls"]

    cleared = api.clear_task_instances(SINGLE_DAG, first.run_id, [TASK_ID])
    assert [ti["task_id"] for ti in cleared] == [TASK_ID], cleared

    def second_try_done(run: dict[str, Any], tis: list[dict[str, Any]]) -> bool:
        return run.get("state") in ("success", "failed") and all(
            ti.get("try_number", 0) >= 2 and ti.get("state") in ("success", "failed", "upstream_failed") for ti in tis
        )

    again = api.wait_for_run(SINGLE_DAG, first.run_id, timeout=RUN_TIMEOUT, until=second_try_done)
    assert again.state == "success", describe(again)
    (ti,) = again.task_instances
    assert (ti["state"], ti["try_number"]) == ("success", 2), describe(again)

    creates_after = creates(e2e_simulator)
    polls = e2e_simulator.stats()["generation"]["polls"] - polls_before
    assert creates_after == creates_before, (
        f"the cleared task sent {creates_after - creates_before} new create request(s): the task state store "
        "did not survive the clear"
    )
    assert api.xcom(SINGLE_DAG, first.run_id, TASK_ID)["id"] == first_id
    log = api.task_log(SINGLE_DAG, first.run_id, TASK_ID, 2)
    assert f"Re-attaching instead of submitting: task {first_id} already succeeded" in log, log[-3000:]
    assert "Submitting" not in log, log[-3000:]
    print(
        f"\n[e2e] clear of {SINGLE_DAG}/{TASK_ID}: try 2 {ti['state']}, creates {creates_before} -> {creates_after}, "
        f"{polls} status query(ies); states after the clear {again.states_seen[(TASK_ID, -1)]}"
    )


def test_three_mapped_renders_share_one_worker_slot(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    api = airflow_components.api
    before = creates(e2e_simulator)
    result = api.trigger_and_wait(MAPPED_DAG, timeout=RUN_TIMEOUT)
    assert result.state == "success", describe(result)
    assert sorted(ti["map_index"] for ti in result.task_instances) == [0, 1, 2], describe(result)
    assert all(ti["state"] == "success" for ti in result.task_instances), describe(result)
    assert sorted(result.ever_in("deferred")) == [(TASK_ID, 0), (TASK_ID, 1), (TASK_ID, 2)], describe(result)
    assert creates(e2e_simulator) - before == 3

    scheduler_log = airflow_components.component_log("scheduler").read_text(errors="replace")
    assert "LocalExecutor(parallelism=1)" in scheduler_log, "the scheduler did not run with one worker slot"

    # The three remote renders overlapped in time: each started before any finished.
    outputs = [api.xcom(MAPPED_DAG, result.run_id, TASK_ID, map_index=i) for i in range(3)]
    submitted = [datetime.fromisoformat(o["submitted_at"]) for o in outputs]
    completed = [datetime.fromisoformat(o["completed_at"]) for o in outputs]
    assert max(submitted) < min(completed), f"renders did not overlap: {outputs}"

    assert result.duration is not None, describe(result)
    ratio = result.duration / SERIAL_SECONDS
    print(
        f"\n[e2e] {MAPPED_DAG}: 3 x 20 s renders with parallelism=1 took {result.duration:.1f} s "
        f"(run start to end); ratio to {SERIAL_SECONDS:.0f} s = {ratio:.2f}; "
        f"renders started over {(max(submitted) - min(submitted)).total_seconds():.1f} s"
    )
    assert ratio < MAX_RATIO, f"{result.duration:.1f} s is not far below {SERIAL_SECONDS:.0f} s: {describe(result)}"


def test_a_taskflow_video_task_defers_and_a_clear_does_not_call_its_function_again(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    """``@task.videogen`` keeps the operator's guarantees on real components (issue 25 section 1)."""
    dag_id, task_id = "e2e_taskflow", "taskflow_clip"
    api = airflow_components.api
    before = creates(e2e_simulator)
    first = api.trigger_and_wait(dag_id, timeout=RUN_TIMEOUT)
    assert first.state == "success", describe(first)
    assert "deferred" in first.states_seen[(task_id, -1)], describe(first)
    assert creates(e2e_simulator) - before == 1
    remote_id = api.xcom(dag_id, first.run_id, task_id)["id"]
    assert "e2e: the decorated function ran" in api.task_log(dag_id, first.run_id, task_id, 1)

    api.clear_task_instances(dag_id, first.run_id, [task_id])
    again = api.wait_for_run(
        dag_id,
        first.run_id,
        timeout=RUN_TIMEOUT,
        until=lambda run, tis: (
            run.get("state") in ("success", "failed") and all(t.get("try_number", 0) >= 2 for t in tis)
        ),
    )
    assert again.state == "success", describe(again)
    assert creates(e2e_simulator) - before == 1, "the clear sent a second create"
    log = api.task_log(dag_id, first.run_id, task_id, 2)
    assert "e2e: the decorated function ran" not in log, log[-3000:]
    assert f"Re-attaching instead of submitting: task {remote_id}" in log, log[-3000:]


# ---- end_from_trigger: the task ends in the triggerer -------------------------------------------


def test_a_task_that_ended_in_the_triggerer_hands_its_result_on_as_a_dict(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    """Airflow 3.3.2 stores a ``TaskSuccessEvent``'s XComs as JSON text, which a downstream worker
    task then reads as ``str``: the trigger writes the result through the execution API instead."""
    api = airflow_components.api
    result = api.trigger_and_wait("e2e_end_in_triggerer", timeout=RUN_TIMEOUT)
    states = {ti["task_id"]: ti["state"] for ti in result.task_instances}
    assert states == {"generate": "success", "results_are_dicts": "success"}, describe(result)
    assert result.state == "success", describe(result)
    output = api.xcom("e2e_end_in_triggerer", result.run_id, "generate")
    assert output["state"] == "succeeded", output
    assert output["links_in_xcom"] is False, output


# ---- start_from_trigger: the whole task in the triggerer -----------------------------------------

START_DAG = "e2e_start_in_triggerer"


def accepted_prompts(simulator: SimulatorServer, tag: str) -> list[str]:
    records = simulator.stats()["generation_requests"]
    return [
        str(r["body"]["prompt"]) for r in records if r.get("accepted") and tag in str(r.get("body", {}).get("prompt"))
    ]


def never_in_a_worker(ti: dict[str, Any]) -> bool:
    """Never queued for an executor, no worker process: the task ran in the triggerer only."""
    return ti.get("queued_when") is None and not ti.get("pid")


@pytest.fixture(scope="module")
def start_run(airflow_components: AirflowComponents, e2e_simulator: SimulatorServer) -> dict[str, Any]:
    result = airflow_components.api.trigger_and_wait(START_DAG, timeout=RUN_TIMEOUT)
    return {"result": result, "prompts": accepted_prompts(e2e_simulator, "[start]")}


def test_started_in_the_triggerer_a_video_takes_no_worker_workload(
    airflow_components: AirflowComponents, start_run: dict[str, Any]
) -> None:
    api = airflow_components.api
    result: RunResult = start_run["result"]
    assert result.state == "success", describe(result)
    videos = [ti for ti in result.task_instances if ti["task_id"] in ("templated", "mapped")]
    assert len(videos) == 3, describe(result)
    # Downstream worker tasks read the results as dicts (``results_are_dicts``), not JSON text.
    readers = {
        ti["task_id"]: ti["state"] for ti in result.task_instances if ti["task_id"].endswith(("_result", "_results"))
    }
    assert readers == {"templated_result": "success", "mapped_results": "success"}, describe(result)
    assert all(ti["state"] == "success" for ti in videos), describe(result)
    assert all(never_in_a_worker(ti) for ti in videos), [
        (ti["task_id"], ti.get("map_index"), ti.get("queued_when"), ti.get("pid")) for ti in videos
    ]
    # One create each; the template was rendered in the triggerer with the run's context.
    prompts = start_run["prompts"]
    assert len(prompts) == 3, prompts
    assert f"A lantern for run {result.run_id}" in " ".join(prompts), prompts
    assert sorted(p for p in prompts if "lantern" not in p) == sorted(
        ["[sim:render=4] [start] A kite over dunes", "[sim:render=4] [start] Rain on a tin roof"]
    )
    # The same XCom shape as a task that ran in a worker, and the remote id for the Video link.
    output = api.xcom(START_DAG, result.run_id, "templated")
    assert output["state"] == "succeeded", output
    assert output["video_urls"] == [], output
    assert output["links_in_xcom"] is False, output
    assert api.xcom(START_DAG, result.run_id, "templated", key="videogen_task_id") == output["id"]
    mapped = api.xcom(START_DAG, result.run_id, "mapped", map_index=1)
    assert mapped["state"] == "succeeded", mapped


def test_clear_of_a_task_started_in_the_triggerer_reuses_its_video(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer, start_run: dict[str, Any]
) -> None:
    api = airflow_components.api
    first: RunResult = start_run["result"]
    assert first.state == "success", describe(first)
    first_id = api.xcom(START_DAG, first.run_id, "templated")["id"]
    before = creates(e2e_simulator)
    api.clear_task_instances(START_DAG, first.run_id, ["templated"])

    def second_try_done(run: dict[str, Any], tis: list[dict[str, Any]]) -> bool:
        mine = [ti for ti in tis if ti["task_id"] == "templated"]
        return bool(mine) and all(ti.get("try_number", 0) >= 2 and ti.get("state") == "success" for ti in mine)

    api.wait_for_run(START_DAG, first.run_id, timeout=RUN_TIMEOUT, until=second_try_done)
    assert creates(e2e_simulator) == before, "the cleared task submitted again (billed twice)"
    assert api.xcom(START_DAG, first.run_id, "templated")["id"] == first_id


def test_a_render_that_fails_for_good_is_failed_by_a_worker_with_one_create(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    result = airflow_components.api.trigger_and_wait("e2e_start_failing_render", timeout=RUN_TIMEOUT)
    assert result.state == "failed", describe(result)
    (ti,) = result.task_instances
    assert ti["state"] == "failed", describe(result)
    assert len(accepted_prompts(e2e_simulator, "[start-fail]")) == 1
    # The worker failed it with its own message (pushed for the Videos view), without a retry.
    error = airflow_components.api.xcom("e2e_start_failing_render", result.run_id, "generate", key="videogen_error")
    assert "content_policy_violation" in error, error
    assert ti["try_number"] == 1, describe(result)


# ---- a batch of videos in one task (issue 23): ends in the triggerer, a clear re-uses them --------

BATCH_DAG = "e2e_batch"


def test_a_batch_ends_in_the_triggerer_and_a_clear_reuses_its_videos(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer
) -> None:
    """One run, several checks (``tests/dag_files/e2e/e2e_batch.py``): the batch task ends in the
    triggerer (one worker workload), a downstream worker task reads the list of result dicts, the
    XComs and the Video link are set, and a clear of the succeeded batch re-uses its three videos."""
    api = airflow_components.api
    before = creates(e2e_simulator)
    first = api.trigger_and_wait(BATCH_DAG, timeout=RUN_TIMEOUT)
    states = {ti["task_id"]: ti["state"] for ti in first.task_instances}
    assert states == {"batch": "success", "batch_results_are_dicts": "success"}, describe(first)
    assert "deferred" in first.states_seen[("batch", -1)], describe(first)
    assert creates(e2e_simulator) - before == 3
    output = api.xcom(BATCH_DAG, first.run_id, "batch")
    assert [(r["state"], r["video_urls"], r["links_in_xcom"]) for r in output] == [("succeeded", [], False)] * 3
    ids = [r["id"] for r in output]
    assert len(set(ids)) == 3, ids
    assert api.xcom(BATCH_DAG, first.run_id, "batch", key="videogen_task_ids") == ids
    assert api.xcom(BATCH_DAG, first.run_id, "batch_results_are_dicts") == 3
    link = api.xcom(BATCH_DAG, first.run_id, "batch", key="_link_VideoLink")
    assert str(link).endswith("/tasks/batch/plugin/task-videos"), link

    # Ended in the triggerer: it logged so, and the worker never resumed the task to complete it.
    files = airflow_components.task_log_files(BATCH_DAG, first.run_id, "batch")
    trigger_logs = "\n".join(p.read_text(errors="replace") for p in files if ".log.trigger." in p.name)
    assert "All 3 videos of the batch succeeded; the task ends in the triggerer" in trigger_logs, trigger_logs[-3000:]
    (worker_log,) = [p.read_text(errors="replace") for p in files if p.name == "attempt=1.log"]
    assert "Deferring: 3 remote tasks submitted or re-attached" in worker_log, worker_log[-3000:]
    assert f"task {ids[0]} (veo3.1-fast): succeeded" not in worker_log, worker_log[-3000:]

    api.clear_task_instances(BATCH_DAG, first.run_id, ["batch"])

    def second_try_done(run: dict[str, Any], tis: list[dict[str, Any]]) -> bool:
        mine = [ti for ti in tis if ti["task_id"] == "batch"]
        return bool(mine) and all(
            ti.get("try_number", 0) >= 2 and ti.get("state") in ("success", "failed") for ti in mine
        )

    again = api.wait_for_run(BATCH_DAG, first.run_id, timeout=RUN_TIMEOUT, until=second_try_done)
    assert {ti["task_id"]: ti["state"] for ti in again.task_instances}["batch"] == "success", describe(again)
    assert creates(e2e_simulator) - before == 3, "the cleared batch sent a new create"
    assert [r["id"] for r in api.xcom(BATCH_DAG, first.run_id, "batch")] == ids
    log = api.task_log(BATCH_DAG, first.run_id, "batch", 2)
    for remote_id in ids:
        assert f"Re-attaching instead of submitting: task {remote_id} already succeeded" in log, log[-3000:]
    assert "Submitting" not in log, log[-3000:]
