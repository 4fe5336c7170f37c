"""The package's pytest plugin: the fixtures other test modules (and users) rely on, and its import contract."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import pytest

    from airflow_provider_videogen.simulator import SimulatorServer


def test_simulator_fixture_starts_clean(simulator: SimulatorServer) -> None:
    stats = simulator.stats()

    assert stats["tasks"] == {}
    assert stats["requests"]["total"] == 0
    assert stats["pending_responses"] == []
    assert simulator.config.next_responses == []
    assert simulator.config.rate_503 == 0


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


PLUGIN = "airflow_provider_videogen.testing.pytest_plugin"


def test_the_plugin_is_a_pytest11_entry_point_of_the_package() -> None:
    from importlib.metadata import entry_points

    ours = [ep for ep in entry_points(group="pytest11") if ep.value == PLUGIN]

    assert [ep.name for ep in ours] == [PLUGIN]  # named after the module: `-p <module>` finds it loaded
    assert ours[0].dist is not None
    assert ours[0].dist.name == "airflow-provider-videogen"


def test_importing_the_plugin_has_no_side_effects() -> None:
    """It loads in every pytest run of every user: no env change, no Airflow, no simulator extra, no boto3."""
    probe = textwrap.dedent(
        f"""
        import os, sys
        before = dict(os.environ)
        import {PLUGIN} as plugin
        assert dict(os.environ) == before, "environment changed"
        heavy = {{"airflow", "fastapi", "uvicorn", "boto3", "botocore"}}
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        assert not heavy, heavy
        assert "{PLUGIN.rsplit(".", 1)[0]}.seaweedfs" not in sys.modules
        assert "airflow_provider_videogen.simulator" not in sys.modules
        print(sorted(name for name in plugin.__all__ if not name.isupper()))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    fixtures = set(ast.literal_eval(done.stdout.strip()))
    assert {"simulator", "videogen_conn", "seaweedfs", "s3_bucket", "run_dag", "airflow_db"} <= fixtures


def test_airflow_db_refuses_to_run_without_airflow_home(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without AIRFLOW_HOME it would migrate ~/airflow: a clear usage error instead."""
    pytester.makepyfile("def test_db(airflow_db):\n    pass\n")
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*airflow_db/run_dag need AIRFLOW_HOME set*"])
