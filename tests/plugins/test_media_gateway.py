"""Before archiving, the media endpoint proxies the gateway's link (issue 22 point 2), against the simulator.

The signed link stays on the server; an expired one is said plainly (410) without a request.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import GenerationRequest
from airflow_provider_videogen.plugins.media import MediaUnavailable, gateway_answer
from airflow_provider_videogen.plugins.records import VideoCard
from airflow_provider_videogen.plugins.settings import ViewSettings
from tests.hooks.test_hook_simulator import wait_done


def _card(remote_id: str, expires_at: datetime) -> VideoCard:
    return VideoCard(task_id="generate", map_index=-1, ti_state="success", remote_id=remote_id, kind="clip",
                     state="succeeded", expires_at=expires_at.isoformat())  # fmt: skip


def test_a_rendered_video_is_proxied_from_the_gateway(simulator: Any, videogen_conn: str) -> None:
    simulator.configure(render_seconds=0.3)
    hook = VideoGenHook(videogen_conn)
    task = wait_done(hook, hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="A fox", duration=4)))
    with hook.stream_download(task.video_urls[0]) as response:
        expected = response.read()
    answer = gateway_answer(
        _card(task.id, datetime.now(tz=timezone.utc) + timedelta(hours=1)),
        None,
        ViewSettings(videogen_conn_id=videogen_conn),
    )
    assert answer["status"] == 200
    assert b"".join(answer["body"]) == expected
    assert not any("files" in str(v) for v in answer["headers"].values())  # no signed link handed on


def test_an_expired_link_is_said_plainly() -> None:
    card = _card("task-old", datetime.now(tz=timezone.utc) - timedelta(minutes=1))
    with pytest.raises(MediaUnavailable, match=r"expired at .* and the video was not archived") as caught:
        gateway_answer(card, None, ViewSettings(videogen_conn_id="no-such-connection"))
    assert caught.value.status == 410
