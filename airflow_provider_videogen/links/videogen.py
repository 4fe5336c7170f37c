"""Extra link "Video" on the video operators and the sensor: the task's Videos tab in the Airflow UI.

In Airflow 3 the worker calls ``get_link()`` once, when the task ends, and stores the answer
(XCom ``_link_VideoLink``); the UI shows that stored value and never calls ``get_link()``
again. The gateway's download URL would therefore be a dead (and signed) link 24 h after the
render; the link opens the task's "Videos" tab instead (:mod:`.view`), which plays the archived
copy, or proxies the gateway's link while it is valid and says so when it has expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

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


class VideoLink(BaseOperatorLink):
    """The task's Videos tab (player, prompt, credits, archive), for every task that submitted a video."""

    name = "Video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Computed once, at the end of the task: empty if the task never got a remote task id."""
        if not XCom.get_value(ti_key=ti_key, key=REMOTE_TASK_ID_KEY):
            return ""
        return videos_view_url(ti_key)
