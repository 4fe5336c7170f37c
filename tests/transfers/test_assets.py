"""Issue 24 point 3: one stable asset per destination, whatever the number of archived videos.

Before, ``VideoToS3Operator`` emitted one asset per object: the asset table grew by every video,
and each new asset was activated at run time by the schedulers (where two 3.3.2 schedulers race).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.transfers.assets import destination_prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.transfers.video_server import VideoServer

DEFAULT_KEY = "videogen/{dag_id}/{run_id}/{task_id}/{map_index}/{video_task_id}_{index}.{ext}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (DEFAULT_KEY, "videogen/dag/"),
        # The example pipeline's keys arrive rendered, the run id among their segments.
        ("videogen/videogen_pipeline/manual__2026-03-01T09_00_00_00_00/clip-0.mp4", "videogen/videogen_pipeline/"),
        ("campaigns/spring/{video_task_id}_{index}.{ext}", "campaigns/spring/"),
        ("{logical_date}/clip.{ext}", ""),
        ("archive/{task_id}/{map_index}/clip.{ext}", "archive/arch/"),
    ],
)
def test_the_destination_is_the_keys_stable_prefix(template: str, expected: str) -> None:
    for run_id in ("manual__2026-03-01T09:00:00+00:00", "scheduled__2026-03-02T00:00:00+00:00"):
        if "manual" not in template or "manual" in run_id:
            assert destination_prefix(template, dag_id="dag", task_id="arch", run_id=run_id) == expected


@pytest.mark.s3
def test_three_archived_videos_make_one_asset_with_one_event_each_destination(
    run_dag: Callable[..., Any],
    video_server: VideoServer,
    route_path: str,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = [video_server.add(f"{route_path}/{n}.mp4", small_mp4 + bytes([n])) for n in range(3)]
    monkeypatch.setenv("VIDEOGEN_ASSET_TEST_URLS", ",".join(urls))
    monkeypatch.setenv("VIDEOGEN_ASSET_TEST_BUCKET", s3_bucket)

    dag_run = run_dag("videogen_assets_dagtest")
    assert dag_run.state == "success"

    from airflow.models.asset import AssetAliasModel, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    digests = sorted(hashlib.sha256(small_mp4 + bytes([n])).hexdigest() for n in range(3))
    with create_session() as session:
        assets = session.scalars(select(AssetModel).where(AssetModel.uri.like(f"s3://{s3_bucket}%"))).all()
        destination = "s3://" + s3_bucket + "/videogen/videogen_assets_dagtest"
        assert [a.uri for a in assets] == [destination]  # not one per video

        [event] = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == destination, AssetEvent.source_run_id == dag_run.run_id)
        ).all()
        assert event.source_task_id == "archive"
        assert sorted(o["sha256"] for o in event.extra["objects"]) == digests
        assert {o["outcome"] for o in event.extra["objects"]} == {"written"}
        assert all(o["uri"].startswith(destination + "/") for o in event.extra["objects"])
        assert event.extra["partition_key"] == dag_run.run_id
        assert event.partition_key is None  # an alias event: alias and schedule=[asset] consumers run on it
        alias = session.scalar(select(AssetAliasModel).where(AssetAliasModel.name == "videogen-archive"))
        assert alias is not None
        # The alias is shared with every archive in this metadata database (other tests' pipelines):
        # of this test's bucket, it holds the one destination.
        assert [a.uri for a in alias.assets if a.uri.startswith(f"s3://{s3_bucket}/")] == [destination]

        [campaign] = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "videogen-test-campaign")
        ).all()
        assert campaign.partition_key == dag_run.run_id  # a partitioned event on the declared asset
        assert campaign.source_task_id == "archive_campaign"
        assert campaign.extra["manifest"] == f"s3://{s3_bucket}/campaign/manifest.json"
        assert sorted(o["sha256"] for o in campaign.extra["objects"]) == digests


def test_a_declared_asset_replaces_the_alias_in_outlets_and_per_object_needs_the_alias() -> None:
    from airflow.sdk import DAG, Asset, AssetAlias

    from airflow_provider_videogen.transfers.video_to_s3 import DEFAULT_ASSET_ALIAS, VideoToS3Operator

    campaign = Asset("spring-campaign")
    with DAG("videogen_assets_outlets", schedule=None):
        declared = VideoToS3Operator(
            task_id="declared", source="https://cdn.example/x.mp4", s3_bucket="b", asset=campaign
        )
        default = VideoToS3Operator(task_id="default", source="https://cdn.example/x.mp4", s3_bucket="b")
        with pytest.raises(ValueError, match="asset_per_object"):
            VideoToS3Operator(
                task_id="both", source="https://cdn.example/x.mp4", s3_bucket="b", asset=campaign, asset_per_object=True
            )
    assert declared.outlets == [campaign]  # registered by the DAG processor: never activated at run time
    assert default.outlets == [AssetAlias(name=DEFAULT_ASSET_ALIAS)]


@pytest.mark.s3
def test_asset_per_object_is_the_old_one_asset_per_video(
    video_server: VideoServer,
    route_path: str,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    from airflow.sdk import AssetAlias

    from airflow_provider_videogen.transfers.video_to_s3 import DEFAULT_ASSET_ALIAS
    from tests.transfers.test_video_to_s3 import make_context, operator, task_xcom

    urls = [video_server.add(f"{route_path}/{n}.mp4", small_mp4 + bytes([n])) for n in range(2)]
    context = make_context()
    results = operator(s3_bucket, aws_conn_id, task_xcom(urls), asset_per_object=True).execute(context)
    events = context["outlet_events"][AssetAlias(name=DEFAULT_ASSET_ALIAS)].asset_alias_events
    assert [e.dest_asset_key.uri for e in events] == [r["uri"] for r in results]
    assert [e.extra["sha256"] for e in events] == [r["sha256"] for r in results]
