"""Task store, state machine, response bodies and statistics of the simulator.

A task's state is not advanced by a background thread: it is computed on each query from the
time elapsed since creation (monotonic clock) and the render time fixed at creation. That makes
1,000 concurrent pollers cost one dictionary lookup and one small JSON body each, keeps the
answers deterministic for a given elapsed time, and leaves nothing running between requests.

Timeline of a task that renders in ``T`` seconds (``render_seconds * time_scale``, or the
``[sim:render=T]`` directive): ``pending`` (remix: ``queued``) for ``pending_fraction * T`` at
progress 0, then ``processing`` with progress growing linearly (1-99), then ``completed`` at
``T``. A remix's progress 0-49 is the first 8 s segment and 50-99 the 7 s extension;
``remix_id_extend`` appears from 50. Failures are described in :mod:`.faults`.

A generation task's ``task_info.estimated_time`` need not be its real render time: the config's
``render_scatter`` and ``estimate_factor`` and the ``[sim:estimate=N]`` directive set them apart,
so clients that schedule polls from the estimate can be tested against wrong estimates.

All public methods of :class:`SimulatorState` are thread-safe: the event loop thread handles
requests while a test thread calls ``reset``/``configure``/``stats``.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import secrets
import string
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_videogen.simulator.config import SimulatorConfig
from airflow_provider_videogen.simulator.faults import (
    EXTEND_FAILED_MESSAGE,
    TASK_ERROR_MESSAGES,
    Directives,
    FaultState,
)
from airflow_provider_videogen.simulator.media import MediaCache, size_for_aspect, size_for_remix

if TYPE_CHECKING:
    from airflow_provider_videogen.models import GenerationRequest, RemixRequest

ApiName = Literal["generation", "remix"]
Status = Literal["pending", "processing", "completed", "failed"]

#: Length of a 15 s remix and of its first segment, in seconds.
REMIX_TOTAL_SECONDS = 15
REMIX_FIRST_SECONDS = 8
#: Default video length of a model the package does not know.
UNKNOWN_MODEL_DURATION = 5
#: How many received requests the statistics keep (oldest dropped first).
REQUEST_LOG_LIMIT = 1000

_LOWER_ALNUM = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --------------------------------------------------------------------------------------------
# Pricing (illustrative; the seeds and the pricing page disagree, see the docstring)
# --------------------------------------------------------------------------------------------

#: Credits per second of video: (720p/1080p without audio, with audio, 4k without, 4k with).
#: veo3.1-fast figures are the vendor's pricing page; the others are plausible stand-ins.
#: The seeds show ``per_call`` totals that match no published rate, so the simulator bills
#: per second (``billing_rule: per_second``) for the models it knows and a flat per-call price
#: for the others.
PER_SECOND_CREDITS: dict[str, tuple[float, float, float, float]] = {
    "veo3.1-fast": (5.76, 8.64, 17.28, 20.2176),
    "veo-3.1-fast-generate-preview": (5.76, 8.64, 17.28, 20.2176),
    "veo3.1-pro": (14.4, 21.6, 28.8, 36.0),
    "veo-3.1-generate-preview": (14.4, 21.6, 28.8, 36.0),
    "doubao-seedance-1.0-pro-fast": (1.0, 1.0, 1.0, 1.0),
}
SEEDANCE_720P_FACTOR = 0.6
UNKNOWN_MODEL_CREDITS_PER_CALL = 10.0
#: NewAPI ``quota`` units of one remix (the seed's figure for veo_3_1-fast-remix).
REMIX_BASE_QUOTA = 425000


def generation_price(req: GenerationRequest, duration: int) -> tuple[str, float]:
    """``(billing_rule, credits_reserved)`` of a unified-API request."""
    count = req.n or 1
    rates = PER_SECOND_CREDITS.get(req.model)
    if rates is None:
        return "per_call", UNKNOWN_MODEL_CREDITS_PER_CALL * count
    spec = req.spec
    audio = req.generate_audio
    if audio is None:
        audio = spec is not None and "generate_audio" in spec.features
    index = (2 if req.quality == "4k" else 0) + (1 if audio else 0)
    rate = rates[index]
    if req.model.startswith("doubao-seedance") and req.quality == "720p":
        rate *= SEEDANCE_720P_FACTOR
    return "per_second", round(rate * duration * count, 4)


def remix_quota(model: str, size: str | None = None) -> int:
    """NewAPI ``quota`` of one remix: billed at the tier the estimate prices it at (``remix_tier``:
    ``-hd`` is 1080p whatever ``size`` says; a 1920 ``size`` is 1080p too), so the two never disagree."""
    from airflow_provider_videogen.spend.estimate import remix_tier

    factor = 1.0
    if remix_tier(model, size) == "1080p":
        factor *= 1.5
    if "-fast" not in model:
        factor *= 2.0
    return int(REMIX_BASE_QUOTA * factor)


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaRef:
    """One downloadable video of a task, addressed by an unguessable token (like a CDN key)."""

    token: str
    task_id: str
    role: Literal["result", "final", "first"]
    index: int
    seconds: float
    size: tuple[int, int]

    @property
    def tag(self) -> bytes:
        """What goes in the file's ``free`` box, making its bytes unique to this task and video."""
        return f"videogen-simulator task={self.task_id} video={self.role}-{self.index}".encode()


