"""Collect a pipeline run's results by variant, and write the manifest: what was asked for, paid for and archived.

**Collecting.** A mapped task downstream of a partly failed mapped task only sees the
successful results, renumbered (Airflow compacts the lazy XCom sequence). A refused prompt
would then shift every later clip onto the wrong prompt, or, with the default trigger rule,
stop the clips that did render from being archived before their links expire. So the example
DAGs never rely on map indexes lining up: :func:`finished_results` pulls each mapped instance's
result by its own map index and tags it with its variant index, and everything downstream
(archive keys, the remix, the manifest) reads that tag.

**The manifest.** One JSON object per run, written to S3 next to the videos
(``<prefix>/manifest.json``). Each variant lists its prompt and seed, and for the clip and its
15 s remix: the model, the remote task id, the credits reserved, whether the remix is partial,
the S3 URI, the size and the SHA-256 of the archived object, and the planning step's
estimate beside the gateway's reserved credits (``estimated_credits``, ``credits_reserved``,
per video and in ``totals``). Download links are left out on
purpose: they expire after 24 hours; the S3 URI is the durable address. A variant whose video
failed or could not be archived is listed too, with what is missing, so a partial run leaves
an honest record.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.transfers.streaming import SHA256_KEY

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.hooks.videogen import VideoGenHook

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
Kind = Literal["clip", "remix"]
T = TypeVar("T")


class ManifestError(VideoGenError):
    """The run's results cannot be joined into a manifest (they do not belong together)."""


# ---- collecting results by variant --------------------------------------------------------------


def finished_results(
    ti: Any, task_id: str, items: Sequence[dict[str, Any]] | None, *, kind: Kind, prefix: str
) -> list[dict[str, Any]]:
    """One entry per mapped instance of ``task_id`` that produced a result, tagged with its variant.

    :param ti: the running task instance (``xcom_pull`` by map index).
    :param task_id: a task mapped over ``items``: instance ``j`` worked on ``items[j]``.
    :param items: planned variants, or entries of an earlier call (both carry ``index``).
    :param kind: ``"clip"`` or ``"remix"``; names the archive key ``<prefix>/<kind>-<index>.<ext>``.
    :param prefix: the run's archive prefix.
    :return: ``{"index", "kind", "variant", "result", "s3_key", "task_id", "map_index"}`` per result, in
        variant order.
    :raises AirflowFailException: ``items`` is ``None``: the planning step failed (a cap, a broken
        limit), so nothing was submitted; failing here, without retries, fails the run.
    """
    entries = []
    for map_index, item in enumerate(_planned(items, kind)):
        entry = _entry(item, ti.xcom_pull(task_ids=task_id, map_indexes=map_index), kind, prefix, task_id, map_index)
        if entry is not None:
            entries.append(entry)
    return entries


def finished_batch_results(
    ti: Any,
    task_id: str,
    batches: Sequence[Sequence[dict[str, Any]]] | None,
    *,
    kind: Kind,
    prefix: str,
    hook: VideoGenHook | None = None,
) -> list[dict[str, Any]]:
    """:func:`finished_results` of a task mapped over batches: instance ``j`` returned the list for ``batches[j]``.

    A batch with a failed video fails as a whole, and its task instance then returns nothing,
    although its other videos rendered and are paid for. Their links expire 24 h after they
    rendered, so waiting for a retry to archive them is a risk the one-clip-per-task mode does
    not take; with ``hook``, the remote ids the batch recorded (XCom ``videogen_task_ids``) are
    asked at the gateway (a status query each, nothing is submitted) and each one that succeeded
    with a video is passed on, as the batch would have returned it.

    :param batches: the variants of each batch, in request order (:func:`.batching.plan_batches`).
    """
    entries = []
    for map_index, batch in enumerate(_planned(batches, kind)):
        results = ti.xcom_pull(task_ids=task_id, map_indexes=map_index)
        if not isinstance(results, list) or len(results) != len(batch):
            results = _rendered_of_failed_batch(ti, task_id, map_index, len(batch), hook)
        for item, result in zip(batch, results, strict=True):
            entry = _entry(item, result, kind, prefix, task_id, map_index)
            if entry is not None:
                entries.append(entry)
    return entries


def _planned(items: Sequence[T] | None, kind: Kind) -> Sequence[T]:
    """``items``; a missing plan (the planning task failed) fails the collecting task, without retries."""
    if items is None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"No plan: the planning task failed, so no {kind} was submitted (see its log)")
    return items


def _entry(
    item: dict[str, Any], result: Any, kind: Kind, prefix: str, task_id: str, map_index: int
) -> dict[str, Any] | None:
    """One result tagged with its variant (``None``, logged, when there is no result)."""
    variant = item.get("variant", item)
    if not result:
        log.warning("Variant %s: no %s from %s[%s]; it is left out", variant["index"], kind, task_id, map_index)
        return None
    # ``{ext}`` is the link's extension, resolved before the task runs (the key shown in
    # "Rendered Template" is the one written); without links in XCom (xcom_links=False, the
    # default) it is the gateway's format, MP4, which is also what the archive assumes.
    ext = "{ext}" if result.get("video_urls") else "mp4"
    return {
        "index": variant["index"],
        "kind": kind,
        "variant": variant,
        "result": result,
        "s3_key": f"{prefix.rstrip('/')}/{kind}-{variant['index']}.{ext}",
        # where the video was made (the review links to its task instance)
        "task_id": task_id,
        "map_index": map_index,
        **({"review": item["review"]} if "review" in item else {}),  # the clip's review, on its remix
    }


