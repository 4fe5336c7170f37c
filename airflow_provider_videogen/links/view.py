"""The address of a task instance's "Videos" tab in the Airflow UI: where the extra links point.

The worker computes an extra link once, when the task ends, and the UI shows that stored string
forever (see :mod:`.videogen`). A signed gateway link dies after 24 h and a raw S3 URL needs
credentials the browser does not have; the Videos tab (:mod:`airflow_provider_videogen.plugins`)
does neither: it is behind Airflow's own login and reads the archive or proxies the gateway on
each view. The link is relative to the UI's origin, under ``[api] base_url``'s path (a
deployment served under ``/airflow`` gets ``/airflow/dags/...``), so it works unchanged on the
local stack and in production.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: The task-instance tab's ``url_route`` (``plugins.videos.TASK_ROUTE``; not imported: the worker
#: computing a link should not build the plugin's FastAPI app).
TASK_ROUTE = "task-videos"


def ui_base_path() -> str:
    """The path under which the UI is served (``""`` at the root), from ``[api] base_url``."""
    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="") or ""
    return urlsplit(base_url).path.rstrip("/")


def videos_view_url(ti_key: TaskInstanceKey) -> str:
    """``<base>/dags/<dag>/runs/<run>/tasks/<task>[/mapped/<i>]/plugin/task-videos``."""
    path = (
        f"{ui_base_path()}/dags/{quote(ti_key.dag_id, safe='')}/runs/{quote(ti_key.run_id, safe='')}"
        f"/tasks/{quote(ti_key.task_id, safe='')}"
    )
    if ti_key.map_index is not None and ti_key.map_index >= 0:
        path += f"/mapped/{ti_key.map_index}"
    return f"{path}/plugin/{TASK_ROUTE}"
