"""One production-shaped cluster for every test in tests/cluster, torn down after the last one.

Package scope: the cluster (PostgreSQL, Redis, api-server, dag-processor, two schedulers, two
triggerers, two Celery workers of four slots) takes one to two minutes and about 2 GB to start,
so the tests share it and run one after another; a test that kills a component starts a new
one before it ends, so the next test finds the full shape. The simulator and the SeaweedFS
server are this package's own, so a test elsewhere resetting the shared ones cannot remove a
task the cluster is following.

On a failing test, the tail of every component's log is attached to the report, and the
cluster's home, with every log, is kept (its path is printed); it is removed otherwise. It is
NOT a pytest temp directory: pytest deletes all but the user's three newest base temp
directories, also one that a concurrent session is still using, and PostgreSQL shuts down the
moment its data directory's lock file disappears.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_videogen.testing.cluster import AirflowCluster
from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = Path(__file__).parents[1] / "dag_files" / "cluster"
POOL = "videogen_api"
POOL_SLOTS = 8
WORKER_CONCURRENCY = 4
BUCKET = "videogen-cluster"
_FAILED: list[str] = []


@pytest.fixture(scope="package")
def cluster_simulator() -> Iterator[SimulatorServer]:
    """The gateway the cluster calls; task timing comes from ``[sim:render=N]`` in each prompt."""
    with SimulatorServer(SimulatorConfig(render_seconds=2, time_scale=1.0)) as server:
        yield server


@pytest.fixture(scope="package")
def cluster_s3() -> Iterator[SeaweedFS]:
    with SeaweedFS() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="package")
def cluster(cluster_simulator: SimulatorServer, cluster_s3: SeaweedFS) -> Iterator[AirflowCluster]:
    """The cluster, healthy, with the ``videogen_api`` pool and the example DAGs beside the test DAGs."""
    base = Path(tempfile.mkdtemp(prefix="videogen-cluster-"))
    dags = base / "dags"
    dags.mkdir()
    for source in [*DAG_FILES.glob("*.py"), *(ROOT / "dags").glob("videogen_*.py")]:
        shutil.copy(source, dags / source.name)
    connection = {
        "conn_type": "videogen",
        "host": cluster_simulator.url,
        "password": cluster_simulator.api_key,
        "extra": {"retry_backoff": 0.2},
    }
    env = {
        "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_AWS_DEFAULT": cluster_s3.connection_json(),
        # Only the DAGs a test waits for are unpaused (AirflowApi.wait_for_dag): the daily
        # example must not start its scheduled runs before the backfill test wants them.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    airflow = AirflowCluster(
        dags_folder=dags,
        home=base / "home",
        env=env,
        schedulers=2,
        triggerers=2,
        celery_workers=2,
        worker_concurrency=WORKER_CONCURRENCY,
        startup_timeout=300,
    )
    started = time.monotonic()
    airflow.start()
    try:
        airflow.api.request(
            "POST",
            "/pools",
            json={"name": POOL, "slots": POOL_SLOTS, "include_deferred": False, "description": "gateway submissions"},
            expect=(200, 201, 409),
        )
        print(f"\n[cluster] healthy in {time.monotonic() - started:.0f} s (home {airflow.home})")
        yield airflow
    finally:
        airflow.stop()
        crashes = [(name, code, time.strftime("%H:%M:%S", time.gmtime(at))) for name, code, at in airflow.crashes]
        print(f"\n[cluster] components that exited on their own and were restarted: {crashes or 'none'}")
        if _FAILED:
            print(f"\n[cluster] a test failed ({', '.join(_FAILED)}): logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    airflow = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(airflow, AirflowCluster):
        _FAILED.append(item.name)
        report.sections.append(("Cluster component logs (tails)", airflow.log_tails(60)))
