"""Every user form of a remix reference becomes the right RemixReference; bad ones fail before any request."""

from __future__ import annotations

import base64
import os
import threading
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_videogen import references
from airflow_provider_videogen.models import MAX_IMAGE_BYTES, RemixReference
from airflow_provider_videogen.references import (
    InvalidReferenceError,
    as_reference_list,
    data_uri,
    is_file_input,
    preview_reference,
    to_reference,
    to_references,
)

if TYPE_CHECKING:
    from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x03" * 32
GIF = b"GIF89a" + b"\x00" * 64
URL = "https://cdn.example.com/first.png"


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "first.png"
    path.write_bytes(PNG)
    return path


def test_local_path_as_str_and_as_path(png_file: Path) -> None:
    for value in (str(png_file), png_file):
        ref = to_reference(value)
        assert (ref.kind, ref.value, ref.content, ref.content_type) == ("file", "first.png", PNG, "image/png")


def test_file_url_and_object_storage_path(png_file: Path) -> None:
    for value in (png_file.as_uri(), ObjectStoragePath(png_file.as_uri())):
        ref = to_reference(value)
        assert (ref.kind, ref.value, ref.content, ref.content_type) == ("file", "first.png", PNG, "image/png")


def test_content_type_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    path = tmp_path / "actually-a-jpeg.png"
    path.write_bytes(JPEG)
    assert to_reference(path).content_type == "image/jpeg"


