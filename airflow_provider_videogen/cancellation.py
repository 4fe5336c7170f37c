"""What happens to the remote render when a user kills the Airflow task waiting for it.

Killing a task (mark failed/success, clear) does not stop a render by itself: the gateway keeps
rendering and bills it. With ``cancel_on_kill=True`` (the default) the waiting side asks the
gateway to cancel, where the connection names a cancel endpoint (extra ``cancel_path``; the
gateway documents none). Two places wait, so two places call this module:

* the trigger's ``on_kill`` (``deferrable=True``): Airflow calls it only for a user's action,
  never on a triggerer restart or redistribution; ``cleanup()``, which runs on every exit,
  never cancels;
* the operator's (or sensor's) ``on_kill`` (``deferrable=False``): called when the worker's task
  process is told to stop.

Whatever the outcome, one warning line says whether the render continues and is billed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.exceptions import VideoGenError

if TYPE_CHECKING:
    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.models import ApiKind


def _report(log: Any, api: ApiKind, task_id: str, cancelled: bool | None, error: Exception | None = None) -> None:
    """``cancelled``: ``True`` asked, ``False`` no endpoint, ``None`` not asked (``cancel_on_kill=False``)."""
    if error is not None:
        log.warning("Cancelling remote task %s failed: %s; it may keep rendering and be billed.", task_id, error)
    elif cancelled:
        log.warning("Task killed by a user: asked the gateway to cancel remote task %s (%s API).", task_id, api.value)
    elif cancelled is None:
        log.warning(
            "Task killed by a user, but remote task %s (%s API) keeps running and will be billed: "
            "cancel_on_kill=False.",
            task_id,
            api.value,
        )
    else:
        log.warning(
            "Task killed by a user, but remote task %s (%s API) keeps running and will be billed: the "
            "gateway documents no cancel endpoint (set 'cancel_path' in the connection extras if yours has one).",
            task_id,
            api.value,
        )


def cancel_on_kill(hook: VideoGenHook, api: ApiKind, task_id: str, *, enabled: bool, log: Any) -> None:
    """Worker side (``deferrable=False``): cancel the remote task if asked and possible; say what happened."""
    if not enabled:
        _report(log, api, task_id, None)
        return
    try:
        cancelled = hook.cancel(api, task_id)
    except VideoGenError as exc:
        _report(log, api, task_id, True, exc)
        return
    _report(log, api, task_id, cancelled)


async def acancel_on_kill(hook: VideoGenHook, api: ApiKind, task_id: str, *, enabled: bool, log: Any) -> None:
    """Triggerer side (the trigger's ``on_kill``): as :func:`cancel_on_kill`, on the event loop."""
    if not enabled:
        _report(log, api, task_id, None)
        return
    try:
        cancelled = await hook.acancel(api, task_id)
    except VideoGenError as exc:
        _report(log, api, task_id, True, exc)
        return
    _report(log, api, task_id, cancelled)
