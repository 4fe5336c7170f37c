"""Extract the first or last frame of a video, to chain clips: the last frame of one is the first of the next.

A ``-fl`` remix model takes a first frame (and optionally a last frame) as images, so a DAG can
continue an 8 s clip by feeding its last frame into a 15 s remix::

    @task
    def last_frame(result: dict) -> str:
        return str(extract_frame(result["video_urls"][0], "last", out=Path("/shared/frame.png")))

    VideoRemixOperator(task_id="continue", model="veo_3_1-fast-fl-remix",
                       input_references=[last_frame(generate.output)], ...)

(The file must be readable where the remix task runs: with several workers, write it to shared
storage, or return :func:`frame_reference`'s bytes as a data URI with
:func:`airflow_provider_videogen.references.data_uri`.)

ffmpeg comes from ``imageio-ffmpeg`` (the ``media`` extra), imported only when a frame is
extracted so the provider does not need it otherwise. A URL source is streamed to a temporary
file first, in chunks: a video is never held in memory, and the API key is sent only to the
gateway's own origin when a hook is given (see ``VideoGenHook.download``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, overload
from urllib.parse import urlsplit

import httpx

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.hooks.addresses import BlockedAddressError
from airflow_provider_videogen.hooks.redaction import mask_link, redact_links, redact_url
from airflow_provider_videogen.hooks.transport import public_download_client
from airflow_provider_videogen.models import RemixReference

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_videogen.hooks.videogen import VideoGenHook

Which = Literal["first", "last"]
FrameFormat = Literal["png", "jpeg", "jpg"]
#: A local file (``str`` or path), an ``ObjectStoragePath``, or an http(s) URL.
VideoSource = Union[str, "os.PathLike[str]", "ObjectStoragePath"]

#: Seconds before the end where the last-frame decode starts. ffmpeg seeks to the keyframe before
#: it and decodes forward, keeping the last decoded frame; on a clip shorter than this the seek is
#: ignored and the whole clip is decoded, so short clips need no special case.
LAST_FRAME_WINDOW_SECONDS = 1.0
#: Longest an ffmpeg run may take.
FFMPEG_TIMEOUT_SECONDS = 120.0
_DOWNLOAD_CHUNK = 1 << 20
#: Default ``max_bytes`` of a video fetched to extract a frame: the largest 15 s clip the gateway
#: renders is a few tens of MB, so this leaves room without letting a hostile link fill the disk.
FRAME_SOURCE_MAX_BYTES = 512 * _DOWNLOAD_CHUNK
_CODECS = {"png": ("png", ".png"), "jpeg": ("mjpeg", ".jpg"), "jpg": ("mjpeg", ".jpg")}


class FrameExtractionError(VideoGenError):
    """The frame could not be extracted: not a video, an unreadable URL, or ffmpeg failed."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary of ``imageio-ffmpeg``; a clear error when the ``media`` extra is missing."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException

        raise AirflowOptionalProviderFeatureException(
            "Extracting video frames needs ffmpeg from imageio-ffmpeg: pip install 'airflow-provider-videogen[media]'"
        ) from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@overload
def extract_frame(
    source: VideoSource,
    which: Which = ...,
    *,
    fmt: FrameFormat = ...,
    out: ObjectStoragePath,
    hook: VideoGenHook | None = ...,
    timeout: float = ...,
    max_bytes: int = ...,
    allow_private_hosts: bool = ...,
) -> ObjectStoragePath: ...


@overload
def extract_frame(
    source: VideoSource,
    which: Which = ...,
    *,
    fmt: FrameFormat = ...,
    out: str | os.PathLike[str] | None = ...,
    hook: VideoGenHook | None = ...,
    timeout: float = ...,
    max_bytes: int = ...,
    allow_private_hosts: bool = ...,
) -> Path: ...


