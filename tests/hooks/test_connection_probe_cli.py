"""``python -m airflow_provider_videogen.hooks.connection_probe``: the Test button from a shell.

``airflow connections test`` refuses while ``[core] test_connection`` is Disabled (Airflow's
default) and prints only "Connection success!" when it works; this command runs the same probe
against the simulator whatever the setting, and prints what was checked and what was not.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.hooks.connection_probe import main

if TYPE_CHECKING:
    import pytest


def test_success_says_what_was_and_was_not_checked(
    simulator: Any, videogen_conn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Disabled")

    assert main([videogen_conn]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"{videogen_conn}: OK: Connected to {simulator.url}")
    assert "the API key was accepted. Nothing was created." in out
    assert "Not checked: the key's access to each model, and the account's credits." in out
    assert simulator.stats()["generation"]["creates"] == 0


def test_a_refused_key_fails_without_showing_it(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = {"conn_type": "videogen", "host": simulator.url, "password": "wrong-key-5678"}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_PROBE_BAD", json.dumps(conn))

    assert main(["videogen_probe_bad"]) == 1

    out = capsys.readouterr().out
    assert out.startswith("videogen_probe_bad: FAILED: The gateway refused the API key")
    assert "wrong-key-5678" not in out