@dataclass(frozen=True)
class Phase:
    """A task's state at one instant."""

    status: Status
    progress: int
    #: Seconds after creation at which processing started / the task finished, once they happened.
    started_after: float | None
    finished_after: float | None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed")


#: What a create answer always shows (seeds 000/002): the task exists, nothing has started yet.
SUBMITTED = Phase("pending", 0, None, None)


@dataclass
class Task:
    id: str
    api: ApiName
    model: str
    created_wall: float
    created_mono: float
    render: float
    pending_fraction: float
    directives: Directives
    media: list[MediaRef] = field(default_factory=list)
    # unified API
    n: int = 1
    video_duration: int = 0
    estimated_time: int = 0
    billing_rule: str = "per_call"
    credits: float = 0.0
    # remix API
    seq: int = 0
    data_id: str = ""
    remix_id: str = ""
    remix_id_extend: str = ""
    size: str | None = None
    quota: int = 0
    action: str = "textGenerate"
    #: Seconds after creation at which a cancel request arrived (the cancel extension, see ``cancel``).
    cancelled_after: float | None = None
    #: ``SimulatorConfig.progress_mode`` / ``progress_steps`` when the task was created.
    progress_mode: str = "linear"
    progress_steps: int = 4

    def phase(self, now_mono: float | None = None) -> Phase:
        now = time.monotonic() if now_mono is None else now_mono
        elapsed = max(0.0, now - self.created_mono)
        total = self.render
        pending = total * self.pending_fraction
        d = self.directives

        def progress_at(offset: float) -> int:
            if total <= 0:
                return 99
            if offset < pending or self.progress_mode == "zero":
                return 0
            if self.progress_mode == "steps":
                return min(99, int(round(offset / total * self.progress_steps, 6)) * 100 // self.progress_steps)
            # rounded first: ``(t0 + 30) - t0`` is 29.999... for a large monotonic t0, which read 29 %.
            return min(99, max(1, int(round(offset / total * 100, 6))))

        started = pending if elapsed >= pending else None
        if self.cancelled_after is not None and elapsed >= self.cancelled_after:
            at = self.cancelled_after
            return Phase(
                "failed",
                progress_at(at),
                pending if at >= pending else None,
                at,
                "request_cancelled",
                TASK_ERROR_MESSAGES["request_cancelled"],
            )
        failure = self._failure()
        if failure is not None:
            at, code, message, shown = failure
            if elapsed >= at:
                progress = progress_at(at) if shown is None else shown
                return Phase("failed", progress, pending if at >= pending else None, at, code, message)
        if d.stall_progress is not None:
            progress = min(progress_at(elapsed), d.stall_progress)
            status: Status = "pending" if started is None else "processing"
            return Phase(status, progress, started, None)
        if elapsed >= total:
            return Phase("completed", 100, pending, total)
        if started is None:
            return Phase("pending", 0, None, None)
        return Phase("processing", progress_at(elapsed), started, None)

    def _failure(self) -> tuple[float, str, str, int | None] | None:
        """``(seconds after creation, code, message, progress shown)`` of a planned failure."""
        d = self.directives
        total = self.render
        if d.fail_code is not None:
            message = TASK_ERROR_MESSAGES.get(d.fail_code, f"Simulated failure: {d.fail_code}")
            if self.api == "remix":  # the first segment fails: nothing usable (seed 003, generate_failed)
                return 0.25 * total, d.fail_code, message, 0
            return 0.5 * total, d.fail_code, message, None
        if d.extend_fail:  # the first 8 s exist; the extension fails (seed 003, extend_failed)
            return 0.75 * total, "extend_failed", EXTEND_FAILED_MESSAGE, 50
        return None

    def media_available(self, ref: MediaRef, phase: Phase) -> bool:
        """Whether a link exists yet: results once completed; the 8 s clip also after extend_failed."""
        if phase.status == "completed":
            return True
        return phase.status == "failed" and phase.error_code == "extend_failed" and ref.role == "first"

    def finished_wall(self, phase: Phase) -> int | None:
        if phase.finished_after is None:
            return None
        return int(self.created_wall + phase.finished_after)


# --------------------------------------------------------------------------------------------
# Response bodies
# --------------------------------------------------------------------------------------------


def file_url(base: str, ref: MediaRef) -> str:
    return f"{base}/files/{ref.token}.mp4"


def generation_body(task: Task, phase: Phase, base: str) -> dict[str, Any]:
    """The unified API's task object (seeds 000/002 for create, api-notes §1 for the query)."""
    body: dict[str, Any] = {
        "created": int(task.created_wall),
        "id": task.id,
        "model": task.model,
        "object": "video.generation.task",
        "progress": phase.progress,
        "status": phase.status,
        "task_info": {
            "can_cancel": not phase.terminal,
            "estimated_time": task.estimated_time,
            "video_duration": task.video_duration,
        },
        "type": "video",
        "usage": {
            "billing_rule": task.billing_rule,
            "credits_reserved": task.credits,
            "user_group": "default",
        },
    }
    if phase.status == "completed":
        urls = [] if task.directives.empty_results else [file_url(base, ref) for ref in task.media]
        if task.directives.result_data:
            body["result_data"] = [{"video_url": url} for url in urls]
        else:
            body["results"] = urls
    if phase.status == "failed":
        body["error"] = {"code": phase.error_code, "message": phase.error_message}
    finished = task.finished_wall(phase)
    if finished is not None:
        body["completed_at"] = finished
    return body


_REMIX_DATA_STATUS: dict[Status, str] = {
    "pending": "queued",
    "processing": "processing",
    "completed": "completed",
    "failed": "failed",
}
_REMIX_WRAPPER_STATUS: dict[Status, str] = {
    "pending": "SUBMITTED",
    "processing": "IN_PROGRESS",
    "completed": "SUCCESS",
    "failed": "FAILURE",
}
_REMIX_OPENAI_STATUS: dict[Status, str] = {
    "pending": "queued",
    "processing": "in_progress",
    "completed": "completed",
    "failed": "failed",
}


def _remix_video_fields(task: Task, phase: Phase, base: str, link_ttl: float) -> dict[str, Any]:
    """The business fields, following seed 003's field-presence table."""
    final, first = task.media[0], task.media[1]
    fields: dict[str, Any] = {"remix_id": task.remix_id}
    extending = phase.progress >= 50 or phase.status == "completed" or phase.error_code == "extend_failed"
    if extending:
        fields["remix_id_extend"] = task.remix_id_extend
    finished = task.finished_wall(phase)
    if phase.status == "completed":
        expires = int((finished or time.time()) + link_ttl)
        fields["video_url"] = file_url(base, final)
        fields["first_video_url"] = f"{file_url(base, first)}?Expires={expires}"
        fields["completed_at"] = finished
    elif phase.status == "failed":
        if phase.error_code == "extend_failed":
            fields["video_url"] = file_url(base, first)
        fields["error"] = {"code": phase.error_code, "message": phase.error_message}
    return fields


def remix_wrapper_body(task: Task, phase: Phase, base: str, link_ttl: float) -> dict[str, Any]:
    """The NewAPI task wrapper of seed 003 (``task_id``, SUCCESS..., business object in ``data``)."""
    data: dict[str, Any] = {
        "id": task.data_id,
        "model": task.model,
        "object": "video",
        "status": _REMIX_DATA_STATUS[phase.status],
        "progress": phase.progress,
        "created_at": int(task.created_wall),
    }
    data.update(_remix_video_fields(task, phase, base, link_ttl))
    finished = task.finished_wall(phase)
    content_url = f"{base}/v1/videos/{task.data_id}/content"
    if phase.status == "completed":
        fail_reason = content_url
    elif phase.status == "failed":
        fail_reason = phase.error_message or ""
    else:
        fail_reason = ""
    body: dict[str, Any] = {
        "id": task.seq,
        "created_at": int(task.created_wall),
        "updated_at": finished if finished is not None else int(time.time()),
        "task_id": task.id,
        "platform": "1",
        "user_id": 2,
        "channel_id": 7,
        "quota": task.quota,
        "action": task.action,
        "status": _REMIX_WRAPPER_STATUS[phase.status],
        "fail_reason": fail_reason,
    }
    if phase.status == "completed":
        body["result_url"] = content_url
    body.update(
        {
            "submit_time": int(task.created_wall),
            "start_time": int(task.created_wall + phase.started_after) if phase.started_after is not None else 0,
            "finish_time": finished or 0,
            "progress": f"{phase.progress}%",
            "properties": {"upstream_model_name": task.model, "origin_model_name": task.model},
            "data": data,
        }
    )
    return body


def remix_openai_body(task: Task, phase: Phase, base: str, link_ttl: float) -> dict[str, Any]:
    """The open-source gateway's OpenAI-style video object (api-notes §2, second shape)."""
    body: dict[str, Any] = {
        "id": task.id,
        "object": "video",
        "model": task.model,
        "status": _REMIX_OPENAI_STATUS[phase.status],
        "progress": phase.progress,
        "created_at": int(task.created_wall),
        "size": task.size or "1280x720",
        "seconds": str(REMIX_TOTAL_SECONDS),
    }
    body.update(_remix_video_fields(task, phase, base, link_ttl))
    if phase.status == "completed":
        body["expires_at"] = int((task.finished_wall(phase) or time.time()) + link_ttl)
    return body


def remix_body(task: Task, phase: Phase, base: str, config: SimulatorConfig) -> dict[str, Any]:
    """The remix answer in the configured shape."""
    if config.remix_shape == "openai":
        body = remix_openai_body(task, phase, base, config.link_ttl_seconds)
        return body if config.remix_links or phase.status != "completed" else _without_links(body)
    wrapper = remix_wrapper_body(task, phase, base, config.link_ttl_seconds)
    if not config.remix_links and phase.status == "completed":
        wrapper = {**_without_links(wrapper), "fail_reason": "", "data": _without_links(wrapper["data"])}
    if config.remix_shape == "envelope":
        return {"code": "success", "message": "", "data": wrapper}
    return wrapper


def _without_links(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without the URLs of a completed remix (``remix_links=False``)."""
    return {key: value for key, value in body.items() if key not in ("video_url", "first_video_url", "result_url")}


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def _api_counters() -> dict[str, Any]:
    return {"creates": 0, "creates_accepted": 0, "creates_rejected": 0, "polls": 0, "cancels": 0, "models": {}}


def _model_counters() -> dict[str, int]:
    return {"creates": 0, "creates_accepted": 0, "creates_rejected": 0, "polls": 0}


class Stats:
    """Counters and request logs; every method is called with the owner's lock held."""

    def __init__(self) -> None:
        self.requests = 0
        self.auth_failures = 0
        self.apis: dict[str, dict[str, Any]] = {"generation": _api_counters(), "remix": _api_counters()}
        self.apis["remix"]["content_downloads"] = 0
        self.chat: dict[str, Any] = {"calls": 0, "models": {}}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.downloads = {
            "requests": 0,
            "head": 0,
            "ranges": 0,
            "completed": 0,
            "bytes": 0,
            "dropped": 0,
            "expired": 0,
            "not_found": 0,
            "not_ready": 0,
        }
        self.faults: dict[str, int] = {}
        self.generation_requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self.remix_requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self.chat_requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)

    def _model(self, api: str, model: str | None) -> dict[str, int]:
        models: dict[str, dict[str, int]] = self.apis[api]["models"]
        return models.setdefault(model or "(none)", _model_counters())

    def create(self, api: str, model: str | None, *, accepted: bool) -> None:
        key = "creates_accepted" if accepted else "creates_rejected"
        counters = self.apis[api]
        per_model = self._model(api, model)
        for target in (counters, per_model):
            target["creates"] += 1
            target[key] += 1

    def poll(self, api: str, task: Task | None) -> None:
        self.apis[api]["polls"] += 1
        if task is not None:
            self._model(api, task.model)["polls"] += 1
            entry = self.tasks.get(task.id)
            if entry is not None:
                entry["polls"] += 1

    def fault(self, source: str) -> None:
        self.faults[source] = self.faults.get(source, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "requests": {"total": self.requests, "auth_failures": self.auth_failures},
                "generation": self.apis["generation"],
                "remix": self.apis["remix"],
                "chat": self.chat,
                "tasks": self.tasks,
                "downloads": self.downloads,
                "faults": self.faults,
                "generation_requests": list(self.generation_requests),
                "remix_requests": list(self.remix_requests),
                "chat_requests": list(self.chat_requests),
            }
        )


