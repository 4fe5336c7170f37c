"""What one download-to-S3 transfer is given and what it reports back, and the S3 limits behind them.

Kept apart from the transfer itself so that the operator (:mod:`.video_to_s3`), the download
loop (:mod:`.streaming`), the part uploader (:mod:`.multipart`) and the final write
(:mod:`.commit`) share one definition of each knob and each limit: S3's 5 MiB minimum part size
and CopyObject's 5 GiB ceiling are checked once, when :class:`StreamSettings` is built, before
any byte is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

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
#: User-metadata key naming the task instance that wrote the object (see :mod:`.commit`).
WRITER_KEY = "videogen-writer"


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
