"""Stream one HTTP download straight into one S3 object, verified, resumable and idempotent.

This is the part of the archive that knows neither Airflow nor the videogen API: it gets a
function that opens the download at a byte offset and a boto3 S3 client, so it runs the same
against the hook's client, a plain ``httpx.Client``, AWS S3 or SeaweedFS.

Design, and why:

* **Memory is bounded by the part size, not the video size.** The body goes through a
  ``part_size`` buffer into an S3 multipart upload; at most ``upload_concurrency`` parts are in
  flight while the next one fills, so the transfer holds at most ``(upload_concurrency + 1) *
  part_size`` bytes of video whatever its length (the same buffers, reused). A body smaller
  than one part is a single ``PutObject``.
* **A dropped connection resumes, it does not start over.** Every retry asks for
  ``Range: bytes=<received>-``. A ``206`` whose ``Content-Range`` continues exactly where we
  stopped (same total length, same ``ETag``) is appended; a ``200`` means the server ignored the
  range, so that response becomes a fresh download from byte 0 (the multipart upload is
  aborted and restarted). A body shorter than its ``Content-Length`` looks exactly like a
  dropped connection, so it is retried the same way and reported as truncated when the
  retries run out.
* **Nothing partial is ever visible.** Parts are invisible until ``CompleteMultipartUpload``;
  every failure path aborts the upload (after waiting for parts in flight, because an abort
  racing an ``UploadPart`` can leave that part behind).
* **Idempotent, never a silent overwrite.** The SHA-256 is only known once the last byte has
  been read, so the decision is taken just before completing: ``HEAD`` the key; the same
  SHA-256 in its metadata means "already archived" (abort, skip); a different one fails unless
  ``replace``. The write itself is conditional (``If-None-Match: *`` for a new key, ``If-Match:
  <etag>`` when replacing), so a concurrent writer between the ``HEAD`` and the write is caught
  too (``conditional_writes=False`` for S3-compatible stores without conditional writes).
* **The SHA-256 lands in the object's metadata.** ``CreateMultipartUpload`` fixes metadata
  before the first byte is read, so a multipart object gets its ``sha256`` by an in-place
  ``CopyObject`` with ``MetadataDirective=REPLACE`` right after completion, conditioned on the
  ETag just written (``CopySourceIfMatch``) so the hash is never stamped on someone else's
  bytes. On S3 and SeaweedFS this is a server-side operation; no byte returns to the worker
  (SeaweedFS does it in metadata alone). CopyObject's 5 GiB limit caps ``max_bytes``. If the
  worker dies between the two calls, the key holds the complete video without ``sha256`` but
  with the writer's identity; a rerun of the same task instance recognises it and finishes the
  job instead of reporting a conflict.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx
from botocore.exceptions import ClientError

from airflow_provider_videogen.transfers.errors import (
    DownloadFailedError,
    LinkExpiredError,
    NotAVideoError,
    ObjectConflictError,
    TruncatedDownloadError,
    VideoTooLargeError,
)
from airflow_provider_videogen.transfers.verification import SNIFF_BYTES, Sniff, describe_bytes, sniff

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, HeadObjectOutputTypeDef

#: Opens the download at a byte offset (``Range: bytes=<offset>-`` when > 0) without raising on
#: HTTP status; ``VideoGenHook.stream_download`` fits once its URL is bound.
OpenStream = Callable[[int], AbstractContextManager[httpx.Response]]

Outcome = Literal["written", "replaced", "unchanged"]


class Log(Protocol):
    """The logging calls the transfer makes: satisfied by ``logging.Logger`` and an operator's ``log``."""

    def info(self, msg: str, /, *args: Any) -> None: ...

    def warning(self, msg: str, /, *args: Any) -> None: ...

    def error(self, msg: str, /, *args: Any) -> None: ...


