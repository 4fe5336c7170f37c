"""Turn what a user has (a path, an object-storage path, a URL, bytes, a data URI) into ``RemixReference``s.

The remix API takes each ``input_reference[]`` as a file part, a plain URL or a
``data:image/...;base64,`` URI (seed 003). Users rarely hold a
:class:`~airflow_provider_videogen.models.RemixReference`; they hold whatever an upstream task
produced. This module maps each form onto the model, which alone decides what is acceptable
(format by magic bytes, 10 MB, count per model): no limit is repeated here.

Files are read when the request is built at execute, never when the DAG file is parsed: the
file may not exist on the machine that parses DAGs, and reading object storage at parse time
would be a network call. :func:`preview_reference` checks what can be checked without reading.

Accepted forms, and what is sent:

=====================================================  ===================================
input                                                  sent as
=====================================================  ===================================
``pathlib.Path``, ``os.PathLike``, ``"/local/a.png"``  file part (bytes read at execute)
``ObjectStoragePath``, ``"s3://bucket/a.png"``         file part (bytes read at execute)
``"file:///local/a.png"``                              file part
``"https://host/a.png"``                               text (the gateway downloads it)
``"data:image/png;base64,..."``                        text
``bytes`` / ``bytearray``                              file part
``RemixReference``                                     as it is
=====================================================  ===================================
"""

from __future__ import annotations

import base64
import mimetypes
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Union
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pydantic import ValidationError

