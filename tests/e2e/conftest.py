"""Real Airflow components for the e2e tests: one set per test module, torn down when it ends.

Module scope (not session): the four components take about a minute and 1.1 GB to start, and
must not keep two cores busy while the rest of the suite runs. The simulator is this
module's own instance, so a test elsewhere resetting the shared one cannot remove a task that
the components are following.

On a failing test, the tail of every component's log is attached to the report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_videogen.testing.airflow_components import AirflowComponents

if TYPE_CHECKING:
    from collections.abc import Iterator

DAG_FILES = Path(__file__).parents[1] / "dag_files" / "e2e"
CONN_ID = "videogen_default"


@pytest.fixture(scope="module")
def e2e_simulator() -> Iterator[SimulatorServer]:
    """The gateway simulator the components call; task timing comes from ``[sim:render=N]``."""
    with SimulatorServer(SimulatorConfig(render_seconds=2, time_scale=1.0)) as server:
        yield server


@pytest.fixture(scope="module")
def e2e_conn_extra() -> dict[str, Any]:
    """``extra`` of the components' ``videogen`` connection; a module overrides it (e.g. ``cancel_path``)."""
    return {"retry_backoff": 0.2}


@pytest.fixture(scope="module")
def e2e_env() -> dict[str, str]:
    """More environment for the components (``AIRFLOW__...`` settings); a module overrides it."""
    return {}


@pytest.fixture(scope="module")
def airflow_components(
    e2e_simulator: SimulatorServer,
    tmp_path_factory: pytest.TempPathFactory,
    e2e_conn_extra: dict[str, Any],
    e2e_env: dict[str, str],
) -> Iterator[AirflowComponents]:
    """api-server, scheduler, dag-processor and triggerer; LocalExecutor with one worker slot.

    The home is a pytest temp directory, kept after the run (the last three sessions), so a CI
    failure leaves every component's and task's log behind.
    """
    connection = {
        "conn_type": "videogen",
        "host": e2e_simulator.url,
        "password": e2e_simulator.api_key,
        "extra": e2e_conn_extra,
    }
    components = AirflowComponents(
        dags_folder=DAG_FILES,
        home=tmp_path_factory.mktemp("airflow-e2e"),
        env={f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection), **e2e_env},
        parallelism=1,
        startup_timeout=180,
    )
    started = time.monotonic()
    components.start()
    print(f"\n[e2e] Airflow components healthy in {time.monotonic() - started:.0f} s (home {components.home})")
    try:
        yield components
    finally:
        components.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    components = getattr(item, "funcargs", {}).get("airflow_components")
    if report.failed and isinstance(components, AirflowComponents):
        report.sections.append(("Airflow component logs (tails)", components.log_tails(60)))
