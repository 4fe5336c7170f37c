"""What the browser tests do the way a user does: open a page, trigger from the form, read a task's page."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

#: Every run the session started, by name, so later tests can look at runs earlier tests triggered.
RUNS: dict[str, str] = {}


def task_url(stack: UiStack, dag_id: str, run_id: str, task_id: str, map_index: int = -1, tab: str = "") -> str:
    path = f"{stack.url}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"
    if map_index >= 0:
        path += f"/mapped/{map_index}"
    return f"{path}/{tab}" if tab else path


def open_trigger_form(page: Any, stack: UiStack, dag_id: str) -> Any:
    """The DAG's page -> Trigger: the dialog, once rendered (with the Run Parameters, if the DAG has any)."""
    page.goto(f"{stack.url}/dags/{dag_id}")
    button = page.get_by_test_id("trigger-dag-button")
    dialog = page.get_by_role("dialog")
    expect(page.get_by_text("Latest Dag Version")).to_be_visible()
    ready = dialog.get_by_role("button", name="Trigger", exact=True)
    for _ in range(4):  # on a loaded machine the page may still re-render and swallow the first click
        button.click()
        try:
            expect(ready).to_be_visible(timeout=10_000)
            return dialog
        except AssertionError:
            continue
    expect(ready).to_be_visible()
    return dialog


def submit_trigger_form(page: Any, dialog: Any) -> str:
    """Click the dialog's Trigger button; return the new run's id from the API's answer."""
    button = dialog.get_by_role("button", name="Trigger", exact=True)
    expect(button).to_be_enabled()
    with page.expect_response(lambda r: r.request.method == "POST" and "/dagRuns" in r.url) as answer:
        button.click()
    response = answer.value
    assert response.status < 300, f"trigger refused: {response.status} {response.text()[:500]}"
    return str(response.json()["dag_run_id"])


def wait_for_task_state(
    stack: UiStack, dag_id: str, run_id: str, task_id: str, states: set[str], *, map_index: int = -1, timeout: float
) -> dict[str, Any]:
    """Poll the REST API until the task instance is in one of ``states``; return it."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for ti in stack.api.task_instances(dag_id, run_id):
            if ti["task_id"] == task_id and int(ti.get("map_index", -1)) == map_index:
                last = ti
                if ti.get("state") in states:
                    return ti
        time.sleep(0.5)
    raise AssertionError(f"{dag_id}/{run_id}/{task_id}[{map_index}] not in {states} after {timeout:.0f} s: {last}")
