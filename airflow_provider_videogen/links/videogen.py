"""Extra link "Video" on the video operators and the sensor: the task's Videos tab in the Airflow UI.

In Airflow 3 the worker calls ``get_link()`` once, when the task ends, and stores the answer
(XCom ``_link_VideoLink``); the UI shows that stored value and never calls ``get_link()``
again. The gateway's download URL would therefore be a dead (and signed) link 24 h after the
render; the link opens the task's "Videos" tab instead (:mod:`.view`), which plays the archived
copy, or proxies the gateway's link while it is valid and says so when it has expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_videogen.links.view import videos_view_url

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom keys written by the operators and read by the link.
VIDEO_URL_KEY = "video_url"
VIDEO_EXPIRES_KEY = "video_expires_at"
REMOTE_TASK_ID_KEY = "videogen_task_id"
#: Whether the gateway said, at submission, that the remote task could be cancelled (``task_info.can_cancel``).
CAN_CANCEL_KEY = "videogen_can_cancel"
#: Set on the operator by a try that knows its remote task (it submitted, re-attached or resumed
#: with an event). The link is computed in that same process when the task ends, so it needs no
#: XCom read: a try that failed before submitting has no link, and no "XCom not found ... key=..."
#: error follows its real error in the log.
_REMOTE_ATTR = "_videogen_has_remote_task"


def mark_remote_task(operator: object) -> None:
    """Remember on the operator that this try has a remote task (so the Video link is shown)."""
    setattr(operator, _REMOTE_ATTR, True)


def push_video_url(operator: object, ti: Any, url: str, expires_at: str | None) -> None:
    """Push the signed URL (``xcom_links=True`` only) and remember that this try has a remote task."""
    ti.xcom_push(key=VIDEO_URL_KEY, value=url)
    ti.xcom_push(key=VIDEO_EXPIRES_KEY, value=expires_at)
    mark_remote_task(operator)


class VideoLink(BaseOperatorLink):
    """The task's Videos tab (player, prompt, credits, archive), for every task that submitted a video."""

    name = "Video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Computed once, at the end of the task: empty if this try never had a remote task."""
        if not getattr(operator, _REMOTE_ATTR, False):
            return ""
        return videos_view_url(ti_key)
