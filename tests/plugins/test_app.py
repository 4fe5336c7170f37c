"""The Videos app inside Airflow's real api-server app, on a real run (simulator -> SeaweedFS via dag.test()).

Issue 22 points 1-2: the page lists the run's video from what it recorded; every route is
guarded by Airflow's auth (anonymous 401, a user without DAG access 403); the media endpoint
streams from S3 with Range (206, the exact bytes); the poster is made once and stored next to
the video.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.operators.test_generation_operator import xcom
from tests.plugins.conftest import token

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("airflow_db")]

DAG_ID = "test_generation_to_s3"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, aws_conn_id: str, airflow_api: Any) -> Any:
    """Airflow's api-server app (plugins included), reading archived videos with the test's AWS connection."""
    monkeypatch.setenv("AIRFLOW__VIDEOGEN__AWS_CONN_ID", aws_conn_id)  # read per request
    return airflow_api


def test_the_view_and_its_media_behind_airflow_auth(
    run_dag: Any, simulator: Any, videogen_conn: str, s3_bucket: str, aws_conn_id: str, s3_client: Any, api: Any
) -> None:
    simulator.configure(render_seconds=1.0)
    dagrun = run_dag(DAG_ID, run_conf={"bucket": s3_bucket, "aws_conn_id": aws_conn_id})
    assert dagrun.state == "success"
    remote_id = xcom(dagrun, task_id="generate")["id"]
    (archived,) = xcom(dagrun, task_id="archive")
    run = f"{quote(DAG_ID)}/{quote(dagrun.run_id, safe='')}"
    page, media = f"/videos/runs/{run}", f"/videos/media/{run}/{quote(remote_id)}"

    for url in (page, media, f"/videos/api/runs/{run}", f"/videos/runs/{run}/tasks/archive/-1"):
        assert api.get(url).status_code == 401, url  # anonymous
        assert api.get(url, headers=token(None)).status_code == 403, url  # a user without access to the DAG
    viewer = token("viewer")

    html = api.get(page, headers=viewer)
    assert html.status_code == 200, html.text
    assert html.text.count("<video ") == 1
    for shown in (remote_id, archived["uri"], archived["sha256"], "A cat at sea", "veo3.1-fast"):
        assert shown in html.text
    assert "X-Amz" not in html.text
    assert "/files/" not in html.text
    task_html = api.get(f"/videos/runs/{run}/tasks/archive/-1", headers=viewer).text
    assert remote_id in task_html

    whole = api.get(media, headers=viewer)
    body = s3_client.get_object(Bucket=s3_bucket, Key=archived["key"])["Body"].read()
    assert (whole.status_code, whole.content, whole.headers["accept-ranges"]) == (200, body, "bytes")
    part = api.get(media, headers={**viewer, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert api.get(f"/videos/media/{run}/task-of-another-run", headers=viewer).status_code == 404

    poster = api.get(f"/videos/poster/{run}/{quote(remote_id)}", headers=viewer)
    assert poster.status_code == 200
    assert poster.content[:2] == b"\xff\xd8"
    stored = archived["key"].rsplit(".", 1)[0] + ".poster.jpg"
    assert s3_client.get_object(Bucket=s3_bucket, Key=stored)["Body"].read() == poster.content
