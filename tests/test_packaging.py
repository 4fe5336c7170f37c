"""The wheel a user installs: built from this tree, installed into a clean virtual environment.

Dependencies come from the package registry as a user would get them (``uv pip install
dist/...whl[simulator]``), not from this repository's lock, so a dependency the package forgets
to declare fails here. Then: Airflow lists the provider, the simulator's CLI starts and answers
its health check, and the wheel carries the licence, the type marker and the pytest plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from airflow_provider_videogen.testing.processes import free_ports, signal_group

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        pytest.fail("uv is needed to build and install the wheel (`make install` installs it)")
    return found


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args)} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT))
    [built] = out.glob("airflow_provider_videogen-*.whl")
    return built


@pytest.fixture(scope="module")
def clean_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "venv"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    _run(_uv(), "venv", "--quiet", "--python", py, str(venv))
    python = str(venv / "bin" / "python")
    _run(_uv(), "pip", "install", "--quiet", "--python", python, f"{wheel}[simulator]", timeout=600)
    return venv


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    return env


def test_the_wheel_carries_licence_type_marker_and_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_text = archive.read(entry_points).decode()

    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names), names
    assert "airflow_provider_videogen/py.typed" in names
    assert "airflow_provider_videogen/testing/pytest_plugin.py" in names
    assert not any(n.startswith(("tests/", "dags/", "scripts/")) for n in names)
    assert "[apache_airflow_provider]" in entry_text
    assert "[pytest11]" in entry_text
    assert "videogen-simulator = airflow_provider_videogen.simulator.cli:main" in entry_text


def test_airflow_lists_the_provider(clean_venv: Path, tmp_path: Path) -> None:
    out = _run(
        str(clean_venv / "bin" / "airflow"), "providers", "list", "-o", "json", env=_clean_env(tmp_path), timeout=180
    )

    providers = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    assert "airflow-provider-videogen" in providers, sorted(providers)
    assert providers["airflow-provider-videogen"]["version"] == "0.1.0"


def test_the_simulator_cli_starts_and_answers_its_health_check(clean_venv: Path, tmp_path: Path) -> None:
    [port] = free_ports(1)
    process = subprocess.Popen(
        [str(clean_venv / "bin" / "videogen-simulator"), "--port", str(port)],
        env=_clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline, "the simulator did not answer within 60 s"
                time.sleep(0.3)
        assert answer.status_code == 200, answer.text
    finally:
        signal_group(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def test_the_task_decorators_resolve_after_install(clean_venv: Path, tmp_path: Path) -> None:
    """``from airflow.sdk import task; task.videogen`` works for a user who only installed the wheel."""
    script = (
        "from airflow.sdk import task\n"
        "from airflow_provider_videogen import get_provider_info\n"
        "print(task.videogen.__module__, task.videogen.__name__)\n"
        "print(task.videogen_remix.__module__, task.videogen_remix.__name__)\n"
        "print(task.videogen_batch.__module__, task.videogen_batch.__name__)\n"
        "print(sorted(d['name'] for d in get_provider_info()['task-decorators']))\n"
    )
    out = _run(str(clean_venv / "bin" / "python"), "-c", script, env=_clean_env(tmp_path), timeout=180)
    assert out.splitlines()[-4:] == [
        "airflow_provider_videogen.decorators.videogen videogen_task",
        "airflow_provider_videogen.decorators.remix videogen_remix_task",
        "airflow_provider_videogen.decorators.batch videogen_batch_task",
        "['videogen', 'videogen_batch', 'videogen_remix']",
    ]
