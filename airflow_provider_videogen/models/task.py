"""The state of a remote task, normalized from whichever API and response shape it came in.

Both APIs answer with their own status words and several body shapes (a unified task, a NewAPI
task wrapper, an OpenAI-style video object, any of them in a ``{code, message, data}``
envelope). :class:`VideoTask` is the one shape everything downstream reads (trigger events,
XCom, logs, re-attach decisions), so none of them touches the raw dict.

Parsing is tolerant (unknown fields kept in ``raw``, progress as ``61`` or ``"61%"``, error
codes as strings or integers) because gateways drift and a parser that breaks on a new field
would strand a video the user already paid for. An unknown *status* is the exception: it
raises, so a gateway change is noticed instead of being polled until the deadline.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.models.catalogue import REMIX_EXTENSION_PROGRESS
from airflow_provider_videogen.models.errors import normalize_error_code
from airflow_provider_videogen.spend.amounts import AmountError, credits

if TYPE_CHECKING:
    from collections.abc import Mapping

# --------------------------------------------------------------------------------------------
# Task state
# --------------------------------------------------------------------------------------------


class TaskState(str, Enum):
    """Normalized state of a remote task, whatever the API spelled it."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)

    @property
    def is_in_progress(self) -> bool:
        return self in (TaskState.PENDING, TaskState.RUNNING)


class ApiKind(str, Enum):
    """Which of the two gateway APIs a remote task belongs to (they have different query paths)."""

    GENERATION = "generation"
    REMIX = "remix"


#: Download links in ``results`` expire this long after the task completed.
LINK_TTL = timedelta(hours=24)

#: Remote ids of the unified API all start with this prefix; the gateway refuses others with 400.
GENERATION_TASK_ID_PREFIX = "task-unified-"

#: Raw status strings of each API and response shape, mapped to :class:`TaskState`.
_STATUS_MAP: dict[str, TaskState] = {
    # unified API
    "pending": TaskState.PENDING,
    "processing": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.CANCELLED,
    "canceled": TaskState.CANCELLED,
    # remix task wrapper (NewAPI)
    "submitted": TaskState.PENDING,
    "not_start": TaskState.PENDING,
    "queued": TaskState.PENDING,
    "in_progress": TaskState.RUNNING,
    "success": TaskState.SUCCEEDED,
    "failure": TaskState.FAILED,
}


def parse_status(raw: Any) -> TaskState:
    """Map a raw status string to a :class:`TaskState`; raise ``ValueError`` for an unknown one.

    An unknown status is an error rather than "still running" so that a gateway change is
    noticed instead of being polled until the deadline.
    """
    key = str(raw).strip().lower() if raw is not None else ""
    try:
        return _STATUS_MAP[key]
    except KeyError:
        known = sorted({k for k in _STATUS_MAP})
        raise ValueError(f"unknown task status {raw!r}; known statuses: {', '.join(known)}") from None


# --------------------------------------------------------------------------------------------
# Normalized task (responses of both APIs)
# --------------------------------------------------------------------------------------------


def parse_progress(raw: Any) -> int:
    """``61``, ``61.0``, ``"61"`` or ``"61%"`` -> 61, clamped to 0..100; anything else -> 0.

    A number too large to be a float (``10**400``) is clamped like any other large number.
    """
    if raw is None or isinstance(raw, bool):
        return 0
    if isinstance(raw, int):
        return min(100, max(0, raw))
    if isinstance(raw, float):
        value = raw
    else:
        text = str(raw).strip().rstrip("%").strip()
        try:
            value = float(text)
        except (ValueError, OverflowError):
            return 0
    if math.isnan(value):
        return 0
    return int(min(100, max(0, value)))


