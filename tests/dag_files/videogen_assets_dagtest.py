"""Test DAG: one stand-in generation task with several videos, archived twice (issue 24 point 3).

``archive`` emits the default event (alias -> the destination's asset); ``archive_campaign``
emits a partitioned event on a declared asset. Run by ``tests/transfers/test_assets.py``; URLs and
bucket come from the environment so the file parses cleanly when nothing is set.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

BUCKET = os.environ.get("VIDEOGEN_ASSET_TEST_BUCKET", "unset")

with DAG("videogen_assets_dagtest", schedule=None, catchup=False, tags=["test"]):

    @task
    def generate() -> dict[str, Any]:
        now = datetime.now(tz=timezone.utc)
        urls = os.environ.get("VIDEOGEN_ASSET_TEST_URLS", "https://cdn.invalid/x.mp4").split(",")
        return {
            "id": "task-unified-assets",
            "model": "veo3.1-fast",
            "state": "succeeded",
            "video_urls": urls,
            "progress": 100,
            "completed_at": now.isoformat(),
            "expires_at": (now + timedelta(hours=24)).isoformat(),
        }

    video = generate()
    common: dict[str, Any] = {
        "source": video,
        "s3_bucket": BUCKET,
        "aws_conn_id": "videogen_s3_test",
        "videogen_conn_id": None,
        "allow_private_hosts": True,  # the test's video server listens on loopback
    }
    VideoToS3Operator(task_id="archive", **common)
    VideoToS3Operator(
        task_id="archive_campaign",
        asset=Asset("videogen-test-campaign"),
        manifest_uri=f"s3://{BUCKET}/campaign/manifest.json",
        s3_key="campaign/{run_id}/{video_task_id}_{index}.{ext}",
        **common,
    )
