"""What an archived object says about where it came from, and what that lets a rerun skip.

Every object the archive writes carries S3 user metadata naming its remote task, its video
index, its link without the signature (and the model, when known), next to the SHA-256 and the
writer that :mod:`.commit` adds. That provenance is layer 1 of the archive's idempotency: if
the key already holds an object with the same remote task, index and link and a SHA-256, the
remote video is already archived (remote task outputs never change), so a rerun skips it
without downloading, which is what lets a rerun succeed after the 24 h links have expired.

S3 sends user metadata as HTTP headers (ASCII, 2 KB in all), so the values are percent-encoded
and the user's own ``metadata`` gets half of that budget and no ``videogen-`` keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.transfers.commit import head_object
from airflow_provider_videogen.transfers.errors import VideoArchiveError
from airflow_provider_videogen.transfers.settings import SHA256_KEY, WRITER_KEY, ArchiveResult

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.transfers.settings import ArchiveTarget, Log
    from airflow_provider_videogen.transfers.sources import VideoRef

TASK_ID_KEY = "videogen-task-id"
MODEL_KEY = "videogen-model"
INDEX_KEY = "videogen-video-index"
SOURCE_KEY = "videogen-source"
RESERVED_KEYS = frozenset({SHA256_KEY, WRITER_KEY, TASK_ID_KEY, MODEL_KEY, INDEX_KEY, SOURCE_KEY})
#: S3 limits user metadata to 2 KB (keys and values, UTF-8).
METADATA_LIMIT = 2048


def header_safe(value: str, limit: int = 512) -> str:
    """S3 metadata travels in HTTP headers: keep it printable ASCII (percent-encode the rest)."""
    return quote(value, safe="/:@-._~!$&'()*+,;=")[:limit]


def provenance(ref: VideoRef) -> dict[str, str]:
    """The metadata naming ``ref``'s remote task, video index, link and model.

    The link as :func:`~airflow_provider_videogen.hooks.redaction.redact_url` shows it: host and a
    fingerprint, never a path or query that would download the video (anyone who can read the
    object's metadata could otherwise fetch the source). The fingerprint leaves out the query, so
    a re-signed link to the same video still reads as the same source (``already_archived``).
    """
    meta = {
        TASK_ID_KEY: header_safe(ref.video_task_id),
        INDEX_KEY: str(ref.index),
        SOURCE_KEY: header_safe(redact_url(ref.url, ignore_query=True)),
    }
    if ref.model:
        meta[MODEL_KEY] = header_safe(ref.model)
    return meta


def legacy_source(url: str) -> str:
    """The ``videogen-source`` value versions before 0.2 wrote: ``scheme://host/path`` (``?...`` if signed).

    Recognised only to match objects those versions archived (see :func:`already_archived`),
    never written again: the path of such a link can be the secret that downloads it.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    return header_safe(urlunsplit((parts.scheme, host, parts.path, "", "")) + ("?..." if parts.query else ""))


def check_user_metadata(metadata: Mapping[str, object] | None) -> dict[str, str]:
    """The user's ``metadata``, lower-cased; refused if reserved, non-ASCII or over its share."""
    checked = {str(k).lower(): str(v) for k, v in (metadata or {}).items()}
    reserved = sorted(k for k in checked if k in RESERVED_KEYS or k.startswith("videogen-"))
    if reserved:
        raise VideoArchiveError(f"metadata keys {reserved} are reserved for the archive's own metadata")
    bad = sorted(k for k, v in checked.items() if not (k + v).isascii())
    if bad:
        raise VideoArchiveError(f"metadata {bad} must be ASCII (S3 sends user metadata as HTTP headers)")
    size = sum(len(k) + len(v) for k, v in checked.items())
    if size > METADATA_LIMIT // 2:
        raise VideoArchiveError(
            f"metadata takes {size} bytes; keep it under {METADATA_LIMIT // 2} (S3 allows 2 KB in "
            "total and the archive needs the rest)"
        )
    return checked


def already_archived(
    ref: VideoRef, target: ArchiveTarget, client: S3Client, *, replace: bool, log: Log
) -> ArchiveResult | None:
    """Layer 1 of idempotency: the same remote video was archived at ``target`` by an earlier run.

    Bare URLs (no remote task) are never skipped: what a URL serves can change. ``replace``
    always downloads.
    """
    if ref.remote_task_id is None or replace:
        return None
    existing = head_object(client, target.bucket, target.key)
    if existing is None:
        return None
    meta = existing.get("Metadata", {})
    sha = meta.get(SHA256_KEY)
    expected = provenance(ref)
    legacy = meta.get(SOURCE_KEY) == legacy_source(ref.url) != ""
    if legacy:  # archived by an older version: same video, but its metadata names the link's path
        meta = {**meta, SOURCE_KEY: expected[SOURCE_KEY]}
    if not sha or any(meta.get(k) != v for k, v in expected.items() if k != MODEL_KEY):
        return None  # not provably the same video: download and let the SHA-256 decide
    if legacy:
        _rewrite_metadata(client, target, existing, meta, log)
    log.info(
        "%s: already archived at %s (same remote task, video index and link; sha256 %s); skipping without downloading",
        ref.label,
        target.uri,
        sha,
    )
    return ArchiveResult(
        bucket=target.bucket,
        key=target.key,
        size=int(existing.get("ContentLength", 0)),
        sha256=sha,
        content_type=existing.get("ContentType", "video/mp4"),
        outcome="unchanged",
    )


def _rewrite_metadata(
    client: S3Client, target: ArchiveTarget, existing: Mapping[str, object], meta: dict[str, str], log: Log
) -> None:
    """Replace an older version's metadata (whose ``videogen-source`` holds the link's path) in place.

    A copy onto itself, only if the object is still the one read (``CopySourceIfMatch``): the
    bytes and the SHA-256 do not change. A failure is logged and left for the next run: the
    object is archived either way.
    """
    try:
        client.copy_object(
            Bucket=target.bucket,
            Key=target.key,
            CopySource={"Bucket": target.bucket, "Key": target.key},
            CopySourceIfMatch=str(existing.get("ETag", "")),
            Metadata=meta,
            MetadataDirective="REPLACE",
            ContentType=str(existing.get("ContentType", "video/mp4")),
        )
    except Exception as exc:  # the archive stands; only the old metadata stays
        log.warning("%s: could not replace the older version's metadata: %s", target.uri, type(exc).__name__)
    else:
        log.info("%s: replaced the older version's source metadata (it named the link's path)", target.uri)
