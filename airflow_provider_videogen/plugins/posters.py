"""Poster frames: the first frame of an archived video, made once and stored next to it in S3.

``s3://bucket/run/clip-0.mp4`` gets ``s3://bucket/run/clip-0.poster.jpg``. The first request
for a poster makes it: ffmpeg reads the start of the video from a presigned URL (only the bytes
it needs, not the whole file) and writes one JPEG frame, which is stored; every later request
streams the stored image.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_videogen.frames import FFMPEG_TIMEOUT_SECONDS, ffmpeg_exe

POSTER_SUFFIX = ".poster.jpg"


def poster_key(video_key: str) -> str:
    stem, dot, _ = video_key.rpartition(".")
    return f"{stem if dot else video_key}{POSTER_SUFFIX}"


def ensure_poster(client: Any, bucket: str, key: str) -> str:
    """The key of the video's poster, made and stored on first use."""
    target = poster_key(key)
    try:
        client.head_object(Bucket=bucket, Key=target)
        return target
    except Exception:  # botocore ClientError (404): not made yet
        pass
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    handle, name = tempfile.mkstemp(prefix="videogen-poster-", suffix=".jpg")
    os.close(handle)
    out = Path(name)
    try:
        subprocess.run(
            [
                ffmpeg_exe(),
                "-loglevel",
                "error",
                "-y",
                "-i",
                url,
                "-frames:v",
                "1",
                "-q:v",
                "3",
                "-f",
                "image2",
                str(out),
            ],
            check=True,
            capture_output=True,
            timeout=FFMPEG_TIMEOUT_SECONDS,
        )
        client.put_object(
            Bucket=bucket, Key=target, Body=out.read_bytes(), ContentType="image/jpeg", Metadata={"poster-of": key}
        )
    finally:
        out.unlink(missing_ok=True)
    return target
