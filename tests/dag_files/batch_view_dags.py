"""A batch whose requests come from the run's conf, for the Videos view and CLI tests (tests/plugins, tests/spend)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator

with DAG(
    "test_batch_from_conf",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
):
    VideoGenerationBatchOperator(
        task_id="generate",
        requests="{{ dag_run.conf['requests'] }}",
        model="veo3.1-fast",
        duration=4,
        poll_interval=0.2,
    )