# --------------------------------------------------------------------------------------------
# The simulator's state
# --------------------------------------------------------------------------------------------


class SimulatorState:
    """Settings, tasks, links, faults and statistics of one simulator; thread-safe."""

    def __init__(self, config: SimulatorConfig | None = None, media: MediaCache | None = None) -> None:
        self.initial_config = config or SimulatorConfig()
        self.lock = threading.RLock()
        self.media = media or MediaCache()
        self._config = self.initial_config
        self.faults = FaultState(self._config)
        self._config = self._strip_consumables(self._config)
        self.tasks: dict[str, Task] = {}
        self._remix_aliases: dict[str, str] = {}
        self._tokens: dict[str, MediaRef] = {}
        self._seq = itertools.count(1235905)
        self._scatter_rng = random.Random(self._config.seed)
        self.stats = Stats()

    # ---- settings --------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self._config

    @staticmethod
    def _strip_consumables(config: SimulatorConfig) -> SimulatorConfig:
        # The queue lives in FaultState once loaded; keeping it in the config would show
        # entries that were used up already.
        return config.model_copy(update={"next_responses": []}) if config.next_responses else config

    def configure(self, **settings: Any) -> SimulatorConfig:
        """Apply some settings on top of the current ones; raise ``ValidationError`` on a bad one."""
        with self.lock:
            merged = {**self._config.model_dump(), **settings}
            new = SimulatorConfig.model_validate(merged)
            self.faults.load(new, set(settings))
            if "seed" in settings:
                self._scatter_rng = random.Random(new.seed)
            self._config = self._strip_consumables(new)
            return self._config

    def reset(self) -> None:
        """Forget tasks, links, statistics and faults; restore the settings given at creation."""
        with self.lock:
            self._config = self.initial_config
            self.faults = FaultState(self._config)
            self._config = self._strip_consumables(self._config)
            self.tasks.clear()
            self._remix_aliases.clear()
            self._tokens.clear()
            self._scatter_rng = random.Random(self._config.seed)
            self.stats = Stats()

    # ---- tasks -----------------------------------------------------------------------------

    def _render_time(self, directives: Directives) -> float:
        """The task's real render time: the directive's exactly, else the configured one, scattered."""
        if directives.render_seconds is not None:
            return directives.render_seconds
        scatter = self._config.render_scatter
        factor = 1 + self._scatter_rng.uniform(-scatter, scatter) if scatter else 1.0
        return self._config.render_time() * factor

    def _estimate(self, directives: Directives) -> int:
        """``task_info.estimated_time``: what the gateway says, which the real render may not keep."""
        if directives.estimate_seconds is not None:
            return math.ceil(directives.estimate_seconds)
        nominal = directives.render_seconds if directives.render_seconds is not None else self._config.render_time()
        return math.ceil(nominal * self._config.estimate_factor)

    def _media_seconds(self, seconds: float) -> float:
        cap = self._config.media_max_seconds
        return min(seconds, cap) if cap is not None else seconds

    def _add_media(self, task: Task, role: Literal["result", "final", "first"], index: int, seconds: float,
                   size: tuple[int, int]) -> None:  # fmt: skip
        ref = MediaRef(
            token=secrets.token_urlsafe(18),
            task_id=task.id,
            role=role,
            index=index,
            seconds=self._media_seconds(seconds),
            size=size,
        )
        task.media.append(ref)
        self._tokens[ref.token] = ref

    def create_generation(self, req: GenerationRequest, directives: Directives) -> Task:
        with self.lock:
            now = time.time()
            spec = req.spec
            duration = req.duration or (spec.default_duration if spec else None) or UNKNOWN_MODEL_DURATION
            render = self._render_time(directives)
            rule, credits = generation_price(req, duration)
            if self._config.reported_credits is not None:  # a lying gateway (see SimulatorConfig)
                credits = self._config.reported_credits
            task = Task(
                id=f"task-unified-{int(now)}-{_random_text(_LOWER_ALNUM, 8)}",
                api="generation",
                model=req.model,
                created_wall=now,
                created_mono=time.monotonic(),
                render=render,
                pending_fraction=self._config.pending_fraction,
                progress_mode=self._config.progress_mode,
                progress_steps=self._config.progress_steps,
                directives=directives,
                n=req.n or 1,
                video_duration=duration,
                estimated_time=self._estimate(directives),
                billing_rule=rule,
                credits=credits,
            )
            size = size_for_aspect(req.aspect_ratio)
            for index in range(task.n):
                self._add_media(task, "result", index, duration, size)
            self.tasks[task.id] = task
            self.stats.tasks[task.id] = {"api": "generation", "model": task.model, "polls": 0, "downloads": 0}
            return task

    def create_remix(self, req: RemixRequest, directives: Directives) -> Task:
        with self.lock:
            now = time.time()
            task = Task(
                id=f"task_{_random_text(_ALNUM, 32)}",
                api="remix",
                model=req.model,
                created_wall=now,
                created_mono=time.monotonic(),
                render=self._render_time(directives),
                pending_fraction=self._config.pending_fraction,
                progress_mode=self._config.progress_mode,
                progress_steps=self._config.progress_steps,
                directives=directives,
                seq=next(self._seq),
                data_id=f"task_{_random_text(_ALNUM, 32)}",
                remix_id=f"video_{uuid.uuid4()}",
                remix_id_extend=f"video_{uuid.uuid4()}",
                size=req.size,
                quota=remix_quota(req.model, req.size),
                action="referenceGenerate" if req.input_references else "textGenerate",
            )
            size = size_for_remix(req.size)
            self._add_media(task, "final", 0, REMIX_TOTAL_SECONDS, size)
            self._add_media(task, "first", 0, REMIX_FIRST_SECONDS, size)
            self.tasks[task.id] = task
            self._remix_aliases[task.data_id] = task.id
            self.stats.tasks[task.id] = {"api": "remix", "model": task.model, "polls": 0, "downloads": 0}
            return task

    def find(self, api: ApiName, task_id: str) -> Task | None:
        """A task of ``api`` by id (remix tasks also by their ``data.id``)."""
        with self.lock:
            if api == "remix":
                task_id = self._remix_aliases.get(task_id, task_id)
            task = self.tasks.get(task_id)
            return task if task is not None and task.api == api else None

    def cancel(self, api: ApiName, task_id: str) -> tuple[Task | None, bool]:
        """Cancel a task that has not ended: ``(task, cancelled)``; ``(None, False)`` when unknown.

        The real gateway documents no cancel endpoint; the simulator offers one (``POST
        /v1/tasks/{id}/cancel``, ``POST /v1/videos/{id}/cancel``) so that a connection's
        ``cancel_path`` can be exercised. A cancelled task ends ``failed`` with
        ``request_cancelled``, as the gateway reports a cancellation, and is counted in the stats.
        """
        with self.lock:
            task = self.find(api, task_id)
            if task is None:
                return None, False
            now = time.monotonic()
            if task.phase(now).terminal:
                return task, False
            task.cancelled_after = max(0.0, now - task.created_mono)
            self.stats.apis[api]["cancels"] += 1
            entry = self.stats.tasks.get(task.id)
            if entry is not None:
                entry["cancelled"] = True
            return task, True

    def resolve_token(self, token: str) -> tuple[Task, MediaRef] | None:
        with self.lock:
            ref = self._tokens.get(token)
            if ref is None:
                return None
            return self.tasks[ref.task_id], ref

    def snapshot(self) -> dict[str, Any]:
        """Statistics as JSON-able data, with each task's current status."""
        with self.lock:
            data = self.stats.snapshot()
            now = time.monotonic()
            for task_id, entry in data["tasks"].items():
                task = self.tasks.get(task_id)
                if task is not None:
                    phase = task.phase(now)
                    entry["status"] = phase.status
                    entry["progress"] = phase.progress
            data["pending_responses"] = self.faults.pending()
            return data
