"""1,000 ``VideoTaskTrigger``\\s in one event loop: how many polls, and what each costs.

A triggerer runs every deferred task's trigger in one asyncio loop on one core, and every status
query counts against the gateway's rate limit. Two suites, each variant in a fresh process,
against the gateway simulator (its own process, so its CPU never counts against a variant):

**polling** (default; issue 18): fixed vs adaptive polling, and CPU per poll vs a floor.
``--triggers`` renders are created one by one over ``--create-window`` seconds, each handed to
the trigger process the moment it exists (as a deferral would), with the arguments the operator
gives its trigger (``estimated_time``, submission time, ``max_poll_interval``). The gateway says
``--estimate`` seconds; each true render time is drawn within +-``--scatter`` of the estimate
times the scenario's factor, the same draws for every variant of a scenario:

* scenarios ``scatter`` (factor 1), ``estimate-3x-long`` (renders 3x faster than estimated),
  ``estimate-3x-short`` (3x slower), and, with factor 1 but non-linear progress (issue 25),
  ``progress-zero`` (the simulator reports 0 until the video is done) and ``progress-steps``
  (progress jumps 0, 25, 50, 75): adaptive polling must not depend on linear progress;
* variants ``fixed`` (the shipped trigger, ``adaptive_polling=False``), ``adaptive`` (the
  default), and, in ``scatter`` only, ``floor``: a bare ``httpx.AsyncClient.get`` plus
  ``json.loads`` per poll on the fixed schedule, same concurrency and pool size, no trigger, no
  parsing into ``VideoTask``, no logging: what any poller pays.

The defaults scale a 180 s render polled every 15 s (12:1, ``max_poll_interval`` 180 s) down to
60 s / 5 s / 60 s: 200 polls/s offered by 1,000 fixed-polling triggers. The last line printed is
``polls per video: fixed <median> / adaptive <median>`` (scatter scenario).

**clients** (issue 3): the shared client against a client per poll, fixed polling:

* ``shared``: :class:`VideoTaskTrigger` as shipped: every trigger of a connection polls through
  one ``httpx.AsyncClient`` per event loop (``hooks/transport.py:shared_async_client``);
* ``per-poll``: the common provider pattern, ``async with httpx.AsyncClient() as client`` around
  every status query: a new client, pool and TCP connection per poll, same kwargs;
* ``per-poll-cached-ssl`` (only with ``--variants``): the same, but handing every new client one
  prebuilt ``ssl.SSLContext``, to show how much of the per-poll cost is httpx loading the CA
  bundle for each client and how much is the connection itself.

Everything else is identical: the same trigger loop, the same parsing into ``VideoTask``, the
same sleeps, the same simulator load (same number of tasks, render time and poll interval).
Its defaults (50 s renders, a 5 s poll interval: 200 polls/s, ~11 per trigger) leave the shared
client headroom on 2 cores.

Measured per variant, in the trigger process only: CPU seconds per poll, polls per video, the
delay from remote completion to the trigger's event, the event loop's lag, and (clients) peak
RSS over the idle process, TCP connections opened (counted at httpcore's network backend) and
the most open at once (counted in-process and sampled from outside).

Run from the repository root (polling: about 17 minutes for 1,000 renders on 2 cores, most of it
the 3x-slow scenario, plus about 4 for the two progress scenarios; clients: about 3.5 minutes)::

    .venv/bin/python benchmarks/trigger_scale.py
    .venv/bin/python benchmarks/trigger_scale.py --quick          # 50 renders, seconds: checks it runs
    .venv/bin/python benchmarks/trigger_scale.py --scenarios scatter --triggers 300
    .venv/bin/python benchmarks/trigger_scale.py --suite clients --variants shared,per-poll,per-poll-cached-ssl

Exits 1 when a trigger does not end with a ``success`` event (or a variant fails to run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil

if TYPE_CHECKING:
    import ssl
    from collections.abc import Sequence

CONN_ID = "videogen_bench"
API_KEY = "bench-key"
#: ``videogen-simulator`` reads its key here (``airflow_provider_videogen.simulator.cli.API_KEY_ENV``).
API_KEY_ENV = "VIDEOGEN_SIMULATOR_API_KEY"
MODEL = "veo3.1-fast"
VARIANTS = ("shared", "per-poll", "per-poll-cached-ssl")
DEFAULT_VARIANTS = "shared,per-poll"
#: The polling suite's children: the shipped trigger polling every interval or adaptively, and
#: the floor (a bare ``httpx.AsyncClient.get`` + ``json.loads`` on the fixed schedule).
POLLING_VARIANTS = ("fixed", "adaptive", "floor")
#: Scenario name -> true render time / estimate (each render then scatters by +-``--scatter``).
SCENARIOS = {
    "scatter": 1.0,
    "estimate-3x-long": 1 / 3,
    "estimate-3x-short": 3.0,
    "progress-zero": 1.0,
    "progress-steps": 1.0,
}
#: How the simulator reports progress in each scenario (``SimulatorConfig.progress_mode``):
#: linear unless named here. Adaptive polling must not depend on linear progress.
PROGRESS_MODES = {"progress-zero": "zero", "progress-steps": "steps"}
#: Scenarios whose aim is the issue-25 one: polls per video median <= 5, delay p95 no worse than fixed.
PROGRESS_AIM_POLLS = 5
READY_TIMEOUT = 180.0
CREATE_TIMEOUT = 600.0


# =============================================================================================
# Child: one variant, N triggers in one event loop
# =============================================================================================


def _child(args: argparse.Namespace) -> int:
    """Run in a fresh process: import, report ready, read the task ids, run the triggers."""
    import asyncio
    import faulthandler
    import gc
    import resource
    import tracemalloc

    import httpcore._backends.auto as httpcore_auto
    from httpcore import AsyncConnectionPool

    from airflow_provider_videogen.hooks import settings as hook_settings
    from airflow_provider_videogen.hooks import transport
    from airflow_provider_videogen.hooks.answers import answer_body
    from airflow_provider_videogen.hooks.transport import build_client_kwargs
    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.triggers.videogen import VideoTaskTrigger

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: stacks to the child log
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))

    counters = {"polls": 0, "connects": 0, "open": 0, "peak_open": 0, "pool_passes": 0, "poll_errors": 0}
    task_polls: dict[str, int] = {}

    # ---- instrumentation: identical for every variant, a counter bump per call ----------------
    original_aget_task = VideoGenHook.aget_task

    async def counted_aget_task(self: VideoGenHook, api: Any, task_id: str, **kwargs: Any) -> Any:
        counters["polls"] += 1
        task_polls[task_id] = task_polls.get(task_id, 0) + 1
        try:
            return await original_aget_task(self, api, task_id, **kwargs)
        except Exception:
            counters["poll_errors"] += 1
            raise

    VideoGenHook.aget_task = counted_aget_task  # type: ignore[method-assign]

    original_connect = httpcore_auto.AutoBackend.connect_tcp

    async def counted_connect(self: Any, *a: Any, **kw: Any) -> Any:
        stream = await original_connect(self, *a, **kw)
        counters["connects"] += 1
        counters["open"] += 1
        counters["peak_open"] = max(counters["peak_open"], counters["open"])
        original_close = stream.aclose
        closed = False

        async def aclose() -> None:
            nonlocal closed
            if not closed:
                closed = True
                counters["open"] -= 1
            await original_close()

        stream.aclose = aclose  # type: ignore[method-assign]
        return stream

    httpcore_auto.AutoBackend.connect_tcp = counted_connect  # type: ignore[method-assign]

    # httpcore re-scans its pool on every assignment pass (O(connections^2) in 1.0.x), and a
    # request handed a connection another request took first goes round again: count passes.
    original_assign = AsyncConnectionPool._assign_requests_to_connections

    def counted_assign(self: Any) -> Any:
        counters["pool_passes"] += 1
        return original_assign(self)

    AsyncConnectionPool._assign_requests_to_connections = counted_assign  # type: ignore[method-assign]

    if args.pool_size:  # experiment: another size for the shared client's pool and gate
        hook_settings.POOL_SIZE = args.pool_size

    # ---- the baseline: a new client for every status query -------------------------------
    cached_ssl: list[ssl.SSLContext] = []

    class PerPollClientHook(VideoGenHook):
        """``async with httpx.AsyncClient()`` around each request, as many providers do."""

        async def _arequest(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            settings = await self.asettings()
            client_kwargs = build_client_kwargs(settings)
            if cached_ssl:
                client_kwargs["verify"] = cached_ssl[0]
            async with httpx.AsyncClient(**client_kwargs) as client:
                try:
                    response = await client.request(method, path, **kwargs)
                except httpx.TransportError as exc:
                    raise self._transport_error(method, path, exc) from None
            # No faults are injected, so the shared hook's retries never run: no retry loop here.
            return answer_body(method, response, settings.api_key)

    class PerPollClientTrigger(VideoTaskTrigger):
        def _hook(self) -> VideoGenHook:
            return PerPollClientHook(videogen_conn_id=self.videogen_conn_id)

    if args.child == "per-poll-cached-ssl":
        cached_ssl.append(httpx.create_ssl_context())
    trigger_class = VideoTaskTrigger if args.child == "shared" else PerPollClientTrigger

    gc.collect()
    idle_rss = psutil.Process().memory_info().rss
    idle_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # Not on stdout: the triggers' progress logs go there (to the log file, as in a triggerer).
    Path(args.out).with_suffix(".ready").touch()

    job = json.loads(sys.stdin.readline())
    poll_interval: float = job["poll_interval"]
    rng = random.Random(job["seed"])
    events: dict[str, dict[str, Any]] = {}
    lags: list[float] = []

    async def drive(trigger: VideoTaskTrigger, offset: float) -> None:
        # Spread the first polls over one interval, as triggers that deferred at different times.
        await asyncio.sleep(offset)
        async for event in trigger.run():
            events[trigger.remote_task_id] = {
                "at": time.time(),
                "status": event.payload.get("status"),
                "message": event.payload.get("message"),
            }
            break

    memory_top: list[str] = []

    async def watch_lag(stop: asyncio.Event) -> None:
        tick, top_at, last_snapshot = 0.1, 0, 0.0
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(tick)
            lags.append(max(0.0, time.perf_counter() - before - tick))
            if args.trace_memory and before - last_snapshot > 2:
                current = tracemalloc.get_traced_memory()[0]
                if current > top_at:  # keep the allocation sites of the largest heap seen
                    top_at, last_snapshot = current, before
                    stats = tracemalloc.take_snapshot().statistics("lineno")[:12]
                    memory_top[:] = [f"{current / 2**20:.1f} MB traced in all", *map(str, stats)]

    def make_trigger(task_id: str, deadline: float, item: dict[str, Any] | None = None) -> VideoTaskTrigger:
        if item is None:  # the client suite: fixed polling, as when it was measured
            return trigger_class(
                videogen_conn_id=CONN_ID,
                remote_task_id=task_id,
                api="generation",
                poll_interval=poll_interval,
                deadline=deadline,
                adaptive_polling=False,
            )
        # What the operator builds after a submission (operators/video_task.py: _trigger).
        return VideoTaskTrigger(
            videogen_conn_id=CONN_ID,
            remote_task_id=task_id,
            api="generation",
            poll_interval=poll_interval,
            deadline=deadline,
            adaptive_polling=args.child == "adaptive",
            max_poll_interval=job["max_poll_interval"],
            estimated_time=item["estimated_time"],
            submitted_at=item["submitted_at"],
        )

    async def floor_poll(task_id: str, deadline: float, client: httpx.AsyncClient) -> None:
        """The floor: what any poller pays, a GET and a JSON parse, on the fixed schedule."""
        path = f"/v1/tasks/{task_id}"
        while time.time() < deadline:
            counters["polls"] += 1
            task_polls[task_id] = task_polls.get(task_id, 0) + 1
            body = json.loads((await client.get(path)).content)
            if body["status"] in ("completed", "failed"):
                status = "success" if body["status"] == "completed" else "failed"
                events[task_id] = {"at": time.time(), "status": status}
                return
            await asyncio.sleep(poll_interval)
        events[task_id] = {"at": time.time(), "status": "timeout"}

    async def main() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_lag(stop))
        if job.get("stream"):
            await run_stream()
        else:
            triggers = [make_trigger(task_id, job["deadline"]) for task_id in job["task_ids"]]
            await asyncio.gather(*(drive(t, rng.uniform(0, poll_interval)) for t in triggers))
        stop.set()
        await watcher

    async def run_stream() -> None:
        """Start each render's poller the moment the parent has created it, as a deferral would."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def read() -> None:  # a thread: the pipe is read without blocking the loop
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, json.loads(line))
            loop.call_soon_threadsafe(queue.put_nowait, None)

        # Warm up as a running triggerer is: connection backends loaded, shared client built.
        settings = await VideoGenHook(CONN_ID).asettings()
        client = None
        if args.child == "floor":
            client = httpx.AsyncClient(
                base_url=settings.base_url,
                headers={"Authorization": f"Bearer {settings.api_key}"},
                limits=httpx.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size),
                timeout=30,
            )
        else:
            await transport.shared_async_client(settings)
        Path(args.out).with_suffix(".warm").touch()
        threading.Thread(target=read, daemon=True).start()
        running: list[asyncio.Task[None]] = []
        while (item := await queue.get()) is not None:
            if client is not None:
                running.append(asyncio.create_task(floor_poll(item["id"], item["deadline"], client)))
            else:
                running.append(asyncio.create_task(drive(make_trigger(item["id"], item["deadline"], item), 0.0)))
        await asyncio.gather(*running)
        if client is not None:
            await client.aclose()

    if args.trace_memory:
        tracemalloc.start()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    sched0 = _sched_wait()
    wall0 = time.perf_counter()
    error = None
    try:
        if args.profile:
            import cProfile

            cProfile.runctx("asyncio.run(main())", globals(), {"asyncio": asyncio, "main": main}, args.profile)
        else:
            asyncio.run(main())
    except Exception as exc:  # reported to the parent, which exits non-zero
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    sched1 = _sched_wait()

    result = {
        "variant": args.child,
        "error": error,
        "wall_seconds": wall,
        "cpu_user": usage1.ru_utime - usage0.ru_utime,
        "cpu_system": usage1.ru_stime - usage0.ru_stime,
        "runqueue_wait": None if sched0 is None or sched1 is None else sched1 - sched0,
        "polls": counters["polls"],
        "poll_errors": counters["poll_errors"],
        "connects": counters["connects"],
        "pool_passes": counters["pool_passes"],
        "pool_size": hook_settings.POOL_SIZE,
        "peak_open": counters["peak_open"],
        "idle_rss": idle_rss,
        "idle_maxrss": idle_maxrss,
        "peak_rss": usage1.ru_maxrss * 1024,
        "end_rss": psutil.Process().memory_info().rss,
        "events": events,
        "task_polls": task_polls,
        "lags": lags,
        "memory_top": memory_top,
    }
    Path(args.out).write_text(json.dumps(result))
    return 0


