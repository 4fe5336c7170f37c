"""What a run recorded about its videos, joined into one card per video: the Videos view's model.

The view never asks the gateway anything to render a page: everything here comes from what the
run's task instances left in Airflow's metadata database.

* **A video** is a task instance that pushed a remote task id (XCom ``videogen_task_id``: the
  generation and remix operators, the sensor), or a video operator's task instance that failed
  before it got one. Its result (XCom ``return_value``) gives the model, state and reserved
  credits; its rendered template fields give the prompt, the model asked for and the duration.
* **A batch** (``VideoGenerationBatchOperator``) is one task instance with many videos: one card
  per item, in order. The remote ids come from its XCom ``videogen_task_ids`` (or, while it has
  none yet, from each item's submission record in the task state store,
  ``videogen_remote_task__item<i>``: a batch that stopped half-way still shows what it paid for);
  item ``i``'s result is entry ``i`` of its ``return_value`` list, and only when it names that
  same remote id; its prompt is entry ``i`` of the rendered ``requests`` (a prompt or a dict's
  ``"prompt"``). Every remote id on a card is one the task instance recorded itself, so the
  media endpoints never serve a video another task instance (or run) made.
* **The archive**: any task whose result is a list of ``VideoToS3Operator`` records (they carry
  ``video_task_id``) gives the S3 URI, size and SHA-256 of that remote task's video.
* **The plan**: any result listing ``{"result": {"id"}, "variant", "kind"}`` entries (the example
  pipelines' ``rendered_clips``/``rendered_remixes``) gives the variant and the planning step's
  estimate; a ``{"review": ...}`` entry gives the reviewer's decision.

Rows go in as plain dicts (:class:`RunRecords`), so the joining is tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_videogen.completion import VIDEO_ERROR_KEY
from airflow_provider_videogen.links.videogen import REMOTE_TASK_ID_KEY
from airflow_provider_videogen.models.catalogue import REMIX_SEGMENT_SECONDS
from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY
from airflow_provider_videogen.pipelines.review import REVIEWS_KEY
from airflow_provider_videogen.plugins.batch_items import BatchItem, batch_items

#: Operators whose task instances are videos even when they failed before submitting.
VIDEO_OPERATORS = frozenset({"VideoGenerationOperator", "VideoRemixOperator", "VideoTaskSensor"})
#: Operators whose task instance makes a list of videos (one card per item).
BATCH_OPERATORS = frozenset({"VideoGenerationBatchOperator"})
#: Task-instance states of a task that never ran: no card unless it recorded a video.
NEVER_RAN = frozenset({"skipped", "removed"})
#: Task-instance states in which a video may still appear.
UNFINISHED = frozenset({"scheduled", "queued", "running", "deferred", "up_for_retry", "restarting", "none", ""})


@dataclass(frozen=True)
class TaskRow:
    """One task instance of the run, with its XComs by key and its rendered template fields."""

    task_id: str
    map_index: int
    state: str | None
    operator: str | None
    xcoms: dict[str, Any] = field(default_factory=dict)
    rendered: dict[str, Any] = field(default_factory=dict)
    #: A batch's items' submission records and in-flight markers: task state store rows by key
    #: (``videogen_remote_task__item<i>``, ``videogen_submission_in_flight__item<i>``).
    item_store: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoCard:
    """One video as the view shows it."""

    task_id: str
    map_index: int
    ti_state: str | None
    remote_id: str | None
    kind: str
    model: str | None = None
    prompt: str | None = None
    prompt_extend: str | None = None
    duration_seconds: int | None = None
    state: str | None = None
    partial: bool = False
    estimated_credits: float | None = None
    credits_reserved: float | None = None
    variant: int | None = None
    s3_uri: str | None = None
    bucket: str | None = None
    key: str | None = None
    size: int | None = None
    sha256: str | None = None
    archived_by: tuple[str, int] | None = None
    expires_at: str | None = None
    error: str | None = None
    review: dict[str, Any] | None = None
    #: The video's index in its batch task instance's list; ``None`` for a task instance with one video.
    item: int | None = None

    @property
    def archived(self) -> bool:
        return self.location is not None

    @property
    def location(self) -> tuple[str, str] | None:
        """``(bucket, key)`` of the archived video; ``None`` when it is not archived."""
        return (self.bucket, self.key) if self.bucket and self.key else None

    @property
    def playable(self) -> bool:
        """Whether there is something to play: an archive, or a finished render whose link may still work."""
        return self.archived or (self.remote_id is not None and self.state in ("succeeded", "extend_failed"))

    def belongs_to(self, task_id: str, map_index: int) -> bool:
        """Whether the task instance made or archived this video (the task-instance view)."""
        return (self.task_id, self.map_index) == (task_id, map_index) or self.archived_by == (task_id, map_index)

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["archived_by"] = list(self.archived_by) if self.archived_by else None
        data["archived"] = self.archived
        return data


@dataclass(frozen=True)
class RunRecords:
    dag_id: str
    run_id: str
    tasks: list[TaskRow]

    def cards(self) -> list[VideoCard]:
        """One card per video, clips before remixes, each in variant (then task, map index) order."""
        archives = self._archives()
        entries = self._entries()
        reviews = self._reviews()
        cards = [
            card
            for row in self.tasks
            if _is_video(row)
            for card in (
                self._batch_cards(row, archives, entries) if _is_batch(row) else [self._card(row, archives, entries)]
            )
        ]
        cards = [
            replace(c, review=reviews[c.variant]) if c.review is None and c.variant in reviews else c for c in cards
        ]
        order = {"clip": 0, "video": 1, "remix": 2}
        return sorted(
            cards,
            key=lambda c: (
                order.get(c.kind, 1),
                c.variant if c.variant is not None else 1 << 30,
                c.task_id,
                c.map_index,
                -1 if c.item is None else c.item,
            ),
        )

    def _archives(self) -> dict[str, tuple[dict[str, Any], tuple[str, int]]]:
        found: dict[str, tuple[dict[str, Any], tuple[str, int]]] = {}
        for row in self.tasks:
            for item in _dicts(row.xcoms.get("return_value")):
                if item.get("video_task_id") and item.get("bucket") and item.get("key"):
                    found[str(item["video_task_id"])] = (item, (row.task_id, row.map_index))
        return found

    def _reviews(self) -> dict[int | None, dict[str, Any]]:
        """Review decisions by variant index (a clip's review also shows on its card)."""
        return {
            item.get("index"): item
            for row in self.tasks
            for item in _dicts(row.xcoms.get(REVIEWS_KEY))
            if isinstance(item.get("index"), int)
        }

    def _entries(self) -> dict[str, dict[str, Any]]:
        """``finished_results`` entries (variant, estimate, review) by remote id."""
        found: dict[str, dict[str, Any]] = {}
        for row in self.tasks:
            for item in _dicts(row.xcoms.get("return_value")):
                result = item.get("result")
                if isinstance(result, dict) and result.get("id") and isinstance(item.get("variant"), dict):
                    found[str(result["id"])] = item
        return found

    def _batch_cards(
        self, row: TaskRow, archives: dict[str, tuple[dict[str, Any], tuple[str, int]]], entries: dict[str, Any]
    ) -> list[VideoCard]:
        """One card per video of a batch task instance; its own card while it has neither requests nor ids."""
        items = batch_items(row)
        if not items:
            return [self._card(row, archives, entries)]
        shared = {k: v for k, v in row.rendered.items() if k != "requests"}
        return [
            self._card(
                replace(row, rendered={**shared, **item.request}),
                archives,
                entries,
                result=item.result,
                remote_id=item.remote_id,
                item=item,
            )
            for item in items
        ]

    def _card(
        self,
        row: TaskRow,
        archives: dict[str, tuple[dict[str, Any], tuple[str, int]]],
        entries: dict[str, Any],
        *,
        result: dict[str, Any] | None = None,
        remote_id: str | None = None,
        item: BatchItem | None = None,
    ) -> VideoCard:
        if item is None:
            found = row.xcoms.get("return_value")
            result = found if isinstance(found, dict) else {}
            remote_id = str(row.xcoms.get(REMOTE_TASK_ID_KEY) or result.get("id") or "") or None
        result = result or {}
        api = result.get("api") or ("remix" if row.operator == "VideoRemixOperator" else None)
        entry = entries.get(remote_id or "", {})
        kind = entry.get("kind") or ("remix" if api == "remix" else "clip" if row.operator else "video")
        variant = entry.get("variant") or {}
        estimate = ((variant.get("estimate") or {}).get(kind) or {}).get("credits")
        archive, archived_by = archives.get(remote_id or "", ({}, None))
        rendered = row.rendered
        partial = bool(result.get("partial", False))
        credits = result.get("credits_reserved")
        if credits is None and item is not None:
            credits = item.record.get("credits_reserved")
        return VideoCard(
            task_id=row.task_id,
            map_index=row.map_index,
            ti_state=row.state,
            remote_id=remote_id,
            kind=kind,
            model=result.get("model") or _text(rendered.get("model")),
            prompt=_text(rendered.get("prompt")) or variant.get("prompt"),
            prompt_extend=_text(rendered.get("prompt_extend")),
            duration_seconds=_duration(api, rendered, partial),
            state=item.state if item is not None else result.get("state") or _remote_state(row),
            partial=partial,
            estimated_credits=estimate,
            credits_reserved=credits,
            variant=entry.get("index") if entry else _index(variant),
            s3_uri=archive.get("uri"),
            bucket=archive.get("bucket"),
            key=archive.get("key"),
            size=archive.get("size"),
            sha256=archive.get("sha256"),
            archived_by=archived_by,
            expires_at=result.get("expires_at"),
            error=item.error if item is not None else _error(row),
            review=entry.get("review") if isinstance(entry.get("review"), dict) else None,
            item=item.index if item is not None else None,
        )


def _is_video(row: TaskRow) -> bool:
    if row.state in NEVER_RAN and not row.xcoms.get(REMOTE_TASK_ID_KEY) and not row.xcoms.get(BATCH_IDS_KEY):
        return False  # e.g. the example DAGs' generation task of the mode not chosen (mapped over [])
    return bool(row.xcoms.get(REMOTE_TASK_ID_KEY)) or row.operator in VIDEO_OPERATORS or _is_batch(row)


def _is_batch(row: TaskRow) -> bool:
    return row.operator in BATCH_OPERATORS or isinstance(row.xcoms.get(BATCH_IDS_KEY), list)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dicts of a result that is a list (of lists) of dicts; nothing for anything else."""
    if not isinstance(value, list):
        return []
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, dict):
            out.append(item)
        elif isinstance(item, list):
            out.extend(i for i in item if isinstance(i, dict))
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _index(variant: dict[str, Any]) -> int | None:
    index = variant.get("index")
    return index if isinstance(index, int) else None


def _duration(api: str | None, rendered: dict[str, Any], partial: bool) -> int | None:
    """Seconds of video: a remix is both segments (only the first when partial), a clip what was asked."""
    if api == "remix":
        return REMIX_SEGMENT_SECONDS[0] if partial else sum(REMIX_SEGMENT_SECONDS)
    try:
        return int(rendered["duration"])
    except (KeyError, TypeError, ValueError):
        return None


def _remote_state(row: TaskRow) -> str | None:
    if row.state == "failed":
        return "failed"
    if row.state in ("deferred", "running", "queued", "scheduled", "up_for_retry"):
        return "rendering" if row.xcoms.get(REMOTE_TASK_ID_KEY) else "waiting"
    return row.state


def _error(row: TaskRow) -> str | None:
    recorded = row.xcoms.get(VIDEO_ERROR_KEY)
    if recorded:
        return str(recorded)
    if row.state in ("failed", "upstream_failed"):
        return f"the task instance {row.state.replace('_', ' ')}: see its log"
    return None
