"""Real Airflow components on loopback (api-server, scheduler, dag-processor, triggerer), for e2e tests and the demo.

``dag.test()`` runs a trigger in-process, so it cannot show the two things a deferrable operator
exists for: the trigger runs in the *triggerer*, and a deferred task gives its worker slot
back. This module starts the real thing from the ``airflow`` CLI next to the interpreter::

    with AirflowComponents(dags_folder="dags/", env={"AIRFLOW_CONN_VIDEOGEN_DEFAULT": ...}) as airflow:
        run = airflow.api.trigger_and_wait("my_dag", timeout=120)
        assert run.state == "success"

Choices worth knowing:

* **Its own ``AIRFLOW_HOME``**, metadata DB (SQLite) and DAGs folder (a copy of the given one).
  Every ``AIRFLOW*`` variable of the calling process is dropped from the components'
  environment, so a pytest session's in-process Airflow settings never leak into them; pass
  connections and settings through ``env``.
* **Free loopback ports** for the API server (and the log servers, which are not started:
  every component shares the one local log folder). Moving the API port needs
  ``[core] execution_api_server_url`` too, or task processes call port 8080.
* **Known credentials**: the SimpleAuthManager password file is written before the API server
  starts, so :class:`AirflowApi` logs in with ``POST /auth/token`` like any user.
* **Small footprint**: LocalExecutor with ``parallelism`` workers (1 by default), one API worker,
  one parsing process; about 1.1 GB for the four components.
* **Stopping**: each component leads its own process group; stop SIGTERMs every group, waits
  ``stop_grace`` seconds (5), then SIGKILLs what is left (including any descendant that moved to
  another group). On Linux each component also gets ``PR_SET_PDEATHSIG``, so a killed pytest
  does not leave a scheduler behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets as _random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from airflow_provider_videogen.testing.processes import die_with_parent as _die_with_parent
from airflow_provider_videogen.testing.processes import free_ports as _free_ports
from airflow_provider_videogen.testing.processes import private_dir, signal_group, write_private
from airflow_provider_videogen.testing.watchdog import unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from types import TracebackType

__all__ = [
    "COMPONENTS",
    "AirflowApi",
    "AirflowComponents",
    "AirflowComponentsError",
    "RunResult",
    "component_kind",
    "find_airflow_binary",
]

#: The components of a minimal Airflow 3 deployment, in start order.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Name of each component in ``GET /api/v2/monitor/health``.
_HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
_INSTANCE_SUFFIX = re.compile(r"-\d+$")


def component_kind(name: str) -> str:
    """The kind of a component instance: ``"scheduler-2"`` -> ``"scheduler"`` (a bare kind is itself)."""
    return _INSTANCE_SUFFIX.sub("", name)


#: Seconds a component waits for SQLite's write lock before "database is locked". Python's default
#: is 5 s; with a pipeline's tasks writing XComs and the scheduler writing states, a click on
#: Trigger in the UI waited longer than that on 2 cores and got a 500 "Database error".
SQLITE_BUSY_TIMEOUT = 30.0


def sqlite_url(home: Path) -> str:
    """The components' SQLite metadata DB under ``home``, waiting ``SQLITE_BUSY_TIMEOUT`` for locks."""
    return f"sqlite:///{home / 'airflow.db'}?timeout={SQLITE_BUSY_TIMEOUT:g}"


class AirflowComponentsError(RuntimeError):
    """A component did not start, died, or the REST API did not answer as expected."""


def find_airflow_binary() -> str:
    """The ``airflow`` CLI next to the running interpreter (the venv's), else on ``PATH``."""
    beside = Path(sys.executable).parent / "airflow"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("airflow")
    if found:
        return found
    raise AirflowComponentsError("the 'airflow' CLI was found neither next to the Python interpreter nor on PATH")


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]


@dataclass
class RunResult:
    """A finished (or timed-out) DAG run and what was seen while waiting for it.

    ``states_seen`` maps ``(task_id, map_index)`` to the task instance states observed by
    polling, in order, without consecutive repeats: proof that a task was ``deferred`` even
    though it ended ``success``. ``snapshots`` keeps, per task instance, the last REST payload
    seen in each state (the ``deferred`` one names its trigger and the triggerer that runs it).
    """

    dag_id: str
    run_id: str
    run: dict[str, Any]
    task_instances: list[dict[str, Any]]
    states_seen: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    snapshots: dict[tuple[str, int], dict[str, dict[str, Any]]] = field(default_factory=dict)
    waited_seconds: float = 0.0

    @property
    def state(self) -> str:
        return str(self.run.get("state"))

    @property
    def duration(self) -> float | None:
        """Seconds between the run's ``start_date`` and ``end_date`` as Airflow recorded them."""
        start, end = self.run.get("start_date"), self.run.get("end_date")
        if not start or not end:
            return None
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()

    def ever_in(self, state: str) -> list[tuple[str, int]]:
        """Task instances (task id, map index) that were seen in ``state``."""
        return [key for key, seen in self.states_seen.items() if state in seen]


