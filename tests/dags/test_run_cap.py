"""``max_credits`` of the example DAGs: the planning step estimates the whole run and fails before any create."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.dags.helpers import task_states

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("airflow_db")]


def test_a_day_over_max_credits_fails_in_plan_day_with_zero_creates(
    run_dag: Any, example_env: Any, s3_bucket: str, log_text: Any
) -> None:
    # 2 clips of veo-3.1-fast-generate-preview, 4 s, audio on by default: 2 x 34.56 = 69.12 credits
    conf = {"s3_bucket": s3_bucket, "variants": 2, "poll_interval": 0.2, "max_credits": 50}
    dagrun = run_dag("videogen_daily", run_conf=conf)
    assert dagrun.state == "failed"
    states = task_states(dagrun)
    assert states[("plan_day", -1)] == "failed", states
    assert {ti.task_id: ti.try_number for ti in dagrun.get_task_instances() if ti.try_number > 1} == {}, states
    assert example_env.stats()["generation"]["creates"] == 0
    text = log_text()
    assert "2 clip(s): 69.12 credits ($0.96), more than max_credits=50" in text
    assert "variant 0 clip: 34.56 credits ($0.48: 4 s x 8.64 credits/s (720p, with audio))" in text


def test_a_pipeline_run_over_max_credits_fails_with_zero_creates(
    run_dag: Any, example_env: Any, s3_bucket: str, log_text: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = example_env
    conn = {
        "conn_type": "videogen",
        "host": sim.url,
        "password": sim.api_key,
        "extra": {"prices": {"veo_3_1-fast-fl-remix": {"credits_per_video": 60}}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_DEFAULT", json.dumps(conn))
    # 2 clips (veo3.1-fast, 8 s: 46.08) + 2 remixes (60, from the connection's prices) = 212.16 credits
    conf = {"s3_bucket": s3_bucket, "variants": 2, "poll_interval": 0.2, "max_credits": 200}
    dagrun = run_dag("videogen_pipeline", run_conf=conf)
    assert dagrun.state == "failed"
    assert task_states(dagrun)[("plan_prompts", -1)] == "failed"
    assert sim.stats()["generation"]["creates"] == 0
    assert sim.stats()["remix"]["creates"] == 0
    assert "2 clip(s) and 2 remix(es): 212.16 credits ($2.9467), more than max_credits=200" in log_text()


def test_a_pipeline_with_an_unpriced_remix_under_a_cap_fails_with_zero_creates(
    run_dag: Any, example_env: Any, s3_bucket: str, log_text: Any
) -> None:
    conf = {"s3_bucket": s3_bucket, "variants": 1, "poll_interval": 0.2, "max_credits": 1000}
    dagrun = run_dag("videogen_pipeline", run_conf=conf)
    assert dagrun.state == "failed"
    assert example_env.stats()["generation"]["creates"] == 0
    text = log_text()
    assert "1 video(s) have no price, so max_credits=1000 cannot be enforced" in text
    assert "no published price for 'veo_3_1-fast-fl-remix'" in text


def test_a_day_under_max_credits_records_estimate_and_reserved_credits_in_the_manifest(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    conf = {"s3_bucket": s3_bucket, "variants": 2, "poll_interval": 0.2, "max_credits": 69.12}
    dagrun = run_dag("videogen_daily", run_conf=conf)
    assert dagrun.state == "success", task_states(dagrun)
    (key,) = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"] if o["Key"].endswith(".json")]
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    clips = [variant["clip"] for variant in manifest["variants"]]
    assert [(c["estimated_credits"], c["credits_reserved"]) for c in clips] == [(34.56, 34.56), (34.56, 34.56)]
    assert manifest["totals"]["estimated_credits"] == manifest["totals"]["credits_reserved"] == 69.12
