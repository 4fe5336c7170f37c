"""Test DAGs for issue 21 point 7: a succeeded task whose answer lists no video URL is never paid again.

Each first try stops waiting (``timeout``) before the render ends; the retry finds the task
succeeded. The simulator is set by the test to answer without URLs (remix: ``remix_links=False``
in the OpenAI shape; generation: the prompt's ``[sim:empty_results]``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)
RETRY: dict[str, Any] = {
    "poll_interval": 0.2,
    "timeout": timedelta(seconds=2),
    "retries": 1,
    "retry_delay": timedelta(seconds=2),
}

with DAG("test_no_links_remix_retry", schedule=None, start_date=START, catchup=False):
    VideoRemixOperator(
        task_id="remix",
        model="veo_3_1-fast-remix",
        prompt="[sim:render=3] A dog surfing",
        prompt_extend="The dog rides the wave to the beach",
        xcom_links=True,  # the test reads the content endpoint the result names
        **RETRY,
    )

with DAG("test_no_links_generation_retry", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt="[sim:render=3] [sim:empty_results] A cat", **RETRY
    )