MiB = 1024 * 1024
GiB = 1024 * MiB
#: S3's minimum size of every part but the last.
MIN_PART_SIZE = 5 * MiB
#: S3's CopyObject limit; the in-place copy that stamps the SHA-256 cannot go beyond it.
MAX_ARCHIVE_BYTES = 5 * GiB
#: User-metadata key of the body's SHA-256 (hex); S3 returns it as ``x-amz-meta-sha256``.
SHA256_KEY = "sha256"
#: User-metadata key naming the task instance that wrote the object (see module docstring).
WRITER_KEY = "videogen-writer"

_EXPIRED_STATUSES = frozenset({403, 404, 410})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_HEAD_KEEP = 128  # bytes kept from the body's start for error messages


@dataclass(frozen=True)
class StreamSettings:
    """Knobs of one transfer. The defaults suit videos of a few MB to a few GB on a small worker.

    :param part_size: multipart part size and memory unit (S3 minimum 5 MiB).
    :param max_bytes: refuse bodies larger than this (announced or counted), at most 5 GiB.
    :param max_resumes: how many times a dropped download is resumed before giving up.
    :param resume_backoff: seconds to wait before the n-th resume, times n (capped at 30 s).
    :param upload_concurrency: parts uploaded in parallel while the next one downloads.
    :param conditional_writes: send ``If-None-Match``/``If-Match`` on the final write.
    """

    part_size: int = 8 * MiB
    max_bytes: int = 2 * GiB
    max_resumes: int = 5
    resume_backoff: float = 1.0
    upload_concurrency: int = 2
    conditional_writes: bool = True

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part size)")
        if not 0 < self.max_bytes <= MAX_ARCHIVE_BYTES:
            raise ValueError(f"max_bytes must be between 1 and {MAX_ARCHIVE_BYTES} (5 GiB, S3 CopyObject)")
        if self.max_resumes < 0 or self.resume_backoff < 0:
            raise ValueError("max_resumes and resume_backoff must not be negative")
        if self.upload_concurrency < 1:
            raise ValueError("upload_concurrency must be at least 1")


@dataclass(frozen=True)
class ArchiveTarget:
    """Where one video goes and what is stored with it.

    :param metadata: user metadata stored with the object (``sha256`` is added by the transfer).
    :param writer: identity of the writing task instance, stored as ``videogen-writer``; an
        object it left without a SHA-256 (a crash between complete and copy) may be finished.
    :param label: how errors and logs name the video (remote task, index, redacted URL).
    """

    bucket: str
    key: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    writer: str | None = None
    replace: bool = False
    label: str = "video"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ArchiveResult:
    """What happened to one video; :meth:`as_dict` is what goes to XCom (small, JSON-safe)."""

    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str
    outcome: Outcome
    resumes: int = 0

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "outcome": self.outcome,
        }


