"""Stream one HTTP download straight into one S3 object, verified, resumable and idempotent.

This is the part of the archive that knows neither Airflow nor the videogen API: it gets a
function that opens the download at a byte offset and a boto3 S3 client, so it runs the same
against the hook's client, a plain ``httpx.Client``, AWS S3 or SeaweedFS. This module is the
download side and the entry point (:func:`stream_url_to_s3`); the rest of a transfer lives next
to it, one concern each:

* :mod:`.settings` -- the knobs, the target, the result and the S3 limits they are checked against;
* :mod:`.multipart` -- **memory is bounded by the part size, not the video size**: the body goes
  through ``part_size`` buffers into an S3 multipart upload while the download goes on;
* :mod:`.commit` -- **idempotent, never a silent overwrite**: the SHA-256 decides, just before
  completing, whether to skip, write or refuse; the write is conditional; the SHA-256 lands in
  the object's metadata.

Here, and why:

* **A dropped connection resumes, it does not start over.** Every retry asks for
  ``Range: bytes=<received>-``. A ``206`` whose ``Content-Range`` continues exactly where we
  stopped (same total length, same ``ETag``) is appended; a ``200`` means the server ignored the
  range, so that response becomes a fresh download from byte 0 (the multipart upload is
  aborted and restarted). A body shorter than its ``Content-Length`` looks exactly like a
  dropped connection, so it is retried the same way and reported as truncated when the
  retries run out.
* **Nothing partial is ever visible.** Parts are invisible until ``CompleteMultipartUpload``;
  every failure path aborts the upload.
* **What is archived is a video.** The first bytes are sniffed before anything is written, so
  an expired link's HTML or XML error page fails the task instead of landing in the bucket.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import TYPE_CHECKING

import httpx

from airflow_provider_videogen.transfers.commit import ArchiveCommit, head_object
from airflow_provider_videogen.transfers.errors import (
    DownloadFailedError,
    LinkExpiredError,
    NotAVideoError,
    TruncatedDownloadError,
    VideoTooLargeError,
)
from airflow_provider_videogen.transfers.multipart import PartWriter
from airflow_provider_videogen.transfers.settings import (
    MAX_ARCHIVE_BYTES,
    MIN_PART_SIZE,
    SHA256_KEY,
    WRITER_KEY,
    ArchiveResult,
    ArchiveTarget,
    GiB,
    Log,
    MiB,
    OpenStream,
    Outcome,
    StreamSettings,
)
from airflow_provider_videogen.transfers.verification import SNIFF_BYTES, Sniff, describe_bytes, sniff

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from mypy_boto3_s3 import S3Client

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MIN_PART_SIZE",
    "SHA256_KEY",
    "WRITER_KEY",
    "ArchiveResult",
    "ArchiveTarget",
    "GiB",
    "Log",
    "MiB",
    "OpenStream",
    "Outcome",
    "StreamSettings",
    "head_object",
    "httpx_opener",
    "stream_url_to_s3",
]

_EXPIRED_STATUSES = frozenset({403, 404, 410})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_HEAD_KEEP = 128  # bytes kept from the body's start for error messages


class _Retry(Exception):
    """A response worth retrying (5xx, 429) or a resume that does not line up (restart)."""

    def __init__(self, message: str, *, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


class _Transfer:
    """State of one download-to-S3 transfer across resumes; use :func:`stream_url_to_s3`."""

    def __init__(
        self,
        open_stream: OpenStream,
        client: S3Client,
        target: ArchiveTarget,
        settings: StreamSettings,
        log: Log,
    ) -> None:
        self._open = open_stream
        self._client = client
        self._target = target
        self._settings = settings
        self._log = log
        self._writer = PartWriter(client, target, settings)
        self._resumes = 0
        self._reset()

    def _reset(self) -> None:
        self._received = 0
        self._hasher = hashlib.sha256()
        self._head = bytearray()
        self._sniff: Sniff | None = None
        self._expected: int | None = None
        self._etag: str | None = None
        self._content_type: str | None = None
        self._status = 0
        self._next_log = 0

    def _restart(self, why: str) -> None:
        self._log.warning("%s: %s; restarting the download from byte 0", self._target.label, why)
        self._writer.abort(self._log)
        self._reset()

    # ---- download ------------------------------------------------------------------------

    def run(self) -> ArchiveResult:
        started = time.monotonic()
        attempts = 0
        try:
            while True:
                try:
                    with self._open(self._received) as response:
                        self._accept(response)
                        for chunk in response.iter_bytes():
                            self._consume(chunk)
                    break
                except (httpx.TransportError, _Retry) as exc:
                    attempts += 1
                    if attempts > self._settings.max_resumes:
                        raise self._gave_up(exc, attempts) from exc
                    self._prepare_retry(exc, attempts)
            self._check_complete()
            result = self._finalize()
        except BaseException:
            self._writer.abort(self._log)
            raise
        elapsed = max(time.monotonic() - started, 1e-9)
        self._log.info(
            "%s: %s %s (%d bytes, sha256 %s) in %.1f s, %.1f MiB/s, %d resume(s)",
            self._target.label,
            {"written": "archived to", "replaced": "replaced", "unchanged": "already at"}[result.outcome],
            result.uri,
            result.size,
            result.sha256,
            elapsed,
            result.size / MiB / elapsed,
            result.resumes,
        )
        return result

    def _prepare_retry(self, exc: BaseException, attempts: int) -> None:
        if isinstance(exc, _Retry) and exc.restart:
            self._restart(str(exc))
        elif self._received:
            self._resumes += 1
            self._log.warning(
                "%s: download interrupted after %d bytes (%s: %s); resuming with Range (attempt %d of %d)",
                self._target.label,
                self._received,
                type(exc).__name__,
                exc,
                attempts,
                self._settings.max_resumes,
            )
        else:
            self._log.warning(
                "%s: download failed before the first byte (%s: %s); retrying (attempt %d of %d)",
                self._target.label,
                type(exc).__name__,
                exc,
                attempts,
                self._settings.max_resumes,
            )
        time.sleep(min(self._settings.resume_backoff * attempts, 30.0))

    def _accept(self, response: httpx.Response) -> None:
        """Check a response's status and headers against what has been received so far."""
        status = response.status_code
        start = self._received
        if status in _EXPIRED_STATUSES:
            raise LinkExpiredError(
                f"{self._target.label}: the download link answered HTTP {status}: it has expired (links "
                "expire 24 h after the task completed) or was revoked. Nothing was written to "
                f"{self._target.uri}. Re-generate the video, and archive it within 24 h of completion."
            )
        if status == 401:
            raise DownloadFailedError(
                f"{self._target.label}: the download link answered HTTP 401 (authentication required); "
                "check the API key of the videogen connection (videogen_conn_id)."
            )
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}")
        if start > 0 and status == 206:
            self._accept_resume(response)
            return
        if start > 0 and status == 200:
            self._restart("the server ignored the Range request (HTTP 200)")
        elif start > 0:
            raise _Retry(f"unexpected HTTP {status} to a Range request", restart=True)
        if status == 206:  # a full-range 206 to a plain GET: accept only if it starts at 0
            first, _, total = self._content_range(response)
            if first != 0:
                raise _Retry("partial content that does not start at byte 0", restart=True)
            self._expected = total
        elif status != 200:
            raise DownloadFailedError(
                f"{self._target.label}: unexpected HTTP {status} from the download link; expected 200."
            )
        else:
            self._expected = self._content_length(response)
        self._status = status
        self._etag = response.headers.get("etag")
        self._content_type = response.headers.get("content-type")
        if self._expected is not None and self._expected > self._settings.max_bytes:
            raise VideoTooLargeError(
                f"{self._target.label}: Content-Length {self._expected} bytes exceeds max_bytes "
                f"{self._settings.max_bytes}; nothing was downloaded. Raise max_bytes (up to 5 GiB) if "
                "the worker can take it."
            )
        self._log.info(
            "%s: downloading %s bytes (%s) to %s",
            self._target.label,
            self._expected if self._expected is not None else "an unknown number of",
            self._content_type or "no Content-Type",
            self._target.uri,
        )

    def _accept_resume(self, response: httpx.Response) -> None:
        first, _, total = self._content_range(response)
        if first != self._received:
            raise _Retry(f"the server resumed at byte {first}, not {self._received}", restart=True)
        if self._expected is not None and total is not None and total != self._expected:
            raise _Retry(f"the file changed size ({self._expected} -> {total} bytes)", restart=True)
        etag = response.headers.get("etag")
        if self._etag and etag and etag != self._etag:
            raise _Retry("the file changed (different ETag)", restart=True)
        self._log.info("%s: resumed at byte %d (HTTP 206)", self._target.label, first)

    @staticmethod
    def _content_length(response: httpx.Response) -> int | None:
        """The announced body size, when it is the size of what ``iter_bytes`` yields."""
        if response.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
            return None  # httpx decodes the body; Content-Length counts encoded bytes
        raw = response.headers.get("content-length")
        return int(raw) if raw and raw.isdigit() else None

    @staticmethod
    def _content_range(response: httpx.Response) -> tuple[int, int, int | None]:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if not match:
            raise _Retry("HTTP 206 without a valid Content-Range", restart=True)
        total = None if match.group(3) == "*" else int(match.group(3))
        return int(match.group(1)), int(match.group(2)), total

    def _consume(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._received += len(chunk)
        if self._received > self._settings.max_bytes:
            raise VideoTooLargeError(
                f"{self._target.label}: the body exceeds max_bytes ({self._settings.max_bytes} bytes); "
                "the transfer was stopped and nothing was written."
            )
        self._hasher.update(chunk)
        if len(self._head) < _HEAD_KEEP:
            self._head += chunk[: _HEAD_KEEP - len(self._head)]
        if self._sniff is None and len(self._head) >= SNIFF_BYTES:
            self._judge()
        self._writer.write(chunk)
        if self._received >= self._next_log:
            self._log_progress()

    def _log_progress(self) -> None:
        if self._received:
            total = f" of {self._expected}" if self._expected else ""
            self._log.info("%s: %d%s bytes received", self._target.label, self._received, total)
        step = self._expected // 10 if self._expected else 256 * MiB  # ~10 lines per video
        self._next_log = self._received + max(step, 1)

    def _judge(self) -> None:
        verdict = sniff(bytes(self._head), self._content_type)
        if not verdict.is_video:
            raise NotAVideoError(
                f"{self._target.label}: the link answered HTTP {self._status} with {verdict.what}, not a "
                f"video (starts with: {describe_bytes(bytes(self._head))!r}). The link has probably expired "
                "or points to an error page; nothing was written to "
                f"{self._target.uri}. Re-generate the video, and archive it within 24 h of completion."
            )
        self._sniff = verdict
        self._writer.content_type = verdict.content_type or "video/mp4"

    def _check_complete(self) -> None:
        if self._sniff is None:
            self._judge()  # a body shorter than SNIFF_BYTES
        if self._expected is not None and self._received != self._expected:
            raise TruncatedDownloadError(
                f"{self._target.label}: received {self._received} bytes but Content-Length announced "
                f"{self._expected}; nothing was written to {self._target.uri}."
            )

    def _gave_up(self, exc: BaseException, attempts: int) -> Exception:
        cause = f"{type(exc).__name__}: {exc}"
        if self._expected is not None and self._received < self._expected:
            return TruncatedDownloadError(
                f"{self._target.label}: the server sent {self._received} of the {self._expected} bytes its "
                f"Content-Length announced and then closed the connection, {attempts} times in a row "
                f"(resuming with Range each time; last error {cause}). Nothing was written to "
                f"{self._target.uri}. The file on the server is probably truncated: re-generate the "
                "video, or retry later."
            )
        return DownloadFailedError(
            f"{self._target.label}: the download failed {attempts} times (last error {cause}). Nothing "
            f"was written to {self._target.uri}; the task's retries will try again."
        )

    # ---- write ---------------------------------------------------------------------------

    def _finalize(self) -> ArchiveResult:
        if self._sniff is None:
            raise RuntimeError("internal error: self._sniff is unset")  # an invariant, kept under python -O
        return ArchiveCommit(
            self._client,
            self._writer,
            self._target,
            self._settings,
            self._log,
            sha256=self._hasher.hexdigest(),
            size=self._received,
            content_type=self._sniff.content_type or "video/mp4",
            resumes=self._resumes,
        ).write()


def stream_url_to_s3(
    open_stream: OpenStream,
    s3_client: S3Client,
    target: ArchiveTarget,
    *,
    settings: StreamSettings | None = None,
    log: Log | None = None,
) -> ArchiveResult:
    """Download through ``open_stream`` into ``target``, verified and idempotent; see the module docs.

    :raises LinkExpiredError: the link answered 403/404/410.
    :raises NotAVideoError: the body is an HTML page, a JSON/XML error or unknown non-video data.
    :raises TruncatedDownloadError: fewer bytes than ``Content-Length``, even after resuming.
    :raises VideoTooLargeError: more than ``settings.max_bytes``.
    :raises ObjectConflictError: the key holds a different object and ``target.replace`` is False.
    :raises DownloadFailedError: the download kept failing for other reasons.
    """
    transfer = _Transfer(
        open_stream,
        s3_client,
        target,
        settings or StreamSettings(),
        log or logging.getLogger(__name__),
    )
    return transfer.run()


def httpx_opener(client: httpx.Client, url: str) -> OpenStream:
    """An :data:`OpenStream` over a plain ``httpx.Client`` (no credentials): for public links and tests."""

    def open_stream(start: int) -> AbstractContextManager[httpx.Response]:
        headers = {"Range": f"bytes={start}-"} if start > 0 else {}
        return client.stream("GET", url, headers=headers)

    return open_stream