def extract_frame(
    source: VideoSource,
    which: Which = "last",
    *,
    fmt: FrameFormat = "png",
    out: str | os.PathLike[str] | ObjectStoragePath | None = None,
    hook: VideoGenHook | None = None,
    timeout: float = 60.0,
    max_bytes: int = FRAME_SOURCE_MAX_BYTES,
    allow_private_hosts: bool = False,
) -> Path | ObjectStoragePath:
    """Write the first or last frame of a video as a PNG or JPEG image and return where it is.

    :param source: a local video file, an ``ObjectStoragePath``, or an http(s) URL. Anything not
        local is streamed to a temporary file first (ffmpeg needs to seek to find the last frame).
    :param which: ``"first"`` or ``"last"`` frame.
    :param fmt: ``"png"`` (lossless, default) or ``"jpeg"``/``"jpg"`` (smaller).
    :param out: where to write the image: a local path, or an ``ObjectStoragePath`` (shared
        storage, so a task on another worker can read it; returned as is). A new temporary file
        when ``None`` (the caller deletes it). An ``ObjectStoragePath`` writes with the identity
        of its own ``conn_id``; one without (``s3://bucket/...``) writes with the worker's ambient
        credentials (environment, instance profile), as Airflow's ``ObjectStoragePath`` does.
        The pipelines' ``frame_store`` therefore requires ``s3://<conn_id>@bucket/...``.
    :param hook: a :class:`~airflow_provider_videogen.hooks.videogen.VideoGenHook` to download a URL
        with, for links on the gateway that need its API key; plain HTTP otherwise.
    :param timeout: network timeout in seconds for a URL without a hook.
    :param max_bytes: refuse a URL or object-storage video larger than this (announced or
        counted), like the archive's ``max_bytes``; default :data:`FRAME_SOURCE_MAX_BYTES`.
    :param allow_private_hosts: let a URL (or a redirect) reach loopback, private or link-local
        hosts, refused by default (:mod:`airflow_provider_videogen.hooks.addresses`). With a
        ``hook``, the hook decides (its ``allow_private_hosts`` or its connection's extra).
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes={max_bytes!r}; must be a positive number of bytes")
    if which not in ("first", "last"):
        raise ValueError(f"which={which!r}; allowed: 'first', 'last'")
    if fmt not in _CODECS:
        raise ValueError(f"fmt={fmt!r}; allowed: 'png', 'jpeg'")
    codec, suffix = _CODECS[fmt]
    exe = ffmpeg_exe()
    storage_out = _storage_path(out)
    if out is None or storage_out is not None:
        handle, name = tempfile.mkstemp(prefix=f"videogen-{which}-frame-", suffix=suffix)
        os.close(handle)
        target = Path(name)
    else:
        target = Path(os.fspath(out))  # type: ignore[arg-type]
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fetch = _Fetch(hook=hook, timeout=timeout, max_bytes=max_bytes, allow_private_hosts=allow_private_hosts)
        with _local_video(source, fetch) as video:
            _run_ffmpeg(exe, video, target, which, codec)
        if storage_out is not None:
            if storage_out.protocol in ("file", "local"):  # object stores have no directories to create
                storage_out.parent.mkdir(parents=True, exist_ok=True)
            with target.open("rb") as src, storage_out.open("wb") as dst:
                shutil.copyfileobj(src, dst, _DOWNLOAD_CHUNK)
    except BaseException:
        if out is None:
            target.unlink(missing_ok=True)
        raise
    finally:
        if storage_out is not None:
            target.unlink(missing_ok=True)
    return storage_out if storage_out is not None else target


def frame_reference(
    source: VideoSource,
    which: Which = "last",
    *,
    fmt: FrameFormat = "png",
    hook: VideoGenHook | None = None,
) -> RemixReference:
    """The first or last frame of a video as a remix ``input_reference[]`` file part (no file left behind).

    For use in the process that builds the request. To hand a frame to another task through
    XCom, return a path or ``ObjectStoragePath`` from :func:`extract_frame`, or
    ``data_uri(ref.content)`` (:func:`airflow_provider_videogen.references.data_uri`).
    """
    path = extract_frame(source, which, fmt=fmt, hook=hook)
    try:
        data = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    return RemixReference.from_bytes(data, f"{which}-frame")


# ---- internals --------------------------------------------------------------------------------


def _storage_path(value: Any) -> ObjectStoragePath | None:
    """``value`` if it is an ``ObjectStoragePath`` (imported lazily: most callers pass plain paths)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return None
    from airflow.sdk import ObjectStoragePath

    return value if isinstance(value, ObjectStoragePath) else None


def _is_url(source: VideoSource) -> bool:
    return isinstance(source, str) and urlsplit(source).scheme.lower() in ("http", "https")


@dataclass(frozen=True)
class _Fetch:
    """How a non-local video is fetched: with which hook, timeout, size cap and address policy."""

    hook: VideoGenHook | None
    timeout: float
    max_bytes: int
    allow_private_hosts: bool


