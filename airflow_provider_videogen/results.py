"""The XCom result of a finished video task, as a pure function of what is known about it.

One function builds it wherever the task ends: in the worker after the trigger fired
(:meth:`~airflow_provider_videogen.completion.VideoTaskCompletion._result`) and in the triggerer
when the task ends there (:class:`~airflow_provider_videogen.triggers.videogen.VideoTaskTrigger`
with ``end_from_trigger``). Both paths must hand downstream tasks the same shape; building it in
one place is how that holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.models import ApiKind, VideoTask
from airflow_provider_videogen.remix_result import remix_result_extras

if TYPE_CHECKING:
    from datetime import datetime

#: In a result made with ``xcom_links=False``: the links were left out on purpose (read them by id).
LINKS_IN_XCOM_KEY = "links_in_xcom"


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def video_result(
    task: VideoTask,
    api: ApiKind,
    *,
    credits_reserved: float | None,
    submitted_at: datetime | None,
    xcom_links: bool,
) -> dict[str, Any]:
    """Small JSON-serializable XCom: ids, URLs and times; never video bytes.

    ``credits_reserved`` and ``submitted_at`` are the submitting try's record, used where the
    gateway's answer lacks them. With ``xcom_links=False`` the signed links (bearer URLs) are left
    out: an archive task reads them from the gateway by the remote id when it runs.
    """
    result: dict[str, Any] = {
        "id": task.id,
        "api": api.value,
        "model": task.model,
        "state": task.state.value,
        "video_urls": list(task.video_urls),
        "progress": task.progress,
        "credits_reserved": task.credits_reserved if task.credits_reserved is not None else credits_reserved,
        "submitted_at": isoformat(submitted_at or task.created_at),
        "completed_at": isoformat(task.completed_at),
        "expires_at": isoformat(task.expires_at()),
        "can_cancel": task.can_cancel,
    }
    if api is ApiKind.REMIX:
        result.update(remix_result_extras(task))
    if not xcom_links:
        result["video_urls"] = []
        if "first_video_url" in result:
            result["first_video_url"] = None
        result[LINKS_IN_XCOM_KEY] = False
    return result
