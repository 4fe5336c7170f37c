"""The Video link of a task that ended without a video: no XCom lookup, so no "XCom not found" error.

The worker computes every extra link when a task ends, failed ones included. Asking XCom for a
``video_url`` that was never pushed makes Airflow's task SDK log ``XCom not found ... key='video_url'``
at error level right after the task's real error, which sends users chasing the wrong problem.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.operators.test_generation_operator import xcom

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_a_failed_video_task_logs_no_missing_xcom(
    run_dag: Any, simulator: Any, videogen_conn: str, log_text: Any
) -> None:
    simulator.configure(render_seconds=0.5)
    dagrun = run_dag("test_generation_templated_invalid")  # fails before anything is submitted

    assert dagrun.state == "failed"
    logged = log_text()
    assert "duration" in logged  # the real error is there
    assert "XCom not found" not in logged
    assert xcom(dagrun, key="_link_VideoLink") == ""  # the link is stored, empty


# A finished video keeps its link: tests/operators/test_generation_operator.py and
# test_remix_operator.py check XCom `_link_VideoLink` against the result's URL.
