"""The example DAGs on the production shape: the pipeline archives to S3; a real backfill pays once per video.

* ``videogen_pipeline`` runs to success through Celery and the triggerers, and its manifest and
  videos are in SeaweedFS.
* ``airflow backfill create`` of ``videogen_daily`` over three dates: three runs succeed with
  distinct per-date keys. The same backfill with ``--reprocess-behavior completed`` re-runs them
  and sends zero creates (each day's manifest is complete). A fourth date with one variant
  refused by the gateway fails; reprocessed with ``--reprocess-behavior failed``, it sends one
  create, for that variant only: the ones that succeeded are re-used, not paid again.
* Both again in batch mode (``batch_size``, issue 23): the pipeline's clips submitted by one
  ``generate_clip_batch`` task; the backfill's three clips a day by two batch tasks (2 + 1), a
  refused clip failing its batch while the batch's other clip is still archived, and the
  reprocess paying for the refused clip only (the batch re-uses the ones that rendered).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.pipelines.prompts import template_prompts
from airflow_provider_videogen.testing.airflow_components import find_airflow_binary
from tests.cluster.conftest import BUCKET
from tests.cluster.helpers import all_task_instances, create_records, wait_for_end

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # the first test also starts the cluster

PIPELINE = "videogen_pipeline"
DAILY = "videogen_daily"
VARIANTS = 2
CAMPAIGN = "harbour-diaries"
THEME = "a small fishing harbour waking up"
DATES = ["2026-03-01", "2026-03-02", "2026-03-03"]
BROKEN_DATE = "2026-03-04"
#: The batch-mode backfill: its own dates, three clips a day, two per batch task.
BATCH = {"variants": 3, "batch_size": 2}
BATCH_DATES = ["2026-03-05", "2026-03-06"]
BATCH_BROKEN_DATE = "2026-03-07"


def _manifest(s3: SeaweedFS, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return dict(json.loads(body))


@pytest.mark.parametrize("batch_size", [0, 2], ids=["one-clip-per-task", "in-batches"])
def test_example_pipeline_runs_on_the_cluster_and_archives_to_s3(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, cluster_s3: SeaweedFS, batch_size: int
) -> None:
    api = cluster.api
    before = cluster_simulator.stats()
    api.wait_for_dag(PIPELINE)
    conf = {"variants": VARIANTS, "use_llm": True, "s3_bucket": BUCKET, "poll_interval": 1, "duration": 4}
    run_id = api.trigger(PIPELINE, conf={**conf, "batch_size": batch_size})
    run, tis = wait_for_end(api, PIPELINE, run_id, timeout=300)
    assert run["state"] == "success", sorted((ti["task_id"], ti["map_index"], ti["state"]) for ti in tis)
    generated = _generation_states(api, PIPELINE, run_id)
    if batch_size:  # one batch task for both clips; generate_clip mapped over nothing
        assert generated == {("generate_clip", -1): "skipped", ("generate_clip_batch", 0): "success"}
    else:
        assert generated == {
            ("generate_clip", 0): "success", ("generate_clip", 1): "success", ("generate_clip_batch", -1): "skipped"
        }  # fmt: skip

    uri = api.xcom(PIPELINE, run_id, "write_manifest")
    manifest = _manifest(cluster_s3, str(uri))
    assert manifest["problems"] == []
    assert manifest["totals"]["archived"] == 2 * VARIANTS
    after = cluster_simulator.stats()
    generation = after["generation"]["creates"] - before["generation"]["creates"]
    remix = after["remix"]["creates"] - before["remix"]["creates"]
    assert (generation, remix) == (VARIANTS, VARIANTS)
    print(f"\n[pipeline, batch_size {batch_size}] {uri}: {manifest['totals']}; creates: {generation} + {remix} remix")


def _generation_states(api: Any, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
    return {
        (ti["task_id"], ti["map_index"]): ti["state"]
        for ti in all_task_instances(api, dag_id, run_id)
        if ti["task_id"] in ("generate_clip", "generate_clip_batch")
    }


def _day_prompts(day: str, variants: int = VARIANTS) -> list[str]:
    return template_prompts(THEME, variants, salt=f"{CAMPAIGN}/{day}")


def _day_creates(simulator: SimulatorServer, day: str, variants: int = VARIANTS) -> int:
    return sum(len(create_records(simulator, prompt)) for prompt in _day_prompts(day, variants))


def _backfill(cluster: AirflowCluster, start: str, end: str, reprocess: str, **params: Any) -> None:
    """``airflow backfill create`` as an operator types it, then wait for its runs to end.

    The scheduler marks a backfill complete on a fixed 30 s timer, and a DAG takes one backfill
    at a time; once every run of this one has ended, the test closes it itself (``PUT
    /backfills/{id}/cancel``, which only fails runs still queued: there are none) instead of
    waiting for the timer.
    """
    conf = {
        "s3_bucket": BUCKET, "variants": VARIANTS, "poll_interval": 1, "campaign": CAMPAIGN, "theme": THEME, **params
    }  # fmt: skip
    command = [
        find_airflow_binary(), "backfill", "create", "--dag-id", DAILY, "--from-date", start, "--to-date", end,
        "--reprocess-behavior", reprocess, "--dag-run-conf", json.dumps(conf),
    ]  # fmt: skip
    done = subprocess.run(command, env=cluster.environment(), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    backfill = max(
        cluster.api.get("/backfills", params={"dag_id": DAILY, "limit": 100})["backfills"], key=lambda b: b["id"]
    )
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    days = [str(first + timedelta(days=n)) for n in range((last - first).days + 1)]
    deadline = time.monotonic() + 300
    while True:
        states = {day: _runs(cluster, day)["state"] for day in days}
        if all(state in ("success", "failed") for state in states.values()):
            break
        assert time.monotonic() < deadline, f"backfill {backfill['id']}: runs not finished in time: {states}"
        time.sleep(2)
    if not cluster.api.get(f"/backfills/{backfill['id']}").get("completed_at"):
        cluster.api.request("PUT", f"/backfills/{backfill['id']}/cancel", expect=(200, 409))


def _runs(cluster: AirflowCluster, day: str) -> dict[str, Any]:
    runs = cluster.api.get(f"/dags/{DAILY}/dagRuns", params={"limit": 100})["dag_runs"]
    found = [r for r in runs if str(r.get("logical_date", "")).startswith(day)]
    assert len(found) == 1, found
    return dict(found[0])


def test_backfill_pays_once_per_video_and_reprocessing_pays_only_what_failed(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, cluster_s3: SeaweedFS
) -> None:
    api = cluster.api
    # Unpausing a daily DAG makes the scheduler start today's run too; it runs with its default
    # bucket, which is there, and with other dates' prompts (not counted below).
    cluster_s3.create_bucket("videogen-archive", exist_ok=True)
    api.wait_for_dag(DAILY)

    # 1. Three dates: three runs succeed, each archived under its own date's keys.
    _backfill(cluster, DATES[0], DATES[-1], "none")
    prefixes = {}
    for day in DATES:
        run = _runs(cluster, day)
        assert run["state"] == "success", run
        assert run["run_type"] == "backfill"
        prefix = api.xcom(DAILY, run["dag_run_id"], "plan_day", key="archive_prefix")
        assert f"/{day}/" in str(prefix)
        prefixes[day] = prefix
        assert _day_creates(cluster_simulator, day) == VARIANTS
    assert len(set(prefixes.values())) == len(DATES)
    first = {day: _day_creates(cluster_simulator, day) for day in DATES}

    # 2. The same backfill again, every completed run reprocessed: nothing is paid again.
    _backfill(cluster, DATES[0], DATES[-1], "completed")
    for day in DATES:
        run = _runs(cluster, day)
        assert run["state"] == "success", run
    again = {day: _day_creates(cluster_simulator, day) for day in DATES}
    assert again == first, f"creates per date before {first}, after the reprocess {again}"

    # 3. A date on which the gateway refuses one variant: the run fails, the other variant is archived.
    refused = _day_prompts(BROKEN_DATE)[1]
    cluster_simulator.configure(fail_prompts_containing={refused: "content_policy_violation"})
    try:
        _backfill(cluster, BROKEN_DATE, BROKEN_DATE, "none")
    finally:
        cluster_simulator.configure(fail_prompts_containing={})
    assert _runs(cluster, BROKEN_DATE)["state"] == "failed"
    assert _day_creates(cluster_simulator, BROKEN_DATE) == VARIANTS
    assert len(create_records(cluster_simulator, refused)) == 1

    # ...reprocessed: one create, for the refused variant only; the run succeeds.
    _backfill(cluster, BROKEN_DATE, BROKEN_DATE, "failed")
    assert _runs(cluster, BROKEN_DATE)["state"] == "success"
    assert len(create_records(cluster_simulator, refused)) == 2
    assert _day_creates(cluster_simulator, BROKEN_DATE) == VARIANTS + 1
    print(
        f"\n[backfill] creates per date after the first backfill {first}, after 'completed' reprocess {again}; "
        f"{BROKEN_DATE}: {VARIANTS} then 1 (the refused variant only)"
    )


def test_a_backfill_in_batches_pays_once_per_video_and_reprocessing_pays_only_what_failed(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, cluster_s3: SeaweedFS
) -> None:
    """Two backfills (a re-run of a completed day sends nothing in either mode: the test above and
    tests/dags/test_videogen_daily.py, whose batch day is re-run one clip per task)."""
    api = cluster.api
    cluster_s3.create_bucket("videogen-archive", exist_ok=True)  # see the test above (today's scheduled run)
    api.wait_for_dag(DAILY)
    variants = BATCH["variants"]
    dates = [*BATCH_DATES, BATCH_BROKEN_DATE]

    # 1. Three dates, three clips each, submitted two per task; on the last date the gateway refuses
    #    variant 1, so its batch (variants 0 and 1) fails and the run fails, with variants 0 and 2 archived.
    refused = _day_prompts(BATCH_BROKEN_DATE, variants)[1]
    cluster_simulator.configure(fail_prompts_containing={refused: "content_policy_violation"})
    try:
        _backfill(cluster, dates[0], dates[-1], "none", **BATCH)
    finally:
        cluster_simulator.configure(fail_prompts_containing={})
    for day in BATCH_DATES:
        run = _runs(cluster, day)
        assert run["state"] == "success", run
        assert _generation_states(api, DAILY, run["dag_run_id"]) == {
            ("generate_clip", -1): "skipped", ("generate_clip_batch", 0): "success",
            ("generate_clip_batch", 1): "success",
        }  # fmt: skip
        manifest = _manifest(cluster_s3, str(api.xcom(DAILY, run["dag_run_id"], "write_manifest")))
        assert (manifest["clip_task"], manifest["problems"]) == ("generate_clip_batch", [])
        assert manifest["totals"]["archived"] == variants
        assert f"/{day}/" in manifest["variants"][0]["clip"]["s3_uri"]
        assert _day_creates(cluster_simulator, day, variants) == variants
    run = _runs(cluster, BATCH_BROKEN_DATE)
    assert run["state"] == "failed"
    states = _generation_states(api, DAILY, run["dag_run_id"])
    assert (states[("generate_clip_batch", 0)], states[("generate_clip_batch", 1)]) == ("failed", "success")
    prefix = str(api.xcom(DAILY, run["dag_run_id"], "plan_day", key="archive_prefix"))
    listing = cluster_s3.boto3_client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    assert {obj["Key"].rsplit("/", 1)[1] for obj in listing} == {"clip-0.mp4", "clip-2.mp4", "manifest.json"}
    assert _day_creates(cluster_simulator, BATCH_BROKEN_DATE, variants) == variants
    first = {day: _day_creates(cluster_simulator, day, variants) for day in dates}

    # 2. The failed run reprocessed: its batch re-uses variant 0's video and pays for variant 1 only.
    _backfill(cluster, dates[0], dates[-1], "failed", **BATCH)
    assert [_runs(cluster, day)["state"] for day in dates] == ["success"] * len(dates)
    assert len(create_records(cluster_simulator, refused)) == 2
    after = {day: _day_creates(cluster_simulator, day, variants) for day in dates}
    assert after == {**first, BATCH_BROKEN_DATE: variants + 1}, f"creates per date before {first}, after {after}"
    manifest = _manifest(
        cluster_s3, str(api.xcom(DAILY, _runs(cluster, BATCH_BROKEN_DATE)["dag_run_id"], "write_manifest"))
    )
    assert manifest["problems"] == []
    print(
        f"\n[backfill in batches of {BATCH['batch_size']}] creates per date {first}, after reprocessing the failed "
        f"one {after} (the refused clip only)"
    )
