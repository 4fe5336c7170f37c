"""Test DAGs for keeping bearer download links out of XCom, errors and logs (issue 21, points 9-10).

Run with dag.test() against the simulator; failures come from the prompts' simulator directives.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_videogen.operators.remix import VideoRemixOperator

START = datetime(2026, 1, 1)

with DAG("test_remix_extend_failed_no_links", schedule=None, start_date=START, catchup=False):
    VideoRemixOperator(
        task_id="remix",
        model="veo_3_1-fast-remix",
        prompt="[sim:extend_fail] A lighthouse at dusk",
        prompt_extend="The camera flies out to sea",
        xcom_links=False,
        retries=0,
        poll_interval=0.2,
    )
