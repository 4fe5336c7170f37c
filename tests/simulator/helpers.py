"""Helpers for the simulator's tests: images, an ffmpeg decode check, polling."""

from __future__ import annotations

import base64
import struct
import subprocess
import time
import zlib
from typing import TYPE_CHECKING, Any

import imageio_ffmpeg

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def decode_errors(video: bytes, tmp_path: Path, name: str = "video.mp4") -> str:
    """ffmpeg's complaints when decoding ``video`` completely ('' when it decodes cleanly)."""
    path = tmp_path / name
    path.write_bytes(video)
    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.stderr.decode(errors="replace") + ("" if done.returncode == 0 else f"exit {done.returncode}")


def video_duration(video: bytes, tmp_path: Path) -> float:
    """Duration in seconds as ffmpeg reads it from the container."""
    path = tmp_path / "probe.mp4"
    path.write_bytes(video)
    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, check=False
    )
    text = done.stderr.decode(errors="replace")
    stamp = text.split("Duration: ", 1)[1].split(",", 1)[0]
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def poll_until(
    client: httpx.Client, path: str, done: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """GET ``path`` every 50 ms until ``done(body)``; every body seen, in order."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if done(seen[-1]):
            return seen
        assert time.monotonic() < deadline, f"{path} did not finish: {seen[-1]}"
        time.sleep(0.05)
