"""1,000 ``VideoTaskTrigger``\\s in one event loop: a shared client against a client per poll.

A triggerer runs every deferred task's trigger in one asyncio loop on one core. What one status
query costs there decides how many video tasks a triggerer can wait for. This benchmark runs
``--triggers`` triggers against the gateway simulator, each variant in a fresh process:

* ``shared``: :class:`VideoTaskTrigger` as shipped: every trigger of a connection polls through
  one ``httpx.AsyncClient`` per event loop (``hooks/transport.py:shared_async_client``);
* ``per-poll``: the common provider pattern, ``async with httpx.AsyncClient() as client`` around
  every status query: a new client, pool and TCP connection per poll, same kwargs;
* ``per-poll-cached-ssl`` (only with ``--variants``): the same, but handing every new client one
  prebuilt ``ssl.SSLContext``, to show how much of the per-poll cost is httpx loading the CA
  bundle for each client and how much is the connection itself.

Everything else is identical: the same trigger loop, the same parsing into ``VideoTask``, the
same sleeps, the same simulator load (same number of tasks, render time and poll interval).

Measured per variant, in the trigger process only (the simulator runs in its own process):
CPU seconds per poll, peak RSS and its increase over the same process idle after its imports,
TCP connections opened (counted at httpcore's network backend, exact) and the most open at once
(counted in-process, cross-checked by sampling the process's sockets from outside), the delay
from remote completion to the trigger's event, and the event loop's lag.

The defaults (50 s renders, a 5 s poll interval: 200 polls/s, ~11 per trigger) leave the shared
client headroom on 2 cores, so the table shows per-poll costs, not a saturated loop; the issue's
2 s interval (``--render-seconds 30 --poll-interval 2``, 500 polls/s) saturates even the shared
client at ``POOL_SIZE = 50`` on such a machine.

Run from the repository root (about 3.5 minutes for 1,000 triggers on 2 cores)::

    .venv/bin/python benchmarks/trigger_scale.py
    .venv/bin/python benchmarks/trigger_scale.py --triggers 200 --render-seconds 20 --poll-interval 2
    .venv/bin/python benchmarks/trigger_scale.py --variants shared,per-poll,per-poll-cached-ssl --json out.json

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
MODEL = "veo3.1-fast"
VARIANTS = ("shared", "per-poll", "per-poll-cached-ssl")
DEFAULT_VARIANTS = "shared,per-poll"
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
    from airflow_provider_videogen.hooks.transport import build_client_kwargs
    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.triggers.videogen import VideoTaskTrigger

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: stacks to the child log
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))

    counters = {"polls": 0, "connects": 0, "open": 0, "peak_open": 0, "pool_passes": 0, "poll_errors": 0}

    # ---- instrumentation: identical for every variant, a counter bump per call ----------------
    original_aget_task = VideoGenHook.aget_task

    async def counted_aget_task(self: VideoGenHook, api: Any, task_id: str) -> Any:
        counters["polls"] += 1
        try:
            return await original_aget_task(self, api, task_id)
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

        stream.aclose = aclose
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
            if response.is_success:
                return self._decode(method, response, settings.api_key)
            raise self._http_error(method, response, settings.api_key)

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
    task_ids: list[str] = job["task_ids"]
    poll_interval: float = job["poll_interval"]
    rng = random.Random(job["seed"])
    triggers = [
        trigger_class(
            videogen_conn_id=CONN_ID,
            remote_task_id=task_id,
            api="generation",
            poll_interval=poll_interval,
            deadline=job["deadline"],
        )
        for task_id in task_ids
    ]
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

    async def main() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_lag(stop))
        await asyncio.gather(*(drive(t, rng.uniform(0, poll_interval)) for t in triggers), return_exceptions=False)
        stop.set()
        await watcher

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
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_videogen.simulator.cli", "--port", "0", "--api-key", API_KEY],
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
        response = httpx.get(f"{self.url}/_sim/stats", timeout=30)
        response.raise_for_status()
        return response.json()


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


def run_variant(variant: str, sim: Simulator, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({"conn_type": "videogen", "host": sim.url, "password": API_KEY})
    with tempfile.TemporaryDirectory(prefix="trigger_scale_") as tmp:
        out = Path(tmp) / "result.json"
        log_path = Path(tmp) / "child.log"
        profile = []
        if args.profile_dir:
            Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
            profile = ["--profile", str(Path(args.profile_dir) / f"{variant}.prof")]
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
                return _drive_child(child, variant, sim, args, out, log_path)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                if args.log_dir:
                    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
                    shutil.copy(log_path, Path(args.log_dir) / f"{variant}.log")


def _drive_child(
    child: subprocess.Popen[str],
    variant: str,
    sim: Simulator,
    args: argparse.Namespace,
    out: Path,
    log_path: Path,
) -> dict[str, Any]:
    assert child.stdin is not None
    ready, give_up = out.with_suffix(".ready"), time.monotonic() + READY_TIMEOUT
    while not ready.exists():
        if child.poll() is not None or time.monotonic() > give_up:
            raise RuntimeError(f"{variant}: the trigger process did not start:\n{_tail(log_path)}")
        time.sleep(0.05)

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
    sim_cpu1, sim_wait1 = sim.cpu_seconds(), sim.runqueue_wait()
    if code != 0 or not out.exists():
        raise RuntimeError(f"{variant}: the trigger process exited with {code}:\n{_tail(log_path)}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["sim_polls"] = sim.stats()["generation"]["polls"] - polls_before
    result["sim_cpu"] = None if sim_cpu0 is None or sim_cpu1 is None else sim_cpu1 - sim_cpu0
    result["sim_runqueue_wait"] = None if sim_wait0 is None or sim_wait1 is None else sim_wait1 - sim_wait0
    result["sampled_peak_open"] = sampler.peak
    result["sampled_local_ports"] = len(sampler.local_ports)
    delays, statuses = [], {}
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


# ---- main -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=1000, help="concurrent triggers (default: %(default)s)")
    parser.add_argument("--render-seconds", type=float, default=50.0, help="render time of each task (default: 50)")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="trigger poll interval (default: 5)")
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
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        return _child(args)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown or not variants:
        print(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the simulator and child are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    results: dict[str, dict[str, Any]] = {}
    failed = False
    with Simulator(args.simulator_url) as sim:
        print(f"simulator at {sim.url}", file=sys.stderr, flush=True)
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
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps({"args": vars(args), "summaries": summaries, "results": results}, indent=1)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
