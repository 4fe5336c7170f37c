"""``videogen_daily`` for three logical dates, then one of them again, through ``dag.test()``.

Each day must get its own deterministic set (prompts and seeds from the date, keys from the
day's plan), and running a day that is already archived must not send a single generation
request (simulator statistics) nor touch its objects.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.pipelines.prompts import derive_seed, plan_fingerprint, plan_variants, template_prompts
from tests.dags.helpers import task_states, xcom

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("airflow_db")]

DAYS = [datetime(2026, 3, day, tzinfo=timezone.utc) for day in (1, 2, 3)]
#: A date no other test runs: the run is kept across ``dag.test()`` calls in this test.
CLEARED_DAY = datetime(2026, 4, 1, tzinfo=timezone.utc)
VARIANTS = 2
CAMPAIGN = "harbour-diaries"
THEME = "a small fishing harbour waking up"
MODEL = "veo-3.1-fast-generate-preview"


def expected_plan(ds: str) -> list[dict[str, Any]]:
    """The plan the DAG must build for ``ds``, computed here from the documented derivation."""
    return plan_variants(
        template_prompts(THEME, VARIANTS, salt=f"{CAMPAIGN}/{ds}"),
        seeds=[derive_seed(CAMPAIGN, ds, i) for i in range(VARIANTS)],
        model=MODEL,
        aspect_ratio="9:16",
        duration=4,
        poll_interval=0.2,
    )


def objects(client: S3Client, bucket: str) -> dict[str, tuple[str, Any]]:
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {obj["Key"]: (obj["ETag"], obj["LastModified"]) for obj in listing}


def test_three_days_are_distinct_and_deterministic_and_a_rerun_sends_nothing(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    sim = example_env
    conf = {"s3_bucket": s3_bucket, "variants": VARIANTS, "poll_interval": 0.2}

    key_sets: dict[str, set[str]] = {}
    for day in DAYS:
        before = set(objects(s3_client, s3_bucket))
        dagrun = run_dag("videogen_daily", logical_date=day, run_conf=conf)
        assert dagrun.state == "success", task_states(dagrun)
        ds = day.date().isoformat()
        plan = expected_plan(ds)
        prefix = f"videogen-daily/{CAMPAIGN}/{ds}/{plan_fingerprint(plan)}"
        new_keys = set(objects(s3_client, s3_bucket)) - before
        assert new_keys == {f"{prefix}/clip-{i}.mp4" for i in range(VARIANTS)} | {f"{prefix}/manifest.json"}
        key_sets[ds] = new_keys

        manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=f"{prefix}/manifest.json")["Body"].read())
        assert manifest["logical_date"].startswith(ds)
        assert manifest["prompt_source"] == "template"
        assert [(v["prompt"], v["seed"]) for v in manifest["variants"]] == [(v["prompt"], v["seed"]) for v in plan]
        for i, variant in enumerate(manifest["variants"]):
            head = s3_client.head_object(Bucket=s3_bucket, Key=f"{prefix}/clip-{i}.mp4")
            assert head["Metadata"]["sha256"] == variant["clip"]["sha256"]
            assert head["Metadata"]["kind"] == "clip"
            assert head["Metadata"]["variant"] == str(i)
            assert head["Metadata"]["videogen-task-id"] == variant["clip"]["remote_id"]

    # Three distinct sets: no shared key, no shared prompt, no shared seed.
    assert sum(len(keys) for keys in key_sets.values()) == len(set().union(*key_sets.values()))
    stats = sim.stats()
    assert stats["generation"]["creates"] == len(DAYS) * VARIANTS
    bodies = [request["body"] for request in stats["generation_requests"]]
    assert len({b["prompt"] for b in bodies}) == len({b["seed"] for b in bodies}) == len(DAYS) * VARIANTS
    assert {b["model"] for b in bodies} == {MODEL}

    # Running the first day again: already archived, so nothing is submitted or rewritten.
    archived = objects(s3_client, s3_bucket)
    rerun = run_dag("videogen_daily", logical_date=DAYS[0], run_conf=conf)
    assert rerun.state == "success"
    states = task_states(rerun)
    assert states[("plan_day", -1)] == "success", states
    assert states[("write_manifest", -1)] == "skipped", states
    assert states[("generate_clip", -1)] == "skipped", states
    assert states[("archive_clip", -1)] == "skipped", states
    after = sim.stats()
    assert after["generation"]["creates"] == len(DAYS) * VARIANTS
    assert after["chat"]["calls"] == 0
    assert objects(s3_client, s3_bucket) == archived


@pytest.fixture
def clear_instead_of_recreate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a second ``dag.test()`` of a logical date re-run the existing run, as a user's clear does.

    ``dag.test()`` deletes the run of its logical date and creates a new one, which drops the task
    state store like any new run. A user re-runs a day by *clearing* it (the UI, ``airflow tasks
    clear``, ``airflow backfill create --reprocess-behavior completed``), which keeps the run and its
    store; ``dag.test()`` has already cleared the task instances, so the existing run is reused.
    """
    import airflow.models.dagrun as dagrun_module
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    create = dagrun_module.get_or_create_dagrun

    def reuse(*, dag: Any, logical_date: Any, session: Any, **kwargs: Any) -> Any:
        DagRun = dagrun_module.DagRun
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.logical_date == logical_date))
        if run is None:
            return create(dag=dag, logical_date=logical_date, session=session, **kwargs)
        run.state = DagRunState.RUNNING
        session.commit()
        run.dag = dag
        return run

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", reuse)


