"""The local stacks' S3 and secrets files, as another user of the laptop or a web page would try them.

Issue 21 point 18: SeaweedFS's filer port read and overwrote every object without the S3 secret,
and the identity and password files were made private only after their content was written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_provider_videogen.testing.processes import write_private
from airflow_provider_videogen.testing.seaweedfs import SeaweedFS
from airflow_provider_videogen.testing.ui import SECRETS_FILE, UiSecrets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

SECRET_BYTES = b"the archived video nobody else may read"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.s3
def test_the_filer_port_neither_reads_nor_overwrites_an_object(
    seaweedfs: SeaweedFS, s3_client: S3Client, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="video.mp4", Body=SECRET_BYTES)
    filer = f"http://127.0.0.1:{seaweedfs.ports['filer']}/buckets/{s3_bucket}/video.mp4"

    read = httpx.get(filer, timeout=10)
    overwrite = httpx.put(filer, content=b"replaced", timeout=10)
    unsigned = httpx.get(f"{seaweedfs.endpoint_url}/{s3_bucket}/video.mp4", timeout=10)  # S3 without a signature

    assert SECRET_BYTES not in read.content
    assert unsigned.status_code == 403
    assert not read.is_success
    assert not overwrite.is_success
    assert s3_client.get_object(Bucket=s3_bucket, Key="video.mp4")["Body"].read() == SECRET_BYTES


@pytest.mark.s3
def test_the_volume_servers_take_no_unsigned_read_or_write(seaweedfs: SeaweedFS) -> None:
    # The master hands out file ids to anyone; a volume server must still want a signed token.
    assigned = httpx.get(f"http://127.0.0.1:{seaweedfs.ports['master']}/dir/assign", timeout=10).json()
    volume = f"http://{assigned['url']}/{assigned['fid']}"

    write = httpx.post(volume, files={"file": ("x.bin", b"written around S3")}, timeout=10)
    read = httpx.get(volume, timeout=10)

    assert write.status_code == 401
    assert read.status_code == 401


class _WriteSpy:
    """Records, for every ``os.write`` to a file, the file's name and its mode at that moment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, int]] = []
        real_write = os.write

        def write(fd: int, data: Any) -> int:
            with_mode = os.fstat(fd)
            if stat.S_ISREG(with_mode.st_mode):
                self.seen.append((Path(os.readlink(f"/proc/self/fd/{fd}")).name, stat.S_IMODE(with_mode.st_mode)))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)

    def modes_of(self, suffix: str) -> set[int]:
        return {mode for name, mode in self.seen if name.endswith(suffix) or f"{suffix}." in name}


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: a file is then only as private as the code creating it makes it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_write_private_never_shows_the_content_to_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "secret.json"
    target.write_text("old")
    target.chmod(0o644)  # someone may hold it open since: the new content must go to a new file
    with target.open() as earlier_reader:
        spy = _WriteSpy(monkeypatch)
        write_private(target, "new secret")

        assert spy.modes_of("secret.json") == {0o600}
        assert earlier_reader.read() == "old"
    assert target.read_text() == "new secret"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


@pytest.mark.s3
@pytest.mark.usefixtures("open_umask")
def test_seaweedfs_writes_its_secrets_private_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "s3"
    data_dir.mkdir(mode=0o755)
    spy = _WriteSpy(monkeypatch)

    with SeaweedFS(data_dir=data_dir, startup_timeout=60):
        assert spy.modes_of("s3.json") == {0o600}
        assert spy.modes_of("security.toml") == {0o600}
        assert _mode(data_dir / "s3.json") == 0o600
        assert _mode(data_dir / "security.toml") == 0o600
        assert _mode(data_dir) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_the_ui_state_folder_and_its_secrets_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / ".videogen-ui"
    state.mkdir(mode=0o755)  # made by an older version
    spy = _WriteSpy(monkeypatch)

    UiSecrets.load_or_create(state)

    assert _mode(state) == 0o700
    assert spy.modes_of(SECRETS_FILE) == {0o600}
    assert _mode(state / SECRETS_FILE) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_the_airflow_password_file_is_private_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_videogen.testing.airflow_components import AirflowComponents

    dags = tmp_path / "dags"
    dags.mkdir()
    components = AirflowComponents(dags_folder=dags, home=tmp_path / "home", password="p4ssw0rd-for-test")
    components._home = tmp_path / "home"  # what start() sets, without starting anything
    components._home.mkdir()
    spy = _WriteSpy(monkeypatch)

    components._prepare()

    assert spy.modes_of("passwords.json") == {0o600}
    assert _mode(components._home / "passwords.json") == 0o600
