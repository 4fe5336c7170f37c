"""The operator inside a real DAG run (``dag.test()``): XCom in, S3 object and asset event out.

``dag.test()`` needs the DAG in the DAGs folder, so the test links its DAG file there for its
own duration only (other tests parse that folder too).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.transfers.video_server import VideoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.s3

DAG_FILE = Path(__file__).parent / "dag_files" / "videogen_archive_dagtest.py"


@pytest.fixture
def archive_dag_linked() -> Iterator[str]:
    link = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / DAG_FILE.name
    link.symlink_to(DAG_FILE)
    try:
        yield "videogen_archive_dagtest"
    finally:
        link.unlink()


def test_archive_in_a_dag_run_emits_an_asset_event(
    archive_dag_linked: str,
    run_dag: Callable[..., Any],
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDEOGEN_ARCHIVE_TEST_URL", video_server.add(route_path, small_mp4))
    monkeypatch.setenv("VIDEOGEN_ARCHIVE_TEST_BUCKET", s3_bucket)

    dag_run = run_dag(archive_dag_linked)

    assert dag_run.state == "success"
    [obj] = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    key = obj["Key"]
    assert key.startswith(f"videogen/{archive_dag_linked}/{dag_run.run_id[:8]}")
    assert key.endswith("/archive/-1/task-unified-dagtest_0.mp4")
    digest = hashlib.sha256(small_mp4).hexdigest()
    assert s3_client.head_object(Bucket=s3_bucket, Key=key)["Metadata"]["sha256"] == digest

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == f"s3://{s3_bucket}/{key}")
        ).all()
        assert [(e.source_dag_id, e.source_task_id, e.extra["sha256"]) for e in events] == [
            (archive_dag_linked, "archive", digest)
        ]