def test_clearing_a_day_that_lost_its_manifest_reuses_the_paid_clips(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client, clear_instead_of_recreate: None
) -> None:
    """The run archived its clips but the manifest is gone (a failed write, a deleted object). Clearing the
    day re-attaches each clip task to the video it paid for (re-attach rules), the archive recognises
    the objects without downloading them, and the manifest is written again: no new request."""
    conf = {"s3_bucket": s3_bucket, "variants": VARIANTS, "poll_interval": 0.2}
    first = run_dag("videogen_daily", logical_date=CLEARED_DAY, run_conf=conf)
    assert first.state == "success"
    archived = objects(s3_client, s3_bucket)
    [manifest_key] = [key for key in archived if key.endswith("/manifest.json")]
    s3_client.delete_object(Bucket=s3_bucket, Key=manifest_key)

    again = run_dag("videogen_daily", logical_date=CLEARED_DAY, run_conf=conf)

    assert again.run_id == first.run_id, task_states(again)
    assert again.state == "success", task_states(again)
    assert example_env.stats()["generation"]["creates"] == VARIANTS
    after = objects(s3_client, s3_bucket)
    assert set(after) == set(archived)
    assert {k: v for k, v in after.items() if k != manifest_key} == {
        k: v for k, v in archived.items() if k != manifest_key
    }


