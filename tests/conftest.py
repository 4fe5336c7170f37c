"""Fixtures of this repository's tests only (the shared ones are the package's pytest plugin)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def log_text(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """A callable returning everything logged so far: stdlib records and Airflow's structlog output."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def _text() -> str:
        captured = capsys.readouterr()
        seen.extend([captured.out, captured.err])
        return "\n".join([caplog.text, *seen])

    return _text
