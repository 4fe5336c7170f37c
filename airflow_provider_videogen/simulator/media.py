"""Real, small MP4 files for simulated tasks, and HTTP Range arithmetic to serve them.

Each (duration, size, fps) is rendered once per process by imageio-ffmpeg's static ffmpeg
(``testsrc``, H.264, yuv420p, ``+faststart``), which takes a fraction of a second even for
15 s. Every task's file is that rendering plus a top-level MP4 ``free`` box naming the task:
players and ffmpeg skip ``free`` boxes, so the file still decodes, yet each task's bytes (and
checksum) differ, which lets tests prove that the right video was archived under the right key.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass

#: The size of a simulated video for each aspect ratio: tiny, even (yuv420p needs it), cheap.
ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "16:9": (160, 90),
    "9:16": (90, 160),
    "1:1": (120, 120),
    "4:3": (160, 120),
    "3:4": (120, 160),
    "21:9": (168, 72),
}
DEFAULT_SIZE = (160, 90)


def size_for_aspect(aspect_ratio: str | None) -> tuple[int, int]:
    return ASPECT_SIZES.get(aspect_ratio or "", DEFAULT_SIZE)


def size_for_remix(size: str | None) -> tuple[int, int]:
    """Scale a remix ``WIDTHxHEIGHT`` down to the simulator's tiny frames, keeping the orientation."""
    if size and "x" in size:
        width, _, height = size.partition("x")
        if width.isdigit() and height.isdigit() and int(height) > int(width):
            return (90, 160)
    return DEFAULT_SIZE


def free_box(payload: bytes) -> bytes:
    """A top-level ISO-BMFF ``free`` box holding ``payload`` (decoders skip it)."""
    return struct.pack(">I4s", 8 + len(payload), b"free") + payload


@dataclass(frozen=True)
class VideoBlob:
    """A rendered video (shared) followed by a per-task tail; sliced without copying the whole."""

    base: bytes
    tail: bytes

    @property
    def size(self) -> int:
        return len(self.base) + len(self.tail)

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` .. ``end`` inclusive (HTTP Range semantics)."""
        stop = end + 1
        base_len = len(self.base)
        if stop <= base_len:
            return self.base[start:stop]
        if start >= base_len:
            return self.tail[start - base_len : stop - base_len]
        return self.base[start:] + self.tail[: stop - base_len]


class MediaCache:
    """Renders each (seconds, size, fps) once per process; thread-safe, renders outside the lock."""

    def __init__(self, ffmpeg_exe: str | None = None) -> None:
        self._ffmpeg = ffmpeg_exe
        self._cache: dict[tuple[float, int, int, int], bytes] = {}
        self._locks: dict[tuple[float, int, int, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def cached(self, seconds: float, size: tuple[int, int], fps: int) -> bytes | None:
        """The rendering if it exists already (cheap: callers on an event loop try this first)."""
        return self._cache.get((round(seconds, 3), size[0], size[1], fps))

    def render(self, seconds: float, size: tuple[int, int], fps: int) -> bytes:
        """The rendering, made now if needed (blocking: call it from a worker thread)."""
        key = (round(seconds, 3), size[0], size[1], fps)
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._cache.get(key)
            if found is None:
                found = self._run_ffmpeg(key[0], size, fps)
                self._cache[key] = found
        return found

    def _run_ffmpeg(self, seconds: float, size: tuple[int, int], fps: int) -> bytes:
        exe = self._ffmpeg or _ffmpeg_exe()
        fd, path = tempfile.mkstemp(prefix="videogen-sim-", suffix=".mp4")
        os.close(fd)
        try:
            cmd = [
                exe, "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate={fps}",
                "-t", f"{seconds:g}",
                "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                "-movflags", "+faststart", "-f", "mp4", path,
            ]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
            if done.returncode != 0:
                raise RuntimeError(
                    f"ffmpeg could not render a {seconds:g}s test video: "
                    f"{done.stderr.decode(errors='replace').strip()[-500:]}"
                )
            with open(path, "rb") as handle:
                return handle.read()
        finally:
            os.unlink(path)


#: Why the simulator cannot make videos without its extra, and the one command that fixes it.
MISSING_FFMPEG = (
    "the simulator renders its test videos with imageio-ffmpeg, which is not installed: "
    "pip install 'airflow-provider-videogen[simulator]'"
)


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise RuntimeError(MISSING_FFMPEG) from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def check_ffmpeg() -> None:
    """Raise ``RuntimeError`` (naming the ``simulator`` extra) unless videos can be rendered.

    Called before the CLI listens: without it every task would report success and every
    download would then fail with HTTP 500, the install hint buried in a server traceback.
    """
    _ffmpeg_exe()


# --------------------------------------------------------------------------------------------
# Range requests
# --------------------------------------------------------------------------------------------


class RangeNotSatisfiable(ValueError):
    """The requested range lies outside the file (answered with 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single ``bytes=`` range, ``None`` to send the whole file.

    Several ranges or a unit other than bytes are ignored (a server may always answer 200 with
    the whole file); a syntactically valid range outside the file raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    if not (first or last).isdigit() or (last and not last.isdigit()):
        return None
    if first == "":
        suffix = int(last)
        if suffix <= 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable(header)
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)
