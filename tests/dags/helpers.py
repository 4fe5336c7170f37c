"""Helpers of the example DAG tests: XCom and task states of a run, S3 downloads, ffmpeg checks."""

from __future__ import annotations

import hashlib
import subprocess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3 import S3Client


def xcom(dagrun: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id, key=key, map_index=map_index)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def task_states(dagrun: Any) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dagrun.get_task_instances()}


def download(client: S3Client, bucket: str, key: str, target: Path) -> bytes:
    data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    target.write_bytes(data)
    return data


def assert_decodable_mp4(path: Path) -> None:
    import imageio_ffmpeg

    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"ffmpeg cannot decode {path.name}: {done.stderr}"
    assert not done.stderr.strip(), f"ffmpeg cannot decode {path.name}: {done.stderr}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
