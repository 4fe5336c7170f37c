"""VideoRemixOperator through real Airflow (dag.test()) against the simulator: success, partial results,
failures without retry, and re-attach after a timed-out try."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.links.view import videos_view_url
from airflow_provider_videogen.operators.remix import (
    FIRST_SEGMENT_URL_KEY,
    PARTIAL_RESULT_KEY,
    REMIX_ID_EXTEND_KEY,
    REMIX_ID_KEY,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
RESULT_KEYS = {
    "id",
    "api",
    "model",
    "state",
    "video_urls",
    "first_video_url",
    "remix_id",
    "remix_id_extend",
    "partial",
    "progress",
    "submitted_at",
    "completed_at",
    "expires_at",
}


def ti_of(dagrun: Any, task_id: str = "remix") -> Any:
    tis = [ti for ti in dagrun.get_task_instances() if ti.task_id == task_id]
    assert tis, f"no task instance {task_id}"
    return tis[0]


def xcom(dagrun: Any, task_id: str = "remix", key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id, key=key, map_index=-1)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture
def sim(simulator: Any, videogen_conn: str) -> Any:
    simulator.configure(render_seconds=1.0, media_max_seconds=2)
    return simulator


def test_deferrable_remix_succeeds_with_every_field(run_dag: Any, sim: Any, log_text: Any, tmp_path: Path) -> None:
    reference = tmp_path / "start.png"
    reference.write_bytes(PNG)
    dagrun = run_dag("test_remix_deferrable", run_conf={"reference": str(reference)})
    assert dagrun.state == "success"
    result = xcom(dagrun)
    assert set(result) >= RESULT_KEYS
    assert result["api"] == "remix"
    assert result["model"] == "veo_3_1-fast-remix"
    assert result["state"] == "succeeded"
    assert result["partial"] is False
    assert len(result["video_urls"]) == 1
    assert result["first_video_url"] != result["video_urls"][0]
    assert result["remix_id"].startswith("video_")
    assert result["remix_id_extend"].startswith("video_")
    assert result["expires_at"] > result["completed_at"]
    assert xcom(dagrun, key="videogen_task_id") == result["id"]
    assert xcom(dagrun, key="_link_VideoLink") == videos_view_url(ti_of(dagrun).key)  # its Videos tab
    stats = sim.stats()
    assert stats["remix"]["creates"] == 1
    refs = stats["remix_requests"][0]["input_references"]
    assert [(r["kind"], r.get("filename"), r.get("sha256")) for r in refs] == [
        ("file", "start.png", hashlib.sha256(PNG).hexdigest()),
        ("url", None, None),
    ]
    log = log_text()
    assert "running trigger in line" in log  # the task deferred
    # The trigger says which segment is rendering while it polls.
    assert "(first 8 s segment)" in log
    assert "(7 s extension)" in log


def test_extend_failed_fails_but_keeps_the_first_8_seconds(run_dag: Any, sim: Any, log_text: Any) -> None:
    dagrun = run_dag("test_remix_extend_failed")
    assert dagrun.state == "failed"
    ti = ti_of(dagrun)
    assert ti.state == "failed"
    clip, remix_id = xcom(dagrun, key=FIRST_SEGMENT_URL_KEY), xcom(dagrun, key=REMIX_ID_KEY)
    assert clip.startswith(sim.url)
    assert remix_id.startswith("video_")
    assert xcom(dagrun, key=REMIX_ID_EXTEND_KEY).startswith("video_")
    partial = xcom(dagrun, key=PARTIAL_RESULT_KEY)
    assert partial["partial"] is True
    assert partial["video_urls"] == [clip]
    assert partial["error_code"] == "extend_failed"
    assert xcom(dagrun, key="_link_VideoLink") == videos_view_url(ti.key)  # the Videos tab shows what exists
    assert xcom(dagrun) is None
    log = log_text()
    assert "extend_failed" in log
    assert redact_url(clip) in log  # named by host and fingerprint: the link itself downloads (issue 21.10)
    assert clip not in log
    assert remix_id in log
    assert sim.stats()["remix"]["creates"] == 1


def test_extend_failed_accepted_succeeds_with_the_partial_clip(run_dag: Any, sim: Any) -> None:
    dagrun = run_dag("test_remix_extend_failed_accept")
    assert dagrun.state == "success"
    result = xcom(dagrun)
    assert set(result) >= RESULT_KEYS
    assert result["partial"] is True
    assert result["state"] == "succeeded"
    assert result["error_code"] == "extend_failed"
    assert result["video_urls"] == [result["first_video_url"]]
    assert result["remix_id"].startswith("video_")
    assert result["expires_at"]
    assert xcom(dagrun, key=FIRST_SEGMENT_URL_KEY) is None  # nothing extra to rescue: it is the result
    assert sim.stats()["remix"]["creates"] == 1


def test_generate_failed_fails_without_retry(run_dag: Any, sim: Any, log_text: Any) -> None:
    dagrun = run_dag("test_remix_generate_failed")
    assert dagrun.state == "failed"
    ti = ti_of(dagrun)
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert xcom(dagrun) is None
    assert xcom(dagrun, key=FIRST_SEGMENT_URL_KEY) is None
    assert "generate_failed" in log_text()
    assert sim.stats()["remix"]["creates"] == 1


def test_retry_reattaches_to_the_same_remix(run_dag: Any, sim: Any) -> None:
    dagrun = run_dag("test_remix_retry_reattach")
    assert dagrun.state == "success"
    assert ti_of(dagrun).try_number == 2  # the first try timed out
    stats = sim.stats()
    assert stats["remix"]["creates"] == 1
    assert xcom(dagrun)["id"] == stats["remix_requests"][0]["task_id"]


def test_templated_invalid_size_fails_at_execute_before_any_request(run_dag: Any, sim: Any, log_text: Any) -> None:
    dagrun = run_dag("test_remix_templated_invalid")
    assert dagrun.state == "failed"
    assert ti_of(dagrun).try_number == 1  # AirflowFailException: no retry
    assert "'1280*720' is not WIDTHxHEIGHT" in log_text()
    assert sim.stats()["remix"]["creates"] == 0


def test_last_frame_of_a_clip_starts_a_first_last_frame_remix(run_dag: Any, sim: Any) -> None:
    dagrun = run_dag("test_remix_chain_last_frame")
    assert dagrun.state == "success"
    frame = Path(xcom(dagrun, task_id="last_frame"))
    try:
        (ref,) = sim.stats()["remix_requests"][0]["input_references"]
        assert (ref["kind"], ref["filename"], ref["content_type"]) == ("file", frame.name, "image/png")
        assert ref["sha256"] == hashlib.sha256(frame.read_bytes()).hexdigest()
        assert sim.stats()["remix_requests"][0]["model"] == "veo_3_1-fast-fl-remix"
    finally:
        frame.unlink(missing_ok=True)
