"""The upload side of a transfer: the body cut into parts and uploaded while the download goes on.

Memory is bounded by the part size, not the video size: the body goes through a ``part_size``
buffer into an S3 multipart upload, at most ``upload_concurrency`` parts are in flight while the
next one fills, so a transfer holds at most ``(upload_concurrency + 1) * part_size`` bytes of
video whatever its length (the same buffers, reused). A body smaller than one part never creates
a multipart upload; it is written with a single ``PutObject`` by :mod:`.commit`.

Parts are invisible until ``CompleteMultipartUpload``, so a failed transfer leaves nothing
visible behind: :meth:`PartWriter.abort` waits for parts in flight first, because an abort
racing an ``UploadPart`` can leave that part behind.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from airflow_provider_videogen.transfers.settings import ArchiveTarget, Log, StreamSettings


def s3_error_code(exc: ClientError) -> str:
    """The ``Error.Code`` of a botocore ``ClientError`` (``"NoSuchUpload"``, ``"404"``...), or ``""``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


class PartWriter:
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
        if self.upload_id is not None:
            raise RuntimeError("internal error: self.upload_id is already set")  # an invariant, kept under python -O
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
        if self._executor is None:
            raise RuntimeError("internal error: self._executor is unset")  # an invariant, kept under python -O
        number, self._next_part = self._next_part, self._next_part + 1
        self._pending.append((self._executor.submit(self._upload, number, part), part))

    def _collect(self) -> None:
        """Wait for the oldest upload; its buffer is free again once ``UploadPart`` returned."""
        future, part = self._pending.popleft()
        self._parts.append(future.result())
        if len(part) == self._part_size:
            self._free.append(part)

    def _upload(self, number: int, part: bytearray) -> CompletedPartTypeDef:
        if self.upload_id is None:
            raise RuntimeError("internal error: self.upload_id is unset")  # an invariant, kept under python -O
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
            if s3_error_code(exc) != "NoSuchUpload":
                log.error(
                    "Could not abort multipart upload %s of %s: %s; an AbortIncompleteMultipartUpload "
                    "lifecycle rule will reclaim it",
                    upload_id,
                    self._target.uri,
                    exc,
                )
