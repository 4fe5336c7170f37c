"""Run the simulator in a background thread: for tests, benchmarks, ``make demo`` and the CLI.

::

    with SimulatorServer(SimulatorConfig(render_seconds=1)) as sim:
        httpx.post(f"{sim.url}/v1/videos/generations", headers={"Authorization": f"Bearer {sim.api_key}"}, ...)
        sim.configure(next_responses=[{"status": 429, "retry_after": 1}])
        assert sim.stats()["generation"]["creates"] == 1

The listening socket is bound before the thread starts, so ``url`` is known (and the port is
taken) as soon as :meth:`start` returns, and a port conflict raises ``OSError`` in the caller's
thread instead of killing a background thread. uvicorn runs with its own event loop in that
thread; it does not install signal handlers there (uvicorn only does so on the main thread), so
the host process keeps its own Ctrl-C handling.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn

from airflow_provider_videogen.simulator.app import create_app
from airflow_provider_videogen.simulator.state import SimulatorState

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_provider_videogen.simulator.config import SimulatorConfig

log = logging.getLogger(__name__)

#: Pending connections the kernel queues; 1,000 pollers connecting at once must not be refused.
LISTEN_BACKLOG = 4096
#: Idle keep-alive connections are kept this long, so pollers reuse them between polls.
KEEP_ALIVE_SECONDS = 30
STARTUP_TIMEOUT_SECONDS = 30.0


def _raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard limit: 1,000 pollers need 2,000 descriptors in-process."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # pragma: no cover - best effort
            log.debug("could not raise the open-file limit from %s", soft)


class SimulatorServer:
    """The simulator served by uvicorn on a loopback port, in a daemon thread.

    :param config: initial settings; :meth:`reset` returns to them.
    :param host: interface to listen on (loopback by default: the simulator has no real security).
    :param port: 0 picks a free port.
    :param log_level: uvicorn's log level (``warning``: quiet under 1,000 pollers).
    :param access_log: log every request (the CLI's ``--access-log``).
    :param configure_logging: let uvicorn install its logging config (the CLI does; a library
        user such as pytest or Airflow keeps its own).
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        access_log: bool = False,
        configure_logging: bool = False,
    ) -> None:
        self.state = SimulatorState(config)
        self.app = create_app(state=self.state)
        self._host = host
        self._requested_port = port
        self._log_level = log_level
        self._access_log = access_log
        self._configure_logging = configure_logging
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        """Bind, start serving and wait until uvicorn accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the simulator server is already running")
        _raise_open_file_limit()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self._socket = sock
        options: dict[str, Any] = {}
        if not self._configure_logging:
            options["log_config"] = None
        config = uvicorn.Config(
            self.app,
            host=self._host,
            port=self.port,
            log_level=self._log_level,
            access_log=self._access_log,
            lifespan="off",
            backlog=LISTEN_BACKLOG,
            limit_concurrency=None,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=5,
            server_header=False,
            **options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"videogen-simulator:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start on {self.url}: {self._failure!r}")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        if self._server is None:
            raise RuntimeError("internal error: self._server is unset")  # an invariant, kept under python -O
        if self._socket is None:
            raise RuntimeError("internal error: self._socket is unset")  # an invariant, kept under python -O
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # SystemExit from uvicorn on startup failure included
            self._failure = exc
            log.exception("the videogen simulator stopped with an error")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._socket is None:
            return self._requested_port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:38123``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The first configured key (the default one unless ``api_keys`` says otherwise)."""
        return self.state.config.api_keys[0]

    # ---- control ---------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    def stats(self) -> dict[str, Any]:
        """Statistics, the same JSON as ``GET /_sim/stats``."""
        return self.state.snapshot()

    def reset(self) -> None:
        """Forget tasks, statistics and faults, and return to the settings given at construction."""
        self.state.reset()

    def configure(self, **settings: Any) -> SimulatorConfig:
        """Change settings or faults now (``ValidationError`` for an unknown or invalid one)."""
        return self.state.configure(**settings)