def test_a_campaign_the_archive_would_refuse_fails_the_plan_before_anything_is_paid(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    """``campaign=".."`` passes the param's pattern; it used to plan and pay the day, then every
    archive task refused its key and the manifest was written under a ``..`` key (issue 21 point 13)."""
    conf = {"s3_bucket": s3_bucket, "variants": 1, "poll_interval": 0.2, "campaign": ".."}
    dagrun = run_dag("videogen_daily", logical_date=datetime(2026, 5, 1, tzinfo=timezone.utc), run_conf=conf)
    states = task_states(dagrun)
    assert states[("plan_day", -1)] == "failed", states
    # Refused as a bad parameter, without retry; on main the day was planned, and here only
    # SeaweedFS refusing the '..' manifest key (AWS stores it) stopped it, once per retry.
    [plan_ti] = [ti for ti in dagrun.get_task_instances() if ti.task_id == "plan_day"]
    assert plan_ti.try_number == 1
    assert example_env.stats()["generation"]["creates"] == 0
    assert objects(s3_client, s3_bucket) == {}


# ---- batch mode (issue 23): the clips submitted batch_size per task ------------------------------


def _clip_states(dagrun: Any) -> dict[tuple[str, int], str]:
    return {k: v for k, v in task_states(dagrun).items() if k[0] in ("generate_clip", "generate_clip_batch")}


def test_a_day_in_batches_is_archived_under_the_same_keys_and_a_per_clip_rerun_sends_nothing(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    """Three clips, two per batch: two batch tasks (2 + 1), three creates, the day's usual keys and
    manifest. The mode does not change the plan, so the same day run one clip per task is archived."""
    day = datetime(2026, 6, 1, tzinfo=timezone.utc)
    conf = {"s3_bucket": s3_bucket, "variants": 3, "poll_interval": 0.2, "batch_size": 2}
    dagrun = run_dag("videogen_daily", logical_date=day, run_conf=conf)

    assert dagrun.state == "success", task_states(dagrun)
    assert _clip_states(dagrun) == {
        ("generate_clip", -1): "skipped",  # an empty mapping: no worker started for it
        ("generate_clip_batch", 0): "success",
        ("generate_clip_batch", 1): "success",
    }
    assert [len(xcom(dagrun, "generate_clip_batch", map_index=j)) for j in (0, 1)] == [2, 1]
    ds = day.date().isoformat()
    plan = plan_variants(
        template_prompts(THEME, 3, salt=f"{CAMPAIGN}/{ds}"),
        seeds=[derive_seed(CAMPAIGN, ds, i) for i in range(3)],
        model=MODEL,
        aspect_ratio="9:16",
        duration=4,
        poll_interval=0.2,
    )
    prefix = f"videogen-daily/{CAMPAIGN}/{ds}/{plan_fingerprint(plan)}"
    assert set(objects(s3_client, s3_bucket)) == {f"{prefix}/clip-{i}.mp4" for i in range(3)} | {
        f"{prefix}/manifest.json"
    }
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=f"{prefix}/manifest.json")["Body"].read())
    assert manifest["clip_task"] == "generate_clip_batch"
    assert manifest["problems"] == []
    sent = {r["task_id"]: r["body"] for r in example_env.stats()["generation_requests"]}
    for i, variant in enumerate(manifest["variants"]):  # each clip is its own variant's request
        assert sent[variant["clip"]["remote_id"]]["prompt"] == plan[i]["prompt"] == variant["prompt"]
        assert sent[variant["clip"]["remote_id"]]["seed"] == plan[i]["seed"]
        head = s3_client.head_object(Bucket=s3_bucket, Key=f"{prefix}/clip-{i}.mp4")
        assert (head["Metadata"]["variant"], head["Metadata"]["sha256"]) == (str(i), variant["clip"]["sha256"])
    assert example_env.stats()["generation"]["creates"] == 3

    rerun = run_dag("videogen_daily", logical_date=day, run_conf={**conf, "batch_size": 0})
    assert rerun.state == "success"
    assert task_states(rerun)[("write_manifest", -1)] == "skipped"
    assert example_env.stats()["generation"]["creates"] == 3


def test_a_refused_clip_fails_its_batch_but_the_others_are_archived_and_a_clear_pays_only_for_it(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client, clear_instead_of_recreate: None
) -> None:
    """The gateway refuses one clip of a batch of two: the batch task fails (no retry: a content policy
    refusal), yet the clip that rendered is archived before its link expires, and the manifest names
    the missing one and the batch task. Cleared, the batch re-uses the rendered clip: one create."""
    day = datetime(2026, 6, 2, tzinfo=timezone.utc)
    conf = {"s3_bucket": s3_bucket, "variants": 2, "poll_interval": 0.2, "batch_size": 2}
    refused = template_prompts(THEME, 2, salt=f"{CAMPAIGN}/{day.date().isoformat()}")[1]
    example_env.configure(fail_prompts_containing={refused: "content_policy_violation"})
    failed = run_dag("videogen_daily", logical_date=day, run_conf=conf)

    assert failed.state == "failed"
    assert _clip_states(failed)[("generate_clip_batch", 0)] == "failed"
    keys = set(objects(s3_client, s3_bucket))
    [manifest_key] = [key for key in keys if key.endswith("/manifest.json")]
    prefix = manifest_key.rsplit("/", 1)[0]
    assert keys == {manifest_key, f"{prefix}/clip-0.mp4"}
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    assert manifest["problems"] == ["variant 1: no clip (see generate_clip_batch)"]
    assert example_env.stats()["generation"]["creates"] == 2

    example_env.configure(fail_prompts_containing={})
    again = run_dag("videogen_daily", logical_date=day, run_conf=conf)

    assert again.run_id == failed.run_id
    assert again.state == "success", task_states(again)
    bodies = [r["body"]["prompt"] for r in example_env.stats()["generation_requests"]]
    assert len(bodies) == 3
    assert bodies.count(refused) == 2
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    assert manifest["problems"] == []
    assert set(objects(s3_client, s3_bucket)) == keys | {f"{prefix}/clip-1.mp4"}
