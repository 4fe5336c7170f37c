"""Check where a pipeline run writes, when whoever triggers the DAG chooses it in ``dag_run.conf``.

The example DAGs take ``s3_bucket``, ``s3_prefix`` and ``frame_store`` from the run's
parameters. Anyone allowed to trigger the DAG may set them, so without a check they choose
where the worker writes: ``file:///etc/...``, another connection's bucket
(``s3://<any_conn_id>@bucket``), or keys with ``..`` segments that tools normalise elsewhere.
The checks run in the DAG's first task, before anything is submitted or written; a refusal is
an :class:`~airflow_provider_videogen.exceptions.InvalidRequestError` naming the parameter,
the value and the rule, which the DAGs turn into a failure without retry.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_videogen.exceptions import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: S3 bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots and
#: hyphens, starting and ending with a letter or digit.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
#: Characters of a key prefix: the key-safe set of ``transfers.keys`` plus ``/``.
PREFIX_CHARS = re.compile(r"[A-Za-z0-9._=/-]*")
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
    if any(segment in (".", "..") for segment in prefix.split("/")):
        return f"{prefix!r} has a '.' or '..' segment"
    if len(prefix.encode()) > 512:
        return f"{prefix!r} is longer than 512 bytes (S3 keys hold at most 1024)"
    return None


def frame_store_problem(
    store: Any, *, schemes: Iterable[str] = FRAME_STORE_SCHEMES, conn_ids: Iterable[str] = ()
) -> str | None:
    """Why ``store`` is not an allowed frame store, or ``None``; ``"inline"`` or ``""`` (frames inline) is allowed.

    The scheme must be one of ``schemes`` (no ``file://`` by default: a trigger must not choose
    a path on the worker), a connection named in the URL (``s3://conn@bucket``) one of
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
    if user and user not in tuple(conn_ids):
        return f"{store!r} names connection {user!r}; allowed: {sorted(conn_ids) or 'none (omit it)'}"
    problem = bucket_problem(bucket)
    if problem:
        return f"{store!r}: {problem}"
    problem = prefix_problem(parts.path.strip("/"))
    return f"{store!r}: the path {problem}" if problem else None


def check_destinations(params: Mapping[str, Any], *, conn_ids: Iterable[str] = ()) -> None:
    """Refuse a run whose ``s3_bucket``, ``s3_prefix`` or ``frame_store`` (when present) is unsafe."""
    checks = {
        "s3_bucket": lambda v: bucket_problem(v),
        "s3_prefix": lambda v: prefix_problem(v),
        "frame_store": lambda v: frame_store_problem(v, conn_ids=conn_ids),
    }
    problems = [
        (name, f"{name}: {problem}")
        for name, check in checks.items()
        if name in params and (problem := check(params[name])) is not None
    ]
    if problems:
        raise InvalidRequestError("run parameters", problems)
