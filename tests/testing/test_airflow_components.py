"""The components' metadata DB settings (no servers)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import sqlalchemy

from airflow_provider_videogen.testing.airflow_components import SQLITE_BUSY_TIMEOUT, sqlite_url

if TYPE_CHECKING:
    from pathlib import Path


def test_the_sqlite_database_waits_for_its_write_lock_longer_than_pythons_default(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(sqlite_url(tmp_path))
    try:
        with engine.connect() as connection:
            busy_ms = connection.execute(sqlalchemy.text("PRAGMA busy_timeout")).scalar()
    finally:
        engine.dispose()
    default_ms = sqlite3.connect(":memory:").execute("PRAGMA busy_timeout").fetchone()[0]
    assert busy_ms == SQLITE_BUSY_TIMEOUT * 1000
    assert busy_ms > default_ms
