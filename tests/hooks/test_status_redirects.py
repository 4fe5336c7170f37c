"""Status queries go to the gateway only: a redirect elsewhere is never fetched (issue 21, point 8).

The triggerer's shared async client followed a 302 to any host: a gateway (or anything that can
answer for it) redirecting ``GET /v1/tasks/{id}`` to an internal address made the triggerer fetch
it, and 200 characters of the internal page landed in the trigger event and the task log. The
worker's sync status query followed it too (only private hosts were refused there, not other
public ones). Here the gateway is the simulator (its ``next_responses`` fault answers 302 with a
``Location``) and the internal service a real loopback server that records every hit.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.exceptions import InvalidResponseError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger
from tests.transfers.video_server import VideoServer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_videogen.simulator import SimulatorServer

INTERNAL_BODY = b"INTERNAL-ADMIN-PAGE root-token=hunter2 " * 20
INTERNAL_PATH = "/latest/meta-data/iam/security-credentials/role"


@pytest.fixture
def internal() -> Iterator[VideoServer]:
    """A service only this machine reaches: what a redirect must never make the triggerer fetch."""
    server = VideoServer().start()
    server.add(INTERNAL_PATH, INTERNAL_BODY, content_type="text/plain")
    yield server
    server.stop()


@pytest.fixture
def videogen_conn_extra() -> dict[str, Any]:
    return {"retry_backoff": 0.01, "max_retries": 0}


@pytest.fixture
def hook(simulator: SimulatorServer, videogen_conn: str) -> VideoGenHook:
    return VideoGenHook(videogen_conn)


def submit(hook: VideoGenHook) -> str:
    return hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="[sim:render=0.2] a cat")).id


def redirect(location: str, times: int = 1) -> dict[str, Any]:
    return {"status": 302, "method": "GET", "path": "/v1/tasks/", "location": location, "times": times}


def trigger(conn_id: str, task_id: str) -> VideoTaskTrigger:
    return VideoTaskTrigger(
        videogen_conn_id=conn_id,
        remote_task_id=task_id,
        api=ApiKind.GENERATION,
        poll_interval=0.05,
        deadline=time.time() + 30,
        max_consecutive_failures=1,
    )


def hostile_locations(internal: VideoServer) -> list[str]:
    port = internal.url("/").rsplit(":", 1)[1].split("/")[0]
    return [
        internal.url(INTERNAL_PATH),
        f"//127.0.0.1:{port}{INTERNAL_PATH}",  # scheme-relative
        f"http://localhost:{port}{INTERNAL_PATH}",
        f"http://127.1:{port}{INTERNAL_PATH}",  # inet_aton shorthand of 127.0.0.1
        f"http://2130706433:{port}{INTERNAL_PATH}",
    ]


async def test_trigger_never_fetches_a_redirect_to_another_host(
    hook: VideoGenHook, simulator: SimulatorServer, internal: VideoServer, videogen_conn: str, log_text: Any
) -> None:
    task_id = submit(hook)
    for location in hostile_locations(internal):
        simulator.configure(next_responses=[redirect(location)])
        found = [event.payload async for event in trigger(videogen_conn, task_id).run()]
        assert len(found) == 1
        event = VideoTaskEvent.from_payload(found[0])
        assert event.status == "error", location
        assert "redirect" in event.message
        assert "INTERNAL-ADMIN-PAGE" not in json.dumps(found[0])
    assert internal.hits == []
    assert "INTERNAL-ADMIN-PAGE" not in log_text()


async def test_trigger_never_fetches_the_end_of_a_redirect_chain(
    hook: VideoGenHook, simulator: SimulatorServer, internal: VideoServer, videogen_conn: str
) -> None:
    """Two hops on the gateway itself (followed), the third elsewhere (not)."""
    task_id = submit(hook)
    own = f"{simulator.url}/v1/tasks/{task_id}"
    simulator.configure(next_responses=[redirect(own, times=2), redirect(internal.url(INTERNAL_PATH))])
    found = [event.payload async for event in trigger(videogen_conn, task_id).run()]
    assert VideoTaskEvent.from_payload(found[0]).status == "error"
    assert "INTERNAL-ADMIN-PAGE" not in json.dumps(found[0])
    assert internal.hits == []


def test_sync_status_query_never_fetches_a_redirect_to_another_host(
    hook: VideoGenHook, simulator: SimulatorServer, internal: VideoServer
) -> None:
    task_id = submit(hook)
    for location in hostile_locations(internal):
        simulator.configure(next_responses=[redirect(location)])
        with pytest.raises(InvalidResponseError, match="redirect") as caught:
            hook.get_generation(task_id)
        assert "INTERNAL-ADMIN-PAGE" not in str(caught.value)
    assert internal.hits == []


def test_sync_status_query_does_not_follow_to_another_public_host(
    hook: VideoGenHook, simulator: SimulatorServer
) -> None:
    """Not only private hosts: the status query answers from the gateway or not at all."""
    task_id = submit(hook)
    simulator.configure(next_responses=[redirect("https://status.example.com/v1/tasks/x")])
    with pytest.raises(InvalidResponseError, match="redirect"):
        hook.get_generation(task_id)


async def test_redirects_within_the_gateway_are_still_followed(hook: VideoGenHook, simulator: SimulatorServer) -> None:
    task_id = submit(hook)
    simulator.configure(next_responses=[redirect(f"/v1/tasks/{task_id}", times=2)])
    assert hook.get_generation(task_id).id == task_id
    simulator.configure(next_responses=[redirect(f"{simulator.url}/v1/tasks/{task_id}", times=2)])
    assert (await hook.aget_generation(task_id)).id == task_id


async def test_an_endless_redirect_loop_on_the_gateway_ends(hook: VideoGenHook, simulator: SimulatorServer) -> None:
    task_id = submit(hook)
    simulator.configure(next_responses=[redirect(f"/v1/tasks/{task_id}", times=50)])
    with pytest.raises(InvalidResponseError, match="redirect"):
        await hook.aget_generation(task_id)
    simulator.configure(next_responses=[])
    assert (await hook.aget_generation(task_id)).state is not TaskState.FAILED
