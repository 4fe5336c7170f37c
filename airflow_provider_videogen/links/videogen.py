"""Extra link "Video" on the video operators and the sensor.

The link is read from XCom (``video_url``, pushed when the task completes), so it keeps
working after the worker is gone. Download links expire 24 h after the remote task completed;
the link is left empty once ``video_expires_at`` has passed rather than pointing at an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

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


class VideoLink(BaseOperatorLink):
    """The finished video's URL while it is valid."""

    name = "Video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
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
