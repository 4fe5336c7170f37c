"""``make ui``'s state folder: the secrets every component shares are made once and kept (fast, no servers).

Saved connections are encrypted with the Fernet key and browser sessions signed with the JWT
secret: a restart with new ones would leave every saved connection unreadable.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from airflow_provider_videogen.testing.ui import SECRETS_FILE, UiSecrets, VideogenUi

if TYPE_CHECKING:
    from pathlib import Path


def test_secrets_are_created_once_private_and_reused(tmp_path: Path) -> None:
    first = UiSecrets.load_or_create(tmp_path / "state")
    again = UiSecrets.load_or_create(tmp_path / "state")
    assert first == again
    mode = stat.S_IMODE((tmp_path / "state" / SECRETS_FILE).stat().st_mode)
    assert mode == 0o600
    assert set(first.airflow_secrets()) == {"fernet_key", "api_secret_key", "jwt_secret"}


def test_the_dags_folders_are_merged(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a.py").write_text("# a")
    (two / "b.py").write_text("# b")
    (two / "notes.txt").write_text("not a DAG")
    ui = VideogenUi(state_dir=tmp_path / "state", dags_folders=[one, two])
    merged = ui._collect_dags()
    assert sorted(p.name for p in merged.iterdir()) == ["a.py", "b.py"]
