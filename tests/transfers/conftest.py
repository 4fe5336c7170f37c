"""Fixtures of the archive tests: real MP4 files made by ffmpeg, a local video server, clients."""

from __future__ import annotations

import subprocess
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.transfers.video_server import VideoServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


FFMPEG_LAVFI = ("-v", "error", "-y", "-f", "lavfi", "-i")
#: Random noise compresses badly: a few seconds of MJPEG make a real, decodable multi-part video.
NOISE = "nullsrc=s=640x360:r=10,geq=random(1)*255:128:128"


def decode_errors(path: Path) -> str:
    """What ``ffmpeg -v error -i file -f null -`` complains about; empty when the video decodes."""
    done = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stderr.strip() if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()}"


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def small_mp4(media_dir: Path) -> bytes:
    """A 1 s 160x120 H.264 clip (5-8 KB): below one part, so it takes the single-PUT path."""
    out = media_dir / "small.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            *FFMPEG_LAVFI,
            "testsrc=size=160x120:rate=10",
            "-t",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


@pytest.fixture(scope="session")
def large_mp4(media_dir: Path) -> bytes:
    """A real, decodable MP4 of about 13 MB (MJPEG noise): three 5 MiB parts, so the multipart path."""
    out = media_dir / "large.mp4"
    subprocess.run(
        [ffmpeg_exe(), *FFMPEG_LAVFI, NOISE, "-t", "8", "-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p", str(out)],
        check=True,
        timeout=120,
    )
    data = out.read_bytes()
    assert len(data) > 10 * 1024 * 1024, len(data)
    return data


@pytest.fixture(scope="session")
def video_server() -> Iterator[VideoServer]:
    server = VideoServer().start()
    yield server
    server.stop()


@pytest.fixture
def route_path() -> str:
    """A fresh path per test, so tests sharing the session's server never see each other's routes."""
    return f"/videos/{uuid.uuid4().hex}/clip.mp4"


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        yield client
