"""``videogen-simulator``: run the gateway simulator from a shell (``make demo``, manual DAG tests).

Examples::

    videogen-simulator --port 8090
    VIDEOGEN_SIMULATOR_API_KEY=my-key videogen-simulator --port 8090 --render-seconds 30 --time-scale 0.1
    videogen-simulator --set remix_shape='"openai"' --set rate_429=0.2

The first line printed is ``videogen simulator listening on <url>`` so that scripts can wait for
it; ``GET <url>/_sim/health`` answers once the server accepts requests. SIGINT/SIGTERM stop it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from airflow_provider_videogen.simulator.config import DEFAULT_API_KEY, SPECIAL_API_KEYS, SimulatorConfig
from airflow_provider_videogen.simulator.media import check_ffmpeg
from airflow_provider_videogen.simulator.server import SimulatorServer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

API_KEY_ENV = "VIDEOGEN_SIMULATOR_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videogen-simulator",
        description="Offline simulator of the video generation gateway (unified + 15 s remix APIs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8090, help="port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=(
            f"accepted API key; repeat for several (default: ${API_KEY_ENV} or {DEFAULT_API_KEY!r}); "
            f"every local user sees a command line in `ps`: prefer ${API_KEY_ENV} for a key that matters"
        ),
    )
    parser.add_argument("--render-seconds", type=float, help="seconds a task renders (default: 6)")
    parser.add_argument("--time-scale", type=float, help="multiplies render times; 0.1 = 10x faster (default: 1)")
    parser.add_argument("--link-ttl", type=float, dest="link_ttl_seconds", help="link lifetime in s (default: 86400)")
    parser.add_argument("--remix-shape", choices=["wrapper", "openai", "envelope"], help="remix answer shape")
    parser.add_argument("--seed", type=int, help="seed of the random faults")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="any setting of SimulatorConfig as JSON, e.g. --set rate_503=0.1 --set malformed='\"html\"'",
    )
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    keys = args.api_keys or ([os.environ[API_KEY_ENV]] if os.environ.get(API_KEY_ENV) else None)
    if keys:
        settings["api_keys"] = keys
    for name in ("render_seconds", "time_scale", "link_ttl_seconds", "remix_shape", "seed"):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    for item in args.set:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {item!r}: write NAME=JSON, e.g. --set rate_429=0.2")
        try:
            settings[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            settings[name.strip()] = raw  # a bare string such as --set remix_shape=openai
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = SimulatorConfig(**settings_from_args(args))
    except (ValueError, ValidationError) as exc:
        print(f"videogen-simulator: invalid settings: {exc}", file=sys.stderr)
        return 2
    server = SimulatorServer(
        config,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        configure_logging=True,
    )
    # Handlers first: a signal that arrives while starting stops the server cleanly afterwards.
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(server, config, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(server: SimulatorServer, config: SimulatorConfig, stop: threading.Event) -> int:
    try:
        check_ffmpeg()
    except RuntimeError as exc:
        print(f"videogen-simulator: {exc}", file=sys.stderr)
        return 2
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        print(f"videogen-simulator: cannot listen on {server.host}:{server.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"videogen simulator listening on {server.url}", flush=True)
        if config.api_keys == [DEFAULT_API_KEY]:
            print(f"API key: {DEFAULT_API_KEY} (the default; set another in ${API_KEY_ENV})", flush=True)
        else:
            print(f"API keys: {len(config.api_keys)} configured (not shown)", flush=True)
        print(
            f"special keys: {', '.join(SPECIAL_API_KEYS)}; stats: {server.url}/_sim/stats (with the API key)",
            flush=True,
        )
        while not stop.wait(0.5):
            if not server.running:
                print("videogen-simulator: the server stopped unexpectedly", file=sys.stderr)
                return 1
        return 0
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