def _timestamp(raw: Any, name: str = "timestamp") -> datetime | None:
    """A Unix time or an ISO 8601 string; an unreadable string is ``None``, an impossible number an error.

    A number out of the calendar's range (``1e20``, ``1e400``) is a broken answer, not a missing
    value: the times decide whether a finished video's links may be re-used.
    """
    if raw is None or raw == "" or (isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw == 0):
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{name} is {raw!r}, not a time")
    if isinstance(raw, (int, float)):
        try:
            return datetime.fromtimestamp(float(raw), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{name} {str(raw)[:40]} is not a possible Unix time") from None
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _dict(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _urls(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw] if raw else []
    out: list[str] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, str) and item:
                out.append(item)
            elif isinstance(item, dict):
                url = item.get("video_url") or item.get("url")
                if isinstance(url, str) and url:
                    out.append(url)
    return out


class VideoTask(BaseModel):
    """One remote task, normalized from whichever API and response shape it came in.

    Everything downstream (trigger events, XCom, logs, re-attach decisions) reads this model,
    never the raw dict; ``raw`` keeps the original body for debugging and for fields the
    package does not model.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    api: ApiKind
    model: str | None = None
    state: TaskState
    remote_status: str | None = None
    progress: int = Field(default=0, ge=0, le=100)
    video_urls: list[str] = Field(default_factory=list)
    first_video_url: str | None = None
    remix_id: str | None = None
    remix_id_extend: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    credits_reserved: float | None = None
    #: Why the gateway's ``usage.credits_reserved`` was not taken (negative, ``1e30``, ``NaN``...),
    #: naming its value; ``credits_reserved`` is then ``None``. The answer stays readable: the
    #: create was paid, and the spend guard settles the estimate instead (spend/amounts.py).
    credits_rejected: str | None = None
    billing_rule: str | None = None
    #: ``usage.user_group``: the gateway's pricing group for the key (seeds 000, 002).
    user_group: str | None = None
    #: ``task_info.estimated_time``: the gateway's estimate of the render time, in seconds.
    estimated_time: int | None = None
    #: ``task_info.can_cancel``: whether the gateway says the task can still be cancelled.
    can_cancel: bool | None = None
    video_duration: int | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: Seconds the gateway asked to wait before the next status query (``Retry-After`` or
    #: ``openai-poll-after-ms`` on the answer; set by the hook, bounded by the poll schedule).
    poll_after: float | None = Field(default=None, repr=False)

    # ---- parsing -------------------------------------------------------------------------

    @classmethod
    def from_generation_response(cls, body: Mapping[str, Any]) -> VideoTask:
        """Parse a create or query response of the unified API (``/v1/videos/generations``, ``/v1/tasks``)."""
        data = dict(body)
        if "id" not in data and isinstance(data.get("data"), dict):  # {code, message, data} envelope
            data = dict(data["data"])
        task_id = data.get("id") or data.get("task_id")
        if not task_id:
            raise ValueError("response has no task id ('id')")
        error = _dict(data.get("error"))
        state = parse_status(data.get("status"))
        if state is TaskState.FAILED and error.get("code") == "request_cancelled":
            state = TaskState.CANCELLED
        urls = _urls(data.get("results")) or _urls(data.get("result_data")) or _urls(data.get("video_url"))
        usage = _dict(data.get("usage"))
        info = _dict(data.get("task_info"))
        reserved, rejected = _gateway_credits(usage.get("credits_reserved"))
        return cls(
            id=str(task_id),
            api=ApiKind.GENERATION,
            model=data.get("model"),
            state=state,
            remote_status=str(data.get("status")),
            progress=100 if state is TaskState.SUCCEEDED else parse_progress(data.get("progress")),
            video_urls=urls,
            error_code=normalize_error_code(error.get("code")),
            error_message=error.get("message") or None,
            credits_reserved=reserved,
            credits_rejected=rejected,
            billing_rule=usage.get("billing_rule"),
            user_group=_str(usage.get("user_group")),
            can_cancel=info.get("can_cancel") if isinstance(info.get("can_cancel"), bool) else None,
            estimated_time=_int(info.get("estimated_time"), "task_info.estimated_time"),
            video_duration=_int(info.get("video_duration"), "task_info.video_duration"),
            created_at=_timestamp(data.get("created"), "created"),
            completed_at=_timestamp(data.get("completed_at") or data.get("finished_at"), "completed_at"),
            raw=dict(body),
        )

    @classmethod
    def from_remix_response(cls, body: Mapping[str, Any]) -> VideoTask:
        """Parse a remix create/query response in any of its three shapes.

        1. the NewAPI task wrapper of seed 003 (``task_id``, ``status`` SUCCESS..., business data in ``data``);
        2. an OpenAI-style video object (``id``, ``object: "video"``, ``status`` queued/in_progress/...);
        3. either of them wrapped in a ``{"code", "message", "data"}`` envelope.
        """
        outer = dict(body)
        if _is_envelope(outer):
            outer = dict(outer["data"])
        inner = _dict(outer.get("data"))
        if "task_id" in outer:  # shape 1: task wrapper, business object in "data"
            task_id = outer["task_id"]
            video = inner
            status_raw = video.get("status") or outer.get("status")
            wrapper_status = outer.get("status")
        else:  # shape 2: the video object itself
            video = outer
            task_id = outer.get("id")
            status_raw = outer.get("status")
            wrapper_status = None
        if not task_id:
            raise ValueError("remix response has no task id ('task_id' or 'id')")
        state = parse_status(status_raw)
        if wrapper_status is not None:
            wrapped = parse_status(wrapper_status)
            # The wrapper settles first on some gateways; trust whichever is terminal.
            if wrapped.is_terminal and not state.is_terminal:
                state = wrapped
        error = _dict(video.get("error")) or _dict(outer.get("error"))
        error_code = normalize_error_code(error.get("code"))
        error_message = error.get("message") or None
        if state is TaskState.FAILED and error_message is None:
            reason = outer.get("fail_reason")
            error_message = reason if isinstance(reason, str) and reason else None
        urls = _urls(video.get("video_url"))
        if not urls and state is TaskState.SUCCEEDED:
            urls = _urls(outer.get("result_url")) or _urls(video.get("url"))
            if not urls and isinstance(outer.get("fail_reason"), str) and outer["fail_reason"].startswith("http"):
                urls = [outer["fail_reason"]]
        progress = video.get("progress") if video.get("progress") is not None else outer.get("progress")
        return cls(
            id=str(task_id),
            api=ApiKind.REMIX,
            model=video.get("model") or _dict(outer.get("properties")).get("origin_model_name"),
            state=state,
            remote_status=str(status_raw),
            progress=100 if state is TaskState.SUCCEEDED else parse_progress(progress),
            video_urls=urls,
            first_video_url=video.get("first_video_url") or None,
            remix_id=video.get("remix_id") or None,
            remix_id_extend=video.get("remix_id_extend") or None,
            error_code=error_code,
            error_message=error_message,
            created_at=_timestamp(video.get("created_at") or outer.get("submit_time"), "created_at"),
            completed_at=_timestamp(video.get("completed_at") or outer.get("finish_time"), "completed_at"),
            raw=dict(body),
        )

    @classmethod
    def from_response(cls, api: ApiKind, body: Mapping[str, Any]) -> VideoTask:
        if api is ApiKind.REMIX:
            return cls.from_remix_response(body)
        return cls.from_generation_response(body)

    # ---- derived facts -------------------------------------------------------------------

    @property
    def is_partial(self) -> bool:
        """A remix whose 7 s extension failed but whose first 8 s exist (``extend_failed``)."""
        return self.error_code == "extend_failed" and bool(self.video_urls)

    @property
    def segment(self) -> str:
        """Which remix segment is rendering, from progress (0-49 first 8 s, 50-99 extension)."""
        if self.progress < REMIX_EXTENSION_PROGRESS:
            return "first 8 s segment"
        return "7 s extension"

    def expires_at(self, now: datetime | None = None) -> datetime | None:
        """When the download links stop working (24 h after completion)."""
        done = self.completed_at
        if done is None and self.state is TaskState.SUCCEEDED:
            done = now or utcnow()
        return done + LINK_TTL if done else None

    def links_valid(self, now: datetime | None = None, margin: timedelta = timedelta(minutes=30)) -> bool:
        """True while the links can still be downloaded, with a margin to leave time to archive."""
        expires = self.expires_at(now)
        current = now or utcnow()
        return bool(self.video_urls) and expires is not None and expires - margin > current

    def summary(self) -> str:
        """One log line: id, model, state, progress; never a URL's query string (it may be signed)."""
        text = (
            f"{self.api.value} task {self.id} ({self.model or 'unknown model'}): {self.state.value}, {self.progress}%"
        )
        if self.error_code or self.error_message:
            text += f", error {self.error_code or '?'}: {self.error_message or ''}".rstrip()
        return text


def _is_envelope(body: Mapping[str, Any]) -> bool:
    return (
        "code" in body
        and "data" in body
        and isinstance(body.get("data"), dict)
        and "task_id" not in body
        and "status" not in body
    )


def _float(raw: Any, name: str = "number") -> float | None:
    """A number, tolerantly: junk (``"n/a"``) is ``None``; one no float can hold is an error."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    except OverflowError:
        raise ValueError(f"{name} {str(raw)[:40]}... is out of range") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} is {value}, not a finite number")
    return value


def _gateway_credits(raw: Any) -> tuple[float | None, str | None]:
    """``usage.credits_reserved`` when it is an amount (:func:`.amounts.credits`), else ``None`` and why.

    Never raises: this is read from the answer to a paid create, which must stay readable.
    """
    if raw is None:
        return None, None
    try:
        return float(credits(raw, "usage.credits_reserved")), None
    except AmountError as exc:
        return None, str(exc)
    except (ValueError, TypeError, OverflowError):  # an int too long to print
        return None, "usage.credits_reserved is not a number"


def _str(raw: Any) -> str | None:
    return str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) and raw != "" else None


def _int(raw: Any, name: str = "number") -> int | None:
    value = _float(raw, name)
    if value is None:
        return None
    if abs(value) > 2**53:
        raise ValueError(f"{name} {str(raw)[:40]} is out of range")
    return int(value)
