"""The manifest of a pipeline run: what was asked for, what was paid for, and where it is archived.

One JSON object per run, written to S3 next to the videos it describes (``<prefix>/manifest.json``).
Each variant lists its prompt and seed, and for the clip and its 15 s remix: the model, the remote
task id, the credits reserved, whether the remix is partial, the S3 URI, the size and the SHA-256
of the archived object. Download links are left out on purpose: they expire after 24 hours; the
S3 URI is the durable address.

It is built only from the operators' XCom (the plan, the video results, the archive results),
joined by variant index, and it refuses to join results that do not belong together (an archive
entry for another remote task), so a manifest never credits a video to the wrong prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class ManifestError(ValueError):
    """The run's results cannot be joined into a manifest (they do not belong together)."""


class ArchivedVideo(BaseModel):
    """One rendered video: what produced it and where it is archived."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["clip", "remix"]
    model: str | None
    remote_id: str
    state: str
    partial: bool = False
    credits_reserved: float | None = None
    prompt: str | None = None
    prompt_extend: str | None = None
    s3_uri: str
    size: int
    sha256: str


class ManifestVariant(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    prompt: str
    seed: int | None = None
    clip: ArchivedVideo
    remix: ArchivedVideo | None = None

    def videos(self) -> list[ArchivedVideo]:
        return [self.clip] if self.remix is None else [self.clip, self.remix]


class Manifest(BaseModel):
    """Everything a run produced; ``model_dump_json`` is what is written to S3."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    dag_id: str
    run_id: str
    logical_date: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(tz=timezone.utc).isoformat())
    brief: str
    prompt_source: Literal["llm", "template"]
    plan_id: str
    variants: list[ManifestVariant]

    @property
    def videos(self) -> list[ArchivedVideo]:
        return [video for variant in self.variants for video in variant.videos()]

    @property
    def credits_reserved(self) -> float:
        return round(sum(v.credits_reserved or 0.0 for v in self.videos), 4)

    @property
    def total_bytes(self) -> int:
        return sum(v.size for v in self.videos)

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        data["totals"] = {
            "variants": len(self.variants),
            "videos": len(self.videos),
            "credits_reserved": self.credits_reserved,
            "bytes": self.total_bytes,
        }
        import json

        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _flatten(archives: Iterable[Any]) -> list[dict[str, Any]]:
    """One archive result per video: a mapped archive task returns a list per instance."""
    flat: list[dict[str, Any]] = []
    for item in archives:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def archived_video(
    kind: Literal["clip", "remix"],
    result: dict[str, Any],
    archive: dict[str, Any],
    *,
    prompt: str | None = None,
    prompt_extend: str | None = None,
) -> ArchivedVideo:
    """Join a video operator's XCom with the archive entry of its (first) video."""
    archived_id = archive.get("video_task_id")
    if archived_id is not None and archived_id != result["id"]:
        raise ManifestError(f"the archived {kind} {archive.get('uri')} is remote task {archived_id}, not {result['id']}")
    return ArchivedVideo(
        kind=kind,
        model=result.get("model"),
        remote_id=result["id"],
        state=result.get("state", "succeeded"),
        partial=bool(result.get("partial", False)),
        credits_reserved=result.get("credits_reserved"),
        prompt=prompt,
        prompt_extend=prompt_extend,
        s3_uri=archive["uri"],
        size=int(archive["size"]),
        sha256=archive["sha256"],
    )


def build_manifest(
    *,
    dag_id: str,
    run_id: str,
    logical_date: datetime | str | None,
    brief: str,
    prompt_source: Literal["llm", "template"],
    plan_id: str,
    plan: Sequence[dict[str, Any]],
    clips: Sequence[dict[str, Any]],
    clip_archives: Iterable[Any],
    remixes: Sequence[dict[str, Any]] = (),
    remix_archives: Iterable[Any] = (),
) -> Manifest:
    """Join the plan with every result, by variant index (the map index of each mapped task)."""
    clip_entries = _flatten(clip_archives)
    remix_entries = _flatten(remix_archives)
    clips, remixes = list(clips), list(remixes)
    if not len(plan) == len(clips) == len(clip_entries):
        raise ManifestError(f"{len(plan)} planned variants, {len(clips)} clips, {len(clip_entries)} archived clips")
    if len(remixes) != len(remix_entries) or (remixes and len(remixes) != len(plan)):
        raise ManifestError(f"{len(plan)} planned variants, {len(remixes)} remixes, {len(remix_entries)} archived")
    variants = []
    for i, variant in enumerate(plan):
        remix = None
        if remixes:
            planned = variant.get("remix") or {}
            remix = archived_video(
                "remix",
                remixes[i],
                remix_entries[i],
                prompt=planned.get("prompt"),
                prompt_extend=planned.get("prompt_extend"),
            )
        variants.append(
            ManifestVariant(
                index=variant["index"],
                prompt=variant["prompt"],
                seed=variant.get("seed"),
                clip=archived_video("clip", clips[i], clip_entries[i], prompt=variant["prompt"]),
                remix=remix,
            )
        )
    if isinstance(logical_date, datetime):
        logical_date = logical_date.isoformat()
    return Manifest(
        dag_id=dag_id,
        run_id=run_id,
        logical_date=logical_date,
        brief=brief,
        prompt_source=prompt_source,
        plan_id=plan_id,
        variants=variants,
    )


# ---- S3 ---------------------------------------------------------------------------------------


def manifest_key(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/{MANIFEST_NAME}"


def write_manifest(manifest: Manifest, *, bucket: str, key: str, aws_conn_id: str | None) -> str:
    """Write the manifest to ``s3://bucket/key`` (replacing an older one) and return its URI."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    S3Hook(aws_conn_id=aws_conn_id).get_conn().put_object(
        Bucket=bucket,
        Key=key,
        Body=manifest.to_json().encode(),
        ContentType="application/json",
    )
    uri = f"s3://{bucket}/{key}"
    log.info(
        "Manifest of %d variant(s), %d video(s), %s credits reserved: %s",
        len(manifest.variants),
        len(manifest.videos),
        manifest.credits_reserved,
        uri,
    )
    return uri


def read_manifest(*, bucket: str, key: str, aws_conn_id: str | None) -> Manifest | None:
    """The manifest at ``s3://bucket/key``, or ``None`` when there is none (or it cannot be read)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    if not hook.check_for_key(key, bucket_name=bucket):
        return None
    try:
        return Manifest.model_validate_json(hook.read_key(key, bucket_name=bucket))
    except ValueError as exc:
        log.warning("Ignoring the unreadable manifest s3://%s/%s: %s", bucket, key, exc)
        return None


def missing_videos(manifest: Manifest, *, aws_conn_id: str | None) -> list[str]:
    """S3 URIs of the manifest's videos that are gone or whose SHA-256 no longer matches."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    missing = []
    for video in manifest.videos:
        bucket, key = S3Hook.parse_s3_url(video.s3_uri)
        head = hook.head_object(key, bucket_name=bucket)
        if head is None or head.get("Metadata", {}).get("sha256") != video.sha256:
            missing.append(video.s3_uri)
    return missing
