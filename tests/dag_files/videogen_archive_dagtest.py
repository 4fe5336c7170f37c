"""Test DAG: a stand-in generation task hands its XCom to VideoToS3Operator.

Run by ``tests/transfers/test_dag_run.py``; it reads its video URL and bucket from the
environment so that it also parses cleanly when nothing is set (every ``run_dag`` parses it).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

with DAG("videogen_archive_dagtest", schedule=None, catchup=False, tags=["test"]):

    @task
    def generate() -> dict[str, Any]:
        """What the generation operator returns for a finished task (no gateway needed here)."""
        now = datetime.now(tz=timezone.utc)
        return {
            "id": "task-unified-dagtest",
            "model": "veo3.1-fast",
            "state": "succeeded",
            "video_urls": [os.environ.get("VIDEOGEN_ARCHIVE_TEST_URL", "https://cdn.invalid/x.mp4")],
            "progress": 100,
            "completed_at": now.isoformat(),
            "expires_at": (now + timedelta(hours=24)).isoformat(),
        }

    VideoToS3Operator(
        task_id="archive",
        source=generate(),
        s3_bucket=os.environ.get("VIDEOGEN_ARCHIVE_TEST_BUCKET", "unset"),
        aws_conn_id="videogen_s3_test",
        videogen_conn_id=None,
    )
