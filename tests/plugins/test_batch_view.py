"""A batch task instance in the Videos app, on real runs (simulator, ``dag.test()``, Airflow's api-server app).

Issue 23: the run's page and the task instance's tab show one card per video of the batch; the
media endpoint plays an item (proxied from the gateway before archiving) and still refuses a
remote id the run did not record; a batch that stopped half-way shows what it paid for from its
items' records in Airflow's task state store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest
from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY
from tests.operators.test_generation_operator import xcom
from tests.plugins.conftest import token

pytestmark = [pytest.mark.dagrun, pytest.mark.usefixtures("airflow_db")]

DAG_ID = "test_batch_from_conf"  # tests/dag_files/batch_view_dags.py


def test_each_video_of_a_batch_has_its_card_and_plays(
    run_dag: Any, simulator: Any, videogen_conn: str, airflow_api: Any
) -> None:
    simulator.configure(render_seconds=0.5)
    requests = ["[sim:render=0.5] batch view 0", {"prompt": "[sim:render=0.5] batch view 1", "duration": 6}]
    dagrun = run_dag(DAG_ID, run_conf={"requests": requests})
    assert dagrun.state == "success"
    ids = xcom(dagrun, key=BATCH_IDS_KEY)
    assert len(ids) == 2
    run = f"{quote(DAG_ID)}/{quote(dagrun.run_id, safe='')}"
    viewer = token("viewer")

    cards = airflow_api.get(f"/videos/api/runs/{run}", headers=viewer).json()["videos"]
    assert [(c["item"], c["remote_id"], c["state"]) for c in cards] == [(i, ids[i], "succeeded") for i in (0, 1)]
    assert [(c["prompt"], c["duration_seconds"]) for c in cards] == [(requests[0], 4), (requests[1]["prompt"], 6)]
    assert all(c["credits_reserved"] and c["model"] == "veo3.1-fast" for c in cards)
    task_page = airflow_api.get(f"/videos/runs/{run}/tasks/generate/-1", headers=viewer).text
    assert task_page.count("<video ") == 2

    hook = VideoGenHook(videogen_conn)
    with hook.stream_download(hook.get_task(ApiKind.GENERATION, ids[1]).video_urls[0]) as response:
        expected = response.read()
    played = airflow_api.get(f"/videos/media/{run}/{quote(ids[1])}", headers=viewer)
    assert (played.status_code, played.content) == (200, expected)
    assert airflow_api.get(f"/videos/media/{run}/{quote(ids[1])}").status_code == 401
    not_archived = airflow_api.get(f"/videos/poster/{run}/{quote(ids[1])}", headers=viewer)
    assert not_archived.status_code == 404

    # A video the gateway has, but not one this run recorded: never served.
    other = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="not in the batch", duration=4))
    assert airflow_api.get(f"/videos/media/{run}/{quote(other.id)}", headers=viewer).status_code == 404


def test_a_batch_stopped_by_a_lost_create_answer_shows_what_it_paid_for(
    run_dag: Any, simulator: Any, videogen_conn: str
) -> None:
    from airflow_provider_videogen.plugins.store import load_run

    requests = ["[sim:render=30] paid for", "[sim:create_status=502] answer lost", "never sent"]
    dagrun = run_dag(DAG_ID, run_conf={"requests": requests})
    assert dagrun.state == "failed"
    paid, lost, unsent = load_run(DAG_ID, dagrun.run_id).cards()
    assert xcom(dagrun, key=BATCH_IDS_KEY) == [paid.remote_id]  # the items paid before the stop stay in view
    assert paid.remote_id in simulator.stats()["tasks"]
    assert (paid.item, paid.state, paid.prompt) == (0, "unknown", requests[0])
    assert paid.credits_reserved
    assert (lost.remote_id, lost.state) == (None, "uncertain")
    assert (unsent.remote_id, unsent.state) == (None, "not submitted")
