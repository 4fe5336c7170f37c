"""The backfill estimate command says where the DAG file must come from when it cannot find it.

The installed package ships no DAGs: a user of the wheel who runs the README's command against
``videogen_daily`` used to get only "No DAG 'videogen_daily'". The message now names the folder
it read, where that came from, and ``--dags-folder``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.spend.backfill import main

if TYPE_CHECKING:
    from pathlib import Path

ARGS = ["videogen_daily", "--from", "2026-03-01", "--to", "2026-03-02"]


def test_a_dags_folder_without_the_dag_names_the_folder_and_the_option(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*ARGS, "--dags-folder", str(tmp_path)])

    message = str(exited.value)
    assert f"No DAG 'videogen_daily' in {tmp_path} (from --dags-folder)" in message
    assert "--dags-folder /path/to/the/repository/dags" in message
    assert "not in the installed package" in message


def test_the_configured_dags_folder_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(missing))

    with pytest.raises(SystemExit) as exited:
        main(ARGS)

    message = str(exited.value)
    assert f"The DAGs folder {missing} (from Airflow's [core] dags_folder" in message
    assert "does not exist" in message


def test_the_help_says_where_the_example_dags_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "the example DAGs are in the source repository's dags/ folder, not in the installed package" in help_text
