"""The DAG a chaos run triggers (copied into the cluster's DAGs folder; see ``load.py``).

``chaos_videos``: the prompts come from the run's ``conf`` (the driver draws them from the seed),
each is a real :class:`VideoGenerationOperator` (deferrable, through the ``videogen_api`` pool, on
the ``videogen_chaos`` connection that carries the shared budget), and each finished video is
streamed to S3 by a mapped :class:`VideoToS3Operator`. Retries are on: killed workers and
triggerers must be survived by re-attaching, never by paying twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

CHAOS_DAG_ID = "chaos_videos"
CHAOS_CONN_ID = "videogen_chaos"
CHAOS_POOL = "videogen_api"

with DAG(CHAOS_DAG_ID, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["chaos"]):

    @task(retries=3, retry_delay=timedelta(seconds=2))
    def prompts(dag_run: Any = None) -> list[str]:
        return [str(p) for p in dag_run.conf["prompts"]]

    generated = VideoGenerationOperator.partial(
        task_id="generate",
        videogen_conn_id=CHAOS_CONN_ID,
        model="veo3.1-fast",
        duration=4,
        poll_interval=2,
        pool=CHAOS_POOL,
        retries=3,
        retry_delay=timedelta(seconds=2),
    ).expand(prompt=prompts())

    VideoToS3Operator.partial(
        task_id="archive",
        s3_bucket="{{ dag_run.conf['bucket'] }}",
        videogen_conn_id=CHAOS_CONN_ID,
        retries=4,
        retry_delay=timedelta(seconds=3),
    ).expand(source=generated.output)
