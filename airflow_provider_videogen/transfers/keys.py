"""Render S3 keys from a template, so every archived video lands at its own, predictable key.

The default layout puts every identifying part of a task instance and of the video in the
path. ``run_id`` differs across runs and backfills (``scheduled__...``, ``backfill__...``,
``manual__...``), ``task_id`` and ``map_index`` across tasks and mapped instances, and
``video_task_id`` and ``index`` across videos of one task instance, so two different videos
never share a key and a rerun of the same task instance lands on the same key (where the
idempotency check then recognises it).

Values are made key-safe: characters outside ``[A-Za-z0-9._=-]`` (for example the ``:`` and
``+`` of a run id's timestamp) become ``_``, which avoids keys that need URL-encoding in every
tool downstream; a value can never introduce a ``/`` of its own, nor be a ``.`` or ``..``
segment (a run id may be ``..``: Airflow's default run id pattern allows it).

The same rules decide which destinations a pipeline accepts before it submits anything
(:mod:`airflow_provider_videogen.pipelines.destinations` reads :data:`KEY_SAFE_CHARS`,
:func:`has_dot_segment` and :data:`MAX_KEY_BYTES` from here): a run must not pay for videos
whose keys the archive will then refuse.
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from typing import TYPE_CHECKING

from airflow_provider_videogen.transfers.errors import VideoArchiveError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The documented default key template.
DEFAULT_S3_KEY = "videogen/{dag_id}/{run_id}/{task_id}/{map_index}/{video_task_id}_{index}.{ext}"

#: Placeholders a key template may use.
KEY_FIELDS = (
    "dag_id",
    "run_id",
    "logical_date",
    "task_id",
    "map_index",
    "video_task_id",
    "index",
    "ext",
)

#: Characters a rendered value keeps (a regex character class body); anything else becomes ``_``.
KEY_SAFE_CHARS = "A-Za-z0-9._=-"
_UNSAFE = re.compile(f"[^{KEY_SAFE_CHARS}]")
#: S3's limit on a key's length, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def has_dot_segment(key: str) -> bool:
    """True when a ``/``-separated segment of ``key`` is ``.`` or ``..``.

    S3-compatible stores disagree about them (SeaweedFS refuses them, AWS stores them literally,
    tools that normalise paths then point elsewhere): a key never holds one.
    """
    return any(segment in (".", "..") for segment in key.split("/"))


def safe_value(value: object) -> str:
    """A key segment for ``value``: ISO form for datetimes, ``none`` for ``None``, unsafe chars -> ``_``;
    a value that is ``.`` or ``..`` becomes ``_`` / ``__``."""
    if value is None:
        text = "none"
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    text = _UNSAFE.sub("_", text)
    if text in (".", ".."):
        return "_" * len(text)
    return text or "_"


def check_template(template: str) -> None:
    """Refuse unknown placeholders and format specs before anything is downloaded."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise VideoArchiveError(f"s3_key template {template!r} is malformed: {exc}") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in KEY_FIELDS or spec or conversion:
            raise VideoArchiveError(
                f"s3_key template {template!r} uses {{{name}}}; allowed placeholders are "
                + ", ".join("{" + f + "}" for f in KEY_FIELDS)
            )


def render_key(template: str, fields: Mapping[str, object]) -> str:
    """Fill ``template`` with key-safe ``fields`` and normalise slashes."""
    check_template(template)
    key = template.format(**{name: safe_value(fields.get(name)) for name in KEY_FIELDS})
    key = re.sub(r"/{2,}", "/", key).lstrip("/")
    if not key or key.endswith("/"):
        raise VideoArchiveError(f"s3_key template {template!r} renders to an invalid key {key!r}")
    if has_dot_segment(key):
        raise VideoArchiveError(
            f"s3_key template {template!r} renders to {key!r}, which has a '.' or '..' segment; "
            "keys may not contain them"
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise VideoArchiveError(f"s3_key renders to {len(key.encode())} bytes; S3 allows at most {MAX_KEY_BYTES}")
    return key


def check_unique(keys: Sequence[str]) -> None:
    """Two videos of one task instance must not share a key, or the second would overwrite the first."""
    seen: dict[str, int] = {}
    for position, key in enumerate(keys):
        if key in seen:
            raise VideoArchiveError(
                f"s3_key renders the same key {key!r} for videos {seen[key]} and {position}; include "
                "{video_task_id} and {index} in the template"
            )
        seen[key] = position
