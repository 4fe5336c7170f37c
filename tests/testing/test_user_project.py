"""A user's DAG project, tested with the shipped fixtures in a fresh folder and a fresh AIRFLOW_HOME.

This is what the README's "Testing your own DAGs" promises: a folder with a DAG file and a test
module, a ``conftest.py`` that points Airflow at a throwaway home and the DAGs folder, and
``pytest -p airflow_provider_videogen.testing.pytest_plugin``: nothing of this repository's own
test set-up (root ``conftest.py``, ``tests/``) is involved, and entry-point plugins are switched
off so only ``-p`` can have provided the fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

PLUGIN = "airflow_provider_videogen.testing.pytest_plugin"

CONFTEST = """
import os
import tempfile
from pathlib import Path

# Before anything imports Airflow: a throwaway home, and this project's DAGs folder.
_HOME = tempfile.mkdtemp(prefix="my-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
"""

DAG = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

with DAG("my_video_dag", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="A paper boat on a rainy street",
        duration=4,
        poll_interval=0.5,
    )
"""

TEST = """
def test_my_video_dag(run_dag, simulator, videogen_conn):
    simulator.configure(render_seconds=0.5)
    dagrun = run_dag("my_video_dag")
    assert dagrun.state == "success"
    assert simulator.stats()["generation"]["creates"] == 1
"""


def test_a_user_dag_project_passes_with_the_shipped_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "my_project"
    (project / "dags").mkdir(parents=True)
    (project / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (project / "dags" / "my_video_dag.py").write_text(textwrap.dedent(DAG))
    (project / "test_my_video_dag.py").write_text(textwrap.dedent(TEST))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIDEOGEN_", "PYTEST_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", "-q", "-rA", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "1 passed" in output, output[-6000:]
