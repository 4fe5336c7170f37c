"""Test DAG for OpenLineage: a remix from a local reference image, archived to S3.

Run by ``tests/lineage/test_openlineage.py`` through ``dag.test()`` in a subprocess configured
with the OpenLineage provider's file transport. Image, bucket and connection come from the run's
conf, so the file parses with nothing set.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

with DAG("test_lineage_pipeline", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    remix = VideoRemixOperator(
        task_id="remix",
        model="veo_3_1-fast-remix",
        prompt="A paper boat on a pond",
        prompt_extend="The boat drifts under a bridge",
        size="1280x720",
        input_references="{{ dag_run.conf['image'] }}",
        poll_interval=0.2,
    )
    VideoToS3Operator(
        task_id="archive",
        source=remix.output,
        s3_bucket="{{ dag_run.conf['bucket'] }}",
        aws_conn_id="{{ dag_run.conf['aws_conn_id'] }}",
    )
