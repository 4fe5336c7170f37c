"""The pipeline run the form started (``test_1``): it succeeds, its logs show progress, its links work.

Issue 15: "see a generation task deferred with progress lines in its log; the run succeeds; the
Video link on a generation task and the S3 link on an archive task are present and point where
they should" (problem 6), and the rendered key is the real one (problem 8).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import RUNS, task_url

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

pytestmark = pytest.mark.ui

DAG_ID = "videogen_pipeline"
RUN_TIMEOUT = 480


@pytest.fixture(scope="module")
def finished_run(ui_stack: UiStack) -> str:
    run_id = RUNS.get("pipeline")
    assert run_id, "the pipeline run was not triggered from the form (tests/ui/test_1_trigger_form.py)"
    result = ui_stack.api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, poll=2)
    states = {(ti["task_id"], ti.get("map_index")): ti.get("state") for ti in result.task_instances}
    assert result.state == "success", f"run {run_id} ended {result.state}: {states}"
    print(f"\n[ui] pipeline run from the form's defaults took {result.duration:.0f} s")
    return run_id


def test_the_generation_log_shows_the_triggers_progress(
    page: Any, shot: Any, ui_stack: UiStack, finished_run: str
) -> None:
    page.goto(task_url(ui_stack, DAG_ID, finished_run, "generate_clip", 0))
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Remote task task-unified-\S+: succeeded, 100%")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Deferring: remote task")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Trigger fired event")).first).to_be_visible()
    shot("progress-log")
    # Airflow logs the trigger's whole event: no signed download link in it (problem 7); the
    # simulator's links are /files/<token>.mp4 (and with xcom_links=False none is in XCom either).
    assert ui_stack.api.xcom(DAG_ID, finished_run, "generate_clip", map_index=0)["video_urls"] == []
    fired = [line for line in page.locator("body").inner_text().splitlines() if "Trigger fired event" in line]
    assert fired, fired
    assert not any("/files/" in line or "video_urls" in line for line in fired), fired


def test_the_s3_link_points_at_the_archived_object(page: Any, shot: Any, ui_stack: UiStack, finished_run: str) -> None:
    [archived] = ui_stack.api.xcom(DAG_ID, finished_run, "archive_clip", map_index=0)
    assert archived["key"].endswith("/clip-0.mp4"), archived
    # The "S3" link opens the task's Videos tab (issue 22; tests/ui/test_5_videos.py follows it).
    assert archived["size"] > 0
    assert archived["sha256"]

    page.goto(task_url(ui_stack, DAG_ID, finished_run, "archive_clip", 0, "rendered_templates"))
    expect(page.get_by_text(archived["key"]).first).to_be_visible()
    expect(page.get_by_text("{ext}")).to_have_count(0)
    shot("rendered-key")


def test_a_deferred_task_log_shows_the_render_progress(page: Any, shot: Any, ui_stack: UiStack) -> None:
    """The two-minute render started in ``test_1``: its trigger logged its progress into the task log.

    A line on each state change, else at most once a minute (``LOG_PROGRESS_EVERY``); the DAG
    polls every 5 s from the start, so a two-minute render logs at least two "running" lines.
    """
    dag_id, run_id = "ui_slow_render", RUNS.get("slow")
    assert run_id, "the slow render was not triggered (tests/ui/test_1_trigger_form.py)"
    result = ui_stack.api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT, poll=2)
    assert result.state == "success", result.task_instances
    page.goto(task_url(ui_stack, dag_id, run_id, "generate"))
    expect(page.get_by_text(re.compile(r"Remote task \S+: succeeded, 100%")).first).to_be_visible()
    running = page.get_by_text(re.compile(r"Remote task \S+: running, \d+%"))
    expect(running.first).to_be_visible()
    lines = running.all_inner_texts()
    seen = {int(m.group(1)) for line in lines if (m := re.search(r": running, (\d+)%", line))}
    assert len(seen) >= 2, f"expected progress lines showing the render advance, saw {lines}"
    shot("progress-lines")
