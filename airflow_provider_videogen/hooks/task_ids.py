"""Which remote task ids may go into a URL path, and how they get there.

A remote id comes from the gateway, from XCom, or from a user's ``task_id_to_watch``: any of them
can be hostile. Put into ``/v1/tasks/{task_id}`` unchecked, ``../../videos/generations`` would
send the authenticated request to another endpoint of the gateway, so every path the hook builds
from an id goes through :func:`task_path`: the status queries (trigger and worker) and the cancel
POST of both ``on_kill`` paths (the triggerer's and the worker's) alike.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from airflow_provider_videogen.exceptions import InvalidRequestError

__all__ = ["TASK_ID_PATTERN", "check_task_id", "task_path"]

#: What a remote task id may contain before it is put into a URL path: the gateway's ids are
#: letters, digits, ``-`` and ``_`` (``task-unified-...``, ``video_...``); ``.`` and ``:`` are
#: allowed after the first character. Anything else (``/``, ``..``, ``?``) could send the
#: authenticated request to another endpoint of the gateway.
TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$")


def check_task_id(task_id: str) -> str:
    """Refuse a remote task id that is not a plain token, before any request."""
    if not isinstance(task_id, str) or not TASK_ID_PATTERN.fullmatch(task_id):
        raise InvalidRequestError(
            "remote task id",
            [
                (
                    "task_id",
                    f"task_id={str(task_id)[:80]!r} is not a remote task id: allowed are 1-256 letters, digits, "
                    "'-', '_', '.' and ':', starting with a letter or digit",
                )
            ],
        )
    return task_id


def task_path(template: str, task_id: str, **fields: str) -> str:
    """``template`` with a checked, quoted task id in place of ``{task_id}`` (and ``fields``, such as
    a cancel path's ``{api}``, in place of theirs); :class:`InvalidRequestError` before any request."""
    return template.format(task_id=quote(check_task_id(task_id), safe=""), **fields)
