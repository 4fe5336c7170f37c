"""``VideoToS3Operator.execute`` with a minimal real context: S3Hook -> SeaweedFS, httpx -> local server.

The context holds what Airflow's task runner gives the operator and what it reads: the task
instance's map index, the run id, the logical date and a real ``OutletEventAccessors``, so
the asset events asserted here are exactly what the runner would send to the API server.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import pytest
from airflow.sdk import DAG, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors
from botocore.exceptions import ClientError

from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.transfers.errors import (
    DownloadFailedError,
    LinkExpiredError,
    ObjectConflictError,
    VideoArchiveError,
)
from airflow_provider_videogen.transfers.provenance import header_safe
from airflow_provider_videogen.transfers.video_to_s3 import DEFAULT_ASSET_ALIAS, VideoToS3Operator
from tests.transfers.conftest import decode_errors

if TYPE_CHECKING:
    from pathlib import Path

    from airflow.sdk import Context
    from mypy_boto3_s3 import S3Client

    from tests.transfers.video_server import VideoServer

pytestmark = pytest.mark.s3

RUN_ID = "manual__2026-11-23T08:00:00+00:00"
PART = 5 * 1024 * 1024


def make_context(run_id: str = RUN_ID, map_index: int = -1) -> Context:
    context = {
        "ti": SimpleNamespace(map_index=map_index, run_id=run_id),
        "run_id": run_id,
        "logical_date": datetime(2026, 11, 23, 8, tzinfo=timezone.utc),
        "outlet_events": OutletEventAccessors(),
    }
    return cast("Context", context)


def task_xcom(
    url: str | list[str],
    *,
    task_id: str = "task-unified-abc123",
    expires_in: timedelta = timedelta(hours=20),
    model: str = "veo3.1-fast",
) -> dict[str, Any]:
    now = datetime.now(tz=timezone.utc)
    return {
        "id": task_id,
        "model": model,
        "state": "succeeded",
        "video_urls": [url] if isinstance(url, str) else url,
        "progress": 100,
        "credits_reserved": 25.7,
        "submitted_at": (now - timedelta(minutes=5)).isoformat(),
        "completed_at": (now - timedelta(hours=24) + expires_in).isoformat(),
        "expires_at": (now + expires_in).isoformat(),
    }


def operator(bucket: str, aws_conn_id: str, source: Any, **kwargs: Any) -> VideoToS3Operator:
    with DAG("videogen_archive_test", schedule=None):
        kwargs.setdefault("task_id", "archive")
        kwargs.setdefault("videogen_conn_id", None)
        kwargs.setdefault("allow_private_hosts", True)  # the video server listens on loopback
        return VideoToS3Operator(
            source=source,
            s3_bucket=bucket,
            aws_conn_id=aws_conn_id,
            part_size=PART,
            resume_backoff=0,
            **kwargs,
        )


@pytest.fixture
def gateway_conn_id(video_server: VideoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A videogen connection whose gateway is the video server (so links on it get the key)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIDEOGEN_ARCHIVE_TEST",
        json.dumps({"conn_type": "videogen", "host": video_server.url(""), "password": "sk-archive-test-key"}),
    )
    return "videogen_archive_test"


def keys(s3_client: S3Client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_archives_a_generation_result_end_to_end(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    tmp_path: Path,
) -> None:
    url = video_server.add(route_path, small_mp4)
    context = make_context()
    result = operator(s3_bucket, aws_conn_id, task_xcom(url), metadata={"project": "launch"}).execute(context)

    key = "videogen/videogen_archive_test/manual__2026-11-23T08_00_00_00_00/archive/-1/task-unified-abc123_0.mp4"
    digest = hashlib.sha256(small_mp4).hexdigest()
    assert result == [
        {
            "uri": f"s3://{s3_bucket}/{key}",
            "bucket": s3_bucket,
            "key": key,
            "size": len(small_mp4),
            "sha256": digest,
            "content_type": "video/mp4",
            "outcome": "written",
            "video_task_id": "task-unified-abc123",
            "index": 0,
            "model": "veo3.1-fast",
        }
    ]
    json.dumps(result)  # XCom-safe

    local = tmp_path / "archived.mp4"
    s3_client.download_file(s3_bucket, key, str(local))
    assert decode_errors(local) == ""
    assert hashlib.sha256(local.read_bytes()).hexdigest() == digest
    head = s3_client.head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentType"] == "video/mp4"
    assert head["Metadata"] == {
        "sha256": digest,
        "videogen-task-id": "task-unified-abc123",
        "videogen-model": "veo3.1-fast",
        "videogen-video-index": "0",
        "videogen-source": redact_url(url, ignore_query=True),  # host and fingerprint: the path downloads
        "videogen-writer": "videogen_archive_test/manual__2026-11-23T08:00:00+00:00/archive/-1",
        "project": "launch",
    }

    assert route_path not in json.dumps(head["Metadata"])
    accessor = context["outlet_events"][AssetAlias(name=DEFAULT_ASSET_ALIAS)]
    [event] = accessor.asset_alias_events
    assert event.dest_asset_key.uri == f"s3://{s3_bucket}/videogen/videogen_archive_test"  # the destination
    [obj] = event.extra["objects"]
    assert obj["uri"] == f"s3://{s3_bucket}/{key}"
    assert obj["sha256"] == digest
    assert obj["outcome"] == "written"


def test_multipart_video_decodes_after_archive(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    large_mp4: bytes,
    tmp_path: Path,
) -> None:
    url = video_server.add(route_path, large_mp4, drop_after=PART + 4096, drops=1)
    [result] = operator(s3_bucket, aws_conn_id, task_xcom(url)).execute(make_context())

    local = tmp_path / "large.mp4"
    s3_client.download_file(s3_bucket, result["key"], str(local))
    assert local.read_bytes() == large_mp4
    assert decode_errors(local) == ""
    assert s3_client.head_object(Bucket=s3_bucket, Key=result["key"])["Metadata"]["sha256"] == result["sha256"]
    assert [hit.range for hit in video_server.hits_for(route_path)] == [None, f"bytes={PART + 4096}-"]


def test_rerun_keeps_one_object_and_skips_without_downloading(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = video_server.add(route_path, small_mp4)
    op = operator(s3_bucket, aws_conn_id, task_xcom(url))
    [first] = op.execute(make_context())
    capsys.readouterr()
    context = make_context()
    [second] = op.execute(context)

    assert keys(s3_client, s3_bucket) == [first["key"]]
    assert (first["outcome"], second["outcome"]) == ("written", "unchanged")
    assert second["sha256"] == first["sha256"]
    assert second["size"] == first["size"]
    assert len(video_server.hits_for(route_path)) == 1  # the rerun did not download again
    assert "already archived" in capsys.readouterr().out
    [event] = context["outlet_events"][AssetAlias(name=DEFAULT_ASSET_ALIAS)].asset_alias_events
    assert [o["outcome"] for o in event.extra["objects"]] == ["unchanged"]


def test_rerun_after_links_expired_still_succeeds_when_already_archived(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    url = video_server.add(route_path, small_mp4)
    operator(s3_bucket, aws_conn_id, task_xcom(url)).execute(make_context())
    video_server.routes[route_path].status = 410  # the CDN forgot the file
    [again] = operator(s3_bucket, aws_conn_id, task_xcom(url, expires_in=-timedelta(hours=3))).execute(make_context())
    assert again["outcome"] == "unchanged"


def test_an_object_archived_by_an_older_version_is_recognised_and_its_link_path_removed(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    """Before issue 21 point 10, ``videogen-source`` held ``scheme://host/path?...``: the path of a
    ``/files/<token>.mp4`` link downloads the video. Such an object still counts as archived after
    its links expired, and its metadata is rewritten without the path."""
    url = video_server.add(route_path, small_mp4) + "?sig=secret"
    [first] = operator(s3_bucket, aws_conn_id, task_xcom(url)).execute(make_context())
    head = s3_client.head_object(Bucket=s3_bucket, Key=first["key"])
    parts = urlsplit(url)
    old_source = header_safe(f"{parts.scheme}://{parts.netloc}{parts.path}?...")  # as the old version wrote it
    s3_client.copy_object(
        Bucket=s3_bucket,
        Key=first["key"],
        CopySource={"Bucket": s3_bucket, "Key": first["key"]},
        Metadata={**head["Metadata"], "videogen-source": old_source},
        MetadataDirective="REPLACE",
        ContentType=head["ContentType"],
    )
    video_server.routes[route_path].status = 410  # the links expired since
    [again] = operator(s3_bucket, aws_conn_id, task_xcom(url, expires_in=-timedelta(hours=3))).execute(make_context())
    assert again["outcome"] == "unchanged"
    after = s3_client.head_object(Bucket=s3_bucket, Key=first["key"])["Metadata"]
    assert after["videogen-source"] == redact_url(url, ignore_query=True)
    assert parts.path not in json.dumps(after)
    assert after["sha256"] == first["sha256"]


def test_different_body_at_same_key_fails_without_replace(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    url = video_server.add(route_path, small_mp4)  # a bare URL: no remote task id, always downloaded
    [first] = operator(s3_bucket, aws_conn_id, url).execute(make_context())
    changed = small_mp4[:-8] + b"\x00" * 8
    video_server.routes[route_path].body = changed

    with pytest.raises(ObjectConflictError, match="replace=True"):
        operator(s3_bucket, aws_conn_id, url).execute(make_context())
    head = s3_client.head_object(Bucket=s3_bucket, Key=first["key"])
    assert head["Metadata"]["sha256"] == first["sha256"]

    [replaced] = operator(s3_bucket, aws_conn_id, url, replace=True).execute(make_context())
    assert replaced["outcome"] == "replaced"
    assert replaced["sha256"] == hashlib.sha256(changed).hexdigest()
    assert keys(s3_client, s3_bucket) == [first["key"]]


def test_expired_link_fails_fast_without_a_request(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    url = video_server.add(route_path, small_mp4)
    source = task_xcom(url, expires_in=-timedelta(minutes=1))
    with pytest.raises(LinkExpiredError, match=r"remote task task-unified-abc123 .*expired at .*within 24 h"):
        operator(s3_bucket, aws_conn_id, source).execute(make_context())
    assert video_server.hits_for(route_path) == []
    assert keys(s3_client, s3_bucket) == []


def test_signed_url_secrets_never_reach_errors_metadata_or_xcom(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    secret = "X-Amz-Signature=0123456789abcdefSECRET"
    url = video_server.add(route_path, small_mp4) + "?" + secret
    result = operator(s3_bucket, aws_conn_id, task_xcom(url)).execute(make_context())
    head = s3_client.head_object(Bucket=s3_bucket, Key=result[0]["key"])
    assert "SECRET" not in json.dumps(result) + json.dumps(head["Metadata"])

    video_server.routes[route_path].status = 403
    with pytest.raises(LinkExpiredError) as failure:
        operator(s3_bucket, aws_conn_id, task_xcom(url, task_id="task-unified-other")).execute(make_context())
    assert "SECRET" not in str(failure.value)


def test_mapped_outputs_land_at_distinct_keys_and_one_failure_does_not_stop_the_rest(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    ok = video_server.add(route_path, small_mp4)
    gone = video_server.add(route_path + "-gone", small_mp4, status=403)
    source = [
        task_xcom(ok, task_id="task-unified-a"),
        task_xcom(gone, task_id="task-unified-b"),
        task_xcom([ok, ok], task_id="task-unified-c"),
    ]
    with pytest.raises(LinkExpiredError, match="task-unified-b"):
        operator(s3_bucket, aws_conn_id, source).execute(make_context(map_index=3))
    assert [k.rsplit("/", 2)[-2:] for k in keys(s3_client, s3_bucket)] == [
        ["3", "task-unified-a_0.mp4"],
        ["3", "task-unified-c_0.mp4"],
        ["3", "task-unified-c_1.mp4"],
    ]
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_key_template_that_collides_is_refused_before_downloading(
    video_server: VideoServer,
    route_path: str,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    url = video_server.add(route_path, small_mp4)
    op = operator(s3_bucket, aws_conn_id, task_xcom([url, url]), s3_key="videos/{run_id}.{ext}")
    with pytest.raises(VideoArchiveError, match=r"same key .*\{video_task_id\} and \{index\}"):
        op.execute(make_context())
    assert video_server.hits_for(route_path) == []


def test_unknown_placeholder_fails_at_parse_time(s3_bucket: str, aws_conn_id: str) -> None:
    with pytest.raises(VideoArchiveError, match=r"\{date\}.*allowed placeholders"):
        operator(s3_bucket, aws_conn_id, "https://cdn.example/x.mp4", s3_key="videos/{date}.mp4")


def test_downloads_through_the_videogen_hook(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    gateway_conn_id: str,
) -> None:
    url = video_server.add(route_path, small_mp4)
    op = operator(s3_bucket, aws_conn_id, task_xcom(url), videogen_conn_id=gateway_conn_id)
    [result] = op.execute(make_context())
    body = s3_client.get_object(Bucket=s3_bucket, Key=result["key"])["Body"].read()
    assert body == small_mp4
    [hit] = video_server.hits_for(route_path)
    assert hit.authorization is not None
    assert "sk-archive-test-key" in hit.authorization


def test_a_redirect_to_a_signed_cdn_link_gets_no_key_and_its_signature_masked(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    gateway_conn_id: str,
) -> None:
    """The gateway link answers 302 to a signed URL on another origin (``localhost`` vs
    ``127.0.0.1``): the API key stays home and the CDN's signature is masked before any log
    line could carry it."""
    from airflow.sdk._shared.secrets_masker import redact

    signature = "X-Amz-Signature=cdn0nly5ignature&X-Amz-Expires=86400"
    cdn_url = video_server.add(f"{route_path}/cdn.mp4", small_mp4).replace("127.0.0.1", "localhost")
    url = video_server.add(route_path, b"", redirect_to=f"{cdn_url}?{signature}")
    assert "cdn0nly5ignature" in redact(f"before: {signature}")  # not known to the masker yet
    op = operator(s3_bucket, aws_conn_id, task_xcom(url), videogen_conn_id=gateway_conn_id)
    [result] = op.execute(make_context())

    assert s3_client.get_object(Bucket=s3_bucket, Key=result["key"])["Body"].read() == small_mp4
    [gateway_hit] = video_server.hits_for(route_path)
    [cdn_hit] = video_server.hits_for(f"{route_path}/cdn.mp4")
    assert gateway_hit.authorization is not None
    assert cdn_hit.authorization is None
    assert "cdn0nly5ignature" not in redact(f"after: {signature}")
    assert "cdn0nly5ignature" not in json.dumps(result)


def test_operator_registers_the_asset_alias_as_outlet() -> None:
    with DAG("videogen_archive_test", schedule=None):
        op = VideoToS3Operator(task_id="archive", source="https://cdn.example/x.mp4", s3_bucket="b")
        quiet = VideoToS3Operator(task_id="quiet", source="https://cdn.example/x.mp4", s3_bucket="b", asset_alias=None)
    assert AssetAlias(name=DEFAULT_ASSET_ALIAS) in op.outlets
    assert quiet.outlets == []


# ---- issue 13: every video attempted, and downloads refuse private hosts by default -------------


def test_an_s3_error_on_one_video_is_wrapped_and_the_other_videos_are_still_archived(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    """SeaweedFS itself answers BadDigest to the first video's write (a wrong Content-MD5 is put on
    that request, as a corrupting proxy would); the error names the video and S3's code, and the
    second video is still archived."""
    url = video_server.add(route_path, small_mp4)
    op = operator(s3_bucket, aws_conn_id, task_xcom([url, url], task_id="task-unified-s3err"))

    def misroute(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", "").endswith("_0.mp4"):
            params["ContentMD5"] = "AAAAAAAAAAAAAAAAAAAAAA=="

    events = ("PutObject",)
    for name in events:
        s3_client.meta.events.register(f"before-parameter-build.s3.{name}", misroute, unique_id=f"misroute-{name}")
    try:
        op._s3_client = lambda: s3_client  # type: ignore[method-assign]  # the client carrying the hook above
        with pytest.raises(DownloadFailedError, match=r"video 0 .*S3 PutObject failed: BadDigest") as info:
            op.execute(make_context())
    finally:
        for name in events:
            s3_client.meta.events.unregister(f"before-parameter-build.s3.{name}", unique_id=f"misroute-{name}")
    assert isinstance(info.value.__cause__, ClientError)
    assert [k.rsplit("/", 1)[-1] for k in keys(s3_client, s3_bucket)] == ["task-unified-s3err_1.mp4"]


def test_by_default_the_archive_refuses_loopback_and_still_attempts_every_video(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
) -> None:
    url = video_server.add(route_path, small_mp4)
    source = [f"{url}?X-Amz-Signature=l00pback5ecret", f"{url}?second"]
    op = operator(s3_bucket, aws_conn_id, source, allow_private_hosts=False)
    with pytest.raises(VideoArchiveError, match=r"2 of 2 videos could not be archived") as info:
        op.execute(make_context())
    message = str(info.value)
    assert message.count("refusing to fetch") == 2
    assert "loopback" in message
    assert "allow_private_hosts" in message
    assert "l00pback5ecret" not in message
    assert video_server.hits_for(route_path) == []
    assert keys(s3_client, s3_bucket) == []


def test_a_gateway_link_redirecting_into_loopback_is_refused(
    video_server: VideoServer,
    route_path: str,
    s3_client: S3Client,
    s3_bucket: str,
    aws_conn_id: str,
    small_mp4: bytes,
    gateway_conn_id: str,
) -> None:
    """The gateway (trusted: an admin configured it) answers 302 into another loopback name."""
    internal = video_server.add(f"{route_path}/internal.mp4", small_mp4).replace("127.0.0.1", "localhost")
    url = video_server.add(route_path, b"", redirect_to=internal)
    op = operator(s3_bucket, aws_conn_id, task_xcom(url), videogen_conn_id=gateway_conn_id, allow_private_hosts=False)
    with pytest.raises(DownloadFailedError, match=r"refusing to fetch http://localhost:\d+/\(redacted:\w{12}\)"):
        op.execute(make_context())
    assert len(video_server.hits_for(route_path)) == 1
    assert video_server.hits_for(f"{route_path}/internal.mp4") == []
    assert keys(s3_client, s3_bucket) == []
