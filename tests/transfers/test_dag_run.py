"""The operator inside a real DAG run (``dag.test()``): XCom in, S3 object and asset event out.

The DAG is ``tests/dag_files/videogen_archive_dagtest.py`` (linked into the DAGs folder with the
other test DAGs); it reads its video URL and bucket from the environment when it is parsed.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from tests.transfers.video_server import VideoServer

pytestmark = pytest.mark.s3


@pytest.fixture
def archive_dag_linked() -> str:
    return "videogen_archive_dagtest"


def test_archive_in_a_dag_run_emits_an_asset_event_and_masks_the_signed_link(
    archive_dag_linked: str,
    run_dag: Callable[..., Any],
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signature = "X-Amz-Signature=5ecret0f7he9ateway&X-Amz-Expires=86400"
    monkeypatch.setenv("VIDEOGEN_ARCHIVE_TEST_URL", f"{video_server.add(route_path, small_mp4)}?{signature}")
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
            .where(AssetModel.uri == f"s3://{s3_bucket}/videogen/{archive_dag_linked}")  # the destination
        ).all()
        assert [(e.source_dag_id, e.source_task_id, [o["sha256"] for o in e.extra["objects"]]) for e in events] == [
            (archive_dag_linked, "archive", [digest])
        ]

        # The rendered ``source`` (UI "Rendered Template") is stored before execute() runs: the
        # signed link must already be masked there.
        from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF

        [rendered] = session.scalars(
            select(RTIF).where(RTIF.dag_id == archive_dag_linked, RTIF.task_id == "archive")
        ).all()
        stored = str(rendered.rendered_fields)
        assert "5ecret0f7he9ateway" not in stored
        assert "***" in stored
        assert route_path not in stored  # the path downloads the video too (issue 21, point 10)
        # ... and the key is the one written, placeholders filled (not "...{index}.{ext}").
        assert rendered.rendered_fields["s3_key"] == key

        # The "S3" extra link was computed by the worker at task end and stored (what the UI
        # shows after the worker is gone): the task's Videos tab, which plays the object (issue 22).
        from airflow.models.xcom import XComModel

        [link] = session.scalars(
            select(XComModel.value).where(
                XComModel.dag_id == archive_dag_linked,
                XComModel.task_id == "archive",
                XComModel.key == "_link_ArchiveLink",
            )
        ).all()
        view = f"/dags/{archive_dag_linked}/runs/{quote(dag_run.run_id, safe='')}/tasks/archive/plugin/task-videos"
        assert str(link).strip('"').endswith(view), link
    # The stand-in upstream @task logs its return value, signature included: that is the
    # decorator's doing (the videogen operators do not). Nothing else may show it.
    leaks = [line for line in capsys.readouterr().out.splitlines() if "5ecret0f7he9ateway" in line]
    assert all("_PythonDecoratedOperator" in line for line in leaks), leaks
