"""The simulator's progress modes (issue 25): progress 0 until done, or in coarse steps; and the poll
hint headers of status answers. A client's adaptive polling is measured against both."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.simulator.helpers import poll_until

if TYPE_CHECKING:
    import httpx

    from airflow_provider_videogen.simulator import SimulatorServer


@pytest.mark.parametrize(("mode", "allowed"), [("linear", set(range(100))), ("zero", {0}), ("steps", {0, 25, 50, 75})])
def test_progress_while_rendering_follows_the_mode(
    client: httpx.Client, simulator: SimulatorServer, mode: str, allowed: set[int]
) -> None:
    simulator.configure(render_seconds=1.5, progress_mode=mode)
    created = client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": "a cat"}).json()
    seen = poll_until(client, f"/v1/tasks/{created['id']}", lambda body: body["status"] == "completed")
    rendering = [body["progress"] for body in seen if body["status"] != "completed"]
    assert rendering, "the task finished before the first poll"
    assert set(rendering) <= allowed
    assert rendering == sorted(rendering)
    assert seen[-1]["progress"] == 100
    if mode == "steps":
        assert len(set(rendering)) >= 2  # it did move, in steps


def test_a_mode_applies_to_tasks_created_after_it_is_set(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(render_seconds=2.0, progress_mode="zero")
    zero = client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": "a cat"}).json()
    simulator.configure(progress_mode="linear")
    seen = poll_until(client, f"/v1/tasks/{zero['id']}", lambda body: body["status"] == "completed")
    assert {body["progress"] for body in seen if body["status"] != "completed"} == {0}


def test_status_answers_carry_the_configured_poll_hint(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(render_seconds=5, status_headers={"openai-poll-after-ms": "2500"})
    created = client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": "a cat"})
    assert "openai-poll-after-ms" not in created.headers  # status answers only
    polled = client.get(f"/v1/tasks/{created.json()['id']}")
    assert polled.headers["openai-poll-after-ms"] == "2500"
