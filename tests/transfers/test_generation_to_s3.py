"""Integration: a generation through the simulator, archived into SeaweedFS, through dag.test()."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from tests.operators.test_generation_operator import xcom
from tests.transfers.conftest import decode_errors

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("airflow_db")]


def test_generated_video_is_archived_decodable_with_metadata(
    run_dag: Any, simulator: Any, videogen_conn: str, s3_bucket: str, aws_conn_id: str, s3_client: Any, tmp_path: Path
) -> None:
    simulator.configure(render_seconds=1.0)
    dagrun = run_dag("test_generation_to_s3", run_conf={"bucket": s3_bucket, "aws_conn_id": aws_conn_id})
    assert dagrun.state == "success"
    generated = xcom(dagrun, task_id="generate")
    (archived,) = xcom(dagrun, task_id="archive")
    assert archived["uri"] == f"s3://{s3_bucket}/{archived['key']}"

    obj = s3_client.get_object(Bucket=s3_bucket, Key=archived["key"])
    body = obj["Body"].read()
    assert hashlib.sha256(body).hexdigest() == archived["sha256"] == obj["Metadata"]["sha256"]
    assert len(body) == archived["size"] == obj["ContentLength"]
    assert obj["ContentType"] == "video/mp4"
    metadata = obj["Metadata"]
    assert generated["id"] in metadata.values()
    assert "veo3.1-fast" in metadata.values()
    path = tmp_path / "archived.mp4"
    path.write_bytes(body)
    assert decode_errors(path) == ""
    assert simulator.stats()["generation"]["creates"] == 1
