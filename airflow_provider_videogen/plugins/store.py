"""Read a run's records from Airflow's metadata database, inside the api-server (no gateway call).

Four queries per page, whatever the number of videos: the run's task instances, their XComs,
their rendered template fields, and the batch items' submission records and in-flight markers
in the (default, metastore) task state store: what a batch that has not pushed its ids yet paid
for, or may have (:mod:`.batch_items`). XCom values are read as the REST API reads them
(``XComModel.deserialize_value``); a custom XCom backend's references are shown as stored.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_videogen.links.videogen import REMOTE_TASK_ID_KEY
from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY
from airflow_provider_videogen.pipelines.review import REVIEWS_KEY
from airflow_provider_videogen.plugins.batch_items import STORE_KEYS
from airflow_provider_videogen.plugins.records import VIDEO_ERROR_KEY, RunRecords, TaskRow
from airflow_provider_videogen.uncertain import keys_filter

#: The XCom keys the view reads; signed links (``video_url``) are never read into a page.
KEYS = ("return_value", REMOTE_TASK_ID_KEY, BATCH_IDS_KEY, VIDEO_ERROR_KEY, REVIEWS_KEY)


class RunNotFound(LookupError):
    """No such DAG run."""


def load_run(dag_id: str, run_id: str) -> RunRecords:
    """Everything the Videos view needs about one run; :class:`RunNotFound` when there is no such run."""
    from airflow.models.dagrun import DagRun
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.models.task_state_store import TaskStateStoreModel as Store
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import or_, select

    with create_session() as session:
        exists = session.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if exists is None:
            raise RunNotFound(f"no run {run_id!r} of DAG {dag_id!r}")
        tis = session.execute(
            select(TI.task_id, TI.map_index, TI.state, TI.operator).where(TI.dag_id == dag_id, TI.run_id == run_id)
        ).all()
        xcoms: dict[tuple[str, int], dict[str, Any]] = {}
        for row in session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key.in_(KEYS))
        ):
            xcoms.setdefault((row.task_id, row.map_index), {})[row.key] = XComModel.deserialize_value(row)
        rendered = {
            (r.task_id, r.map_index): r.rendered_fields or {}
            for r in session.execute(
                select(RTIF.task_id, RTIF.map_index, RTIF.rendered_fields).where(
                    RTIF.dag_id == dag_id, RTIF.run_id == run_id
                )
            )
        }
        stored: dict[tuple[str, int], dict[str, Any]] = {}
        for task_id, map_index, key, value in session.execute(
            select(Store.task_id, Store.map_index, Store.key, Store.value).where(
                Store.dag_id == dag_id,
                Store.run_id == run_id,
                or_(*(keys_filter(Store.key, key) for key in STORE_KEYS)),
            )
        ):
            stored.setdefault((task_id, map_index), {})[key] = _json(value)
    return RunRecords(
        dag_id=dag_id,
        run_id=run_id,
        tasks=[
            TaskRow(
                task_id=t.task_id,
                map_index=t.map_index,
                state=str(getattr(t.state, "value", t.state)) if t.state is not None else None,
                operator=t.operator,
                xcoms=xcoms.get((t.task_id, t.map_index), {}),
                rendered=rendered.get((t.task_id, t.map_index), {}),
                item_store=stored.get((t.task_id, t.map_index), {}),
            )
            for t in tis
        ],
    )


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None
