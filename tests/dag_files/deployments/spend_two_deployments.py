"""One DAG run by two Airflow deployments (two homes, two metadata databases) on one budget.

``tests/spend/test_reservations_processes.py`` runs it with ``dag.test()`` in two subprocesses,
each with its own ``AIRFLOW_HOME``, for the same logical date (so the same run id): the create's
answer is lost (``[sim:create_status=502]``: the task is created and billed), so its reservation
stays held, and the other deployment must not adopt it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

with DAG("spend_two_deployments", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    VideoGenerationOperator(
        task_id="generate",
        videogen_conn_id="videogen_budget",
        model="veo3.1-fast",
        prompt="[sim:create_status=502] the same clip in staging and production",
        duration=8,
        wait_for_completion=False,
        retries=0,
    )
