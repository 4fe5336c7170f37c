"""Extra link on the video operators and the sensor: the gateway's download URL, valid 24 h.

In Airflow 3 the worker calls ``get_link()`` once, when the task ends, and stores the answer
(XCom ``_link_VideoLink``); the UI shows that stored value and never calls ``get_link()``
again. So the link cannot go empty when the gateway's URL expires: it keeps pointing at a URL
that stops working 24 h after the render completed. Its name says so. For a link that lasts,
archive the video (``VideoToS3Operator``) and follow the archive.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_videogen.clock import utcnow

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom keys written by the operators and read by the link.
VIDEO_URL_KEY = "video_url"
VIDEO_EXPIRES_KEY = "video_expires_at"
REMOTE_TASK_ID_KEY = "videogen_task_id"
#: Whether the gateway said, at submission, that the remote task could be cancelled (``task_info.can_cancel``).
CAN_CANCEL_KEY = "videogen_can_cancel"
#: Set on the operator by the try that pushed a video URL. The link is computed in that same process
#: when the task ends; a try that pushed none (a failure, ``xcom_links=False``) has no link.
_PUSHED_ATTR = "_videogen_video_url_pushed"


def push_video_url(operator: object, ti: Any, url: str, expires_at: str | None) -> None:
    """Push the URL the Video link shows, and remember on the operator that this try has one."""
    ti.xcom_push(key=VIDEO_URL_KEY, value=url)
    ti.xcom_push(key=VIDEO_EXPIRES_KEY, value=expires_at)
    setattr(operator, _PUSHED_ATTR, True)


class VideoLink(BaseOperatorLink):
    """The finished video's download URL, as the task saw it when it ended (expires 24 h after the render)."""

    name = "Video (URL expires 24 h after render)"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Computed once, at the end of the task: empty if the task had no video or its URL had already expired.

        A try that pushed no URL is not asked for one: the task SDK logs a missing XCom as an
        error ("XCom not found ... key='video_url'"), which would follow every failed task's real error.
        """
        if not getattr(operator, _PUSHED_ATTR, False):
            return ""
        url = XCom.get_value(ti_key=ti_key, key=VIDEO_URL_KEY)
        if not url:
            return ""
        expires = XCom.get_value(ti_key=ti_key, key=VIDEO_EXPIRES_KEY)
        if expires:
            try:
                if datetime.fromisoformat(str(expires)) <= utcnow():
                    return ""
            except ValueError:
                pass
        return str(url)
