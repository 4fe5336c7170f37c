"""@task.videogen and @task.videogen_remix through real Airflow (dag.test()) against the simulator.

DAGs: tests/dag_files/taskflow_dags.py. Two runs cover the decorators (a prompt, a dict merged
over the decorator's fields, mapping, a remix, a retry) and the default retry policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.dags.helpers import task_states, xcom

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the DAG's functions count their calls (one file per function, one byte per call)."""
    monkeypatch.setenv("VIDEOGEN_TASKFLOW_CALLS", str(tmp_path))
    return tmp_path


def call_count(folder: Path, name: str) -> int:
    path = folder / name
    return path.stat().st_size if path.exists() else 0


def ti(dagrun: Any, task_id: str) -> Any:
    return next(ti for ti in dagrun.get_task_instances() if ti.task_id == task_id)


def rendered_fields(dagrun: Any, task_id: str) -> dict[str, Any]:
    """What the UI's "Rendered Template" tab shows for the task."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    fields = RenderedTaskInstanceFields.get_templated_fields(ti(dagrun, task_id))
    assert fields is not None
    return dict(fields)


def stored_request(dagrun: Any, task_id: str) -> str:
    """The raw value the decorator stored for the task, as the REST API would return it."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_videogen.decorators.function_request import REQUEST_KEY

    with create_session() as session:
        values = session.scalars(
            select(TaskStateStoreModel.value).where(
                TaskStateStoreModel.run_id == dagrun.run_id,
                TaskStateStoreModel.task_id == task_id,
                TaskStateStoreModel.key == REQUEST_KEY,
            )
        ).all()
    return " ".join(values)


def created_prompts(simulator: Any, api: str = "generation") -> list[str]:
    requests = simulator.stats()[f"{api}_requests"]
    return [r["body"]["prompt"] for r in requests if r.get("accepted") and r.get("body")]


def test_decorated_functions_build_the_requests_and_a_retry_does_not_call_them_again(
    run_dag: Any, simulator: Any, videogen_conn: str, calls: Path, log_text: Any
) -> None:
    simulator.configure(render_seconds=0.3)
    dagrun = run_dag("test_taskflow_videos")
    assert dagrun.state == "success", task_states(dagrun)

    # A prompt string: rendered like VideoGenerationOperator's (same XCom result, link, remote id key).
    result = xcom(dagrun, "clip")
    assert result["state"] == "succeeded"
    assert result["video_urls"] == []
    assert result["links_in_xcom"] is False
    assert xcom(dagrun, "clip", key="videogen_task_id") == result["id"]
    assert str(xcom(dagrun, "clip", key="_link_VideoLink")).endswith("/tasks/clip/plugin/task-videos")  # Videos tab
    assert rendered_fields(dagrun, "clip")["prompt"] == "A slow aerial shot of a harbour at dawn"

    # Mapped over two topics; the dict's duration merged over the decorator's model.
    for index in (0, 1):
        assert xcom(dagrun, "variant", map_index=index)["state"] == "succeeded"
    generation = [r for r in simulator.stats()["generation_requests"] if r.get("accepted")]
    variants = [r["body"] for r in generation if r["model"] == "doubao-seedance-1.0-pro-fast"]
    assert sorted(body["prompt"] for body in variants) == ["A blue boat in the wind", "A red kite in the wind"]
    assert {body["duration"] for body in variants} == {3}

    # The remix: prompts from the function, size from the decorator.
    remix = xcom(dagrun, "story")
    assert remix["state"] == "succeeded"
    assert remix["first_video_url"] is None  # xcom_links=False by default: no signed link in XCom

    # The retry (the first try timed out) re-used the first try's request and its remote task:
    # the function ran once, although it returns a different prompt on every call.
    assert ti(dagrun, "retried").try_number == 2
    assert call_count(calls, "retried") == 1
    retried = [p for p in created_prompts(simulator) if "A dog surfing" in p]
    assert retried == ["[sim:render=1.5] A dog surfing, take 1"]
    assert xcom(dagrun, "retried")["id"] == next(
        r["task_id"] for r in generation if "A dog surfing" in r["body"]["prompt"]
    )
    assert "the function is not called again" in log_text()
    # The stored request is sealed: the task state store is readable through Airflow's REST API by
    # anyone with task-instance access, and a request may hold signed image/reference links.
    for task_id, plain in (("retried", "A dog surfing"), ("story", "kitchen")):
        stored = stored_request(dagrun, task_id)
        assert stored, task_id
        assert plain not in stored, task_id
    # @task.videogen_batch: one task, the list of results; its retry re-used the stored list and
    # both videos (the function ran once, two creates, the dict's duration over the decorator's).
    batch = xcom(dagrun, "batched")
    assert [r["state"] for r in batch] == ["succeeded", "succeeded"]
    assert ti(dagrun, "batched").try_number == 2
    assert call_count(calls, "batched") == 1
    batched = sorted(p for p in created_prompts(simulator) if "A cat batch" in p)
    assert batched == [
        "[sim:render=1.5] A cat batch in a box, take 1",
        "[sim:render=1.5] A cat batch on a roof, take 1",
    ]
    assert [r["body"].get("duration") for r in generation if "A cat batch" in r["body"]["prompt"]] == [4, 6]
    assert "A cat batch" not in stored_request(dagrun, "batched")  # sealed, as for @task.videogen
    for name in ("clip", "variant red kite", "variant blue boat", "story"):
        assert call_count(calls, name) == 1, name


def test_the_default_retry_policy_waits_for_retry_after_and_fails_a_refused_request_at_once(
    run_dag: Any, simulator: Any, videogen_conn: str, log_text: Any
) -> None:
    simulator.configure(
        next_responses=[{"status": 429, "retry_after": 1, "method": "POST", "path": "/v1/videos/generations"}]
    )
    dagrun = run_dag("test_taskflow_retry_policy")

    limited = ti(dagrun, "rate_limited")
    assert limited.state == "success"
    assert limited.try_number == 2  # the 429 used one try; the retry came after the Retry-After
    refused = ti(dagrun, "refused")
    assert refused.state == "failed"
    assert refused.try_number == 1  # retries=3, but a retry cannot fix an invalid request
    assert simulator.stats()["generation"]["creates_accepted"] == 1
    logged = log_text()
    assert "not before the gateway's Retry-After of 1 s" in logged
    assert "invalid parameters" in logged


def test_the_taskflow_example_renders_against_the_simulator(run_dag: Any, simulator: Any, videogen_conn: str) -> None:
    # The example polls adaptively (its poll_interval is the default 15 s): an estimate longer than
    # the render makes the first status query find the video done, as a well-estimated render would.
    simulator.configure(render_seconds=0.3, estimate_factor=4)
    dagrun = run_dag("videogen_taskflow")
    assert dagrun.state == "success", task_states(dagrun)
    rendered = xcom(dagrun, "summary")
    assert len(rendered["clips"]) == 2
    assert rendered["story"]
    prompts = created_prompts(simulator)
    assert sorted(prompts) == [
        "Golden-hour documentary footage: a lighthouse on a cliff, slow dolly-in, natural sound",
        "Golden-hour documentary footage: a night market in the rain, slow dolly-in, natural sound",
    ]
