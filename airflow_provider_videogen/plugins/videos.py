"""The plugin class the provider registers: a FastAPI app and two "Videos" tabs in the UI.

The tabs are ``external_views`` (iframes of the app's pages): on a DAG run, every video the run
made; on a task instance, the videos that task made or archived. Their ``url_route`` gives them
stable UI addresses, which the "Video" and "S3" extra links open (:mod:`..links`):
``/dags/<dag>/runs/<run>/plugin/videos`` and ``.../tasks/<task>[/mapped/<i>]/plugin/task-videos``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_videogen.links.view import TASK_ROUTE
from airflow_provider_videogen.plugins.app import URL_PREFIX, create_app

#: ``url_route`` of the run tab (the task tab's, ``TASK_ROUTE``, is the extra links').
RUN_ROUTE = "videos"


class VideosPlugin(AirflowPlugin):
    """Videos view: players with poster frames, prompts, credits, remote ids and S3 records."""

    name = "videogen_videos"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Videos"}]
    external_views = [
        {
            "name": "Videos",
            "href": URL_PREFIX + "/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": RUN_ROUTE,
        },
        {
            "name": "Videos",
            "href": URL_PREFIX + "/runs/{DAG_ID}/{RUN_ID}/tasks/{TASK_ID}/{MAP_INDEX}",
            "destination": "task_instance",
            "url_route": TASK_ROUTE,
        },
    ]
