"""extract_frame: the true first/last frame as a decodable PNG or JPEG, from a file or a simulator URL."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException

from airflow_provider_videogen.frames import FrameExtractionError, extract_frame, ffmpeg_exe, frame_reference
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import RemixRequest, TaskState

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
W, H = 64, 48


def make_video(path: Path, seconds: float, fps: int = 10) -> Path:
    """A clip whose every frame differs (testsrc draws a moving pattern and a counter)."""
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc=size={W}x{H}:rate={fps}:duration={seconds}",
         "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "5", str(path)],
        check=True,
    )  # fmt: skip
    return path


def decode_rgb(path: Path) -> list[bytes]:
    """Every frame of an image or video as raw RGB (raises if ffmpeg cannot decode it)."""
    done = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    size = W * H * 3
    assert done.stdout, (len(done.stdout), done.stderr)
    assert len(done.stdout) % size == 0, (len(done.stdout), done.stderr)
    return [done.stdout[i : i + size] for i in range(0, len(done.stdout), size)]


def distance(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    path = make_video(tmp_path_factory.mktemp("frames") / "clip.mp4", seconds=2.5)
    return path, decode_rgb(path)


@pytest.mark.parametrize("which", ["first", "last"])
def test_png_frame_is_exactly_the_first_or_last_frame(
    clip: tuple[Path, list[bytes]], which: str, tmp_path: Path
) -> None:
    path, frames = clip
    out = extract_frame(path, which, out=tmp_path / "sub" / "frame.png")  # type: ignore[arg-type]
    assert out == tmp_path / "sub" / "frame.png"
    assert out.read_bytes().startswith(PNG_MAGIC)
    (image,) = decode_rgb(out)
    expected = frames[0] if which == "first" else frames[-1]
    assert image == expected  # PNG is lossless: the very same pixels
    other = frames[-1] if which == "first" else frames[0]
    assert image != other


@pytest.mark.parametrize("which", ["first", "last"])
def test_jpeg_frame_decodes_and_resembles_the_frame(clip: tuple[Path, list[bytes]], which: str) -> None:
    path, frames = clip
    out = extract_frame(path, which, fmt="jpeg")  # type: ignore[arg-type]
    try:
        assert out.suffix == ".jpg"
        assert out.read_bytes().startswith(JPEG_MAGIC)
        (image,) = decode_rgb(out)
        target, neighbour = (frames[0], frames[-1]) if which == "first" else (frames[-1], frames[0])
        assert distance(image, target) < distance(image, neighbour)
    finally:
        out.unlink()


def test_last_frame_of_a_clip_shorter_than_the_seek_window(tmp_path: Path) -> None:
    path = make_video(tmp_path / "short.mp4", seconds=0.3)
    frames = decode_rgb(path)
    assert len(frames) == 3
    (image,) = decode_rgb(extract_frame(path, "last", out=tmp_path / "last.png"))
    assert image == frames[-1]


def test_frame_reference_is_a_file_part_and_leaves_no_file(clip: tuple[Path, list[bytes]], tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("videogen-*"))
    ref = frame_reference(clip[0], "last")
    assert ref.kind == "file"
    assert ref.value == "last-frame.png"
    assert ref.content_type == "image/png"
    assert (ref.content or b"").startswith(PNG_MAGIC)
    assert set(Path(tempfile.gettempdir()).glob("videogen-*")) == before
    # ...and it is a valid first frame for a first/last-frame remix.
    RemixRequest(model="veo_3_1-fast-fl-remix", prompt="a", prompt_extend="b", input_references=[ref])


@pytest.fixture
def memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register fsspec's in-memory filesystem as ``memory://``: a stand-in for any remote object store."""
    from airflow.sdk.io import fs
    from fsspec.implementations.memory import MemoryFileSystem

    monkeypatch.setitem(fs._register_filesystems(), "memory", lambda conn_id, options: MemoryFileSystem())  # type: ignore[index]


