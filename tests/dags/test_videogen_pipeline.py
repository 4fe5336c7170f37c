"""``videogen_pipeline`` end to end through ``dag.test()``: simulator (gateway + LLM) and SeaweedFS (S3).

One run with the LLM on, then every archived object is downloaded and checked: ffmpeg decodes
it, its S3 metadata names the remote task and its SHA-256, and the manifest agrees with the
objects, the XComs and what the simulator received (one chat call, one create per clip and per
remix, and each remix's first frame is exactly the last frame of its clip).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.frames import extract_frame
from tests.dags.helpers import assert_decodable_mp4, download, sha256, task_states, xcom

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("airflow_db")]

VARIANTS = 2
BRIEF = "a lighthouse keeper feeding seagulls"


def test_pipeline_archives_every_clip_and_remix_with_a_manifest(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    sim = example_env
    dagrun = run_dag(
        "videogen_pipeline",
        run_conf={
            "brief": BRIEF,
            "variants": VARIANTS,
            "use_llm": True,
            "s3_bucket": s3_bucket,
            "poll_interval": 0.2,
        },
    )
    states = task_states(dagrun)
    assert dagrun.state == "success", states
    assert states.pop(("review_clip", -1), "skipped") == "skipped", states  # review off: no review asked
    assert states.pop(("generate_clip_batch", -1)) == "skipped", states  # batch_size 0: mapped over nothing
    assert set(states.values()) == {"success"}, states

    # ---- what the gateway received ---------------------------------------------------------
    stats = sim.stats()
    assert stats["chat"]["calls"] == 1
    assert stats["generation"]["creates"] == VARIANTS
    assert stats["remix"]["creates"] == VARIANTS

    # ---- S3: every object --------------------------------------------------------------------
    objects = {obj["Key"]: obj for obj in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    [manifest_key] = [key for key in objects if key.endswith("/manifest.json")]
    prefix = manifest_key.rsplit("/", 1)[0]
    assert prefix.startswith("videogen/videogen_pipeline/manual__")
    expected = {f"{prefix}/{kind}-{i}.mp4" for kind in ("clip", "remix") for i in range(VARIANTS)}
    assert set(objects) == expected | {manifest_key}

    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    assert manifest["dag_id"] == "videogen_pipeline"
    assert manifest["run_id"] == dagrun.run_id
    assert manifest["prompt_source"] == "llm"
    assert manifest["brief"] == BRIEF
    assert len(manifest["variants"]) == VARIANTS
    prompts = [v["prompt"] for v in manifest["variants"]]
    assert len(set(prompts)) == VARIANTS
    assert all("lighthouse keeper" in p for p in prompts)
    sent = {r["task_id"]: r["body"] for r in stats["generation_requests"]}
    remixes_sent = {r["task_id"]: r for r in stats["remix_requests"]}
    total_credits = 0.0
    for i, variant in enumerate(manifest["variants"]):
        assert variant["index"] == i
        for kind in ("clip", "remix"):
            video = variant[kind]
            key = f"{prefix}/{kind}-{i}.mp4"
            assert video["s3_uri"] == f"s3://{s3_bucket}/{key}"
            assert video["kind"] == kind
            assert video["state"] == "succeeded"
            assert video["partial"] is False
            assert video["remote_id"] in stats["tasks"]
            if kind == "clip":  # the remix API reports no usage
                assert video["credits_reserved"] > 0
            total_credits += video["credits_reserved"] or 0.0
            data = download(s3_client, s3_bucket, key, tmp_path / f"{kind}-{i}.mp4")
            assert_decodable_mp4(tmp_path / f"{kind}-{i}.mp4")
            assert video["size"] == len(data) == objects[key]["Size"]
            assert video["sha256"] == sha256(data)
            head = s3_client.head_object(Bucket=s3_bucket, Key=key)
            assert head["ContentType"] == "video/mp4"
            assert head["Metadata"]["sha256"] == video["sha256"]
            assert head["Metadata"]["videogen-task-id"] == video["remote_id"]
            assert head["Metadata"]["kind"] == kind
            assert head["Metadata"]["variant"] == str(i)
        assert variant["clip"]["model"] == "veo3.1-fast"
        assert variant["remix"]["model"] == "veo_3_1-fast-fl-remix"
        assert variant["clip"]["prompt"] == variant["prompt"]
        body = sent[variant["clip"]["remote_id"]]
        assert body == {"model": "veo3.1-fast", "prompt": variant["prompt"], "aspect_ratio": "16:9", "duration": 8}
        remix_sent = remixes_sent[variant["remix"]["remote_id"]]
        assert remix_sent["fields"]["prompt"] == variant["remix"]["prompt"]
        assert remix_sent["fields"]["size"] == "1280x720"
        # The remix started from exactly the last frame of its clip.
        frame = extract_frame(tmp_path / f"clip-{i}.mp4", "last", out=tmp_path / f"frame-{i}.png")
        [reference] = remix_sent["input_references"]
        assert reference["kind"] == "data_uri"
        assert reference["content_type"] == "image/png"
        assert reference["sha256"] == sha256(frame.read_bytes())
    assert manifest["totals"] == {
        "variants": VARIANTS,
        "videos": 2 * VARIANTS,
        "credits_reserved": pytest.approx(total_credits),
        # clips priced from seed 001 (8 s x 5.76 credits/s); the remix model has no published price
        "estimated_credits": pytest.approx(VARIANTS * 46.08),
        "archived": 2 * VARIANTS,
        "bytes": sum(v[k]["size"] for v in manifest["variants"] for k in ("clip", "remix")),
    }
    assert manifest["problems"] == []
    assert xcom(dagrun, "write_manifest") == f"s3://{s3_bucket}/{manifest_key}"


def test_a_failed_variant_does_not_stop_the_others_from_being_archived(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    """The first clip's create is accepted but its answer is lost (502): that variant fails without retry
    (a resubmission could pay twice). The other variant is still remixed and archived under its own
    variant index, the manifest records both, and the run ends failed so nobody misses it."""
    sim = example_env
    sim.configure(
        next_responses=[{"status": 502, "method": "POST", "path": "/v1/videos/generations", "after_create": True}]
    )
    dagrun = run_dag("videogen_pipeline", run_conf={"variants": 2, "s3_bucket": s3_bucket, "poll_interval": 0.2})

    assert dagrun.state == "failed"
    states = task_states(dagrun)
    clip_states = {index: state for (task_id, index), state in states.items() if task_id == "generate_clip"}
    assert sorted(clip_states.values()) == ["failed", "success"], states
    [failed] = [index for index, state in clip_states.items() if state == "failed"]
    [ok] = [index for index, state in clip_states.items() if state == "success"]
    assert states[("write_manifest", -1)] == "failed"

    stats = sim.stats()
    assert stats["generation"]["creates"] == 2
    assert stats["remix"]["creates"] == 1

    keys = {obj["Key"] for obj in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    [manifest_key] = [key for key in keys if key.endswith("/manifest.json")]
    prefix = manifest_key.rsplit("/", 1)[0]
    assert keys == {manifest_key, f"{prefix}/clip-{ok}.mp4", f"{prefix}/remix-{ok}.mp4"}

    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    variants = {v["index"]: v for v in manifest["variants"]}
    assert variants[failed]["clip"] is None
    assert variants[failed]["remix"] is None
    assert variants[ok]["clip"]["s3_uri"].endswith(f"/clip-{ok}.mp4")
    assert variants[ok]["remix"]["s3_uri"].endswith(f"/remix-{ok}.mp4")
    assert variants[ok]["clip"]["prompt"] == variants[ok]["prompt"]  # joined by variant, not by position
    assert manifest["problems"] == [
        f"variant {failed}: no clip (see generate_clip)",
        f"variant {failed}: no remix (see remix_15s or last_frame)",
    ]


def test_a_run_where_every_clip_fails_still_writes_its_manifest(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    example_env.configure(
        next_responses=[
            {"status": 502, "method": "POST", "path": "/v1/videos/generations", "after_create": True, "times": 2}
        ]
    )
    dagrun = run_dag("videogen_pipeline", run_conf={"variants": 2, "s3_bucket": s3_bucket, "poll_interval": 0.2})

    assert dagrun.state == "failed"
    states = task_states(dagrun)
    assert states[("write_manifest", -1)] == "failed", states
    assert states[("rendered_remixes", -1)] == "success", states
    assert example_env.stats()["remix"]["creates"] == 0
    [obj] = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read())
    assert obj["Key"].endswith("/manifest.json")
    assert len(manifest["problems"]) == 4
    assert manifest["totals"]["videos"] == 0


@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({"frame_store": "file:///etc/videogen"}, "frame_store"),
        ({"frame_store": "s3://other_conn@videogen-frames/frames"}, "frame_store"),
        ({"s3_prefix": "videogen/../other-team"}, "s3_prefix"),
        ({"s3_bucket": "Not_A_Bucket"}, "s3_bucket"),
    ],
)
def test_run_parameters_choosing_where_the_worker_writes_are_checked_first(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client, conf: dict[str, str], named: str
) -> None:
    """Issue 13 point 18: a bad destination fails the first task, without retry, before any request."""
    dagrun = run_dag(
        "videogen_pipeline",
        run_conf={"brief": BRIEF, "variants": 1, "s3_bucket": s3_bucket, "poll_interval": 0.2, **conf},
    )
    states = task_states(dagrun)
    assert dagrun.state == "failed", states
    assert states[("plan_prompts", -1)] == "failed", states
    # Nothing retries either: every task after the failed plan fails (or is skipped) at once.
    assert {ti.task_id: ti.try_number for ti in dagrun.get_task_instances() if ti.try_number > 1} == {}
    stats = example_env.stats()
    assert stats["generation"]["creates"] == 0
    assert stats["chat"]["calls"] == 0
    assert "Contents" not in s3_client.list_objects_v2(Bucket=s3_bucket)


def test_pipeline_in_batches_remixes_and_archives_every_clip(
    run_dag: Any, example_env: Any, s3_bucket: str, s3_client: S3Client
) -> None:
    """``batch_size`` 2: both clips from one ``generate_clip_batch`` task; remixes, archive and manifest as usual."""
    conf = {"brief": BRIEF, "variants": 2, "s3_bucket": s3_bucket, "poll_interval": 0.2, "batch_size": 2}
    dagrun = run_dag("videogen_pipeline", run_conf=conf)

    states = task_states(dagrun)
    assert dagrun.state == "success", states
    assert (states[("generate_clip", -1)], states[("generate_clip_batch", 0)]) == ("skipped", "success")
    assert {k: v for k, v in states.items() if k[0] == "remix_15s"} == {
        ("remix_15s", 0): "success",
        ("remix_15s", 1): "success",
    }
    stats = example_env.stats()
    assert (stats["generation"]["creates"], stats["remix"]["creates"]) == (2, 2)
    keys = {obj["Key"] for obj in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    [manifest_key] = [key for key in keys if key.endswith("/manifest.json")]
    prefix = manifest_key.rsplit("/", 1)[0]
    assert keys == {manifest_key} | {f"{prefix}/{kind}-{i}.mp4" for kind in ("clip", "remix") for i in range(2)}
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    assert (manifest["clip_task"], manifest["problems"]) == ("generate_clip_batch", [])
    sent = {r["task_id"]: r["body"]["prompt"] for r in stats["generation_requests"]}
    for variant in manifest["variants"]:  # each clip joined to its own variant (and its remix to that clip)
        assert sent[variant["clip"]["remote_id"]] == variant["prompt"]
        assert variant["remix"]["prompt"].endswith(variant["prompt"])
