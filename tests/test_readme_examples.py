"""Every Python block of the README is a complete file that runs as written.

Each block starts with a comment naming the file it is (``# dags/cat_videos.py``,
``# conftest.py``, ``# tests/test_my_dag.py``), so a user can paste it as is, and this test
knows what to do with it:

* the DAG files are written into a DAGs folder and parsed by Airflow's ``DagBag``: no import
  error, one DAG per file named after it, every literal argument checked by the operators;
* the ``conftest.py`` block is executed and must point Airflow at a throwaway home;
* the test block is executed with the package's pytest plugin fixtures: it runs ``my_dag``
  through ``dag.test()`` against the simulator and SeaweedFS, exactly as a user's test would.

A block of any other kind fails the test: a fragment that cannot run does not belong in the README.
The ``prices`` examples are checked against the models too: an audio rate only for a model that
takes ``generate_audio``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.models.catalogue import MODEL_SPECS, is_remix_model
from airflow_provider_videogen.spend.prices import PriceTable

if TYPE_CHECKING:
    from collections.abc import Iterator

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
FILE_COMMENT = re.compile(r"\A# ((?:dags/|tests/)?[\w/]+\.py)\n")


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == language]


def _python_files() -> dict[str, str]:
    """``{path: source}`` of every Python block, by the file its first line names."""
    files: dict[str, str] = {}
    for body in _blocks("python"):
        named = FILE_COMMENT.match(body)
        assert named, f"a README Python block does not start with '# <file>.py':\n{body[:300]}"
        assert named.group(1) not in files, f"two README blocks are {named.group(1)}"
        files[named.group(1)] = body
    return files


def _dag_files() -> dict[str, str]:
    return {path: body for path, body in _python_files().items() if path.startswith("dags/")}


def _write_dags(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path, body in _dag_files().items():
        (folder / Path(path).name).write_text(body)
    return folder


def test_every_python_block_is_a_dag_file_a_conftest_or_a_test_module() -> None:
    files = _python_files()

    assert len(files) >= 7
    for path in files:
        assert path.startswith(("dags/", "tests/test_")) or path == "conftest.py", path
    assert "dags/my_dag.py" in files
    assert "tests/test_my_dag.py" in files


def test_the_dag_blocks_parse_as_dag_files(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = _write_dags(tmp_path / "dags")
    bag = DagBag(dag_folder=str(folder))

    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted(Path(path).stem for path in _dag_files())


def test_the_conftest_block_points_airflow_at_a_throwaway_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES")
    for name in names:  # restored after the test, whatever the block sets
        monkeypatch.setenv(name, os.environ.get(name, ""))
    conftest = tmp_path / "conftest.py"

    exec(compile(_python_files()["conftest.py"], str(conftest), "exec"), {"__file__": str(conftest)})

    home = Path(os.environ["AIRFLOW_HOME"])
    try:
        assert home.is_dir()
        assert home.name.startswith("airflow-tests-")
        assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
        assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def readme_dags_in_the_dags_folder() -> Iterator[list[Path]]:
    """The README's DAG files, for this test only, in the DAGs folder Airflow was configured with.

    ``dag.test()`` runs the serialized DAG of the configured ``dags-folder`` bundle, whose path
    Airflow fixes when it is imported: another folder cannot be swapped in later.
    """
    from airflow import settings

    written = []
    try:
        for path, body in _dag_files().items():
            target = Path(settings.DAGS_FOLDER) / f"readme_{Path(path).name}"
            target.write_text(body)
            written.append(target)
        yield written
    finally:
        for target in written:
            target.unlink(missing_ok=True)


@pytest.mark.usefixtures("readme_dags_in_the_dags_folder")
def test_the_test_block_runs_my_dag_against_the_simulator(request: pytest.FixtureRequest, run_dag: Any) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_python_files()["tests/test_my_dag.py"], "tests/test_my_dag.py", "exec"), namespace)
    test = namespace["test_my_dag"]
    wanted = test.__code__.co_varnames[: test.__code__.co_argcount]

    test(**{name: request.getfixturevalue(name) for name in wanted})


def _priced_models() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for body in _blocks("json"):
        if '"prices"' in body:
            found += list(json.loads(body)["prices"].items())
    return found


def test_the_prices_examples_parse_and_fit_the_models() -> None:
    priced = _priced_models()

    assert priced
    PriceTable.from_extra({"prices": dict(priced)})  # every entry is a valid price
    for model, entry in priced:
        assert model in MODEL_SPECS or is_remix_model(model), f"{model}: not a model the package knows"
        rate = entry.get("credits_per_second")
        audio_tiers = [tier for tier in rate if tier.endswith("+audio")] if isinstance(rate, dict) else []
        if audio_tiers:
            assert "generate_audio" in MODEL_SPECS[model].features, f"{model} refuses generate_audio: {audio_tiers}"
