"""OpenLineage events of a remix -> S3 pipeline, emitted by the OpenLineage provider's own listener.

The DAG runs with ``dag.test()`` in a subprocess whose ``[openlineage] transport`` is the
provider's file transport; the test reads the COMPLETE events it wrote and checks the facets and
datasets the operators declare (see :mod:`airflow_provider_videogen.lineage`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.lineage import dataset_name, gateway_origin, s3_dataset
from tests.lineage.test_batch_openlineage import check_batch_events

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
RUNNER = Path(__file__).with_name("run_with_openlineage.py")


def events(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("events-*.json"))]


def complete_event(all_events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    found = [e for e in all_events if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(f".{task_id}")]
    assert len(found) == 1, [(e.get("eventType"), e["job"]["name"]) for e in all_events]
    return found[0]


@pytest.mark.dagrun
@pytest.mark.usefixtures("airflow_db")
def test_pipeline_complete_events_hold_the_facets_and_datasets(
    simulator: Any, videogen_conn: str, s3_bucket: str, aws_conn_id: str, s3_client: S3Client, tmp_path: Path
) -> None:
    simulator.configure(render_seconds=1.0)
    image = tmp_path / "boat.png"
    image.write_bytes(PNG)
    out = tmp_path / "openlineage"
    out.mkdir()
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(out / "events"), "append": False}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "videogen-test",
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
    }
    env.pop("PYTEST_VERSION", None)
    conf = {"image": str(image), "bucket": s3_bucket, "aws_conn_id": aws_conn_id}
    done = subprocess.run(
        [sys.executable, str(RUNNER), "test_lineage_pipeline", json.dumps(conf), "test_batch_lineage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "DAGRUN_STATE=success" in done.stdout, (done.stdout[-3000:], done.stderr[-6000:])
    emitted = events(out)
    assert emitted, [line for line in done.stderr.splitlines() if "lineage" in line.lower()][-20:]

    remix = complete_event(emitted, "remix")
    facets = remix["run"]["facets"]
    remote_id = facets["externalQuery"]["externalQueryId"]
    assert remote_id == simulator.stats()["remix_requests"][0]["task_id"]
    assert facets["externalQuery"]["source"] == gateway_origin(simulator.url)
    videogen = facets["videogen"]
    assert videogen["api"] == "remix"
    assert videogen["model"] == "veo_3_1-fast-remix"
    assert videogen["durationSeconds"] == 15
    assert videogen["size"] == "1280x720"
    assert videogen["reused"] is False
    assert videogen["_schemaURL"].endswith("#/$defs/VideogenRunFacet")
    assert [(d["namespace"], d["name"]) for d in remix["inputs"]] == [("file", str(image.resolve()))]

    archive = complete_event(emitted, "archive")
    keys = [obj["Key"] for obj in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert keys
    assert sorted((d["namespace"], d["name"]) for d in archive["outputs"]) == sorted(
        (f"s3://{s3_bucket}", key) for key in keys
    )
    text = json.dumps(emitted)
    assert simulator.api_key not in text  # no secret in any event
    check_batch_events(emitted, simulator, done.stdout + done.stderr)  # the batch's run, in the same process


def test_dataset_names_follow_openlineage_naming(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    assert dataset_name(tmp_path / "a.png") == ("file", str((tmp_path / "a.png").resolve()))
    assert dataset_name(f"file://{tmp_path}/a.png") == ("file", str((tmp_path / "a.png").resolve()))
    assert dataset_name("s3://bucket/refs/a.png") == ("s3://bucket", "refs/a.png")
    assert dataset_name(ObjectStoragePath("s3://bucket/refs/b.png")) == ("s3://bucket", "refs/b.png")
    assert dataset_name("https://images.example.com/a.png") is None  # the gateway downloads it: not a dataset
    assert dataset_name("data:image/png;base64,AAAA") is None
    assert dataset_name(b"\x89PNG") is None
    assert s3_dataset("s3://bkt/videos/a.mp4") == ("s3://bkt", "videos/a.mp4")
    assert gateway_origin("https://user:secret@gw.example.com:8443/v1?x=1") == "https://gw.example.com:8443"


def test_failure_facets_carry_the_error_message() -> None:
    from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", duration=4, quality="720p")
    op._seen_error = "remote task task-unified-1 failed: content_policy_violation"
    lineage = op.get_openlineage_facets_on_failure(None)
    assert lineage.run_facets["errorMessage"].message == op._seen_error
    facet = lineage.run_facets["videogen"]
    assert (facet.api, facet.model, facet.durationSeconds, facet.quality) == ("generation", "veo3.1-fast", 4, "720p")
    assert "errorMessage" not in op.get_openlineage_facets_on_complete(None).run_facets
