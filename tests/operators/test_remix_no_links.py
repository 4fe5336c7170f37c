"""``xcom_links=False`` on a remix whose extension failed: the paid 8 s clip's link goes nowhere
(issue 21, point 9): not to XCom ``first_segment_url`` nor any other key, not into the error text
(which is also OpenLineage's ``errorMessage``), not into the task log. Real Airflow (dag.test())
against the simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("airflow_db")


def all_xcoms(dagrun: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}


def test_extend_failed_with_xcom_links_false_keeps_the_clip_link_everywhere_out(
    run_dag: Any, simulator: Any, videogen_conn: str, log_text: Any
) -> None:
    simulator.configure(render_seconds=1.0, media_max_seconds=2)
    dagrun = run_dag("test_remix_extend_failed_no_links")
    assert dagrun.state == "failed"
    xcoms = all_xcoms(dagrun)
    links = f"{simulator.url}/files/"
    assert links not in json.dumps(xcoms, default=str)
    assert "first_segment_url" not in xcoms
    assert xcoms["remix_id"].startswith("video_")  # the ids to continue from are still kept
    assert xcoms["partial_result"]["partial"] is True
    assert xcoms["partial_result"]["video_urls"] == []
    log = log_text()
    assert "extend_failed" in log or "E-2003" in log
    assert "by remote task id" in log  # the error says where the clip is
    assert links not in log
    assert "/files/" not in log
