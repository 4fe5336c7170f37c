"""The ``/_sim`` control routes as a web page in the user's browser would try them (issue 21 point 17).

A page can send a ``text/plain`` POST or a GET to ``http://127.0.0.1:<port>`` without any CORS
preflight, and, after re-binding its own DNS name to 127.0.0.1, read the answers. Neither may
change the simulator's key or read the prompts it received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

PROMPT = "a private storyboard prompt"


@pytest.fixture
def key(simulator: SimulatorServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {simulator.api_key}"}


def _create(simulator: SimulatorServer, key: dict[str, str]) -> None:
    created = httpx.post(
        f"{simulator.url}/v1/videos/generations", headers=key, json={"model": "veo3.1-fast", "prompt": PROMPT}
    )
    assert created.status_code == 200, created.text


def test_a_browser_text_plain_post_cannot_replace_the_key(simulator: SimulatorServer) -> None:
    # What <form enctype="text/plain"> or fetch(..., {mode: "no-cors"}) sends: no preflight, no key.
    answer = httpx.post(
        f"{simulator.url}/_sim/config",
        content='{"api_keys": ["attacker-key"], "rate_500": 1.0}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )

    assert answer.status_code in (401, 415)
    assert simulator.config.api_keys == ["sim-key"]
    assert simulator.config.rate_500 == 0.0


def test_a_keyed_post_must_still_be_json(simulator: SimulatorServer, key: dict[str, str]) -> None:
    answer = httpx.post(
        f"{simulator.url}/_sim/config",
        content='{"api_keys": ["attacker-key"]}',
        headers={**key, "Content-Type": "text/plain"},
    )

    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]["message"]
    assert simulator.config.api_keys == ["sim-key"]


@pytest.mark.parametrize("route", ["/_sim/stats", "/_sim/config"])
def test_keyless_reads_are_refused_and_show_no_prompt(
    simulator: SimulatorServer, key: dict[str, str], route: str
) -> None:
    _create(simulator, key)

    special = ("sim-no-credits", "sim-no-access")  # test keys everyone knows: no control with them
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, *({"Authorization": f"Bearer {k}"} for k in special)):
        answer = httpx.get(f"{simulator.url}{route}", headers=headers)
        assert answer.status_code == 401
        assert PROMPT not in answer.text


def test_keyless_reset_is_refused(simulator: SimulatorServer, key: dict[str, str]) -> None:
    _create(simulator, key)

    assert httpx.post(f"{simulator.url}/_sim/reset").status_code == 401
    assert simulator.stats()["generation"]["creates"] == 1


def test_a_rebound_dns_name_is_refused_even_with_the_default_key(
    simulator: SimulatorServer, key: dict[str, str]
) -> None:
    # DNS rebinding: the page's own name now resolves to 127.0.0.1, so the browser sends it as
    # Host and lets the page read the answer; the default key is public, so the key alone is no guard.
    _create(simulator, key)

    answer = httpx.get(f"{simulator.url}/_sim/stats", headers={**key, "Host": f"evil.example:{simulator.port}"})

    assert answer.status_code == 403
    assert PROMPT not in answer.text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_the_key_json_and_a_loopback_host_are_accepted(
    simulator: SimulatorServer, key: dict[str, str], host: str
) -> None:
    _create(simulator, key)
    headers = {**key, "Host": f"{host}:{simulator.port}"}

    stats = httpx.get(f"{simulator.url}/_sim/stats", headers=headers)
    changed = httpx.post(f"{simulator.url}/_sim/config", headers=headers, json={"rate_500": 0.5})

    assert stats.status_code == 200
    assert stats.json()["generation"]["creates"] == 1
    assert changed.status_code == 200
    assert simulator.config.rate_500 == 0.5
    assert httpx.post(f"{simulator.url}/_sim/reset", headers=headers).json() == {"status": "ok"}


def test_health_needs_no_key_and_tells_nothing(simulator: SimulatorServer) -> None:
    # Start-up scripts wait on it before they know the key; it answers only that the server is up.
    assert httpx.get(f"{simulator.url}/_sim/health").json() == {"status": "ok"}
