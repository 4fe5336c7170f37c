"""Keep benchmarks/trigger_scale.py runnable: its --quick mode end to end (no figures asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trigger_scale.py"


@pytest.mark.e2e
def test_quick_polling_run_ends_with_the_headline(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"polls per video: fixed [\d.]+ / adaptive [\d.]+", lines[-1]), lines[-5:]
    assert any(line.startswith("aim: CPU per poll") for line in lines)
    assert report.exists()
    assert '"scatter/floor"' in report.read_text()
