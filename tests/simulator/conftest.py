"""Fixtures of the simulator's own tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_videogen.simulator import SimulatorServer


@pytest.fixture
def client(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=simulator.url, headers={"Authorization": f"Bearer {simulator.api_key}"}, timeout=15
    ) as http:
        yield http
