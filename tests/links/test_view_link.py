"""The "Video" and "S3" links open the task's Videos tab (issue 22 point 3), under the UI's base path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.models.taskinstancekey import TaskInstanceKey

from airflow_provider_videogen.links.view import videos_view_url
from airflow_provider_videogen.plugins.videos import VideosPlugin

if TYPE_CHECKING:
    import pytest


def test_mapped_and_unmapped_tasks_open_their_videos_tab() -> None:
    run = "manual__2026-03-01T10:00:00+00:00"
    assert videos_view_url(TaskInstanceKey("d", "generate_clip", run, 1, 2)) == (
        "/dags/d/runs/manual__2026-03-01T10%3A00%3A00%2B00%3A00/tasks/generate_clip/mapped/2/plugin/task-videos"
    )
    assert (
        videos_view_url(TaskInstanceKey("d", "generate", "r", 1, -1))
        == "/dags/d/runs/r/tasks/generate/plugin/task-videos"
    )


def test_a_ui_served_under_a_path_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/airflow/")
    assert videos_view_url(TaskInstanceKey("d", "t", "r", 1, -1)) == "/airflow/dags/d/runs/r/tasks/t/plugin/task-videos"


def test_the_link_target_is_the_plugins_task_tab() -> None:
    routes = {view["destination"]: view["url_route"] for view in VideosPlugin.external_views}
    assert videos_view_url(TaskInstanceKey("d", "t", "r", 1, -1)).endswith(f"/plugin/{routes['task_instance']}")
