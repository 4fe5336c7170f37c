"""Root conftest: Airflow's environment is fixed here, before anything imports Airflow.

The shared fixtures (simulator, SeaweedFS, the metadata DB, ``run_dag``) are the package's own
pytest plugin, :mod:`airflow_provider_videogen.testing.pytest_plugin`, loaded through its
``pytest11`` entry point (``make install``), exactly as users get it. It imports nothing of
Airflow, so the environment below is still in place when Airflow is first imported.

Tiers: a test that uses ``run_dag``/``airflow_db`` is marked ``dagrun``, one that uses SeaweedFS
``s3``, one that starts Airflow components ``e2e`` (on top of any explicit mark), so ``make unit``
(``-m "not (dagrun or e2e or s3 ...)"``) cannot pick up a slow test by accident.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest  # imports nothing of Airflow

ROOT = Path(__file__).resolve().parent
_HOME = Path(tempfile.mkdtemp(prefix="videogen-airflow-"))
_DAGS = _HOME / "dags"
_DAGS.mkdir()
# dag.test() parses every file of the DAGs folder: give it only the test DAGs and the examples.
for folder in (ROOT / "tests" / "dag_files", ROOT / "dags"):  # top level only: e2e/ is not linked
    for source in sorted(folder.glob("*.py")) if folder.exists() else []:
        (_DAGS / source.name).symlink_to(source)

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "VIDEOGEN_TEST_AIRFLOW_HOME": str(_HOME),
    }
)

pytest_plugins = ["pytester"]  # tests of the package's own pytest plugin

PLUGIN = "airflow_provider_videogen.testing.pytest_plugin"
#: A test that uses one of these fixtures (directly or through another fixture) gets the marker.
SLOW_FIXTURES = {"run_dag": "dagrun", "airflow_db": "dagrun", "seaweedfs": "s3", "airflow_components": "e2e"}


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        raise pytest.UsageError(f"the package's pytest plugin is not loaded: run `make install` (or pass -p {PLUGIN})")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker in sorted({mark for name, mark in SLOW_FIXTURES.items() if name in fixtures}):
            item.add_marker(marker)
