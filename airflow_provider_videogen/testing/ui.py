"""``make ui``: the gateway simulator, SeaweedFS and real Airflow components, ready in a browser.

One command from a clone to the Airflow UI with the example DAGs, offline::

    make ui          # = python -m airflow_provider_videogen.testing.ui

It starts the simulator (in this process), a SeaweedFS S3 server and the four Airflow
components (:class:`~airflow_provider_videogen.testing.airflow_components.AirflowComponents`),
creates the ``videogen_default`` and ``aws_default`` connections (visible and editable in
Admin -> Connections), the ``videogen_api`` pool and the archive bucket, turns the connection
Test button on, prints the URL and the login, and stops everything on Ctrl-C (or SIGTERM).

Choices worth knowing:

* **A state folder** (``.videogen-ui/`` by default, gitignored, mode 0700) keeps the metadata DB, the S3
  data, the admin password and the secrets every component must share (Fernet key, JWT and API
  secrets). Connections saved in the UI are encrypted with that Fernet key, so they, the run
  history and a browser's login survive a restart. Delete the folder to start afresh.
* **DAGs start paused**: nothing runs until you unpause a DAG (or tick "unpause" in the trigger
  form), so the daily DAG does not fire on start-up and you can look first.
* The two connections this command created are refreshed at every start (the simulator and S3
  ports change); one you edited to point elsewhere (its description no longer says it was
  created here) is left alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.testing.airflow_components import AirflowComponents, AirflowComponentsError
from airflow_provider_videogen.testing.processes import private_dir, write_private

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import FrameType, TracebackType

__all__ = ["DEFAULT_STATE_DIR", "UiSecrets", "VideogenUi", "main"]

DEFAULT_STATE_DIR = Path(".videogen-ui")
DEFAULT_PORT = 8080
#: The example DAGs' default ``s3_bucket``.
BUCKET = "videogen-archive"
POOL = "videogen_api"
POOL_SLOTS = 4
#: Marks the connections this command manages (and may therefore overwrite at the next start).
MANAGED_DESCRIPTION = "created by `make ui` (local simulator / SeaweedFS); refreshed at each start"
SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class UiSecrets:
    """What must not change between two starts on one state folder."""

    fernet_key: str
    api_secret_key: str
    jwt_secret: str
    admin_password: str
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> UiSecrets:
        """Read ``secrets.json`` from the state folder, or write a new one (mode 0600 from its first byte).

        The state folder is made private (0700) first: it holds the metadata DB, the S3 data and
        task logs, which no other user of the machine may read.
        """
        import base64
        import secrets

        path = private_dir(state_dir) / SECRETS_FILE
        if path.exists():
            data = json.loads(path.read_text())
            return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})
        made = cls(
            fernet_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            api_secret_key=secrets.token_urlsafe(32),
            jwt_secret=secrets.token_urlsafe(64),
            admin_password=secrets.token_urlsafe(12),
            s3_access_key="VGUI" + secrets.token_hex(8).upper(),
            s3_secret_key=secrets.token_urlsafe(30),
        )
        write_private(path, json.dumps(made.__dict__, indent=2))
        return made

    def airflow_secrets(self) -> dict[str, str]:
        return {"fernet_key": self.fernet_key, "api_secret_key": self.api_secret_key, "jwt_secret": self.jwt_secret}


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class VideogenUi:
    """Everything ``make ui`` runs, as a context manager (the browser tests use it through the CLI).

    :param state_dir: the state folder (see module docstring).
    :param dags_folders: folders whose ``*.py`` files become the DAGs folder (the repo's ``dags/``).
    :param port: the UI's port; 0 picks a free one.
    :param render_seconds: how long the simulator takes to render a video.
    :param parallelism: LocalExecutor task slots.
    """

    def __init__(
        self,
        *,
        state_dir: Path = DEFAULT_STATE_DIR,
        dags_folders: Sequence[Path] = (Path("dags"),),
        port: int = DEFAULT_PORT,
        render_seconds: float = 3.0,
        parallelism: int = 3,
        startup_timeout: float = 240.0,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.dags_folders = [Path(folder) for folder in dags_folders]
        self.port = port
        self.render_seconds = render_seconds
        self.parallelism = parallelism
        self.startup_timeout = startup_timeout
        self.notes: list[str] = []
        self._stack = contextlib.ExitStack()
        self.simulator: Any = None
        self.s3: Any = None
        self.airflow: AirflowComponents | None = None

    # ---- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> VideogenUi:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer
        from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

        secrets = UiSecrets.load_or_create(self.state_dir)
        dags = self._collect_dags()
        port = self.port
        if port and not port_is_free(port):
            self.notes.append(f"port {port} is taken; using a free one (choose with --port)")
            port = 0
        try:
            self.simulator = self._stack.enter_context(
                SimulatorServer(SimulatorConfig(render_seconds=self.render_seconds))
            )
            self.s3 = self._stack.enter_context(
                SeaweedFS(
                    data_dir=self.state_dir / "s3",
                    access_key=secrets.s3_access_key,
                    secret_key=secrets.s3_secret_key,
                )
            )
            with contextlib.suppress(Exception):  # already there after a restart
                self.s3.create_bucket(BUCKET)
            self.airflow = AirflowComponents(
                dags_folder=dags,
                home=self.state_dir / "airflow",
                env={
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "16",
                },
                parallelism=self.parallelism,
                startup_timeout=self.startup_timeout,
                port=port,
                password=secrets.admin_password,
                secrets=secrets.airflow_secrets(),
            )
            self._stack.callback(self.airflow.stop)
            self.airflow.start()
            self._set_up_airflow()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop Airflow, then SeaweedFS, then the simulator (idempotent)."""
        self._stack.close()

    def _collect_dags(self) -> Path:
        """Copy the ``*.py`` files of every DAGs folder into one (the components copy it again)."""
        target = self.state_dir / "dags-source"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for folder in self.dags_folders:
            if not folder.is_dir():
                raise AirflowComponentsError(f"DAGs folder {folder} does not exist (run from the repository root)")
            for source in sorted(folder.glob("*.py")):
                shutil.copy2(source, target / source.name)
        return target

    def _started(self) -> AirflowComponents:
        if self.airflow is None:
            raise RuntimeError("internal error: the Airflow components are not started")  # kept under python -O
        return self.airflow

    def _set_up_airflow(self) -> None:
        airflow = self._started()
        api = airflow.api
        pool = {"name": POOL, "slots": POOL_SLOTS, "description": "Concurrent submissions to the video gateway"}
        response = api.request("GET", f"/pools/{POOL}", expect=(200, 404))
        if response.status_code == 404:
            api.post("/pools", pool, expect=(201,))
        connections = {
            "videogen_default": {
                "conn_type": "videogen",
                "host": self.simulator.url,
                "password": self.simulator.api_key,
                "extra": json.dumps({"retry_backoff": 0.2}),
            },
            "aws_default": {
                "conn_type": "aws",
                "login": self.s3.access_key,
                "password": self.s3.secret_key,
                "extra": json.dumps(self.s3.connection_extra()),
            },
        }
        for conn_id, fields in connections.items():
            body = {"connection_id": conn_id, "description": MANAGED_DESCRIPTION, **fields}
            response = api.request("GET", f"/connections/{conn_id}", expect=(200, 404))
            if response.status_code == 404:
                api.post("/connections", body, expect=(201,))
            elif response.json().get("description") == MANAGED_DESCRIPTION:
                api.request("PATCH", f"/connections/{conn_id}", json=body)
            else:
                self.notes.append(f"connection {conn_id!r} was edited by you: left as it is")

    # ---- what the user sees ----------------------------------------------------------------

    def banner(self) -> str:
        airflow = self._started()
        lines = [
            "",
            f"  Airflow UI: {airflow.base_url}",
            f"  login: {airflow.username} / {airflow.password}",
            f"  Videos view: {airflow.base_url}/dags/<dag>/runs/<run>/plugin/videos (a run's 'Videos' tab; a task's "
            "'Video' or 'S3' link opens its own)",
            "",
            f"  simulator: {self.simulator.url} (API key {self.simulator.api_key}; stats at /_sim/stats)",
            f"  S3 (SeaweedFS): {self.s3.endpoint_url}, bucket {BUCKET}",
            f"  connections: videogen_default, aws_default; pool {POOL} ({POOL_SLOTS} slots)",
            f"  state (DB, S3 data, secrets, logs): {self.state_dir}",
            "",
            "  The DAGs are paused: unpause one in the UI to let it run. Ctrl-C stops everything.",
        ]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def serve(self, *, check_every: float = 2.0) -> None:
        """Block until interrupted; raise if a component dies."""
        airflow = self._started()
        while True:
            time.sleep(check_every)
            airflow.check_alive()


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM and SIGHUP stop like Ctrl-C: through ``KeyboardInterrupt`` and the ``finally`` blocks.

    SIGINT is handled explicitly too: a process started in the background by a non-interactive
    shell inherits SIGINT *ignored*, and Python then leaves it ignored.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make ui", description="Start the simulator, SeaweedFS and Airflow, and serve the Airflow UI."
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="state folder (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="UI port; 0 picks a free one (default 8080)")
    parser.add_argument(
        "--dags", type=Path, action="append", default=None, help="a DAGs folder (repeatable; default ./dags)"
    )
    parser.add_argument("--render-seconds", type=float, default=3.0, help="simulated render time (default 3)")
    parser.add_argument("--parallelism", type=int, default=3, help="task slots (default 3)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    print(f"make ui: starting the simulator, SeaweedFS and Airflow (state in {args.state_dir}/) ...", flush=True)
    ui = VideogenUi(
        state_dir=args.state_dir,
        dags_folders=args.dags or [Path("dags")],
        port=args.port,
        render_seconds=args.render_seconds,
        parallelism=args.parallelism,
    )
    code = 0
    try:
        with _stop_on_sigterm():
            try:
                ui.start()
                print(ui.banner(), flush=True)
                print(f"\nready in {time.monotonic() - started:.0f} s", flush=True)
                ui.serve()
            except KeyboardInterrupt:
                print("\nstopping ...", flush=True)
            except AirflowComponentsError as exc:
                print(f"\nmake ui FAILED: {exc}", file=sys.stderr, flush=True)
                code = 1
            finally:
                ui.stop()
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130
    print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
