"""The final write of a transfer: idempotent, conditional, and never a silent overwrite.

The SHA-256 is only known once the last byte has been read, so the decision is taken just
before completing: ``HEAD`` the key; the same SHA-256 in its metadata means "already archived"
(abort, skip); a different one fails unless ``replace``. The write itself is conditional
(``If-None-Match: *`` for a new key, ``If-Match: <etag>`` when replacing), so a concurrent
writer between the ``HEAD`` and the write is caught too (``conditional_writes=False`` for
S3-compatible stores without conditional writes).

The SHA-256 lands in the object's metadata. ``CreateMultipartUpload`` fixes metadata before the
first byte is read, so a multipart object gets its ``sha256`` by an in-place ``CopyObject`` with
``MetadataDirective=REPLACE`` right after completion, conditioned on the ETag just written
(``CopySourceIfMatch``) so the hash is never stamped on someone else's bytes. On S3 and
SeaweedFS this is a server-side operation; no byte returns to the worker (SeaweedFS does it in
metadata alone). CopyObject's 5 GiB limit caps ``max_bytes``. If the worker dies between the two
calls, the key holds the complete video without ``sha256`` but with the writer's identity
(``videogen-writer``); a rerun of the same task instance recognises it and finishes the job
instead of reporting a conflict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from airflow_provider_videogen.transfers.errors import ObjectConflictError
from airflow_provider_videogen.transfers.multipart import s3_error_code
from airflow_provider_videogen.transfers.settings import SHA256_KEY, WRITER_KEY, ArchiveResult

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, HeadObjectOutputTypeDef

    from airflow_provider_videogen.transfers.multipart import PartWriter
    from airflow_provider_videogen.transfers.settings import ArchiveTarget, Log, Outcome, StreamSettings


def head_object(client: S3Client, bucket: str, key: str) -> HeadObjectOutputTypeDef | None:
    """``HeadObject``, or ``None`` when the key is free."""
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if s3_error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def is_precondition_failure(exc: ClientError) -> bool:
    """True when S3 refused a conditional write because the object changed (or a write raced it)."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return s3_error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


class ArchiveCommit:
    """Writes one fully received, verified video to its key: skip, write or replace.

    Built by the download loop once the body is complete (every byte read, the type checked),
    with the parts already uploaded by ``writer`` or, for a small body, the bytes it holds.
    """

    def __init__(
        self,
        client: S3Client,
        writer: PartWriter,
        target: ArchiveTarget,
        settings: StreamSettings,
        log: Log,
        *,
        sha256: str,
        size: int,
        content_type: str,
        resumes: int,
    ) -> None:
        self._client = client
        self._writer = writer
        self._target = target
        self._settings = settings
        self._log = log
        self._sha256 = sha256
        self._size = size
        self._content_type = content_type
        self._resumes = resumes

    def write(self) -> ArchiveResult:
        """Skip, write or replace the object; re-decide when a concurrent writer wins the race."""
        sha = self._sha256
        content_type = self._content_type
        metadata = {**self._target.metadata, SHA256_KEY: sha}
        parts = self._writer.finish() if self._writer.multipart else None
        body = None if parts is not None else self._writer.take_small_body()

        def result(outcome: Outcome) -> ArchiveResult:
            return ArchiveResult(
                bucket=self._target.bucket,
                key=self._target.key,
                size=self._size,
                sha256=sha,
                content_type=content_type,
                outcome=outcome,
                resumes=self._resumes,
            )

        for _ in range(3):  # re-decide when a concurrent writer wins the race
            existing = head_object(self._client, self._target.bucket, self._target.key)
            decision = self._decide(existing)
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
                    if body is None:
                        raise RuntimeError("internal error: body is unset")  # an invariant, kept under python -O
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
                if not is_precondition_failure(exc):
                    raise
                self._log.warning(
                    "%s: %s changed while archiving (%s); checking it again",
                    self._target.label,
                    self._target.uri,
                    s3_error_code(exc),
                )
        raise ObjectConflictError(
            f"{self._target.label}: {self._target.uri} kept changing while archiving (another writer?); "
            "nothing was written."
        )

    def _decide(self, existing: HeadObjectOutputTypeDef | None) -> tuple[Outcome, dict[str, str]] | None:
        """``None`` to skip (same bytes), else the outcome and the write's precondition."""
        sha = self._sha256
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
                f"{sha}, {self._size} bytes). Nothing was overwritten. Set replace=True to overwrite it, "
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
        if self._writer.upload_id is None:
            raise RuntimeError("internal error: self._writer.upload_id is unset")  # an invariant, kept under python -O
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
                f"be stored ({s3_error_code(exc)}: another writer replaced it, or CopyObject is not allowed). "
                "A rerun of this task instance finishes it."
            ) from exc