def _rendered_of_failed_batch(
    ti: Any, task_id: str, map_index: int, size: int, hook: VideoGenHook | None
) -> list[dict[str, Any] | None]:
    """The results of the videos that rendered in a batch that failed (``None`` for each other one)."""
    from airflow_provider_videogen.models import ApiKind, TaskState
    from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY
    from airflow_provider_videogen.results import video_result

    none: list[dict[str, Any] | None] = [None] * size
    ids = ti.xcom_pull(task_ids=task_id, map_indexes=map_index, key=BATCH_IDS_KEY) if hook else None
    if hook is None or not isinstance(ids, list) or len(ids) != size:
        return none  # it failed before every video had a remote task: nothing to ask for
    results = list(none)
    for position, remote_id in enumerate(ids):
        try:
            task = hook.get_task(ApiKind.GENERATION, str(remote_id))
        except VideoGenError as exc:
            log.warning("%s[%s]: cannot ask for remote task %s: %s", task_id, map_index, remote_id, exc)
            continue
        if task.state is TaskState.SUCCEEDED and task.video_urls:
            results[position] = video_result(
                task, ApiKind.GENERATION, credits_reserved=None, submitted_at=None, xcom_links=False
            )
            log.info(
                "%s[%s] failed, but its request %d rendered (%s): passed on", task_id, map_index, position, remote_id
            )
    return results


def archive_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    """``VideoToS3Operator`` keyword arguments for one entry of :func:`finished_results` (``.map(...)``).

    The object's S3 metadata names its kind and variant, next to the remote task id and SHA-256
    the operator records itself.
    """
    return {
        "source": entry["result"],
        "s3_key": entry["s3_key"],
        "metadata": {"kind": entry["kind"], "variant": str(entry["index"])},
    }


# ---- the manifest -----------------------------------------------------------------------------


