"""The pytest fixtures other test modules rely on."""

from __future__ import annotations

import json
import os

import httpx

from airflow_provider_videogen.simulator import SimulatorServer


def test_simulator_fixture_starts_clean(simulator: SimulatorServer) -> None:
    stats = simulator.stats()

    assert stats["tasks"] == {} and stats["requests"]["total"] == 0 and stats["pending_responses"] == []
    assert simulator.config.next_responses == [] and simulator.config.rate_503 == 0


def test_videogen_conn_points_at_the_simulator(videogen_conn: str, simulator: SimulatorServer) -> None:
    # The JSON form Airflow reads from AIRFLOW_CONN_<ID> (Connection.from_json); importing Airflow
    # here would cost seconds, the hook's own tests exercise the real parsing.
    conn = json.loads(os.environ["AIRFLOW_CONN_VIDEOGEN_DEFAULT"])

    assert videogen_conn == "videogen_default"
    assert conn == {
        "conn_type": "videogen",
        "host": simulator.url,
        "password": simulator.api_key,
        "extra": {"retry_backoff": 0.05},
    }
    auth = {"Authorization": f"Bearer {conn['password']}"}
    answer = httpx.get(f"{conn['host']}/v1/tasks/task-unified-1-x", headers=auth)
    assert answer.status_code == 404  # the key is accepted
