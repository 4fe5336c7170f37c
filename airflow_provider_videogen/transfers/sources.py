"""Turn whatever ``VideoToS3Operator.source`` received into a flat list of videos to archive.

``source`` is whatever upstream produced: the XCom dict of a generation or remix task, a list
(or Airflow's lazy XCom sequence) of them from mapped tasks, a URL, or a list of URLs. A
string that looks like a dict or list is parsed too, because a Jinja template such as
``"{{ ti.xcom_pull('generate') }}"`` renders the dict's ``repr`` unless the DAG renders native
objects.

Each video gets a stable ``video_task_id`` for the key template: the remote task id when there
is one, else ``url-`` plus a hash of the URL without its query (so a re-signed link to the same
file keeps its key).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.models import LINK_TTL
from airflow_provider_videogen.transfers.errors import VideoArchiveError

_SUCCEEDED = frozenset({"succeeded", "completed", "success"})
_VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm", "mkv"})


@dataclass(frozen=True)
class VideoRef:
    """One video to archive, with what the key template and the metadata need to know about it.

    :param url: the download URL (may be signed: never log it, use :attr:`safe_url`).
    :param video_task_id: remote task id, or ``url-<hash>`` for a bare URL.
    :param remote_task_id: the remote task id when the source named one, else ``None``.
    :param model: the model that rendered it, when known.
    :param index: position of the URL in its task's ``video_urls`` (or in a list of bare URLs).
    :param expires_at: when the link stops working, when known.
    """

    url: str
    video_task_id: str
    remote_task_id: str | None
    model: str | None
    index: int
    expires_at: datetime | None

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    @property
    def ext(self) -> str:
        """The URL's video file extension, ``mp4`` when it has none the archive recognises."""
        suffix = urlsplit(self.url).path.rsplit("/", 1)[-1].rpartition(".")[2].lower()
        return suffix if suffix in _VIDEO_EXTENSIONS else "mp4"

    @property
    def label(self) -> str:
        """How errors and logs name this video: remote task, index and the URL without its query."""
        owner = f"remote task {self.remote_task_id}" if self.remote_task_id else "video URL"
        model = f" ({self.model})" if self.model else ""
        return f"{owner}{model}, video {self.index} at {self.safe_url}"

    def is_expired(self, now: datetime | None = None) -> bool:
        current = now or utcnow()
        return self.expires_at is not None and self.expires_at <= current


def url_task_id(url: str) -> str:
    """A stable pseudo task id for a bare URL: its scheme, host and path hashed (query ignored)."""
    parts = urlsplit(url)
    stable = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return "url-" + hashlib.sha256(stable.encode()).hexdigest()[:16]


def _parse_time(raw: Any) -> datetime | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, (int, float)):
        value = datetime.fromtimestamp(float(raw), tz=timezone.utc)
    else:
        try:
            value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _check_url(url: str) -> str:
    """Refuse, before any request, what no HTTP client could fetch (and that would crash later)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed lazily: raises ValueError for a port like ":abc" or ":99999"
    except ValueError as exc:
        raise VideoArchiveError(f"Not a valid video URL: {redact_url(url)!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VideoArchiveError(f"Not a downloadable video URL: {redact_url(url)!r} (expected http or https)")
    return url


def _from_task(data: Mapping[str, Any]) -> list[VideoRef]:
    task_id = data.get("id") or data.get("task_id")
    if not task_id:
        raise VideoArchiveError(
            "The source dict has no remote task id ('id'); pass the XCom of a videogen generation or "
            f"remix task, or a URL. Keys found: {sorted(map(str, data))}"
        )
    task_id = str(task_id)
    state = data.get("state")
    state_text = str(getattr(state, "value", state)).lower() if state is not None else None
    if state_text is not None and state_text not in _SUCCEEDED:
        raise VideoArchiveError(
            f"Remote task {task_id} is {state_text}, not succeeded: there is no video to archive. "
            "Archive the output of a generation task that succeeded."
        )
    urls = [u for u in data.get("video_urls") or [] if isinstance(u, str) and u]
    if not urls and isinstance(data.get("first_video_url"), str) and data["first_video_url"]:
        urls = [data["first_video_url"]]  # a partial remix: the first segment is all there is
    if not urls:
        raise VideoArchiveError(f"Remote task {task_id} lists no video URLs ('video_urls' is empty).")
    expires = _parse_time(data.get("expires_at"))
    if expires is None:
        completed = _parse_time(data.get("completed_at"))
        expires = completed + LINK_TTL if completed else None
    model = data.get("model")
    return [
        VideoRef(
            url=_check_url(url),
            video_task_id=task_id,
            remote_task_id=task_id,
            model=str(model) if model else None,
            index=index,
            expires_at=expires,
        )
        for index, url in enumerate(urls)
    ]


def _maybe_literal(text: str) -> Any:
    """Parse a rendered dict/list (JSON or Python repr); return the text itself otherwise."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return text
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError) as exc:
        raise VideoArchiveError(
            "source looks like a dict or list but could not be parsed; pass the upstream task's "
            "output (an XComArg) instead of a rendered string"
        ) from exc


def parse_source(source: Any) -> list[VideoRef]:
    """Flatten ``source`` into videos, in order; raise :class:`VideoArchiveError` for anything else."""
    if isinstance(source, str):
        source = _maybe_literal(source)
    if isinstance(source, str):
        return [_bare_url(source, 0)]
    if isinstance(source, Mapping):
        return _from_task(source)
    if isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
        refs: list[VideoRef] = []
        for position, item in enumerate(source):
            if isinstance(item, str):
                refs.append(_bare_url(item, position))
            elif isinstance(item, Mapping):
                refs.extend(_from_task(item))
            elif item is None:
                continue  # a mapped upstream task that was skipped
            else:
                raise VideoArchiveError(
                    f"source item {position} is a {type(item).__name__}; expected a task dict or a URL"
                )
        if not refs:
            raise VideoArchiveError("source is empty: there is no video to archive")
        return refs
    raise VideoArchiveError(
        f"source is a {type(source).__name__}; expected a generation/remix task's XCom dict, a list of "
        "them, a URL or a list of URLs"
    )


def _bare_url(url: str, index: int) -> VideoRef:
    return VideoRef(
        url=_check_url(url.strip()),
        video_task_id=url_task_id(url.strip()),
        remote_task_id=None,
        model=None,
        index=index,
        expires_at=None,
    )
