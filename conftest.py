"""Root conftest: Airflow's environment is fixed here, before anything imports Airflow.

Shared fixtures live in tests/fixtures/, one module per real server (simulator, SeaweedFS) and
one for the Airflow metadata database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
_HOME = Path(tempfile.mkdtemp(prefix="videogen-airflow-"))
_DAGS = _HOME / "dags"
_DAGS.mkdir()
# dag.test() parses every file of the DAGs folder: give it only the test DAGs and the examples.
for folder in (ROOT / "tests" / "dag_files", ROOT / "dags"):
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

pytest_plugins = [
    "tests.fixtures.airflow_env",
    "tests.fixtures.simulator",
    "tests.fixtures.s3",
]
