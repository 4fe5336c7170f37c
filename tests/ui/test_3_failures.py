"""Failures a user must be able to read and recover from in the UI (issue 15, problems 2 and the content policy)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.dag_files.ui.ui_videogen_checks import CONTENT_POLICY_PROMPT, LATE_CONNECTION_PROMPT
from tests.ui.helpers import open_trigger_form, submit_trigger_form, task_url, wait_for_task_state

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

pytestmark = pytest.mark.ui


def test_a_content_policy_failure_shows_its_message_and_is_not_retried(page: Any, shot: Any, ui_stack: UiStack) -> None:
    dag_id = "ui_content_policy"
    dialog = open_trigger_form(page, ui_stack, dag_id)
    run_id = submit_trigger_form(page, dialog)
    result = ui_stack.api.wait_for_run(dag_id, run_id, timeout=180)
    assert result.state == "failed", result.task_instances
    [ti] = result.task_instances
    # It had retries left and did not use them: the content-policy failure ended the task. (On a
    # loaded machine Airflow itself may retry a try that lost its heartbeat before the failure;
    # that try re-attached to the same remote task, so there is still one create.)
    assert ti["state"] == "failed", f"retried although hopeless: {ti}"
    assert ti["try_number"] <= ti["max_tries"], f"retried although hopeless: {ti}"
    assert ui_stack.creates_for(CONTENT_POLICY_PROMPT) == 1

    page.goto(task_url(ui_stack, dag_id, run_id, "generate"))
    expect(page.get_by_text(re.compile("Failed", re.I)).first).to_be_visible()
    expect(page.get_by_text(re.compile("content_policy_violation")).first).to_be_visible()
    expect(page.get_by_text(re.compile("rejected by the content safety policy")).first).to_be_visible()
    shot("content-policy-log")


def test_a_missing_connection_then_added_then_cleared_submits_exactly_once(
    page: Any, shot: Any, ui_stack: UiStack
) -> None:
    dag_id, conn_id = "ui_late_connection", "videogen_late"
    api = ui_stack.api
    api.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    run_id = api.trigger(dag_id)
    first = api.wait_for_run(dag_id, run_id, timeout=180)
    assert first.state == "failed", first.task_instances
    page.goto(task_url(ui_stack, dag_id, run_id, "generate"))
    expect(page.get_by_text(re.compile(f"conn_id `{conn_id}` isn't defined")).first).to_be_visible()
    shot("missing-connection")

    api.post(
        "/connections",
        {
            "connection_id": conn_id,
            "conn_type": "videogen",
            "host": ui_stack.simulator_url,
            "password": "sim-key",
            "extra": json.dumps({"retry_backoff": 0.2}),
        },
        expect=(201,),
    )
    api.clear_task_instances(dag_id, run_id, ["generate"])
    wait_for_task_state(ui_stack, dag_id, run_id, "generate", {"success", "failed"}, timeout=180)
    page.goto(task_url(ui_stack, dag_id, run_id, "generate"))
    shot("after-clear")
    second = api.wait_for_run(dag_id, run_id, timeout=60)
    assert second.state == "success", [
        api.task_log(dag_id, run_id, "generate", ti["try_number"])[-1500:] for ti in second.task_instances
    ]
    assert ui_stack.creates_for(LATE_CONNECTION_PROMPT) == 1
