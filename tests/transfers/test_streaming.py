"""The streaming core against a real HTTP server and a real S3 server (SeaweedFS).

Every failure test ends by checking the bucket: no object and no pending multipart upload.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.transfers.errors import (
    LinkExpiredError,
    NotAVideoError,
    ObjectConflictError,
    TruncatedDownloadError,
    VideoTooLargeError,
)
from airflow_provider_videogen.transfers.streaming import (
    SHA256_KEY,
    WRITER_KEY,
    ArchiveResult,
    ArchiveTarget,
    MiB,
    StreamSettings,
    httpx_opener,
    stream_url_to_s3,
)

if TYPE_CHECKING:
    import httpx
    from mypy_boto3_s3 import S3Client

    from tests.transfers.video_server import VideoServer

pytestmark = pytest.mark.s3

PART = 5 * MiB
KEY = "archive/clip.mp4"
LOG = logging.getLogger("tests.transfers.archive")


def archive(
    http_client: httpx.Client,
    s3_client: Any,
    bucket: str,
    url: str,
    *,
    key: str = KEY,
    settings: StreamSettings | None = None,
    **target: Any,
) -> ArchiveResult:
    return stream_url_to_s3(
        httpx_opener(http_client, url),
        s3_client,
        ArchiveTarget(bucket=bucket, key=key, label="test video", **target),
        settings=settings or StreamSettings(part_size=PART, resume_backoff=0),
        log=LOG,
    )


def stored(s3_client: S3Client, bucket: str, key: str = KEY) -> tuple[bytes, dict[str, Any]]:
    answer = s3_client.get_object(Bucket=bucket, Key=key)
    return answer["Body"].read(), {"metadata": answer["Metadata"], "content_type": answer["ContentType"]}


def assert_bucket_clean(s3_client: S3Client, bucket: str) -> None:
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert not s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- happy paths ---------------------------------------------------------------------------


def test_small_video_is_one_put_with_sha_in_metadata(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    small_mp4: bytes,
) -> None:
    url = video_server.add(route_path, small_mp4)
    result = archive(http_client, s3_client, s3_bucket, url, metadata={"videogen-task-id": "task-1"})

    body, info = stored(s3_client, s3_bucket)
    assert body == small_mp4
    assert info["metadata"][SHA256_KEY] == sha(small_mp4) == result.sha256
    assert info["metadata"]["videogen-task-id"] == "task-1"
    assert info["content_type"] == "video/mp4"
    assert (result.size, result.outcome, result.uri) == (len(small_mp4), "written", f"s3://{s3_bucket}/{KEY}")
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_large_video_goes_multipart_and_keeps_metadata(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    large_mp4: bytes,
) -> None:
    url = video_server.add(route_path, large_mp4)
    result = archive(http_client, s3_client, s3_bucket, url, metadata={"videogen-model": "veo3.1-fast"})

    body, info = stored(s3_client, s3_bucket)
    assert body == large_mp4
    assert info["metadata"] == {
        "videogen-model": "veo3.1-fast",
        SHA256_KEY: sha(large_mp4),
    }
    assert info["content_type"] == "video/mp4"
    head = s3_client.head_object(Bucket=s3_bucket, Key=KEY)
    assert "-" in head["ETag"], "expected a multipart ETag: the body should exceed one part"
    assert result.sha256 == sha(large_mp4)
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_parts_reuse_a_bounded_set_of_buffers(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
) -> None:
    """Memory stays at ``upload_concurrency + 1`` parts: seven parts go through three buffers."""
    video = b"\x00\x00\x00\x20ftypisom" + hashlib.shake_256(b"parts").digest(6 * PART + MiB - 12)
    url = video_server.add(route_path, video)
    sent: list[tuple[Any, int]] = []  # (body, its size when sent); strong references, so ids stay unique

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append((params["Body"], len(params["Body"])))

    s3_client.meta.events.register("provide-client-params.s3.UploadPart", record, unique_id="test-buffers")
    try:
        archive(
            http_client,
            s3_client,
            s3_bucket,
            url,
            settings=StreamSettings(part_size=PART, upload_concurrency=2, resume_backoff=0),
        )
    finally:
        s3_client.meta.events.unregister("provide-client-params.s3.UploadPart", unique_id="test-buffers")

    body, _ = stored(s3_client, s3_bucket)
    assert body == video
    full_parts = [body for body, size in sent if size == PART]
    assert len(full_parts) == 6
    assert len(sent) == 7
    assert len({id(b) for b in full_parts}) <= 3, "each part got a fresh buffer instead of reusing one"


# ---- resume --------------------------------------------------------------------------------


def test_dropped_connection_resumes_with_range_and_is_byte_identical(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    large_mp4: bytes,
) -> None:
    cut = PART + 123_457  # after the first part went up, in the middle of the second
    url = video_server.add(route_path, large_mp4, drop_after=cut, drops=1)
    result = archive(http_client, s3_client, s3_bucket, url)

    ranges = [hit.range for hit in video_server.hits_for(route_path)]
    assert ranges == [None, f"bytes={cut}-"]
    assert result.resumes == 1
    body, info = stored(s3_client, s3_bucket)
    assert body == large_mp4
    assert info["metadata"][SHA256_KEY] == sha(large_mp4)
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_repeated_drops_resume_each_time(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    large_mp4: bytes,
) -> None:
    url = video_server.add(route_path, large_mp4, drop_after=3 * MiB, drops=3)
    archive(http_client, s3_client, s3_bucket, url)

    ranges = [hit.range for hit in video_server.hits_for(route_path)]
    assert ranges == [None, f"bytes={3 * MiB}-", f"bytes={6 * MiB}-", f"bytes={9 * MiB}-"]
    assert stored(s3_client, s3_bucket)[0] == large_mp4


def test_server_without_range_support_restarts_from_zero(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    large_mp4: bytes,
) -> None:
    url = video_server.add(route_path, large_mp4, ranges=False, drop_after=PART + 1000, drops=1)
    archive(http_client, s3_client, s3_bucket, url)

    assert len(video_server.hits_for(route_path)) == 2  # the Range request was answered with a full 200
    body, info = stored(s3_client, s3_bucket)
    assert body == large_mp4
    assert info["metadata"][SHA256_KEY] == sha(large_mp4)
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


# ---- verification failures leave nothing behind ----------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 410])
def test_expired_link_status_is_a_clear_error(
    status: int,
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
) -> None:
    url = video_server.add(
        route_path, b"<Error><Code>AccessDenied</Code></Error>", status=status, content_type="application/xml"
    )
    with pytest.raises(LinkExpiredError, match=rf"test video: .*HTTP {status}.*expired.*Re-generate"):
        archive(http_client, s3_client, s3_bucket, url)
    assert_bucket_clean(s3_client, s3_bucket)


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        (b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html", "HTML page"),
        (b'{"error": {"code": "link_expired", "message": "gone"}}', "video/mp4", "JSON document"),
    ],
    ids=["html-200", "json-labelled-video"],
)
def test_non_video_body_with_200_is_refused(
    body: bytes,
    content_type: str,
    what: str,
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
) -> None:
    url = video_server.add(route_path, body, content_type=content_type)
    with pytest.raises(NotAVideoError, match=rf"HTTP 200 with an? {what}.*not a video.*expired"):
        archive(http_client, s3_client, s3_bucket, url)
    assert_bucket_clean(s3_client, s3_bucket)


def test_html_page_after_a_video_sized_start_leaves_no_upload(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
) -> None:
    page = b"<html>" + b"x" * (12 * MiB)  # big enough that a naive copier would have uploaded parts
    url = video_server.add(route_path, page, content_type="text/html")
    with pytest.raises(NotAVideoError):
        archive(http_client, s3_client, s3_bucket, url)
    assert_bucket_clean(s3_client, s3_bucket)


@pytest.mark.parametrize("which", ["small", "large"])
def test_body_shorter_than_content_length_is_truncated_error(
    which: str,
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    small_mp4: bytes,
    large_mp4: bytes,
) -> None:
    data = small_mp4 if which == "small" else large_mp4
    url = video_server.add(route_path, data, short_by=1000)
    settings = StreamSettings(part_size=PART, resume_backoff=0, max_resumes=2)
    with pytest.raises(TruncatedDownloadError, match=rf"sent {len(data) - 1000} of the {len(data)} bytes"):
        archive(http_client, s3_client, s3_bucket, url, settings=settings)
    assert len(video_server.hits_for(route_path)) == 3  # first try and two resumes
    assert_bucket_clean(s3_client, s3_bucket)


def test_body_without_content_length_is_stopped_at_the_limit_and_leaves_nothing(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
) -> None:
    """No ``Content-Length`` to refuse up front: the byte count stops it, after a part went up."""
    video = b"\x00\x00\x00\x20ftypisom" + hashlib.shake_256(b"endless").digest(3 * PART - 12)
    url = video_server.add(route_path, video, content_length=False, ranges=False)
    settings = StreamSettings(part_size=PART, max_bytes=2 * PART, resume_backoff=0)
    with pytest.raises(VideoTooLargeError, match=rf"exceeds max_bytes \({2 * PART} bytes\).*nothing was written"):
        archive(http_client, s3_client, s3_bucket, url, settings=settings)
    assert len(video_server.hits_for(route_path)) == 1  # not retried: a limit is not a network failure
    assert_bucket_clean(s3_client, s3_bucket)


def test_content_length_over_the_limit_is_refused_before_downloading(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    large_mp4: bytes,
) -> None:
    url = video_server.add(route_path, large_mp4)
    settings = StreamSettings(part_size=PART, max_bytes=10 * MiB)
    with pytest.raises(VideoTooLargeError, match="exceeds max_bytes"):
        archive(http_client, s3_client, s3_bucket, url, settings=settings)
    assert_bucket_clean(s3_client, s3_bucket)


def test_empty_body_is_not_a_video(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
) -> None:
    url = video_server.add(route_path, b"", content_type="application/octet-stream")
    with pytest.raises(NotAVideoError, match="empty body"):
        archive(http_client, s3_client, s3_bucket, url)
    assert_bucket_clean(s3_client, s3_bucket)


# ---- idempotency ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["small", "large"])
def test_second_archive_of_same_bytes_is_a_logged_skip(
    which: str,
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    small_mp4: bytes,
    large_mp4: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = small_mp4 if which == "small" else large_mp4
    url = video_server.add(route_path, data)
    first = archive(http_client, s3_client, s3_bucket, url)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        second = archive(http_client, s3_client, s3_bucket, url)

    assert (first.outcome, second.outcome) == ("written", "unchanged")
    assert second.sha256 == first.sha256
    assert "already holds this video" in caplog.text
    assert [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]] == [KEY]
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


@pytest.mark.parametrize("which", ["small", "large"])
def test_different_bytes_conflict_unless_replace(
    which: str,
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    small_mp4: bytes,
    large_mp4: bytes,
) -> None:
    data = small_mp4 if which == "small" else large_mp4
    other = data[:-16] + b"\x00" * 16
    url = video_server.add(route_path, data)
    archive(http_client, s3_client, s3_bucket, url)

    video_server.routes[route_path].body = other
    with pytest.raises(ObjectConflictError, match=r"already holds a different object.*replace=True"):
        archive(http_client, s3_client, s3_bucket, url)
    assert stored(s3_client, s3_bucket)[0] == data  # untouched
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")

    result = archive(http_client, s3_client, s3_bucket, url, replace=True)
    body, info = stored(s3_client, s3_bucket)
    assert (result.outcome, body, info["metadata"][SHA256_KEY]) == ("replaced", other, sha(other))


def test_unfinished_archive_of_the_same_writer_is_finished_not_a_conflict(
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    small_mp4: bytes,
) -> None:
    # What a crash between CompleteMultipartUpload and the metadata copy leaves: bytes, no sha256.
    s3_client.put_object(Bucket=s3_bucket, Key=KEY, Body=small_mp4, Metadata={WRITER_KEY: "dag/run/task/-1"})
    url = video_server.add(route_path, small_mp4)

    with pytest.raises(ObjectConflictError):
        archive(http_client, s3_client, s3_bucket, url, writer="dag/other-run/task/-1")
    result = archive(http_client, s3_client, s3_bucket, url, writer="dag/run/task/-1")
    assert result.outcome == "written"
    assert stored(s3_client, s3_bucket)[1]["metadata"][SHA256_KEY] == sha(small_mp4)


class _RacingClient:
    """A real S3 client, except that a competitor writes the key right after our HEAD saw it empty."""

    def __init__(self, client: S3Client, competitor_body: bytes) -> None:
        self._client = client
        self._competitor_body = competitor_body
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def head_object(self, **kwargs: Any) -> Any:
        try:
            return self._client.head_object(**kwargs)
        except self._client.exceptions.ClientError:
            if not self.raced:
                self.raced = True
                self._client.put_object(
                    Bucket=kwargs["Bucket"],
                    Key=kwargs["Key"],
                    Body=self._competitor_body,
                    Metadata={SHA256_KEY: sha(self._competitor_body)},
                )
            raise


@pytest.mark.parametrize("which", ["small", "large"])
def test_conditional_write_never_overwrites_a_concurrent_writer(
    which: str,
    video_server: VideoServer,
    route_path: str,
    http_client: httpx.Client,
    s3_client: S3Client,
    s3_bucket: str,
    small_mp4: bytes,
    large_mp4: bytes,
) -> None:
    data = small_mp4 if which == "small" else large_mp4
    racing = _RacingClient(s3_client, b"competitor")
    url = video_server.add(route_path, data)
    with pytest.raises(ObjectConflictError):
        archive(http_client, racing, s3_bucket, url)
    assert racing.raced
    assert stored(s3_client, s3_bucket)[0] == b"competitor"
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_settings_refuse_parts_below_the_s3_minimum() -> None:
    with pytest.raises(ValueError, match="at least"):
        StreamSettings(part_size=MiB)
    with pytest.raises(ValueError, match="5 GiB"):
        StreamSettings(max_bytes=6 * 1024 * MiB)
