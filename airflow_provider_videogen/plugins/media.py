"""The bytes behind the Videos view's players: archived videos from S3, rendered ones from the gateway.

* **Archived** (the usual case): streamed from S3 through the provider's AWS connection, one
  ranged ``GetObject`` per request, in :data:`CHUNK` pieces (memory stays flat whatever the
  size), answering ``Range`` requests with ``206`` so a player can seek; SeaweedFS or a private
  bucket needs no public access. With ``[videogen] media_delivery = presigned`` the endpoint
  answers with a redirect to a freshly presigned URL instead (the browser then downloads from S3
  directly: less load on the api-server, but the browser must reach S3).
* **Not archived yet**: the gateway's download link is proxied while it is valid; the signed link
  never reaches the browser. Once it has expired the answer says so plainly (410).

Every response says ``Cache-Control: private``: the bytes are behind a login.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_videogen.plugins.records import VideoCard
    from airflow_provider_videogen.plugins.settings import ViewSettings

log = logging.getLogger(__name__)

#: Bytes read from S3 (or the gateway) and written to the browser at a time.
CHUNK = 1 << 20
PRESIGNED_SECONDS = 300


class MediaUnavailable(Exception):
    """No bytes to serve; ``status`` and a message meant for the person looking at the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def s3_client(settings: ViewSettings) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()


def s3_answer(bucket: str, key: str, range_header: str | None, settings: ViewSettings) -> dict[str, Any]:
    """What to send for ``s3://bucket/key``: ``{"status", "headers", "body"}`` (body an iterator) or a redirect."""
    from airflow_provider_videogen.simulator.media import RangeNotSatisfiable, parse_range

    client = s3_client(settings)
    if settings.media_delivery == "presigned":
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_SECONDS
        )
        return {"status": 307, "headers": {"Location": url, "Cache-Control": "no-store"}, "body": None}
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore's ClientError: missing object or no access
        raise MediaUnavailable(
            404, f"s3://{bucket}/{key} cannot be read with connection {settings.aws_conn_id!r}: {exc}"
        ) from None
    size = int(head["ContentLength"])
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": head.get("ContentType") or "video/mp4",
        "Cache-Control": "private, max-age=300",
    }
    try:
        wanted = parse_range(range_header, size)
    except RangeNotSatisfiable:
        return {"status": 416, "headers": {**headers, "Content-Range": f"bytes */{size}"}, "body": iter(())}
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = wanted, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    if size == 0:
        return {"status": 200, "headers": headers, "body": iter(())}
    body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"]
    return {"status": status, "headers": headers, "body": _chunks(body)}


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        while chunk := body.read(CHUNK):
            yield chunk
    finally:
        body.close()


def gateway_answer(card: VideoCard, range_header: str | None, settings: ViewSettings) -> dict[str, Any]:
    """Proxy the gateway's link of a video that is not archived, while it is valid (asks the gateway for it)."""
    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.models import ApiKind

    if card.remote_id is None or not card.playable:
        raise MediaUnavailable(404, "This video was not rendered: there is nothing to play.")
    if _expired(card.expires_at):
        raise MediaUnavailable(
            410,
            f"The gateway's link to {card.remote_id} expired at {card.expires_at} and the video was not archived: "
            "it can no longer be played.",
        )
    hook = VideoGenHook(videogen_conn_id=settings.videogen_conn_id)
    api = ApiKind.REMIX if card.kind == "remix" else ApiKind.GENERATION
    task = hook.get_task(api, card.remote_id)
    if not task.video_urls:
        raise MediaUnavailable(404, f"The gateway has no video for {card.remote_id} (state {task.state.value}).")
    start = _start(range_header)
    stream = hook.stream_download(task.video_urls[0], start=start)
    response = stream.__enter__()
    if response.status_code in (401, 403, 404, 410):
        stream.__exit__(None, None, None)
        raise MediaUnavailable(410, f"The gateway's link to {card.remote_id} has expired; the video was not archived.")
    if not response.is_success:
        stream.__exit__(None, None, None)
        raise MediaUnavailable(502, f"The gateway answered {response.status_code} for {card.remote_id}'s video.")
    headers = {"Content-Type": response.headers.get("content-type", "video/mp4"), "Cache-Control": "private"}
    for name in ("content-length", "content-range", "accept-ranges"):
        if name in response.headers:
            headers[name.title()] = response.headers[name]

    def body() -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(CHUNK)
        finally:
            stream.__exit__(None, None, None)

    return {"status": response.status_code, "headers": headers, "body": body()}


def _start(range_header: str | None) -> int:
    """The first byte of an open-ended ``bytes=N-`` range (the one form proxied; others get the whole file)."""
    if not range_header or not range_header.startswith("bytes="):
        return 0
    first, _, last = range_header[6:].partition("-")
    return int(first) if first.isdigit() and not last else 0


def _expired(expires_at: str | None) -> bool:
    if not expires_at:
        return False
    try:
        when = datetime.fromisoformat(expires_at)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when <= datetime.now(tz=timezone.utc)
