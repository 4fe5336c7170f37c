"""``python -m airflow_provider_videogen.spend.estimate``: a 31-day backfill of ``videogen_daily``, two days archived.

The README's backfill section shows this test's output (run with ``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_videogen.spend.backfill import main
from tests.dags.helpers import task_states

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("airflow_db")]

ARCHIVED = [datetime(2026, 3, day, tzinfo=timezone.utc) for day in (1, 2)]


def test_a_31_day_backfill_estimate_skips_archived_days_and_totals_the_rest(
    run_dag: Any, example_env: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = {"s3_bucket": s3_bucket, "variants": 3}
    for day in ARCHIVED:
        dagrun = run_dag("videogen_daily", logical_date=day, run_conf={**conf, "poll_interval": 0.2})
        assert dagrun.state == "success", task_states(dagrun)
    creates = example_env.stats()["generation"]["creates"]
    capsys.readouterr()

    code = main(["videogen_daily", "--from", "2026-03-01", "--to", "2026-03-31", "--conf", json.dumps(conf)])
    output = capsys.readouterr().out
    report = output[output.index("videogen_daily:\n") :]  # after the planning task's own log lines
    with capsys.disabled():
        print("\n" + report)
    assert code == 0
    lines = report.splitlines()
    assert lines[2].startswith("2026-03-01")
    assert lines[2].endswith("archived: nothing to pay")
    assert lines[3].startswith("2026-03-02")
    assert lines[3].endswith("archived: nothing to pay")
    assert lines[4].split() == ["2026-03-03", "3", "103.68", "1.44", "to", "submit"]
    assert lines[-1] == (
        "total: 29 of 31 run(s) would submit 87 video(s) for 3006.72 credits ($41.76); 2 already archived"
    )
    assert example_env.stats()["generation"]["creates"] == creates, "estimating must not submit anything"


def test_a_day_over_max_credits_is_reported_not_submitted(example_env: Any, s3_bucket: str) -> None:
    """As a command, in its own process, with the DAGs folder and connections from the environment."""
    conf = {"s3_bucket": s3_bucket, "variants": 3, "max_credits": 100}
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_videogen.spend.estimate", "videogen_daily",
         "--from", "2026-05-01", "--to", "2026-05-02", "--conf", json.dumps(conf)],
        capture_output=True, text=True, env=os.environ.copy(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2026-05-01        3     103.68     1.44  refused by max_credits" in result.stdout, result.stdout
    assert result.stdout.rstrip().endswith(
        "0 of 2 run(s) would submit 0 video(s) for 0 credits ($0); 0 already archived; 2 over max_credits"
    )
    assert example_env.stats()["generation"]["creates"] == 0
