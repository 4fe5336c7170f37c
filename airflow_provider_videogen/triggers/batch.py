"""One trigger that waits for a whole batch of remote video tasks (``VideoGenerationBatchOperator``).

Each video is polled exactly as :class:`~airflow_provider_videogen.triggers.videogen.VideoTaskTrigger`
polls one (same schedule, same failure handling: it *is* one such trigger per item, run
concurrently on one shared hook); this trigger only gathers their events. What it serializes is
the items' remote ids and polling numbers, the connection id and the deadline of each: no key, no
header, no response body, so a triggerer that restarts (or another one) continues the same remote
tasks and never submits.

It yields one event: with ``end_from_trigger`` and every video succeeded with a link, the task ends
here with the list of results written first (one worker workload for the whole batch); otherwise
``{"items": [event, ...]}`` for the worker, which completes, fails or retries the batch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_videogen.cancellation import acancel_on_kill
from airflow_provider_videogen.hooks.redaction import redact
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind
from airflow_provider_videogen.triggers.polling import resolve_max_poll_interval
from airflow_provider_videogen.triggers.task_success import success_with_result
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: The worker's event: one :class:`VideoTaskEvent` payload per item, in the batch's order.
ITEMS_KEY = "items"
#: What each item serializes (besides the batch's shared arguments).
ITEM_FIELDS = (
    "remote_task_id",
    "deadline",
    "estimated_time",
    "submitted_at",
    "reserved_credits",
    "first_submitted_at",
    "done",
)


class VideoBatchTrigger(BaseTrigger):
    """Poll every remote task of a batch until each ends or passes its deadline.

    :param items: one dict per video, in the batch's order, with the keys of :data:`ITEM_FIELDS`
        (``deadline``: epoch seconds, the item's first submission plus the operator's timeout;
        ``done``: the video had ended when the task deferred, a re-used one: it is read once,
        whatever its deadline, since a finished video must not fail for the time it took).
    :param end_from_trigger: end the task here when every video succeeded (see the module docstring).

    The other arguments are :class:`VideoTaskTrigger`'s, shared by every item.
    """

    def __init__(
        self,
        *,
        videogen_conn_id: str,
        api: str | ApiKind,
        items: list[dict[str, Any]],
        poll_interval: float,
        max_consecutive_failures: int = 5,
        adaptive_polling: bool = True,
        max_poll_interval: float | None = None,
        cancel_on_kill: bool = True,
        end_from_trigger: bool = False,
    ) -> None:
        super().__init__()
        self.videogen_conn_id = videogen_conn_id
        self.api = ApiKind(api)
        self.poll_interval = float(poll_interval)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.adaptive_polling = bool(adaptive_polling)
        self.max_poll_interval = resolve_max_poll_interval(self.poll_interval, max_poll_interval)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.end_from_trigger = bool(end_from_trigger)
        # Only the known fields, each checked by VideoTaskTrigger: whatever else a caller put in
        # (a link, a body) is never serialized into the trigger table.
        self.items = [{name: item.get(name) for name in ITEM_FIELDS} for item in items]
        self.waiters = [self._waiter(item) for item in self.items]
        #: Remote tasks seen ended by this trigger (in memory): a kill has nothing to cancel there.
        self.ended: set[str] = {str(item["remote_task_id"]) for item in self.items if item.get("done")}

    def _waiter(self, item: dict[str, Any]) -> VideoTaskTrigger:
        waiter = VideoTaskTrigger(
            videogen_conn_id=self.videogen_conn_id,
            remote_task_id=str(item["remote_task_id"]),
            api=self.api,
            poll_interval=self.poll_interval,
            deadline=float(item["deadline"]),
            max_consecutive_failures=self.max_consecutive_failures,
            adaptive_polling=self.adaptive_polling,
            max_poll_interval=self.max_poll_interval,
            estimated_time=item.get("estimated_time"),
            submitted_at=item.get("submitted_at"),
            cancel_on_kill=self.cancel_on_kill,
            reserved_credits=item.get("reserved_credits"),
            first_submitted_at=item.get("first_submitted_at"),
        )
        return waiter

    @property
    def deadline(self) -> float:
        """The latest item deadline: Airflow's deferral timeout (a safety net) is set after it."""
        return max((waiter.deadline for waiter in self.waiters), default=0.0)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "videogen_conn_id": self.videogen_conn_id,
                "api": self.api.value,
                "items": [dict(item) for item in self.items],
                "poll_interval": self.poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                "adaptive_polling": self.adaptive_polling,
                "max_poll_interval": self.max_poll_interval,
                "cancel_on_kill": self.cancel_on_kill,
                "end_from_trigger": self.end_from_trigger,
            },
        )

    async def wait_all(self, hook: VideoGenHook | None = None) -> list[VideoTaskEvent]:
        """Every item's event, in order; an item whose polling raised gets an ``error`` event.

        ``run`` yields what this returns; a batch with ``deferrable=False`` awaits it in the worker.
        One hook (one connection lookup, one HTTP client) serves every item.
        """
        hook = hook or VideoGenHook(videogen_conn_id=self.videogen_conn_id)

        async def one(waiter: VideoTaskTrigger, done: bool) -> VideoTaskEvent:
            try:
                if done:
                    task = await hook.aget_task(self.api, waiter.remote_task_id)
                    if task.state.is_terminal:
                        return VideoTaskTrigger.event_for(task, self.api)
                event = await waiter.wait(hook)
                if event.status in ("success", "failed"):
                    self.ended.add(waiter.remote_task_id)
                return event
            except Exception as exc:  # one item's trouble must not lose the other items' events
                key = hook._settings.api_key if hook._settings else None
                return VideoTaskEvent(
                    status="error",
                    task_id=waiter.remote_task_id,
                    api=self.api,
                    message=redact(f"the trigger failed: {type(exc).__name__}: {str(exc)[:500]}", key),
                    retryable=True,
                )

        events = await asyncio.gather(
            *(one(waiter, bool(item.get("done"))) for waiter, item in zip(self.waiters, self.items, strict=True))
        )
        return list(events)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event for the whole batch (see the module docstring)."""
        events = await self.wait_all()
        if self.end_from_trigger:
            results = [waiter.task_result(event) for waiter, event in zip(self.waiters, events, strict=True)]
            if all(result is not None for result in results):
                self.log.info("All %d videos of the batch succeeded; the task ends in the triggerer", len(results))
                end = await success_with_result(self, results, self.log)
                if end is not None:
                    yield end
                    return
        yield TriggerEvent({ITEMS_KEY: [event.to_payload() for event in events]})

    async def on_kill(self) -> None:
        """A user killed the waiting batch: cancel every item still rendering (where the connection can), or say
        each is billed. A video that ended is left alone: asking to cancel it only logs a false alarm."""
        hook = VideoGenHook(videogen_conn_id=self.videogen_conn_id)
        for waiter in self.waiters:
            if waiter.remote_task_id in self.ended:
                self.log.info("Remote task %s had already ended: nothing to cancel", waiter.remote_task_id)
                continue
            await acancel_on_kill(hook, self.api, waiter.remote_task_id, enabled=self.cancel_on_kill, log=self.log)
