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

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.testing.cluster import AirflowCluster
from airflow_provider_videogen.testing.cluster_stack import (
    BUCKET,
    POOL,
    POOL_SLOTS,
    WORKER_CONCURRENCY,
    dag_sources,
    new_simulator,
    start_cluster,
)
from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_videogen.simulator import SimulatorServer

DAG_FILES = Path(__file__).parents[1] / "dag_files" / "cluster"
__all__ = ["BUCKET", "POOL", "POOL_SLOTS", "WORKER_CONCURRENCY"]  # the tests import them from here
_FAILED: list[str] = []


@pytest.fixture(scope="package")
def cluster_simulator() -> Iterator[SimulatorServer]:
    """The gateway the cluster calls; task timing comes from ``[sim:render=N]`` in each prompt."""
    with new_simulator() as server:
        yield server


@pytest.fixture(scope="package")
def cluster_s3() -> Iterator[SeaweedFS]:
    with SeaweedFS() as server:
        yield server


@pytest.fixture(scope="package")
def cluster(cluster_simulator: SimulatorServer, cluster_s3: SeaweedFS) -> Iterator[AirflowCluster]:
    """The cluster, healthy, with the ``videogen_api`` pool and the example DAGs beside the test DAGs."""
    base = Path(tempfile.mkdtemp(prefix="videogen-cluster-"))
    airflow = start_cluster(base, cluster_simulator, cluster_s3, sources=dag_sources(DAG_FILES.glob("*.py")))
    try:
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