@pytest.mark.usefixtures("memory_store")
def test_object_storage_source_and_output(clip: tuple[Path, list[bytes]], tmp_path: Path) -> None:
    path, frames = clip
    # A remote source is streamed to a temporary file; a local ("file://") one is read in place.
    remote = ObjectStoragePath("memory://videogen-test/clip.mp4")
    remote.write_bytes(path.read_bytes())
    out = ObjectStoragePath((tmp_path / "shared" / "first.png").as_uri())
    for source in (ObjectStoragePath(path.as_uri()), remote):
        written = extract_frame(source, "first", out=out)
        assert written is out
        (image,) = decode_rgb(tmp_path / "shared" / "first.png")
        assert image == frames[0]
    assert not list(Path(tempfile.gettempdir()).glob("videogen-first-frame-*"))
    with pytest.raises(FrameExtractionError, match="does not exist"):
        extract_frame(ObjectStoragePath("memory://videogen-test/missing.mp4"))


def test_not_a_video_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(FrameExtractionError, match=r"could not extract the last frame of junk\.mp4"):
        extract_frame(junk)
    with pytest.raises(FrameExtractionError, match="does not exist"):
        extract_frame(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="which="):
        extract_frame(junk, "middle")  # type: ignore[arg-type]
    assert not list(Path(tempfile.gettempdir()).glob("videogen-last-frame-*"))


def test_missing_media_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(
        AirflowOptionalProviderFeatureException, match=r"pip install 'airflow-provider-videogen\[media\]'"
    ):
        extract_frame(tmp_path / "x.mp4")


# ---- a real simulator video ---------------------------------------------------------------------


@pytest.fixture
def finished_remix(simulator: Any, videogen_conn: str) -> Any:
    simulator.configure(render_seconds=0.5, media_max_seconds=3)
    hook = VideoGenHook(videogen_conn)
    task = hook.submit_remix(RemixRequest(model="veo_3_1-fast-remix", prompt="a lighthouse", prompt_extend="waves"))
    deadline = time.monotonic() + 20
    while not task.state.is_terminal and time.monotonic() < deadline:
        time.sleep(0.2)
        task = hook.get_remix(task.id)
    assert task.state is TaskState.SUCCEEDED, task.summary()
    return hook, task


@pytest.mark.parametrize("which", ["first", "last"])
def test_frames_of_a_simulator_video_downloaded_by_url(finished_remix: Any, which: str, tmp_path: Path) -> None:
    hook, task = finished_remix
    # video_urls holds CDN-style links; the gateway's own content route needs the API key.
    assert task.first_video_url
    assert task.video_urls
    content_url = f"{simulator_url(hook)}/v1/videos/{task.id}/content"
    with httpx.Client() as client:
        assert client.get(content_url).status_code == 401  # the hook brings the key
    # The simulator listens on loopback: plain downloads opt in (the hook trusts its own gateway).
    first8 = extract_frame(task.first_video_url, which, out=tmp_path / "first8.png", allow_private_hosts=True)  # type: ignore[arg-type]
    full = extract_frame(task.video_urls[0], which, fmt="jpeg", out=tmp_path / "full.jpg", allow_private_hosts=True)  # type: ignore[arg-type]
    keyed = extract_frame(content_url, which, out=tmp_path / "keyed.png", hook=hook)  # type: ignore[arg-type]
    assert first8.read_bytes().startswith(PNG_MAGIC)
    assert keyed.read_bytes().startswith(PNG_MAGIC)
    assert full.read_bytes().startswith(JPEG_MAGIC)
    for image in (first8, full, keyed):
        done = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(image), "-f", "null", "-"],
            capture_output=True,
        )
        assert done.returncode == 0, done.stderr
        assert not done.stderr, done.stderr


def simulator_url(hook: VideoGenHook) -> str:
    return hook.settings.base_url.rstrip("/")


def test_download_failure_is_a_frame_error(simulator: Any) -> None:
    with pytest.raises(
        FrameExtractionError, match=r"could not download video http://127\.0\.0\.1:\d+/\(redacted:\w{12}\): HTTP 404"
    ) as info:
        extract_frame(f"{simulator.url}/files/nope.mp4?sig=secret", allow_private_hosts=True)
    assert "secret" not in str(info.value)