class AirflowApi:
    """A small client of the public REST API (``/api/v2``) that logs in like a user.

    Tokens come from ``POST /auth/token``; a 401 fetches a new one once. Every error names the
    request and quotes the response body.
    """

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._client.close()

    # ---- plumbing ------------------------------------------------------------------------

    def _login(self) -> str:
        response = self._client.post("/auth/token", json={"username": self.username, "password": self.password})
        if response.status_code >= 300:
            raise AirflowComponentsError(
                f"POST {self.base_url}/auth/token -> {response.status_code}: {response.text[:500]}"
            )
        self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs: Any) -> httpx.Response:
        """Send an authenticated request to ``/api/v2`` + ``path``; raise unless the status is expected."""
        url = "/api/v2" + path
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            headers["Authorization"] = f"Bearer {self._token or self._login()}"
            response = self._client.request(method, url, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._token = None
                continue
            break
        if response.status_code not in set(expect):
            raise AirflowComponentsError(
                f"{method} {self.base_url}{url} -> {response.status_code}: {response.text[:1000]}"
            )
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs).json()

    # ---- what a test needs -----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        response = self._client.get("/api/v2/monitor/health")  # no login needed
        response.raise_for_status()
        return dict(response.json())

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/importErrors").get("import_errors", []))

    def wait_for_dag(self, dag_id: str, *, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; unpause it if needed."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.request("GET", f"/dags/{dag_id}", expect=(200, 404))
            if response.status_code == 200:
                dag = dict(response.json())
                if dag.get("is_paused"):
                    self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                return dag
            if time.monotonic() > deadline:
                raise AirflowComponentsError(
                    f"DAG {dag_id!r} did not appear within {timeout:.0f} s; import errors: {self.import_errors()}"
                )
            time.sleep(0.5)

    def trigger(self, dag_id: str, *, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Start a manual run (``logical_date`` null, as the UI does) and return its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self.post(f"/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, mapped ones included (one page of up to 100)."""
        data = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return list(data["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """The try history of one task instance (``GET .../tries``)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return list(self.get(path)["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1) -> str:
        """The task's log for one try as plain text (the task's own lines and its trigger's)."""
        response = self.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": True, "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = response.json().get("content", [])
        if isinstance(content, str):
            return content
        lines = []
        for item in content:
            if isinstance(item, dict):
                lines.append(" ".join(str(item[k]) for k in ("timestamp", "level", "event") if item.get(k)))
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def jobs(self, job_type: str | None = None) -> list[dict[str, Any]]:
        """Scheduler, triggerer and dag-processor jobs (``GET /jobs``), newest first."""
        params: dict[str, Any] = {"order_by": "-id", "limit": 100}
        if job_type:
            params["job_type"] = job_type
        return list(self.get("/jobs", params=params)["jobs"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, *, key: str = "return_value", map_index: int = -1) -> Any:
        data = self.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index, "deserialize": True},
        )
        return data.get("value")

    def set_task_instance_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> dict[str, Any]:
        """Mark a task instance ``failed``/``success`` as a user does in the UI (``PATCH ...`` ``new_state``)."""
        response = self.request(
            "PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", json={"new_state": state}
        )
        return dict(response.json())

    def clear_task_instances(self, dag_id: str, run_id: str, task_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Clear (re-run) task instances of a run whatever their state, as a user does in the UI."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": list(task_ids),
            "only_failed": False,
            "reset_dag_runs": True,
        }
        return list(self.post(f"/dags/{dag_id}/clearTaskInstances", body).get("task_instances", []))

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float,
        poll: float = 0.3,
        until: Callable[[dict[str, Any], list[dict[str, Any]]], bool] | None = None,
    ) -> RunResult:
        """Poll the run and its task instances until the run ends (or ``until`` says so).

        Returns even on timeout (``state`` is then not terminal) so the caller's assertion can
        show what was seen; every state each task instance passed through is recorded.
        """
        started = time.monotonic()
        seen: dict[tuple[str, int], list[str]] = {}
        snapshots: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        while True:
            run = self.dag_run(dag_id, run_id)
            tis = self.task_instances(dag_id, run_id)
            for ti in tis:
                key = (str(ti["task_id"]), int(ti.get("map_index", -1)))
                history = seen.setdefault(key, [])
                state = str(ti.get("state"))
                if not history or history[-1] != state:
                    history.append(state)
                snapshots.setdefault(key, {})[state] = ti
            done = until(run, tis) if until else run.get("state") in TERMINAL_RUN_STATES
            waited = time.monotonic() - started
            if done or waited > timeout:
                return RunResult(dag_id, run_id, run, tis, seen, snapshots, waited)
            time.sleep(poll)

    def trigger_and_wait(self, dag_id: str, *, timeout: float, poll: float = 0.3, **kwargs: Any) -> RunResult:
        self.wait_for_dag(dag_id)
        run_id = self.trigger(dag_id, **kwargs)
        return self.wait_for_run(dag_id, run_id, timeout=timeout, poll=poll)


class AirflowComponents:
    """Migrate a fresh metadata DB, start the components, wait until all report healthy.

    :param dags_folder: a folder of DAG files, copied into the components' own DAGs folder.
    :param home: ``AIRFLOW_HOME`` (created if missing, kept on stop); a temporary directory,
        removed on stop, when ``None``.
    :param env: extra environment for every component (connections, settings); it wins over
        the settings chosen here.
    :param parallelism: ``[core] parallelism``: LocalExecutor worker processes (task slots).
    :param components: which components to run: kinds from :attr:`kinds`, or numbered
        instances of them (``"scheduler-1"``, ``"scheduler-2"``) to run several of one kind.
    :param startup_timeout: seconds to wait for the DB migration, and then for health.
    :param stop_grace: seconds between SIGTERM and SIGKILL when stopping. The scheduler,
        triggerer and dag-processor exit within about 5 s of SIGTERM; the API server stops
        serving at once but then spends about 10 s in interpreter-exit garbage collection,
        which a SIGKILL safely cuts short.
    :param die_with_parent: kill the components and their children if the starting process dies, even
        by SIGKILL (Linux: the kernel's parent-death signal, and the :mod:`.watchdog` for the groups).
    :param port: the API server's port; 0 picks a free one.
    :param password: the ``admin`` user's password; a random one when ``None``.
    :param secrets: ``fernet_key``, ``api_secret_key`` and ``jwt_secret`` to use instead of fresh
        random ones; ``make ui`` keeps them in its state folder so saved connections (encrypted
        with the Fernet key) and browser sessions survive a restart.
    """

    #: Kinds of component this launcher can start (a subclass may add some).
    kinds: tuple[str, ...] = COMPONENTS

    def __init__(
        self,
        *,
        dags_folder: str | os.PathLike[str],
        home: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        parallelism: int = 1,
        components: Sequence[str] = COMPONENTS,
        startup_timeout: float = 120.0,
        stop_grace: float = 5.0,
        die_with_parent: bool = True,
        port: int = 0,
        password: str | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        unknown = {name for name in components if component_kind(name) not in self.kinds}
        if unknown or len(set(components)) != len(components):
            raise ValueError(f"unknown or repeated components {sorted(components)}; known kinds: {self.kinds}")
        self.source_dags = Path(dags_folder)
        self.extra_env = dict(env or {})
        self.parallelism = parallelism
        self.components = tuple(components)
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.die_with_parent = die_with_parent
        self.username = "admin"
        self.password = password or _random.token_urlsafe(16)
        self._given_home = Path(home) if home is not None else None
        self._home: Path | None = None
        self._owns_home = False
        self._running: dict[str, _Component] = {}
        self._api: AirflowApi | None = None
        self._wanted_port = port
        self.port = port
        self._log_ports = (0, 0)
        # Every component must share these, or tokens and encrypted fields written by one are
        # unreadable by the others.
        self._secrets = {
            "fernet_key": base64.urlsafe_b64encode(_random.token_bytes(32)).decode(),
            "api_secret_key": _random.token_urlsafe(32),
            "jwt_secret": _random.token_urlsafe(64),  # >= 64 bytes: HS512 warns below that
        }
        self._secrets.update({k: v for k, v in (secrets or {}).items() if k in self._secrets})

    # ---- addresses -------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        if self._home is None:
            raise AirflowComponentsError("the Airflow components are not running")
        return self._home

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_folder(self) -> Path:
        """``[logging] base_log_folder``: task logs, and trigger logs next to them."""
        return self.home / "logs"

    @property
    def api(self) -> AirflowApi:
        """The REST client, logged in as the admin user."""
        if self._api is None:
            self._api = AirflowApi(self.base_url, self.username, self.password)
        return self._api

    def environment(self) -> dict[str, str]:
        """The components' environment: the caller's without any ``AIRFLOW*`` variable, plus ours."""
        home = self.home
        base = {k: v for k, v in os.environ.items() if not k.lstrip("_").startswith("AIRFLOW")}
        settings = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": self._secrets["fernet_key"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._secrets["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secrets["jwt_secret"],
            # The task supervisor may notice its task process's exit only at its next wake-up,
            # up to this many seconds later (seen here: a deferred task's slot stayed busy ~5 s
            # after its log ended). 1 s keeps a one-slot executor turning over quickly.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Not served (--skip-serve-logs), but never let a stray log server take the default ports.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._log_ports[0]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._log_ports[1]),
        }
        return {**base, **settings, **self.extra_env}

    # ---- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> AirflowComponents:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._running:
            raise AirflowComponentsError("the Airflow components are already running")
        if not self.source_dags.is_dir():
            raise AirflowComponentsError(f"DAGs folder {self.source_dags} does not exist")
        if self._given_home is not None:
            self._home = private_dir(self._given_home)
        else:
            self._home = Path(tempfile.mkdtemp(prefix="airflow-components-"))
            self._owns_home = True
        try:
            self._prepare()
            env = self.environment()
            self._migrate(env)
            for name in self.components:
                self._spawn(name, env)
            self.wait_healthy(self.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> None:
        home = self.home
        dags = home / "dags"
        if dags.exists():
            shutil.rmtree(dags)
        shutil.copytree(self.source_dags, dags, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (home / "logs").mkdir(exist_ok=True)
        write_private(home / "passwords.json", json.dumps({self.username: self.password}))
        free, *log_ports = _free_ports(3)
        self.port = self._wanted_port or free
        self._log_ports = (log_ports[0], log_ports[1])

    def _migrate(self, env: Mapping[str, str]) -> None:
        log_path = self.home / "db-migrate.log"
        with open(log_path, "wb") as log:
            try:
                result = subprocess.run(
                    [find_airflow_binary(), "db", "migrate"],
                    env=dict(env),
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=self.startup_timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise AirflowComponentsError(
                    f"'airflow db migrate' took over {self.startup_timeout:.0f} s:\n{_tail(log_path, 30)}"
                ) from None
        if result.returncode != 0:
            raise AirflowComponentsError(
                f"'airflow db migrate' exited with {result.returncode}:\n{_tail(log_path, 40)}"
            )

    def _command(self, name: str) -> list[str]:
        airflow = find_airflow_binary()
        kind = component_kind(name)
        if kind == "api-server":
            return [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        if kind in ("scheduler", "triggerer"):
            return [airflow, kind, "--skip-serve-logs"]
        return [airflow, kind]

    def _spawn(self, name: str, env: Mapping[str, str]) -> None:
        log_path = self.home / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        preexec: Callable[[], None] | None = _die_with_parent if self.die_with_parent else None
        try:
            process = subprocess.Popen(
                self._command(name),
                env=dict(env),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,  # only prctl: safe between fork and exec
            )
        except BaseException:
            log_file.close()
            raise
        if self.die_with_parent:  # its group (the executor's workers...) dies with us, even by SIGKILL
            watch(process.pid)
        self._running[name] = _Component(name, process, log_path, log_file)

    def pid(self, name: str) -> int:
        """Process id of a running component (the leader of its process group)."""
        component = self._running.get(name)
        if component is None:
            raise AirflowComponentsError(f"component {name!r} is not running; running: {sorted(self._running)}")
        return component.process.pid

    def kill(self, name: str, *, timeout: float = 10.0) -> int:
        """SIGKILL a component's whole process group, as a machine dying would; return its pid.

        Returns only once the leader is reaped (raises if it is not gone within ``timeout``), so
        a test can assert the kill happened before it asserts the outcome. Children that left
        the group (none of Airflow's do) are killed too.
        """
        component = self._running.pop(name, None)
        if component is None:
            raise AirflowComponentsError(f"component {name!r} is not running; running: {sorted(self._running)}")
        descendants = self._descendants([component.process.pid])
        signal_group(component.process.pid, signal.SIGKILL)
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            component.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AirflowComponentsError(
                f"{name} (pid {component.process.pid}) outlived SIGKILL for {timeout} s"
            ) from None
        finally:
            component.log_file.close()
            unwatch(component.process.pid)
        return component.process.pid

    def start_component(self, name: str) -> int:
        """Start one more component (or restart a killed one) with the running cluster's settings."""
        if name in self._running:
            raise AirflowComponentsError(f"component {name!r} is already running")
        if component_kind(name) not in self.kinds:
            raise ValueError(f"unknown component {name!r}; known kinds: {self.kinds}")
        self._spawn(name, self.environment())
        if name not in self.components:
            self.components = (*self.components, name)
        return self._running[name].process.pid

    def check_alive(self) -> None:
        """Raise, with its log, if a component has exited."""
        for component in self._running.values():
            code = component.process.poll()
            if code is not None:
                raise AirflowComponentsError(
                    f"airflow {component.name} exited with code {code}:\n{_tail(component.log_path, 40)}"
                )

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Wait until the API answers and every started component has a healthy heartbeat."""
        deadline = time.monotonic() + timeout
        wanted = sorted({_HEALTH_KEYS[kind] for kind in map(component_kind, self.components) if kind in _HEALTH_KEYS})
        last: Any = None
        warmed = False
        while True:
            self.check_alive()
            if "api-server" not in self.components:
                return {}
            try:
                health = self.api.health()
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            else:
                last = health
                if not warmed:  # while the other components finish starting
                    self._warm_up_execution_api(deadline)
                    warmed = True
                    continue
                statuses = [health.get("metadatabase", {}).get("status")]
                statuses += [(health.get(key) or {}).get("status") for key in wanted]
                if all(status == "healthy" for status in statuses):
                    return health
            if time.monotonic() > deadline:
                raise AirflowComponentsError(
                    f"Airflow components not healthy after {timeout:.0f} s (last health: {last!r})\n{self.log_tails()}"
                )
            time.sleep(0.5)

    def _warm_up_execution_api(self, deadline: float) -> None:
        """Send the execution API its first request now, not from the first task.

        The API server's first request to ``/execution`` takes 10-16 s on a 2-core machine (the
        execution API sets up its versioned routes), and the single-worker server answers
        nothing else meanwhile. A task that happens to be first then sees its start-up calls
        time out and retry (``[workers] execution_api_timeout`` is 5 s), and the first run of a
        test takes 15 s longer than the next.
        """
        url = f"{self.base_url}/execution/health"
        last: Any = None
        while True:
            try:
                response = httpx.get(url, timeout=max(1.0, deadline - time.monotonic()))
                if response.status_code == 200:
                    return
                last = f"{response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = exc
            self.check_alive()
            if time.monotonic() > deadline:
                raise AirflowComponentsError(f"GET {url} did not answer 200 in time (last: {last!r})")
            time.sleep(0.5)

    def restart(self, name: str) -> None:
        """Stop one component as a deployment does (SIGTERM, then SIGKILL after ``stop_grace``), start another.

        For tests of what survives a restart, e.g. a triggerer's: its triggers must be picked up
        again by the new one, not killed.
        """
        component = self._running.pop(name, None)
        if component is None:
            raise AirflowComponentsError(f"component {name!r} is not running (running: {sorted(self._running)})")
        signal_group(component.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.process.wait(timeout=self.stop_grace)
        signal_group(component.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.process.wait(timeout=10)
        component.log_file.close()
        unwatch(component.process.pid)
        self._spawn(name, self.environment())

    def stop(self) -> None:
        """SIGTERM every component's group, wait ``stop_grace`` s, SIGKILL what is left; idempotent."""
        running, self._running = self._running, {}
        if self._api is not None:
            self._api.close()
            self._api = None
        descendants = self._descendants(c.process.pid for c in running.values())
        for component in running.values():
            signal_group(component.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for component in running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for component in running.values():
            signal_group(component.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=10)
            component.log_file.close()
        for pid in descendants:  # a grandchild that left its group (setsid) is still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for component in running.values():
            unwatch(component.process.pid)
        if self._owns_home and self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
            self._owns_home = False

    @staticmethod
    def _descendants(pids: Iterable[int]) -> list[int]:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a dev dependency; process groups suffice
            return []
        found: list[int] = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                found += [child.pid for child in psutil.Process(pid).children(recursive=True)]
        return found

    # ---- diagnostics -----------------------------------------------------------------------

    def component_log(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every component's log, for a failing test's report."""
        if self._home is None:
            return "(no Airflow home)"
        parts = []
        for name in ("db-migrate", *self.components):
            path = self._home / f"{name}.log"
            parts.append(f"----- {name} ({path}) -----\n{_tail(path, lines)}")
        return "\n".join(parts)

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """Every log file of a task instance (all tries, all map indexes, trigger logs included)."""
        root = self.log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
