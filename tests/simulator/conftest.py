"""Fixtures of the simulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_videogen.simulator import SimulatorServer


@pytest.fixture
def client(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=simulator.url, headers={"Authorization": f"Bearer {simulator.api_key}"}, timeout=15
    ) as http:
        yield http