@contextmanager
def _local_video(source: VideoSource, fetch: _Fetch) -> Iterator[Path]:
    """A local path for the video: the file itself, or a temporary copy removed afterwards."""
    storage = _storage_path(source)
    if storage is not None and storage.protocol in ("file", "local"):
        source = storage.path
        storage = None
    if storage is None and not _is_url(source):
        path = Path(os.fspath(source)).expanduser()  # type: ignore[arg-type]
        if not path.is_file():
            raise FrameExtractionError(f"video file {str(path)!r} does not exist")
        yield path
        return
    handle, name = tempfile.mkstemp(prefix="videogen-frame-source-", suffix=".mp4")
    os.close(handle)
    tmp = Path(name)
    try:
        if storage is not None:
            _copy_from_storage(storage, tmp, fetch.max_bytes)
        else:
            _download(str(source), tmp, fetch)
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _copy_chunks(chunks: Iterable[bytes], target: Path, max_bytes: int, shown: str) -> None:
    written = 0
    with target.open("wb") as out:
        for chunk in chunks:
            written += len(chunk)
            if written > max_bytes:
                raise FrameExtractionError(
                    f"video {shown} is larger than max_bytes ({max_bytes} bytes); stopped after "
                    f"{written} bytes. Raise extract_frame's max_bytes if the video is expected to be this large."
                )
            out.write(chunk)


def _copy_from_storage(source: ObjectStoragePath, target: Path, max_bytes: int) -> None:
    try:
        with source.open("rb") as src:
            _copy_chunks(iter(lambda: src.read(_DOWNLOAD_CHUNK), b""), target, max_bytes, str(source))
    except FileNotFoundError:
        raise FrameExtractionError(f"video {source} does not exist") from None


def _download(url: str, target: Path, fetch: _Fetch) -> None:
    shown = redact_url(url)  # the link is a bearer secret (query or path): it stays out of messages
    mask_link(url)  # and out of whatever a library logs (httpx logs every request's URL)
    try:
        with ExitStack() as stack:
            if fetch.hook is not None:
                response = stack.enter_context(fetch.hook.stream_download(url))
            else:
                client = stack.enter_context(
                    public_download_client(fetch.timeout, allow_private_hosts=fetch.allow_private_hosts)
                )
                response = stack.enter_context(client.stream("GET", url))
            if not response.is_success:
                raise FrameExtractionError(f"could not download video {shown}: HTTP {response.status_code}")
            announced = response.headers.get("content-length", "")
            if announced.isascii() and announced.isdigit() and int(announced) > fetch.max_bytes:
                raise FrameExtractionError(
                    f"video {shown} announces {announced} bytes, more than max_bytes ({fetch.max_bytes}); "
                    "nothing was downloaded. Raise extract_frame's max_bytes if this is expected."
                )
            _copy_chunks(response.iter_bytes(_DOWNLOAD_CHUNK), target, fetch.max_bytes, shown)
    except BlockedAddressError as exc:
        raise FrameExtractionError(str(exc)) from exc
    except httpx.HTTPError as exc:
        detail = redact_links(f"{type(exc).__name__}: {exc}", [url])
        raise FrameExtractionError(f"could not download video {shown}: {detail}") from exc
    except VideoGenError as exc:
        if isinstance(exc, FrameExtractionError):
            raise
        raise FrameExtractionError(f"could not download video {shown}: {exc}") from exc


def _run_ffmpeg(exe: str, video: Path, target: Path, which: Which, codec: str) -> None:
    # -update 1 keeps overwriting one image with each decoded frame, so what is left is the last
    # frame decoded: the true last frame, without trusting a container's duration or frame count.
    seek = ["-sseof", f"-{LAST_FRAME_WINDOW_SECONDS}"] if which == "last" else []
    frames = ["-update", "1"] if which == "last" else ["-frames:v", "1"]
    quality = ["-q:v", "2"] if codec == "mjpeg" else []
    cmd = [
        exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        *seek, "-i", str(video),
        "-map", "0:v:0", "-an", *frames, *quality,
        "-f", "image2", "-c:v", codec, str(target),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise FrameExtractionError(
            f"ffmpeg took more than {FFMPEG_TIMEOUT_SECONDS:.0f} s to extract a frame of {video}"
        ) from None
    if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise FrameExtractionError(
            f"ffmpeg could not extract the {which} frame of {video.name} (exit {done.returncode}): "
            + (" | ".join(detail) or "no image written; is it a video?")
        )
