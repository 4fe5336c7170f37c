"""Hand the last frame of a clip to the task that continues it (a ``-fl`` remix's first frame).

The frame is extracted where the clip is known (one mapped task per clip) and consumed by
another task, possibly on another worker, so it has to travel. Two ways, one function:

* **inline** (default, ``store`` empty or ``"inline"``): a ``data:image/png;base64,...`` URI returned through
  XCom and sent to the gateway as text. Works on any deployment with no shared storage. The cost
  is the metadata database: a 160x90 test frame is a few KB, but a 1080p PNG frame is 2-4 MB
  (about a third more in base64) per variant. Frames above :data:`INLINE_MAX_BYTES` are
  re-encoded as high-quality JPEG (a few hundred KB at 1080p).
* **stored** (``store`` = an Object Storage URL such as ``s3://aws_default@my-bucket/frames`` or
  ``file:///shared/frames``): the PNG is written there and only its path travels; the remix
  operator reads it when it runs and sends it as a file part. Nothing big goes through XCom, at
  the price of storage every worker can reach (``s3://`` paths need the ``s3fs`` extra of the
  Amazon provider: ``apache-airflow-providers-amazon[s3fs]``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.frames import extract_frame
from airflow_provider_videogen.pipelines.destinations import storage_connection_problem
from airflow_provider_videogen.references import data_uri

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_videogen.hooks.videogen import VideoGenHook

log = logging.getLogger(__name__)

#: Largest PNG frame sent inline; larger ones are re-encoded as JPEG first.
INLINE_MAX_BYTES = 1 << 20


def last_frame_reference(
    video_url: str,
    *,
    name: str,
    hook: VideoGenHook | None = None,
    store: str | None = None,
) -> str:
    """The last frame of the video at ``video_url`` as a remix ``input_references`` entry.

    :param video_url: the clip (a generation task's ``video_urls[0]``).
    :param name: file name of the frame in ``store``, unique per run and variant
        (e.g. ``"<dag_id>/<run_id>/variant-0.png"``).
    :param hook: downloads the clip with the ``videogen`` connection (its key goes only to the
        gateway's own origin).
    :param store: Object Storage URL to write the frame under; ``"inline"`` (the example DAGs'
        default), empty or ``None`` returns it inline.
    :return: a ``data:`` URI (inline) or the frame's Object Storage URL (stored).
    :raises ValueError: ``store`` is an ``s3://`` URL naming no connection (it would be written
        with the worker's ambient AWS identity), before anything is downloaded.
    """
    if store and store != "inline" and (problem := storage_connection_problem(store)):
        raise ValueError(f"store: {problem}")
    frame = extract_frame(video_url, "last", fmt="png", hook=hook)
    try:
        if store and store != "inline":
            return _store(frame, store, name)
        return _inline(frame)
    finally:
        frame.unlink(missing_ok=True)


def clip_url(result: dict[str, Any], hook: VideoGenHook) -> str:
    """The finished clip's download URL: from its result, or (``xcom_links=False``, the default)
    asked of the gateway by its remote id, so no signed link has to sit in XCom."""
    from airflow_provider_videogen.models import ApiKind

    if result.get("video_urls"):
        return str(result["video_urls"][0])
    task = hook.get_task(ApiKind(result.get("api") or ApiKind.GENERATION.value), result["id"])
    if not task.video_urls:
        raise VideoGenError(f"Remote task {result['id']} has no video to continue (state {task.state.value})")
    return task.video_urls[0]


def _store(frame: Path, store: str, name: str) -> str:
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath(f"{store.rstrip('/')}/{name.lstrip('/')}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(frame.read_bytes())
    log.info("Last frame (%d bytes) written to %s", frame.stat().st_size, target)
    return str(target)


def _inline(frame: Path) -> str:
    data = frame.read_bytes()
    if len(data) > INLINE_MAX_BYTES:
        jpeg = extract_frame(frame, "first", fmt="jpeg")
        try:
            log.info(
                "Last frame is %d bytes as PNG, above the %d-byte inline limit: sending it as JPEG (%d bytes)",
                len(data),
                INLINE_MAX_BYTES,
                jpeg.stat().st_size,
            )
            data = jpeg.read_bytes()
        finally:
            jpeg.unlink(missing_ok=True)
    return data_uri(data)