from airflow_provider_videogen.models import (
    IMAGE_EXTENSIONS,
    IMAGE_MIME_TYPES,
    MAX_IMAGE_BYTES,
    RemixReference,
    explain_validation_error,
    sniff_image_type,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import ObjectStoragePath

#: One reference as a user may give it (see the module docstring).
ReferenceInput = Union[str, "os.PathLike[str]", "ObjectStoragePath", bytes, bytearray, memoryview, RemixReference]

#: Schemes sent to the gateway as text; it downloads them itself.
_URL_SCHEMES = ("http", "https")

#: Major MIME types whose file names are refused at parse when not an accepted image type.
_MEDIA_TYPES = frozenset({"image", "video", "audio", "text"})

#: Stand-in content for a file that is only read at execute: a PNG signature, enough for the
#: model's magic-byte check, so a parse-time check can count references and check the rest.
_UNREAD_FILE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


class InvalidReferenceError(ValueError):
    """A reference cannot be used; ``str()`` says which one and why. Nothing was sent."""


def as_reference_list(value: Any) -> list[Any]:
    """``None`` -> ``[]``; a list or tuple as a list; any single reference as a list of one."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def to_reference(value: Any) -> RemixReference:
    """Build the :class:`RemixReference` for one input, reading a file's bytes if it is a file.

    Raises :class:`InvalidReferenceError` for anything that is not an accepted form or breaks a
    documented limit, and for a file that does not exist. Other ``OSError``s (a network error
    while reading object storage) propagate unchanged: they may pass on a retry.
    """
    if isinstance(value, RemixReference):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _model(lambda: RemixReference.from_bytes(bytes(value)), "bytes")
    storage = _object_storage_path(value)
    if storage is not None:
        return _read_file(storage, str(storage), storage.name)
    if isinstance(value, os.PathLike):
        path = Path(os.fspath(value))
        return _read_file(path, str(path), path.name)
    if isinstance(value, str):
        text = value.strip()
        kind = _string_kind(text)
        if kind == "text":
            return _model(lambda: RemixReference.from_text(text), _short(text))
        if kind == "storage":
            return to_reference(_storage_path(text))
        path = Path(url2pathname(urlsplit(text).path) if kind == "file_url" else text).expanduser()
        return _read_file(path, str(path), path.name)
    raise InvalidReferenceError(
        f"input_reference of type {type(value).__name__} is not supported; pass a local path, an "
        "ObjectStoragePath, an http(s) URL, a data:image/...;base64, URI, bytes or a RemixReference"
    )


def to_references(values: Any) -> list[RemixReference]:
    """:func:`to_reference` for each input, in order; the error names the position of a bad one."""
    refs: list[RemixReference] = []
    for index, value in enumerate(as_reference_list(values), start=1):
        try:
            refs.append(to_reference(value))
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(f"input_references #{index}: {exc}") from None
    return refs


def preview_reference(value: Any) -> RemixReference:
    """Check one input without reading any file (for DAG parse time).

    URLs, data URIs and bytes are checked completely. A file is only checked by its name: a
    name whose type is known and is not an accepted image type (``.gif``, ``.mp4``...) is
    refused now; its content is checked when it is read at execute. The returned reference of
    a file holds stand-in content and must not be sent.
    """
    storage = _object_storage_path(value)
    if storage is not None:
        return _unread_file(str(storage), storage.name)
    if isinstance(value, os.PathLike):
        path = Path(os.fspath(value))
        return _unread_file(str(path), path.name)
    if isinstance(value, str):
        text = value.strip()
        kind = _string_kind(text)
        if kind != "text":
            name = urlsplit(text).path if kind != "path" else text
            return _unread_file(text, Path(name).name)
    return to_reference(value)


def data_uri(data: bytes) -> str:
    """``data:image/...;base64,...`` for image bytes: a form that travels through XCom as a string."""
    mime = sniff_image_type(data)
    if mime is None:
        raise InvalidReferenceError(
            f"bytes are not a JPEG, PNG or WEBP image (allowed formats: {', '.join(IMAGE_EXTENSIONS)})"
        )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def is_file_input(value: Any) -> bool:
    """True when an input names a file to be read at execute (local or object storage)."""
    if _object_storage_path(value) is not None or isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and _string_kind(value.strip()) != "text"


# ---- internals --------------------------------------------------------------------------------


def _string_kind(text: str) -> str:
    """``text`` (URL or data URI, sent as text), ``file_url``, ``storage`` (another scheme) or ``path``."""
    lowered = text.lower()
    if lowered.startswith("data:"):
        return "text"
    scheme = urlsplit(text).scheme.lower()
    if scheme in _URL_SCHEMES:
        return "text"
    if scheme == "file":
        return "file_url"
    if len(scheme) > 1 and "://" in text:  # s3://, gs://, ... ("C:\\..." has a one-letter scheme)
        return "storage"
    return "path"


def _object_storage_path(value: Any) -> ObjectStoragePath | None:
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # pragma: no cover - Airflow is a dependency; kept for a lean import
        return None
    return value if isinstance(value, ObjectStoragePath) else None


def _storage_path(text: str) -> ObjectStoragePath:
    """The ``ObjectStoragePath`` for a ``scheme://`` string; a clear error for a scheme no
    installed filesystem serves (``ftp://``, ``gs://`` without its provider...): retrying cannot help."""
    from airflow.sdk import ObjectStoragePath

    scheme = urlsplit(text).scheme.lower()
    try:
        path = ObjectStoragePath(text)
        path.fs  # noqa: B018 - resolved lazily: raises ValueError for an unregistered scheme
    except (ValueError, ImportError) as exc:
        raise InvalidReferenceError(
            f"input_reference {_short(text)!r}: no object storage is registered for {scheme}:// ({exc}); use "
            "a local path, an http(s) URL, a data URI, or install the provider that serves this scheme"
        ) from None
    return path


def _short(text: str) -> str:
    """A reference as an error shows it: short, and without the password of its user info
    (``ftp://user:pass@host/a.png``; an object-storage path's ``conn_id@`` is no secret)."""
    try:
        password = urlsplit(text).password
    except ValueError:
        password = None
    if password:
        text = text.replace(f":{password}@", ":***@", 1)
    return text if len(text) <= 80 else text[:60] + "..."


def _model(build: Callable[[], RemixReference], what: str) -> RemixReference:
    try:
        return build()
    except ValidationError as exc:
        message = "; ".join(msg for _, msg in explain_validation_error(exc))
        raise InvalidReferenceError(message) from None
    except ValueError as exc:
        raise InvalidReferenceError(f"{what}: {exc}") from None


def _read_file(path: Path | ObjectStoragePath, shown: str, name: str) -> RemixReference:
    """Read at most one byte more than the limit, so a huge file is refused without being loaded."""
    try:
        local = _local_path(path)
        if local is not None:
            with _open_regular_file(local, shown) as handle:
                data = _read_limited(handle)
        else:
            with path.open("rb") as handle:
                data = _read_limited(handle)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidReferenceError(f"input_reference file {shown!r} does not exist") from None
    except IsADirectoryError:
        raise InvalidReferenceError(f"input_reference {shown!r} is a directory, not an image file") from None
    if len(data) > MAX_IMAGE_BYTES:
        size = _size(path)
        shown_size = f"{size / 1_048_576:.1f} MB" if size is not None else "more than the limit"
        raise InvalidReferenceError(
            f"input_reference file {shown!r} is {shown_size}; at most {MAX_IMAGE_BYTES // 1_048_576} MB per image"
        )
    return _model(lambda: RemixReference.from_bytes(data, name or "reference"), shown)


def _local_path(path: Path | ObjectStoragePath) -> Path | None:
    """The local file behind ``path`` (a ``Path`` or a ``file://`` object-storage path), else ``None``."""
    if isinstance(path, Path):
        return path
    if getattr(path, "protocol", None) in ("file", "local"):
        return Path(path.path)
    return None


def _open_regular_file(path: Path, shown: str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file.

    Opened non-blocking and checked on the open descriptor: a FIFO would block ``open()`` until a
    writer appears (forever), and a device such as ``/dev/zero`` or ``/dev/urandom`` reads
    without end; checking before opening would leave a window to swap the file.
    """
    fd = os.open(path.expanduser(), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(str(path))
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket or other special file"
            )
            raise InvalidReferenceError(f"input_reference {shown!r} is {kind}, not a regular image file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_limited(handle: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    left = MAX_IMAGE_BYTES + 1
    while left > 0:
        chunk = handle.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _size(path: Path | ObjectStoragePath) -> int | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    size = stat.get("size") if isinstance(stat, dict) else getattr(stat, "st_size", None)
    return int(size) if size is not None else None


def _unread_file(shown: str, name: str) -> RemixReference:
    mime, _ = mimetypes.guess_type(name)
    if mime is not None and mime not in IMAGE_MIME_TYPES and mime.split("/")[0] in _MEDIA_TYPES:
        raise InvalidReferenceError(
            f"input_reference file {shown!r} looks like {mime} by its name; allowed formats: "
            f"{', '.join(IMAGE_EXTENSIONS)}"
        )
    return RemixReference(kind="file", value=name or "reference", content=_UNREAD_FILE)
