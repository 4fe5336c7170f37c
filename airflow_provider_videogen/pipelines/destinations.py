"""Check where a pipeline run writes, when whoever triggers the DAG chooses it in ``dag_run.conf``.

The example DAGs take ``s3_bucket``, ``s3_prefix`` and ``frame_store`` from the run's
parameters. Anyone allowed to trigger the DAG may set them, so without a check they choose
where the worker writes: ``file:///etc/...``, another connection's bucket
(``s3://<any_conn_id>@bucket``), or keys with ``..`` segments that tools normalise elsewhere.
The checks run in the DAG's first task, before anything is submitted or written; a refusal is
an :class:`~airflow_provider_videogen.exceptions.InvalidRequestError` naming the parameter,
the value and the rule, which the DAGs turn into a failure without retry.

The key rules are the archive's own (:mod:`airflow_provider_videogen.transfers.keys`): a
parameter that becomes part of a key (``s3_prefix``, a ``campaign`` segment) and the prefix the
run composes from them (:func:`archive_prefix`) pass here exactly when the archive and the
manifest will accept their keys, so a run never pays for videos it cannot archive.

A frame store must name the connection it writes with (``s3://aws_default@bucket/frames``):
without one, s3fs falls back to the worker's ambient AWS identity (environment variables,
instance profile), not a connection of the DAG (:func:`storage_connection_problem`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.transfers.keys import KEY_SAFE_CHARS, MAX_KEY_BYTES, has_dot_segment

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: S3 bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots and
#: hyphens, starting and ending with a letter or digit.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
#: Characters of a key prefix: the key-safe set of ``transfers.keys`` plus ``/``.
PREFIX_CHARS = re.compile(f"[/{KEY_SAFE_CHARS}]*")
#: Characters of a value that is one key segment (a campaign name): the key-safe set, no ``/``.
SEGMENT_CHARS = re.compile(f"[{KEY_SAFE_CHARS}]+")
#: Longest ``s3_prefix`` / segment parameter, in bytes: half of S3's key limit, so the composed
#: prefix keeps room for the run's own segments and object names.
MAX_PREFIX_BYTES = MAX_KEY_BYTES // 2
#: Room :func:`archive_prefix` keeps after the prefix for ``/<object name>`` (``manifest.json``,
#: ``remix-19.mp4``...).
OBJECT_NAME_ROOM = 64
#: Object storage schemes a frame store may use by default.
FRAME_STORE_SCHEMES = ("s3",)


def bucket_problem(name: Any) -> str | None:
    """Why ``name`` is not an S3 bucket name, or ``None``."""
    if not isinstance(name, str) or not BUCKET_NAME.fullmatch(name):
        return (
            f"{name!r} is not a bucket name (3-63 lowercase letters, digits, '.' and '-', starting and ending "
            "with a letter or digit)"
        )
    if ".." in name or ".-" in name or "-." in name or _IP_LIKE.fullmatch(name):
        return f"{name!r} is not a bucket name (no '..', '.-', '-.', and not an IP address)"
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        return f"{name!r} uses a prefix or suffix S3 reserves"
    return None


def prefix_problem(prefix: Any) -> str | None:
    """Why ``prefix`` is not a safe key prefix (characters, ``.``/``..`` segments), or ``None``."""
    if not isinstance(prefix, str) or not PREFIX_CHARS.fullmatch(prefix):
        return f"{prefix!r} may only hold letters, digits, '.', '_', '=', '-' and '/'"
    if has_dot_segment(prefix):
        return f"{prefix!r} has a '.' or '..' segment"
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        return f"{prefix!r} is longer than {MAX_PREFIX_BYTES} bytes (S3 keys hold at most {MAX_KEY_BYTES})"
    return None


def segment_problem(value: Any) -> str | None:
    """Why ``value`` cannot be one key segment (a campaign name), or ``None``."""
    if not isinstance(value, str) or not SEGMENT_CHARS.fullmatch(value):
        return f"{value!r} must be 1 or more letters, digits, '.', '_', '=' or '-' (it becomes one key segment)"
    if value in (".", ".."):
        return f"{value!r} would be a '.' or '..' key segment, which the archive refuses"
    if len(value.encode()) > MAX_PREFIX_BYTES:
        return f"{value!r} is longer than {MAX_PREFIX_BYTES} bytes"
    return None


def archive_prefix(**parts: str) -> str:
    """The run's archive prefix, ``parts`` joined by ``/`` in order; refused unless its keys can be written.

    Each keyword names the parameter a part comes from, so the error says which to change:
    ``archive_prefix(s3_prefix=..., campaign=..., date=ds, plan=fingerprint)``.
    """
    prefix = "/".join(p.strip("/") for p in parts.values() if p.strip("/"))
    problem = prefix_problem(prefix)
    if problem is None and len(prefix.encode()) + OBJECT_NAME_ROOM > MAX_KEY_BYTES:
        problem = f"is {len(prefix.encode())} bytes; with an object name a key would pass S3's {MAX_KEY_BYTES}"
    if problem is not None:
        names = "/".join(parts)
        raise InvalidRequestError("run parameters", [(names, f"archive prefix {prefix!r} from {names}: {problem}")])
    return prefix


def storage_connection_problem(url: str) -> str | None:
    """Why an object storage URL does not say whose identity writes to it, or ``None``.

    ``s3://bucket/path`` has no connection: Airflow's ``ObjectStoragePath`` then lets s3fs use
    the worker's ambient AWS credentials, whatever connection the DAG was given (the same for
    ``gs://`` and the other remote stores). Requiring ``s3://<conn_id>@bucket/path`` makes the
    identity part of the value a reviewer reads. Local paths (``file://``) have none to name.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    user, _, host = parts.netloc.rpartition("@")
    if scheme in ("", "file", "local", "memory") or user:
        return None
    whose = "AWS identity" if scheme == "s3" else "credentials"
    return (
        f"{url!r} names no connection, so the worker's ambient {whose} would write it; "
        f"name one: {scheme}://<conn_id>@{host}{parts.path}"
    )


def frame_store_problem(
    store: Any, *, schemes: Iterable[str] = FRAME_STORE_SCHEMES, conn_ids: Iterable[str] = ()
) -> str | None:
    """Why ``store`` is not an allowed frame store, or ``None``; ``"inline"`` or ``""`` (frames inline) is allowed.

    The scheme must be one of ``schemes`` (no ``file://`` by default: a trigger must not choose
    a path on the worker), the URL must name its connection (``s3://conn@bucket``), one of
    ``conn_ids``, the bucket a bucket name and the path free of ``.``/``..`` segments.
    """
    if store in ("", None, "inline"):  # the example DAGs' default (pipelines.params.INLINE_FRAMES)
        return None
    allowed = tuple(schemes)
    try:
        parts = urlsplit(store) if isinstance(store, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in allowed:
        schemes_text = ", ".join(s + "://" for s in allowed)
        return f"{store!r} must be 'inline' (frames through XCom) or a URL with scheme {schemes_text}"
    if parts.query or parts.fragment:
        return f"{store!r} may not have a query or fragment"
    user, _, bucket = parts.netloc.rpartition("@")
    if not user:
        return storage_connection_problem(store) or f"{store!r} names no connection"
    if user not in tuple(conn_ids):
        return f"{store!r} names connection {user!r}; allowed: {sorted(conn_ids) or 'none'}"
    problem = bucket_problem(bucket)
    if problem:
        return f"{store!r}: {problem}"
    problem = prefix_problem(parts.path.strip("/"))
    return f"{store!r}: the path {problem}" if problem else None


def check_destinations(
    params: Mapping[str, Any], *, conn_ids: Iterable[str] = (), segments: Iterable[str] = ()
) -> None:
    """Refuse a run whose ``s3_bucket``, ``s3_prefix``, ``frame_store`` (when present) or one of the
    ``segments`` (parameters that become one key segment each, e.g. ``campaign``) is unsafe."""
    checks: dict[str, Any] = {
        "s3_bucket": lambda v: bucket_problem(v),
        "s3_prefix": lambda v: prefix_problem(v),
        "frame_store": lambda v: frame_store_problem(v, conn_ids=conn_ids),
        **{name: segment_problem for name in segments},
    }
    problems = [
        (name, f"{name}: {problem}")
        for name, check in checks.items()
        if name in params and (problem := check(params[name])) is not None
    ]
    if problems:
        raise InvalidRequestError("run parameters", problems)