@pytest.mark.parametrize(("data", "mime"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")])
def test_bytes_become_a_named_file_part(data: bytes, mime: str) -> None:
    for value in (data, bytearray(data), memoryview(data)):
        ref = to_reference(value)
        assert ref.kind == "file"
        assert ref.content == data
        assert ref.content_type == mime
        assert ref.value == "reference." + mime.split("/")[1].replace("jpeg", "jpg")


def test_url_and_data_uri_are_sent_as_text() -> None:
    uri = data_uri(JPEG)
    assert uri.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == JPEG
    assert to_reference(URL) == RemixReference(kind="url", value=URL)
    assert to_reference(f"  {uri}\n") == RemixReference(kind="data_uri", value=uri)


def test_a_remix_reference_passes_through() -> None:
    ref = RemixReference.from_bytes(PNG, "x")
    assert to_reference(ref) is ref


def test_order_is_kept_and_a_single_value_is_a_list_of_one(png_file: Path) -> None:
    refs = to_references([URL, png_file, data_uri(PNG), JPEG])
    assert [r.kind for r in refs] == ["url", "file", "data_uri", "file"]
    assert [r.kind for r in to_references(URL)] == ["url"]
    assert as_reference_list(None) == []
    assert as_reference_list((1, 2)) == [1, 2]


def test_missing_file_names_the_position(tmp_path: Path) -> None:
    with pytest.raises(InvalidReferenceError, match=r"#2: input_reference file '.*nope.png' does not exist"):
        to_references([URL, tmp_path / "nope.png"])


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidReferenceError, match="is a directory"):
        to_reference(tmp_path)


def test_gif_content_is_refused_by_the_model(tmp_path: Path) -> None:
    path = tmp_path / "anim.png"
    path.write_bytes(GIF)
    with pytest.raises(InvalidReferenceError, match=r"'anim.png' is not a JPEG, PNG or WEBP image"):
        to_reference(path)
    with pytest.raises(InvalidReferenceError, match="not a JPEG, PNG or WEBP"):
        to_reference(GIF)
    with pytest.raises(InvalidReferenceError, match="image/gif"):
        to_reference("data:image/gif;base64," + base64.b64encode(GIF).decode())


def test_oversized_file_is_refused_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as out:
        out.write(PNG)
        out.truncate(11 * 1024 * 1024)
    reads: list[int] = []
    real_fdopen = os.fdopen  # local files are opened by descriptor (checked to be regular files first)

    def counting_open(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real_fdopen(*args, **kwargs)  # type: ignore[call-overload]
        real_read = handle.read

        def read(size: int = -1) -> bytes:
            data = real_read(size)
            reads.append(len(data))
            return data  # type: ignore[no-any-return]

        handle.read = read
        return handle

    monkeypatch.setattr(references.os, "fdopen", counting_open)
    with pytest.raises(InvalidReferenceError, match=r"'.*huge.png' is 11.0 MB; at most 10 MB per image"):
        to_reference(path)
    assert sum(reads) == MAX_IMAGE_BYTES + 1


def test_exactly_ten_megabytes_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(PNG + b"\x00" * (MAX_IMAGE_BYTES - len(PNG)))
    assert len(to_reference(path).content or b"") == MAX_IMAGE_BYTES


def test_unsupported_type_is_refused() -> None:
    with pytest.raises(InvalidReferenceError, match="type int is not supported"):
        to_reference(42)


def test_preview_checks_files_by_name_only(tmp_path: Path) -> None:
    # Neither file exists: at parse time nothing is read.
    assert preview_reference(tmp_path / "later.png").kind == "file"
    assert preview_reference(str(tmp_path / "no-suffix")).kind == "file"
    assert preview_reference(ObjectStoragePath("file:///nowhere/later.webp")).kind == "file"
    for bad in (tmp_path / "anim.gif", "/videos/clip.mp4", "s3://bucket/a.gif"):
        with pytest.raises(InvalidReferenceError, match=r"looks like (image/gif|video/mp4)"):
            preview_reference(bad)
    # Text forms are checked completely, as at execute.
    assert preview_reference(URL).kind == "url"
    with pytest.raises(InvalidReferenceError, match=r"\.gif file"):
        preview_reference("https://cdn.example.com/a.gif")


def test_which_inputs_are_files(png_file: Path) -> None:
    assert is_file_input(png_file)
    assert is_file_input(str(png_file))
    assert is_file_input("s3://bucket/a.png")
    assert is_file_input(png_file.as_uri())
    assert is_file_input(ObjectStoragePath(png_file.as_uri()))
    assert not is_file_input(URL)
    assert not is_file_input(data_uri(PNG))
    assert not is_file_input(PNG)


def test_data_uri_refuses_non_images() -> None:
    with pytest.raises(InvalidReferenceError, match="not a JPEG, PNG or WEBP"):
        data_uri(GIF)


@pytest.fixture
def memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register fsspec's in-memory filesystem as ``memory://``: a stand-in for s3:// and other stores."""
    from airflow.sdk.io import fs
    from fsspec.implementations.memory import MemoryFileSystem

    monkeypatch.setitem(fs._register_filesystems(), "memory", lambda conn_id, options: MemoryFileSystem())  # type: ignore[index]


@pytest.mark.usefixtures("memory_store")
def test_object_store_path_and_object_store_url_string_are_read() -> None:
    ObjectStoragePath("memory://refs/style.webp").write_bytes(WEBP)
    for value in (ObjectStoragePath("memory://refs/style.webp"), "memory://refs/style.webp"):
        ref = to_reference(value)
        assert (ref.kind, ref.value, ref.content, ref.content_type) == ("file", "style.webp", WEBP, "image/webp")
    with pytest.raises(InvalidReferenceError, match="does not exist"):
        to_reference("memory://refs/missing.png")


# ---- issue 13 point 12: only regular files, clear errors, nothing to retry -----------------------


@pytest.mark.parametrize("url", ["ftp://host/a.png", "gs://bucket/a.png", "memory://scratch/a.png"])
def test_an_unregistered_scheme_is_a_clear_reference_error(url: str) -> None:
    # memory:// is registered once a test has used it; either way the error is a reference error.
    with pytest.raises(InvalidReferenceError, match=r"no object storage is registered for \w+://|does not exist"):
        to_reference(url)


def test_a_password_in_a_reference_s_user_info_is_not_in_its_error() -> None:
    with pytest.raises(InvalidReferenceError, match="no object storage") as info:
        to_reference("ftp://user:Pw0rdSECRET42@files.example.com/refs/a.png")
    assert "Pw0rdSECRET42" not in str(info.value)
    assert "ftp://user:***@files.example.com" in str(info.value)  # still says which reference


def test_an_unregistered_scheme_fails_the_remix_without_retry() -> None:
    from airflow_provider_videogen.exceptions import InvalidRequestError
    from airflow_provider_videogen.operators.remix import VideoRemixOperator

    op = VideoRemixOperator(
        task_id="remix", model="veo_3_1-fast-fl-remix", prompt="a", prompt_extend="b", input_references=["gs://b/a.png"]
    )
    with pytest.raises(InvalidRequestError, match=r"input_references #1: .*gs://"):
        op.build_request()  # execute turns InvalidRequestError into AirflowFailException: no retry


def _in_a_thread(call: Any) -> BaseException | None:
    """Run ``call`` in a daemon thread; fail the test (instead of hanging) if it blocks."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert outcome, "reading the reference blocked"
    return outcome[0]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "frame.png"
    os.mkfifo(fifo)
    error = _in_a_thread(lambda: to_reference(str(fifo)))
    assert isinstance(error, InvalidReferenceError)
    assert "is a FIFO, not a regular image file" in str(error)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "file:///dev/zero"])
def test_a_device_is_refused_not_reported_as_zero_megabytes(device: str) -> None:
    with pytest.raises(InvalidReferenceError, match="is a device, not a regular image file"):
        to_reference(device)


def test_a_device_behind_an_object_storage_path_is_refused() -> None:
    with pytest.raises(InvalidReferenceError, match="is a device"):
        to_reference(ObjectStoragePath("file:///dev/zero"))
