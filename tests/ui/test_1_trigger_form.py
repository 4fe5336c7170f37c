"""The example pipeline's trigger form, as a new user meets it (issue 15, problems 1 and 3).

The pipeline run triggered here with the form's defaults is followed by ``test_4_pipeline_run``
while the other tests run (one Airflow for the session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from airflow_provider_videogen.pipelines.prompts import MAX_VARIANTS
from tests.dag_files.ui.ui_videogen_checks import SLOW_RENDER_POLL_INTERVAL
from tests.ui.helpers import RUNS, open_trigger_form, submit_trigger_form, task_url, wait_for_task_state

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

pytestmark = pytest.mark.ui

DAG_ID = "videogen_pipeline"


def test_make_ui_leaves_the_dags_paused(ui_stack: UiStack) -> None:
    paused = {dag["dag_id"]: dag["is_paused"] for dag in ui_stack.api.get("/dags")["dags"]}
    assert paused.get(DAG_ID) is True, paused
    assert paused.get("videogen_daily") is True, paused


def test_the_pipeline_triggers_from_the_form_with_its_defaults(page: Any, shot: Any, ui_stack: UiStack) -> None:
    dialog = open_trigger_form(page, ui_stack, DAG_ID)
    expect(dialog.get_by_text("Run Parameters")).to_be_visible()
    shot("form-defaults")
    # Known value sets are drop-downs labelled with what each value means.
    expect(dialog.get_by_text("veo3.1-fast (4/6/8 s, 720p/1080p/4k)")).to_be_visible()
    expect(dialog.get_by_text("16:9 landscape")).to_be_visible()
    expect(dialog.locator("[name=element_frame_store]")).to_have_value("inline")
    # Nothing flagged missing: the Trigger button is enabled with the defaults as they are.
    expect(dialog.get_by_role("button", name="Trigger", exact=True)).to_be_enabled()
    RUNS["pipeline"] = submit_trigger_form(page, dialog)
    shot("triggered")
    assert ui_stack.api.dag_run(DAG_ID, RUNS["pipeline"])["conf"].get("frame_store") == "inline"


def test_too_many_variants_are_refused_with_the_limit(page: Any, shot: Any, ui_stack: UiStack) -> None:
    """50 is not clamped to 20 by the form: the plan task refuses it, naming the limit, before any request."""
    dialog = open_trigger_form(page, ui_stack, DAG_ID)
    variants = dialog.locator("[name=element_variants]")
    variants.fill("50")
    variants.blur()
    expect(variants).to_have_value("50")  # not silently clamped
    shot("variants-50")
    run_id = submit_trigger_form(page, dialog)
    assert ui_stack.api.dag_run(DAG_ID, run_id)["conf"]["variants"] == 50
    ti = wait_for_task_state(ui_stack, DAG_ID, run_id, "plan_prompts", {"failed", "up_for_retry"}, timeout=180)
    assert ti["state"] == "failed", f"a hopeless plan must not be retried: {ti}"
    assert ti["try_number"] == 1, f"a hopeless plan must not be retried: {ti}"
    page.goto(task_url(ui_stack, DAG_ID, run_id, "plan_prompts"))
    expect(page.get_by_text(f"variants=50; allowed: 1 to {MAX_VARIANTS}").first).to_be_visible()
    shot("plan-refused")
    generated = [ti for ti in ui_stack.api.task_instances(DAG_ID, run_id) if ti["task_id"] == "generate_clip"]
    assert all(ti.get("state") in (None, "upstream_failed", "removed") for ti in generated), generated


def test_a_generation_task_shows_deferred_while_the_video_renders(page: Any, shot: Any, ui_stack: UiStack) -> None:
    """A two-minute render: the task waits in the triggerer (badge "Deferred"), holding no worker slot.

    The DAG polls at a fixed interval (``adaptive_polling=False``), which the deferral line says.
    ``test_4_pipeline_run`` reads its log once it has finished (progress lines).
    """
    dag_id = "ui_slow_render"
    RUNS["slow"] = run_id = submit_trigger_form(page, open_trigger_form(page, ui_stack, dag_id))
    wait_for_task_state(ui_stack, dag_id, run_id, "generate", {"deferred"}, timeout=240)
    page.goto(task_url(ui_stack, dag_id, run_id, "generate"))
    expect(page.get_by_text("Deferred", exact=True).first).to_be_visible()
    # Fixed polling: "polling every 5s in the triggerer until ..." (adaptive: "every 5s near the end ...").
    expect(page.get_by_text(f"polling every {SLOW_RENDER_POLL_INTERVAL:g}s in the triggerer").first).to_be_visible()
    shot("deferred")
