"""``make demo`` (``scripts/demo.py``) end to end, as a user runs it: exit 0, a summary, nothing left running.

The demo starts its own simulator, SeaweedFS and throwaway Airflow home (it ignores the test
session's ``AIRFLOW_*`` environment), so this test needs no fixture: it is the fresh-clone run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.s3]


def test_make_demo_runs_the_pipeline_and_prints_a_summary(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    print(f"scripts/demo.py took {elapsed:.0f} s")

    # The summary: one row per clip and per remix, all succeeded and archived.
    rows = [line for line in done.stdout.splitlines() if re.match(r"^\d+\s+(clip|remix)\s", line)]
    assert len(rows) == 6, done.stdout
    assert all(" succeeded " in row and "s3://videogen-demo/videogen/videogen_pipeline/" in row for row in rows)
    assert "6 video(s) archived and verified" in done.stdout
    assert "3 generation + 3 remix request(s), 1 LLM call(s)" in done.stdout
    assert re.search(r"^manifest: s3://videogen-demo/\S+/manifest\.json$", done.stdout, re.M)

    # Progress was shown while the run went on.
    assert "> generate_clip[0] started" in done.stdout
    assert "gateway remix task_" in done.stdout

    # Local copies next to where it ran.
    out = tmp_path / "demo-output" / "pipeline"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["problems"] == []
    assert manifest["totals"]["archived"] == 6
    assert len(list(out.glob("*.mp4"))) == 6

    # Everything it started is gone: the throwaway Airflow home was removed on success.
    home = re.search(r"Airflow home (\S+)", done.stdout)
    assert home is not None
    assert not Path(home.group(1)).exists()