def _sched_wait(pid: int | str = "self") -> float | None:
    """Seconds the process's main thread spent runnable but waiting for a CPU (Linux schedstat).

    On a shared machine this tells "the loop was busy" apart from "other processes had the CPU".
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


# =============================================================================================
# Parent: simulator, task creation, one child per variant, the table
# =============================================================================================


class Simulator:
    """``videogen-simulator`` in its own process, so its CPU never counts against a variant."""

    def __init__(self, url: str | None) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.url = url or ""

    def __enter__(self) -> Simulator:
        if self.url:
            return self
        self.process = subprocess.Popen(  # the key in the environment: argv is visible to every user in ps
            [sys.executable, "-m", "airflow_provider_videogen.simulator.cli", "--port", "0"],
            env={**os.environ, API_KEY_ENV: API_KEY},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.url = line.split()[-1]
        # Keep draining its stdout so that it never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def port(self) -> int:
        return httpx.URL(self.url).port or 80

    def cpu_seconds(self) -> float | None:
        if self.process is None:
            return None
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def runqueue_wait(self) -> float | None:
        """Seconds the simulator's threads waited for a CPU (uvicorn's loop is not the main thread)."""
        if self.process is None:
            return None
        total = 0.0
        for thread in Path(f"/proc/{self.process.pid}/task").iterdir():
            total += _sched_wait(f"{self.process.pid}/task/{thread.name}") or 0.0
        return total

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_sim/stats", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
        response.raise_for_status()
        return response.json()

    def configure(self, **settings: Any) -> None:
        """Change simulator settings (JSON, with the key, as ``/_sim/config`` wants)."""
        response = httpx.post(
            f"{self.url}/_sim/config", json=settings, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        response.raise_for_status()


def create_tasks(sim: Simulator, count: int, render_seconds: float) -> list[tuple[str, float]]:
    """Create ``count`` tasks; return (id, estimated wall time of remote completion) for each.

    The simulator stamps creation between our send and our receive; the midpoint is within a
    millisecond or two, far below the poll interval the delays are measured against.
    """
    tasks: list[tuple[str, float]] = []
    prompt = f"benchmark clip of a lighthouse at dusk [sim:render={render_seconds:g}]"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    deadline = time.monotonic() + CREATE_TIMEOUT
    with httpx.Client(base_url=sim.url, headers=headers, timeout=30) as client:
        for _ in range(count):
            if time.monotonic() > deadline:
                raise RuntimeError(f"creating {count} tasks took over {CREATE_TIMEOUT:.0f}s")
            sent = time.time()
            response = client.post("/v1/videos/generations", json={"model": MODEL, "prompt": prompt})
            received = time.time()
            response.raise_for_status()
            tasks.append((response.json()["id"], (sent + received) / 2 + render_seconds))
    return tasks


class SocketSampler(threading.Thread):
    """Sample the child's TCP sockets to the simulator from outside (no CPU in the child)."""

    def __init__(self, pid: int, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.port = port
        self.interval = interval
        self.stop = threading.Event()
        self.peak = 0
        self.local_ports: set[int] = set()
        self.samples = 0

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                conns = self.process.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return
            ours = [c for c in conns if c.raddr and c.raddr.port == self.port and c.status == psutil.CONN_ESTABLISHED]
            self.samples += 1
            self.peak = max(self.peak, len(ours))
            self.local_ports.update(c.laddr.port for c in ours)


def run_variant(variant: str, sim: Simulator, args: argparse.Namespace, scenario: str | None = None) -> dict[str, Any]:
    """One child process running ``variant``; the client suite, or one scenario of the polling suite."""
    label = f"{scenario}-{variant}" if scenario else variant
    env = dict(os.environ)
    env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({"conn_type": "videogen", "host": sim.url, "password": API_KEY})
    with tempfile.TemporaryDirectory(prefix="trigger_scale_") as tmp:
        out = Path(tmp) / "result.json"
        log_path = Path(tmp) / "child.log"
        profile = []
        if args.profile_dir:
            Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
            profile = ["--profile", str(Path(args.profile_dir) / f"{label}.prof")]
        pool = ["--pool-size", str(args.pool_size)] if args.pool_size else []
        trace = ["--trace-memory"] if args.trace_memory else []
        with open(log_path, "w") as log_file:
            child = subprocess.Popen(
                [sys.executable, __file__, "--child", variant, "--out", str(out), *profile, *pool, *trace],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            try:
                if scenario:
                    return _drive_polling_child(child, variant, scenario, sim, args, out, log_path)
                return _drive_child(child, variant, sim, args, out, log_path)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                if args.log_dir:
                    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
                    shutil.copy(log_path, Path(args.log_dir) / f"{label}.log")


def _wait_ready(child: subprocess.Popen[str], variant: str, out: Path, log_path: Path) -> None:
    ready, give_up = out.with_suffix(".ready"), time.monotonic() + READY_TIMEOUT
    while not ready.exists():
        if child.poll() is not None or time.monotonic() > give_up:
            raise RuntimeError(f"{variant}: the trigger process did not start:\n{_tail(log_path)}")
        time.sleep(0.05)


def _drive_polling_child(
    child: subprocess.Popen[str],
    variant: str,
    scenario: str,
    sim: Simulator,
    args: argparse.Namespace,
    out: Path,
    log_path: Path,
) -> dict[str, Any]:
    """Create the renders one by one, handing each to the child as it exists (as a deferral would).

    Every variant of a scenario gets the same true render times (same seed), each drawn within
    +-``--scatter`` of ``estimate x SCENARIOS[scenario]``, while the gateway reports ``--estimate``.
    """
    assert child.stdin is not None
    _wait_ready(child, variant, out, log_path)
    estimate, factor = args.estimate, SCENARIOS[scenario]
    rng = random.Random(f"{args.seed}-{scenario}")
    renders = [estimate * factor * rng.uniform(1 - args.scatter, 1 + args.scatter) for _ in range(args.triggers)]
    slack = args.deadline_slack
    job = {"stream": True, "poll_interval": args.poll_interval, "max_poll_interval": args.max_poll_interval,
           "seed": args.seed}  # fmt: skip
    child.stdin.write(json.dumps(job) + "\n")
    child.stdin.flush()
    warm, give_up = out.with_suffix(".warm"), time.monotonic() + READY_TIMEOUT
    while not warm.exists():
        if child.poll() is not None or time.monotonic() > give_up:
            raise RuntimeError(f"{variant}: the trigger process did not warm up:\n{_tail(log_path)}")
        time.sleep(0.05)
    sim.configure(progress_mode=PROGRESS_MODES.get(scenario, "linear"))  # fixed per task at creation
    polls_before = sim.stats()["generation"]["polls"]
    sim_cpu0, sim_wait0 = sim.cpu_seconds(), sim.runqueue_wait()
    sampler = SocketSampler(child.pid, sim.port, args.sample_interval)
    sampler.start()
    print(f"  {scenario} / {variant}: creating {args.triggers} renders over {args.create_window:g}s...",
          file=sys.stderr, flush=True)  # fmt: skip
    tasks: list[tuple[str, float]] = []
    headers = {"Authorization": f"Bearer {API_KEY}"}
    started = time.monotonic()
    try:
        with httpx.Client(base_url=sim.url, headers=headers, timeout=30) as client:
            for i, render in enumerate(renders):
                pause = started + i * args.create_window / args.triggers - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                prompt = f"benchmark clip [sim:render={render:.3f}] [sim:estimate={estimate:g}]"
                sent = time.time()
                response = client.post("/v1/videos/generations", json={"model": MODEL, "prompt": prompt})
                received = time.time()
                response.raise_for_status()
                body = response.json()
                # The submission time on our clock: the operator's is the same to a second, which
                # is nothing at 180 s but 3% of a scaled-down render; the midpoint keeps the scale honest.
                submitted_at = (sent + received) / 2
                tasks.append((body["id"], submitted_at + render))
                item = {"id": body["id"], "estimated_time": body["task_info"]["estimated_time"],
                        "submitted_at": submitted_at, "deadline": submitted_at + render + slack}  # fmt: skip
                child.stdin.write(json.dumps(item) + "\n")
                child.stdin.flush()
        child.stdin.close()
        code = child.wait(max(renders) + slack + 120)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{variant}: the trigger process did not finish in time:\n{_tail(log_path)}") from None
    finally:
        sampler.stop.set()
        sampler.join()
    result = _child_result(variant, code, out, log_path, sim, sampler, tasks, (polls_before, sim_cpu0, sim_wait0))
    result["polls_per_task"] = [result["task_polls"].get(task_id, 0) for task_id, _ in tasks]
    del result["task_polls"]
    return result


def _collect_events(result: dict[str, Any], tasks: list[tuple[str, float]]) -> None:
    """Statuses and delays (event time minus true completion) per task; drops the raw events."""
    delays: list[float] = []
    statuses: dict[str, int] = {}
    for task_id, completes_at in tasks:
        event = result["events"].get(task_id)
        status = event["status"] if event else "missing"
        statuses[status] = statuses.get(status, 0) + 1
        if event and status == "success":
            delays.append(event["at"] - completes_at)
    result["statuses"] = statuses
    result["delays"] = delays
    result["failures"] = [
        f"{task_id}: {(result['events'].get(task_id) or {}).get('message', 'no event')}"
        for task_id, _ in tasks
        if (result["events"].get(task_id) or {}).get("status") != "success"
    ][:5]
    del result["events"]


def _drive_child(
    child: subprocess.Popen[str],
    variant: str,
    sim: Simulator,
    args: argparse.Namespace,
    out: Path,
    log_path: Path,
) -> dict[str, Any]:
    assert child.stdin is not None
    _wait_ready(child, variant, out, log_path)
    print(f"  {variant}: creating {args.triggers} tasks...", file=sys.stderr, flush=True)
    polls_before = sim.stats()["generation"]["polls"]
    tasks = create_tasks(sim, args.triggers, args.render_seconds)
    deadline = time.time() + args.render_seconds + args.deadline_slack
    sim_cpu0, sim_wait0 = sim.cpu_seconds(), sim.runqueue_wait()
    sampler = SocketSampler(child.pid, sim.port, args.sample_interval)
    sampler.start()
    print(f"  {variant}: running {args.triggers} triggers...", file=sys.stderr, flush=True)
    job = {
        "task_ids": [task_id for task_id, _ in tasks],
        "poll_interval": args.poll_interval,
        "deadline": deadline,
        "seed": args.seed,
    }
    child.stdin.write(json.dumps(job) + "\n")
    child.stdin.flush()
    try:
        code = child.wait(args.render_seconds + args.deadline_slack + 120)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{variant}: the trigger process did not finish in time:\n{_tail(log_path)}") from None
    finally:
        sampler.stop.set()
        sampler.join()
    result = _child_result(variant, code, out, log_path, sim, sampler, tasks, (polls_before, sim_cpu0, sim_wait0))
    del result["task_polls"]
    return result


def _child_result(
    variant: str,
    code: int,
    out: Path,
    log_path: Path,
    sim: Simulator,
    sampler: Any,
    tasks: list[tuple[str, float]],
    before: tuple[int, float | None, float | None],
) -> dict[str, Any]:
    """A finished trigger process's results, with the simulator's side measured against ``before``."""
    polls_before, sim_cpu0, sim_wait0 = before
    sim_cpu1, sim_wait1 = sim.cpu_seconds(), sim.runqueue_wait()
    if code != 0 or not out.exists():
        raise RuntimeError(f"{variant}: the trigger process exited with {code}:\n{_tail(log_path)}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["sim_polls"] = sim.stats()["generation"]["polls"] - polls_before
    result["sim_cpu"] = None if sim_cpu0 is None or sim_cpu1 is None else sim_cpu1 - sim_cpu0
    result["sim_runqueue_wait"] = None if sim_wait0 is None or sim_wait1 is None else sim_wait1 - sim_wait0
    result["sampled_peak_open"] = sampler.peak
    result["sampled_local_ports"] = len(sampler.local_ports)
    _collect_events(result, tasks)
    return result


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---- report ---------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def summarize(r: dict[str, Any]) -> dict[str, float]:
    cpu = r["cpu_user"] + r["cpu_system"]
    polls = max(1, r["polls"])
    mb = 1024 * 1024
    return {
        "success events": r["statuses"].get("success", 0),
        "polls (in process)": r["polls"],
        "polls (simulator)": r["sim_polls"],
        "failed status queries": r["poll_errors"],
        "polls per trigger": r["polls"] / max(1, sum(r["statuses"].values())),
        "wall seconds": r["wall_seconds"],
        "CPU seconds": cpu,
        "CPU busy (% of one core)": 100 * cpu / max(1e-9, r["wall_seconds"]),
        "CPU ms per poll": 1000 * cpu / polls,
        "waiting for a CPU, s (loop runnable)": _nan(r.get("runqueue_wait")),
        "peak RSS MB": r["peak_rss"] / mb,
        "idle RSS MB (imports done)": r["idle_rss"] / mb,
        "RSS increase MB (peak - idle)": (r["peak_rss"] - r["idle_rss"]) / mb,
        "pool size (settings.POOL_SIZE)": r["pool_size"],
        "TCP connections opened": r["connects"],
        "httpcore pool passes per poll": r["pool_passes"] / polls,
        "TCP open at once, peak": r["peak_open"],
        "  (sampled from outside)": r["sampled_peak_open"],
        "delay s, median": statistics.median(r["delays"]) if r["delays"] else float("nan"),
        "delay s, p95": _pct(r["delays"], 0.95),
        "delay s, max": max(r["delays"]) if r["delays"] else float("nan"),
        "loop lag ms, p99": 1000 * _pct(r["lags"], 0.99),
        "loop lag ms, max": 1000 * max(r["lags"]) if r["lags"] else float("nan"),
        "simulator CPU ms per poll": (1000 * r["sim_cpu"] / max(1, r["sim_polls"])) if r["sim_cpu"] else float("nan"),
        "simulator CPU busy (% of one core)": 100 * _nan(r.get("sim_cpu")) / max(1e-9, r["wall_seconds"]),
        "simulator waiting for a CPU, s": _nan(r.get("sim_runqueue_wait")),
    }


#: Rows where baseline / ours is a meaningful "times worse" figure.
RATIO_ROWS = {
    "CPU ms per poll",
    "RSS increase MB (peak - idle)",
    "TCP connections opened",
    "TCP open at once, peak",
    "delay s, median",
    "delay s, p95",
    "loop lag ms, p99",
    "simulator CPU ms per poll",
}


def _fmt(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(summaries: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    names = list(summaries)
    ours = summaries.get("shared")
    header = ["", *names] + [f"{n} / shared" for n in names if n != "shared" and ours]
    rows = [header]
    for metric in next(iter(summaries.values())):
        row = [metric, *(_fmt(summaries[n][metric]) for n in names)]
        if ours:
            for n in names:
                if n == "shared":
                    continue
                base, mine = summaries[n][metric], ours[metric]
                row.append(f"{base / mine:.1f}x" if metric in RATIO_ROWS and mine and mine == mine else "")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    print(
        f"{args.triggers} triggers, render {args.render_seconds:g}s, poll interval {args.poll_interval:g}s, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, httpx {httpx.__version__}"
    )
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_aims(summaries: dict[str, dict[str, float]]) -> None:
    ours, base = summaries.get("shared"), summaries.get("per-poll")
    if not ours:
        return
    print()
    if base:
        ratio = base["CPU ms per poll"] / ours["CPU ms per poll"]
        verdict = "met" if ratio >= 3 else "NOT met"
        print(f"aim: >= 3x less CPU per poll than per-poll clients: {ratio:.1f}x -> {verdict}")
    pool = int(ours["pool size (settings.POOL_SIZE)"])
    bounded = ours["TCP open at once, peak"] <= pool
    print(
        f"aim: connections bounded by the pool ({pool}): peak {ours['TCP open at once, peak']:.0f} "
        f"open at once, {ours['TCP connections opened']:.0f} opened in all -> {'met' if bounded else 'NOT met'}"
    )
    rss = ours["RSS increase MB (peak - idle)"]
    print(f"aim: < 100 MB for the triggers: +{rss:.1f} MB -> {'met' if rss < 100 else 'NOT met'}")


def summarize_polling(r: dict[str, Any]) -> dict[str, float]:
    cpu = r["cpu_user"] + r["cpu_system"]
    polls = r["polls_per_task"]
    return {
        "success events": r["statuses"].get("success", 0),
        "polls per video, median": statistics.median(polls) if polls else float("nan"),
        "polls per video, p95": _pct(polls, 0.95),
        "polls per video, max": max(polls) if polls else float("nan"),
        "polls in all": r["polls"],
        "delay s, median": statistics.median(r["delays"]) if r["delays"] else float("nan"),
        "delay s, p95": _pct(r["delays"], 0.95),
        "delay s, max": max(r["delays"]) if r["delays"] else float("nan"),
        "CPU seconds": cpu,
        "CPU ms per poll": 1000 * cpu / max(1, r["polls"]),
        "waiting for a CPU, s": _nan(r.get("runqueue_wait")),
        "loop lag ms, p99": 1000 * _pct(r["lags"], 0.99),
        "wall seconds": r["wall_seconds"],
        "simulator CPU ms per poll": (1000 * r["sim_cpu"] / max(1, r["sim_polls"])) if r["sim_cpu"] else float("nan"),
    }


def print_polling_table(summaries: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    names = list(summaries)
    rows = [["", *names]]
    for metric in next(iter(summaries.values())):
        rows.append([metric, *(_fmt(summaries[n][metric]) for n in names)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    print(
        f"{args.triggers} renders in flight, estimate {args.estimate:g}s, poll interval {args.poll_interval:g}s "
        f"(ratio {args.estimate / args.poll_interval:g}:1), max_poll_interval {args.max_poll_interval:g}s, "
        f"true render = estimate x scenario factor x U({1 - args.scatter:g}, {1 + args.scatter:g}), "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, httpx {httpx.__version__}"
    )
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_polling_aims(summaries: dict[str, dict[str, float]], scenarios: Sequence[str]) -> None:
    """The issue's aims, each with its figures; the last line is the headline."""
    print()
    for scenario in scenarios:
        fixed, adaptive = summaries.get(f"{scenario}/fixed"), summaries.get(f"{scenario}/adaptive")
        if not fixed or not adaptive:
            continue
        fewer = adaptive["polls per video, median"] <= fixed["polls per video, median"]
        p95_fixed, p95_adaptive = fixed["delay s, p95"], adaptive["delay s, p95"]
        line = (
            f"aim ({scenario}): polls per video median {adaptive['polls per video, median']:g} "
            f"(p95 {adaptive['polls per video, p95']:g}) vs fixed {fixed['polls per video, median']:g} "
            f"(p95 {fixed['polls per video, p95']:g}); delay p95 {p95_adaptive:.2f}s vs fixed {p95_fixed:.2f}s"
        )
        met = fewer and p95_adaptive <= p95_fixed
        if scenario == "scatter":
            met = met and adaptive["polls per video, median"] <= 4
            line += " (aim: <= 4 polls, delay p95 no worse)"
        elif scenario in PROGRESS_MODES:
            met = met and adaptive["polls per video, median"] <= PROGRESS_AIM_POLLS
            line += f" (aim: <= {PROGRESS_AIM_POLLS} polls, delay p95 no worse)"
        else:
            line += " (aim: polls and delay no worse)"
        print(f"{line} -> {'met' if met else 'NOT met'}")
    fixed, floor = summaries.get("scatter/fixed"), summaries.get("scatter/floor")
    if fixed and floor:
        ratio = fixed["CPU ms per poll"] / floor["CPU ms per poll"]
        print(
            f"aim: CPU per poll of the shipped trigger within 1.5x of a bare httpx get + json.loads: "
            f"{fixed['CPU ms per poll']:.2f} vs {floor['CPU ms per poll']:.2f} ms = {ratio:.2f}x "
            f"-> {'met' if ratio <= 1.5 else 'NOT met'}"
        )
    fixed, adaptive = summaries.get("scatter/fixed"), summaries.get("scatter/adaptive")
    if fixed and adaptive:
        print(
            f"polls per video: fixed {fixed['polls per video, median']:g} / "
            f"adaptive {adaptive['polls per video, median']:g}"
        )


def run_polling_suite(sim: Simulator, args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """Each scenario's variants one after the other, same renders; returns results and failure."""
    results: dict[str, dict[str, Any]] = {}
    failed = False
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for scenario in scenarios:
        variants = ["fixed", "adaptive"] + (["floor"] if scenario == "scatter" else [])
        for variant in variants:
            name = f"{scenario}/{variant}"
            try:
                results[name] = run_variant(variant, sim, args, scenario=scenario)
            except RuntimeError as exc:
                print(f"{name} failed: {exc}", file=sys.stderr)
                failed = True
                continue
            r = results[name]
            if r["error"] or r["statuses"].get("success", 0) != args.triggers:
                failed = True
                print(f"{name}: {r['error'] or ''} statuses {r['statuses']}", file=sys.stderr)
                for line in r["failures"]:
                    print(f"    {line}", file=sys.stderr)
            time.sleep(2)  # let the simulator drain closed connections between runs
    summaries = {name: summarize_polling(r) for name, r in results.items()}
    if summaries:
        print_polling_table(summaries, args)
        print_polling_aims(summaries, scenarios)
    return {"summaries": summaries, "results": results}, failed


# ---- main -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--suite",
        choices=("polling", "clients", "all"),
        default="polling",
        help="polling: fixed vs adaptive polling and CPU per poll vs a bare-httpx floor (issue 18); clients: "
        "one shared client vs a client per poll (issue 3); all: both (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short polling run (50 renders, 4 s, scatter only) to check it works"
    )
    parser.add_argument("--triggers", type=int, default=1000, help="concurrent triggers (default: %(default)s)")
    parser.add_argument("--render-seconds", type=float, default=50.0, help="clients: render time (default: 50)")
    parser.add_argument("--poll-interval", type=float, help="trigger poll interval (default: 5)")
    parser.add_argument("--estimate", type=float, default=60.0, help="polling: estimated_time, s (default: 60)")
    parser.add_argument(
        "--max-poll-interval",
        type=float,
        help="polling: max_poll_interval (default: the 180 s of a 15 s interval, scaled)",
    )
    parser.add_argument("--scatter", type=float, default=0.3, help="polling: true render within +-this (default 0.3)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"polling: from {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument(
        "--create-window", type=float, default=10.0, help="polling: seconds over which renders are created (default 10)"
    )
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=f"comma-separated, from {', '.join(VARIANTS)} (default: %(default)s)",
    )
    parser.add_argument("--simulator-url", help="use a running simulator that accepts the key 'bench-key'")
    parser.add_argument("--deadline-slack", type=float, default=300.0, help="trigger deadline after render (s)")
    parser.add_argument("--sample-interval", type=float, default=0.1, help="socket sampling period (s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start offsets")
    parser.add_argument("--json", dest="json_path", help="also write raw results and summaries here")
    parser.add_argument("--trace-memory", action="store_true", help="diagnosis: tracemalloc's top sites (slow)")
    parser.add_argument("--pool-size", type=int, help="experiment: override settings.POOL_SIZE in the children")
    parser.add_argument("--log-dir", help="keep each variant's trigger logs here")
    parser.add_argument("--profile-dir", help="write a cProfile of each variant's trigger run here")
    parser.add_argument("--child", choices=VARIANTS + POLLING_VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        return _child(args)
    if args.quick:
        args.suite, args.triggers, args.estimate, args.poll_interval = "polling", 50, 4.0, 4.0 / 12
        args.scenarios, args.create_window, args.deadline_slack = "scatter", 0.5, 60.0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown or not variants:
        print(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    unknown = {s.strip() for s in args.scenarios.split(",") if s.strip()} - set(SCENARIOS)
    if unknown:
        print(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the simulator and child are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    report: dict[str, Any] = {"args": vars(args)}
    failed = False
    with Simulator(args.simulator_url) as sim:
        print(f"simulator at {sim.url}", file=sys.stderr, flush=True)
        if args.suite in ("clients", "all"):
            clients_args = argparse.Namespace(**vars(args))
            clients_args.poll_interval = args.poll_interval or 5.0
            report["clients"], clients_failed = run_clients_suite(sim, variants, clients_args)
            failed |= clients_failed
        if args.suite in ("polling", "all"):  # last: its headline is the last line printed
            args.poll_interval = args.poll_interval or 5.0
            if args.max_poll_interval is None:  # the default 180 s at a 15 s interval, scaled the same way
                args.max_poll_interval = args.poll_interval * 180 / 15
            report["polling"], polling_failed = run_polling_suite(sim, args)
            failed |= polling_failed
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=1, default=str))
    return 1 if failed else 0


def run_clients_suite(sim: Simulator, variants: Sequence[str], args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """Issue 3's comparison: the shared client against a client per poll, fixed polling."""
    results: dict[str, dict[str, Any]] = {}
    failed = False
    for variant in variants:
        try:
            results[variant] = run_variant(variant, sim, args)
        except RuntimeError as exc:
            print(f"{variant} failed: {exc}", file=sys.stderr)
            failed = True
            continue
        r = results[variant]
        if r["error"] or r["statuses"].get("success", 0) != args.triggers:
            failed = True
            print(f"{variant}: {r['error'] or ''} statuses {r['statuses']}", file=sys.stderr)
            for line in r["failures"]:
                print(f"    {line}", file=sys.stderr)
        for line in r.get("memory_top", []):
            print(f"    {line}", file=sys.stderr)
        time.sleep(2)  # let the simulator drain closed connections between variants
    summaries = {name: summarize(r) for name, r in results.items()}
    if summaries:
        print_table(summaries, args)
        print_aims(summaries)
    return {"summaries": summaries, "results": results}, failed


if __name__ == "__main__":
    sys.exit(main())
