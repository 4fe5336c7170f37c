"""The simulator's render estimate, and renders faster or slower than it (adaptive polling's tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.simulator.helpers import poll_until

if TYPE_CHECKING:
    import httpx

    from airflow_provider_videogen.simulator import SimulatorServer

VEO = "veo3.1-fast"


def create(client: httpx.Client, prompt: str) -> dict[str, object]:
    response = client.post("/v1/videos/generations", json={"model": VEO, "prompt": prompt})
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def estimate_of(body: dict[str, object]) -> object:
    info = body["task_info"]
    assert isinstance(info, dict)
    return info["estimated_time"]


def test_estimate_directive_sets_the_estimate_not_the_render(client: httpx.Client) -> None:
    created = create(client, "a cat [sim:render=0.3] [sim:estimate=90]")
    assert estimate_of(created) == 90

    bodies = poll_until(client, f"/v1/tasks/{created['id']}", lambda body: body["status"] == "completed")

    assert estimate_of(bodies[-1]) == 90  # every answer repeats it, as the gateway's do
    assert bodies[-1]["completed_at"] - created["created"] <= 1  # type: ignore[operator]


def test_estimate_factor_makes_renders_faster_or_slower_than_said(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    simulator.configure(render_seconds=20, estimate_factor=3)
    faster = create(client, "a cat")
    simulator.configure(estimate_factor=0.25)
    slower = create(client, "a dog")

    assert estimate_of(faster) == 60
    assert estimate_of(slower) == 5
    assert simulator.state.tasks[str(faster["id"])].render == simulator.state.tasks[str(slower["id"])].render == 20


def test_render_scatter_spreads_real_times_around_one_estimate(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    simulator.configure(render_seconds=100, render_scatter=0.3, seed=7)
    created = [create(client, f"clip {i}") for i in range(40)]

    renders = [simulator.state.tasks[str(body["id"])].render for body in created]
    assert {estimate_of(body) for body in created} == {100}
    assert all(70 <= r <= 130 for r in renders)
    assert min(renders) < 85
    assert max(renders) > 115
    simulator.reset()
    simulator.configure(render_seconds=100, render_scatter=0.3, seed=7)
    again = [simulator.state.tasks[str(create(client, "x")["id"])].render for _ in range(40)]
    assert again == renders  # seeded: a test or benchmark run can be repeated


@pytest.mark.parametrize("prompt", ["a [sim:estimate=soon]", "a [sim:estimate=-1]"])
def test_bad_estimate_directive_is_refused(client: httpx.Client, prompt: str) -> None:
    response = client.post("/v1/videos/generations", json={"model": VEO, "prompt": prompt})
    assert response.status_code == 400
    assert "estimate" in response.text