class _Retry(Exception):
    """A response worth retrying (5xx, 429) or a resume that does not line up (restart)."""

    def __init__(self, message: str, *, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


def head_object(client: S3Client, bucket: str, key: str) -> HeadObjectOutputTypeDef | None:
    """``HeadObject``, or ``None`` when the key is free."""
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_precondition_failure(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


class _PartWriter:
    """Cuts the body into ``part_size`` parts and uploads them while the download goes on.

    The multipart upload is created lazily at the first full part, so a small video never
    creates one. Parts complete in order of submission; at most ``concurrency`` are in flight.
    """

    def __init__(self, client: S3Client, target: ArchiveTarget, settings: StreamSettings) -> None:
        self._client = client
        self._target = target
        self._part_size = settings.part_size
        self._concurrency = settings.upload_concurrency
        self._buffer: bytearray | None = None
        self._filled = 0
        self._free: list[bytearray] = []  # full-size parts whose upload finished, for reuse
        self._pending: deque[tuple[Future[CompletedPartTypeDef], bytearray]] = deque()
        self._parts: list[CompletedPartTypeDef] = []
        self._executor: ThreadPoolExecutor | None = None
        self._next_part = 1
        self.upload_id: str | None = None
        self.content_type = "application/octet-stream"

    @property
    def multipart(self) -> bool:
        return self.upload_id is not None

    def write(self, data: bytes) -> None:
        """Copy ``data`` into the current part; hand each full part to an upload thread.

        Each part is one pre-sized ``bytearray`` passed to ``UploadPart`` as is (boto3 accepts
        it), so a byte is copied once on its way from the socket to S3 and memory holds at most
        ``concurrency + 1`` parts. A part whose upload finished is reused for a later one: the
        process touches the same ``concurrency + 1`` buffers for the whole video instead of
        asking the allocator for (and the kernel to zero) a fresh one per part.
        """
        view = memoryview(data)
        while view:
            if self._buffer is None:
                self._buffer = self._free.pop() if self._free else bytearray(self._part_size)
                self._filled = 0
            take = min(len(view), self._part_size - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == self._part_size:
                part, self._buffer = self._buffer, None
                self._submit(part)

    def take_small_body(self) -> bytes:
        """The whole body when it never reached one part (single ``PutObject``)."""
        assert self.upload_id is None
        body = bytes(self._buffer[: self._filled]) if self._buffer is not None else b""
        self._buffer = None
        return body

    def finish(self) -> list[CompletedPartTypeDef]:
        """Upload the last part, wait for all of them, return the part list for completion."""
        if self._buffer is not None and self._filled:
            part, self._buffer = self._buffer, None
            del part[self._filled :]
            self._submit(part)
        while self._pending:
            self._collect()
        self._shutdown()
        self._free.clear()
        return list(self._parts)

    def _submit(self, part: bytearray) -> None:
        if self.upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._target.bucket,
                Key=self._target.key,
                ContentType=self.content_type,
                Metadata=dict(self._target.metadata),
            )
            self.upload_id = created["UploadId"]
            self._executor = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="s3-part")
        while len(self._pending) >= self._concurrency:
            self._collect()
        assert self._executor is not None
        number, self._next_part = self._next_part, self._next_part + 1
        self._pending.append((self._executor.submit(self._upload, number, part), part))

    def _collect(self) -> None:
        """Wait for the oldest upload; its buffer is free again once ``UploadPart`` returned."""
        future, part = self._pending.popleft()
        self._parts.append(future.result())
        if len(part) == self._part_size:
            self._free.append(part)

    def _upload(self, number: int, part: bytearray) -> CompletedPartTypeDef:
        assert self.upload_id is not None
        answer = self._client.upload_part(
            Bucket=self._target.bucket,
            Key=self._target.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=part,  # type: ignore[arg-type]  # botocore accepts bytearray; the stubs omit it
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def abort(self, log: Log) -> None:
        """Drop everything: wait for parts in flight, then abort the upload (idempotent)."""
        self._buffer = None
        self._shutdown()
        self._pending.clear()
        self._free.clear()
        self._parts.clear()
        self._next_part = 1
        upload_id, self.upload_id = self.upload_id, None
        if upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self._target.bucket, Key=self._target.key, UploadId=upload_id)
        except ClientError as exc:
            if _error_code(exc) != "NoSuchUpload":
                log.error(
                    "Could not abort multipart upload %s of %s: %s; an AbortIncompleteMultipartUpload "
                    "lifecycle rule will reclaim it",
                    upload_id,
                    self._target.uri,
                    exc,
                )


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
        self._writer = _PartWriter(client, target, settings)
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
        sha = self._hasher.hexdigest()
        assert self._sniff is not None
        content_type = self._sniff.content_type or "video/mp4"
        metadata = {**self._target.metadata, SHA256_KEY: sha}
        parts = self._writer.finish() if self._writer.multipart else None
        body = None if parts is not None else self._writer.take_small_body()

        def result(outcome: Outcome) -> ArchiveResult:
            return ArchiveResult(
                bucket=self._target.bucket,
                key=self._target.key,
                size=self._received,
                sha256=sha,
                content_type=content_type,
                outcome=outcome,
                resumes=self._resumes,
            )

        for _ in range(3):  # re-decide when a concurrent writer wins the race
            existing = head_object(self._client, self._target.bucket, self._target.key)
            decision = self._decide(existing, sha)
            if decision is None:
                self._writer.abort(self._log)
                self._log.info(
                    "%s: %s already holds this video (sha256 %s); skipping the upload",
                    self._target.label,
                    self._target.uri,
                    sha,
                )
                return result("unchanged")
            outcome, condition = decision
            try:
                if parts is None:
                    assert body is not None
                    self._client.put_object(
                        Bucket=self._target.bucket,
                        Key=self._target.key,
                        Body=body,
                        ContentType=content_type,
                        Metadata=metadata,
                        **condition,  # type: ignore[arg-type]
                    )
                else:
                    self._complete(parts, content_type, metadata, condition)
                return result(outcome)
            except ClientError as exc:
                if not _is_precondition_failure(exc):
                    raise
                self._log.warning(
                    "%s: %s changed while archiving (%s); checking it again",
                    self._target.label,
                    self._target.uri,
                    _error_code(exc),
                )
        raise ObjectConflictError(
            f"{self._target.label}: {self._target.uri} kept changing while archiving (another writer?); "
            "nothing was written."
        )

    def _decide(self, existing: HeadObjectOutputTypeDef | None, sha: str) -> tuple[Outcome, dict[str, str]] | None:
        """``None`` to skip (same bytes), else the outcome and the write's precondition."""
        conditional = self._settings.conditional_writes
        if existing is None:
            return "written", ({"IfNoneMatch": "*"} if conditional else {})
        meta = existing.get("Metadata", {})
        existing_sha = meta.get(SHA256_KEY)
        if_match = {"IfMatch": existing["ETag"]} if conditional and existing.get("ETag") else {}
        if existing_sha == sha:
            return None
        if existing_sha is None and self._target.writer and meta.get(WRITER_KEY) == self._target.writer:
            self._log.warning(
                "%s: %s holds an unfinished archive by this task instance (no sha256); finishing it",
                self._target.label,
                self._target.uri,
            )
            return "written", if_match
        if not self._target.replace:
            raise ObjectConflictError(
                f"{self._target.label}: {self._target.uri} already holds a different object (sha256 "
                f"{existing_sha or 'unknown'}, {existing.get('ContentLength')} bytes; this video has sha256 "
                f"{sha}, {self._received} bytes). Nothing was overwritten. Set replace=True to overwrite it, "
                "or use an s3_key template that separates runs."
            )
        self._log.warning(
            "%s: replacing %s (sha256 %s) because replace=True",
            self._target.label,
            self._target.uri,
            existing_sha or "unknown",
        )
        return "replaced", if_match

    def _complete(
        self,
        parts: list[CompletedPartTypeDef],
        content_type: str,
        metadata: dict[str, str],
        condition: dict[str, str],
    ) -> None:
        assert self._writer.upload_id is not None
        completed = self._client.complete_multipart_upload(
            Bucket=self._target.bucket,
            Key=self._target.key,
            UploadId=self._writer.upload_id,
            MultipartUpload={"Parts": parts},
            **condition,  # type: ignore[arg-type]
        )
        self._writer.upload_id = None  # completed: nothing left to abort
        copy_condition = {"CopySourceIfMatch": completed["ETag"]} if completed.get("ETag") else {}
        try:
            self._client.copy_object(
                Bucket=self._target.bucket,
                Key=self._target.key,
                CopySource={"Bucket": self._target.bucket, "Key": self._target.key},
                MetadataDirective="REPLACE",
                ContentType=content_type,
                Metadata=metadata,
                **copy_condition,  # type: ignore[arg-type]
            )
        except ClientError as exc:
            raise ObjectConflictError(
                f"{self._target.label}: the video was written to {self._target.uri} but its sha256 could not "
                f"be stored ({_error_code(exc)}: another writer replaced it, or CopyObject is not allowed). "
                "A rerun of this task instance finishes it."
            ) from exc


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