class ArchivedVideo(BaseModel):
    """One rendered video: what produced it and where it is archived (``s3_uri`` ``None``: not archived)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    model: str | None
    remote_id: str
    state: str
    partial: bool = False
    #: The planning step's estimate (``None``: unpriced or not estimated) and the gateway's figure.
    estimated_credits: float | None = None
    credits_reserved: float | None = None
    prompt: str | None = None
    prompt_extend: str | None = None
    s3_uri: str | None = None
    size: int | None = None
    sha256: str | None = None


class ManifestVariant(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    prompt: str
    seed: int | None = None
    clip: ArchivedVideo | None = None
    remix: ArchivedVideo | None = None
    #: The review before the remix (``review`` param): ``decision`` (approved/declined), ``by``,
    #: ``at``; ``None`` when the run had no review.
    review: dict[str, Any] | None = None

    @property
    def declined(self) -> bool:
        return bool(self.review and self.review.get("decision") == "declined")

    def videos(self) -> list[ArchivedVideo]:
        return [video for video in (self.clip, self.remix) if video is not None]


class Manifest(BaseModel):
    """Everything a run produced; :meth:`to_json` is what is written to S3."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    dag_id: str
    run_id: str
    logical_date: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(tz=timezone.utc).isoformat())
    brief: str
    prompt_source: Literal["llm", "template"]
    plan_id: str
    with_remix: bool
    #: The task that generated the clips: ``generate_clip``, or ``generate_clip_batch`` in batch mode.
    clip_task: str = "generate_clip"
    variants: list[ManifestVariant]

    @property
    def videos(self) -> list[ArchivedVideo]:
        return [video for variant in self.variants for video in variant.videos()]

    @property
    def credits_reserved(self) -> float:
        return round(sum(v.credits_reserved or 0.0 for v in self.videos), 4)

    @property
    def estimated_credits(self) -> float:
        return round(sum(v.estimated_credits or 0.0 for v in self.videos), 4)

    @property
    def total_bytes(self) -> int:
        return sum(v.size or 0 for v in self.videos)

    def problems(self) -> list[str]:
        """What is missing, one line per video, naming the task to look at; empty when complete."""
        lines = []
        for variant in self.variants:
            wanted: list[tuple[Kind, ArchivedVideo | None, str]] = [("clip", variant.clip, self.clip_task)]
            if self.with_remix and not variant.declined:  # a declined clip is not remixed, on purpose
                wanted.append(("remix", variant.remix, "remix_15s or last_frame"))
            for kind, video, task in wanted:
                if video is None:
                    lines.append(f"variant {variant.index}: no {kind} (see {task})")
                elif video.s3_uri is None:
                    lines.append(f"variant {variant.index}: {kind} {video.remote_id} rendered but is not archived")
        return lines

    @property
    def complete(self) -> bool:
        return not self.problems()

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        data["totals"] = {
            "variants": len(self.variants),
            "videos": len(self.videos),
            "archived": sum(1 for v in self.videos if v.s3_uri),
            "estimated_credits": self.estimated_credits,
            "credits_reserved": self.credits_reserved,
            "bytes": self.total_bytes,
        }
        if any(v.review for v in self.variants):  # a run with a review step
            data["totals"]["declined"] = sum(1 for v in self.variants if v.declined)
        data["problems"] = self.problems()
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _flatten(archives: Iterable[Any]) -> list[dict[str, Any]]:
    """One archive result per video: each archive task instance returns a list."""
    flat: list[dict[str, Any]] = []
    for item in archives:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def archived_video(entry: dict[str, Any], archived: dict[str, dict[str, Any]]) -> ArchivedVideo:
    """Join one :func:`finished_results` entry with the archive result of its remote task, if any."""
    result, kind = entry["result"], entry["kind"]
    planned = (entry["variant"].get("remix") or {}) if kind == "remix" else {}
    archive = archived.get(result["id"], {})
    return ArchivedVideo(
        kind=kind,
        model=result.get("model"),
        remote_id=result["id"],
        state=result.get("state", "succeeded"),
        partial=bool(result.get("partial", False)),
        estimated_credits=((entry["variant"].get("estimate") or {}).get(kind) or {}).get("credits"),
        credits_reserved=result.get("credits_reserved"),
        prompt=planned.get("prompt") if kind == "remix" else entry["variant"]["prompt"],
        prompt_extend=planned.get("prompt_extend"),
        s3_uri=archive.get("uri"),
        size=archive.get("size"),
        sha256=archive.get("sha256"),
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
    remixes: Sequence[dict[str, Any]] = (),
    archives: Iterable[Any] = (),
    reviews: Iterable[dict[str, Any]] = (),
    clip_task: str = "generate_clip",
) -> Manifest:
    """Join the plan with the finished clips and remixes (by variant index) and the archives (by remote id).

    :param clips: / :param remixes: entries of :func:`finished_results`.
    :param archives: ``VideoToS3Operator`` results (lists of lists are flattened).
    :param reviews: review decisions (``{"index", "decision", "by", "at", ...}``, see
        :mod:`.review`); a variant without one had no review.
    :param clip_task: the task that generated the clips (:func:`.batching.clip_task`), named for a missing one.
    """
    review_of = {int(r["index"]): {k: v for k, v in r.items() if k != "index"} for r in reviews}
    archived: dict[str, dict[str, Any]] = {}
    for item in _flatten(archives):
        archived[item.get("video_task_id") or ""] = item
    by_index: dict[tuple[str, int], ArchivedVideo] = {}
    for entry in [*clips, *remixes]:
        key = (entry["kind"], int(entry["index"]))
        if key in by_index:
            raise ManifestError(f"two {entry['kind']}s for variant {entry['index']}")
        by_index[key] = archived_video(entry, archived)
    indexes = {variant["index"] for variant in plan}
    strays = sorted(index for _, index in by_index if index not in indexes)
    if strays:
        raise ManifestError(f"results for variants {strays}, which are not in the plan")
    if isinstance(logical_date, datetime):
        logical_date = logical_date.isoformat()
    return Manifest(
        dag_id=dag_id,
        run_id=run_id,
        logical_date=logical_date,
        brief=brief,
        prompt_source=prompt_source,
        plan_id=plan_id,
        with_remix=any(variant.get("remix") for variant in plan),
        clip_task=clip_task,
        variants=[
            ManifestVariant(
                index=variant["index"],
                prompt=variant["prompt"],
                seed=variant.get("seed"),
                clip=by_index.get(("clip", variant["index"])),
                remix=by_index.get(("remix", variant["index"])),
                review=review_of.get(variant["index"]),
            )
            for variant in plan
        ],
    )


# ---- S3 ---------------------------------------------------------------------------------------


def manifest_key(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/{MANIFEST_NAME}"


def write_manifest(manifest: Manifest, *, bucket: str, key: str, aws_conn_id: str | None) -> str:
    """Write the manifest to ``s3://bucket/key`` (replacing an older one) and return its URI."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client: S3Client = S3Hook(aws_conn_id=aws_conn_id).get_conn()
    client.put_object(Bucket=bucket, Key=key, Body=manifest.to_json().encode(), ContentType="application/json")
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
    """What keeps ``manifest`` from being a finished day: its problems, and videos gone from S3 or changed."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    missing = manifest.problems()
    for video in manifest.videos:
        if video.s3_uri is None:
            continue
        bucket, key = S3Hook.parse_s3_url(video.s3_uri)
        head = hook.head_object(key, bucket_name=bucket)
        if head is None or head.get("Metadata", {}).get(SHA256_KEY) != video.sha256:
            missing.append(f"{video.s3_uri} is gone or changed")
    return missing
