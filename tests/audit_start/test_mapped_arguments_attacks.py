"""Audit of start_from_trigger (issue 23): mapped arguments the triggerer cannot resolve go to a worker.

Through Airflow's own DAG serialization (the scheduler's view), as the lead's tests do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_videogen.operators.start_args import CannotStartInTriggerer, mapped_arguments
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from tests.operators.test_start_from_trigger_args import serialized


@pytest.mark.parametrize(
    ("pulled", "match"),
    [({"a": "x", "b": "y"}, "not a list"), ("a cat", "not a list"), (None, "not a list"), ([], "is empty")],
)
def test_an_upstream_output_that_is_no_usable_list_starts_in_a_worker(pulled: Any, match: str) -> None:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task
        def briefs() -> Any:
            return pulled

        VideoGenerationOperator.partial(task_id="gen", model="veo3.1-fast", start_from_trigger=True).expand(
            prompt=briefs()
        )
    with pytest.raises(CannotStartInTriggerer, match=match):
        mapped_arguments(serialized(dag, "gen"), 0, lambda task_id, key: pulled)
