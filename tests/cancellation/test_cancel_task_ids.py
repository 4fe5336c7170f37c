"""A hostile remote id never steers the authenticated cancel POST to another path (issue 21, point 15).

The worker-side cancel (operator or sensor ``on_kill`` with ``deferrable=False``) built its URL from
the raw id, so ``x/../../../admin/purge`` sent the POST to ``/admin/purge/cancel``. Both cancel
paths now go through ``hooks.task_ids.task_path``, as the status queries do: checked and quoted,
refused before anything is sent. Against the simulator over loopback; "nothing sent" is its
request counter.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.hooks.task_ids import task_path
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind
from airflow_provider_videogen.sensors.videogen import VideoTaskSensor
from airflow_provider_videogen.testing.logs import as_logged

CANCEL_PATH = "/v1/tasks/{task_id}/cancel"

HOSTILE_IDS = [
    "x/../../../admin/purge",
    "x%2F..%2F..%2Fadmin%2Fpurge",  # already encoded: quoting again keeps it one segment, the check refuses it
    "..",
    "x/..",
    "task\u2215..\u2215admin",  # DIVISION SLASH, which some normalisers fold to "/"
    "ta\u0301sk",  # non-ASCII
    "x?force=1",
    "x#frag",
    "x\r\nX-Injected: 1",
    "",
    " x",
]


@pytest.fixture
def videogen_conn_extra() -> dict[str, Any]:
    return {"retry_backoff": 0.05, "max_retries": 0, "cancel_path": CANCEL_PATH}


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    return VideoGenHook(videogen_conn)


def requests_seen(simulator: Any) -> int:
    return int(simulator.stats()["requests"]["total"])


@pytest.mark.parametrize("remote_id", HOSTILE_IDS)
def test_worker_side_cancel_refuses_a_hostile_id_before_sending(
    hook: VideoGenHook, simulator: Any, remote_id: str
) -> None:
    before = requests_seen(simulator)
    with pytest.raises(InvalidRequestError, match="is not a remote task id"):
        hook.cancel(ApiKind.GENERATION, remote_id)
    assert requests_seen(simulator) == before


@pytest.mark.parametrize("remote_id", HOSTILE_IDS)
async def test_triggerer_side_cancel_refuses_a_hostile_id_before_sending(
    hook: VideoGenHook, simulator: Any, remote_id: str
) -> None:
    before = requests_seen(simulator)
    with pytest.raises(InvalidRequestError, match="is not a remote task id"):
        await hook.acancel(ApiKind.GENERATION, remote_id)
    assert requests_seen(simulator) == before


def test_sensor_on_kill_with_a_path_traversal_id_sends_nothing_and_says_so(
    hook: VideoGenHook, simulator: Any, log_text: Any
) -> None:
    """The attack as a user would mount it: a sensor watching a hostile id, killed while poking."""
    hostile = "x/../../../admin/purge"
    sensor = VideoTaskSensor(task_id="wait", task_id_to_watch=hostile, deferrable=False)
    sensor._poking = True
    before = requests_seen(simulator)
    sensor.on_kill()
    assert requests_seen(simulator) == before
    text = log_text()
    assert f"Cancelling remote task {as_logged(hostile)} failed" in text
    assert "is not a remote task id" in text


def test_cancel_paths_share_the_status_query_rules() -> None:
    assert task_path(CANCEL_PATH, "task-unified-1-abc") == "/v1/tasks/task-unified-1-abc/cancel"
    assert task_path("/v1/{api}/{task_id}:cancel", "video_1", api="remix") == "/v1/remix/video_1:cancel"
    for hostile in HOSTILE_IDS:
        with pytest.raises(InvalidRequestError):
            task_path(CANCEL_PATH, hostile)
