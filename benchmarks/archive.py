"""Archive benchmark: a large video from a local HTTP server into SeaweedFS, three ways, one run.

Paths, each measured in its own subprocess so its peak RSS is its own:

* ``videogen``   - ``VideoToS3Operator.execute``: ``VideoGenHook.stream_download`` -> verified,
  hashed multipart upload through ``S3Hook``'s client (this provider).
* ``http_to_s3`` - the amazon provider's ``HttpToS3Operator.execute``: ``HttpHook.run`` reads
  ``response.content`` whole, then ``S3Hook.load_bytes`` (the baseline to beat on memory).
* ``boto3_file`` - ``boto3``'s ``upload_file`` of the same bytes from local disk (page cache):
  no download at all, so the upper bound for throughput.
* ``floor``      - ``videogen`` on a 64 KiB video (``--repeat`` times, before the sizes): what
  the operator's process peaks at before the first part buffer exists (imports, connections,
  clients).

The HTTP server runs in its own process and sends the file with ``os.sendfile`` (and honours
``Range``), so it is not the bottleneck. SeaweedFS runs on loopback ports as in the tests.

Usage::

    .venv/bin/python benchmarks/archive.py                       # 1 GiB
    .venv/bin/python benchmarks/archive.py --size 256MiB --size 1GiB

Printed per size: MiB/s (median and range), peak RSS of the measuring process, RSS added on top
of its imports (Airflow and the amazon provider alone take about 128 MB in any task) and on top
of the floor, CPU seconds of the path's process and of SeaweedFS, then the ratios the issue
asks for: throughput relative to the local-disk upload, and memory relative to
``HttpToS3Operator``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
PATHS = ("videogen", "http_to_s3", "boto3_file")
FLOOR_SIZE = 64 * 1024
_RANGE = re.compile(r"bytes=(\d+)-")
_FTYP = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(B|KiB|MiB|GiB)?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"size like 256MiB or 1GiB, not {text!r}")
    unit = (match.group(2) or "B").lower()
    return int(match.group(1)) * {"b": 1, "kib": 1024, "mib": MiB, "gib": 1024 * MiB}[unit]


def human(size: int) -> str:
    return f"{size / (1024 * MiB):g} GiB" if size >= 1024 * MiB else f"{size / MiB:g} MiB"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---- the video file and its server ------------------------------------------------------------


def make_video_file(path: Path, size: int) -> str:
    """An MP4 ``ftyp`` header followed by incompressible bytes; return its SHA-256."""
    block = bytearray(os.urandom(4 * MiB))
    digest = hashlib.sha256()
    with path.open("wb") as out:
        written = 0
        counter = 0
        while written < size:
            block[:8] = counter.to_bytes(8, "little")  # no two blocks alike
            chunk = block[: size - written]
            if written == 0:
                chunk[: len(_FTYP)] = _FTYP
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            counter += 1
    return digest.hexdigest()


def serve(directory: Path) -> None:
    """Serve ``directory`` over HTTP/1.1 with Range support and zero-copy ``sendfile``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = directory / self.path.lstrip("/").split("?")[0]
            if not path.is_file():
                self.send_error(404)
                return
            size = path.stat().st_size
            match = _RANGE.match(self.headers.get("Range", ""))
            start = int(match.group(1)) if match else 0
            self.send_response(206 if match else 200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(size - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{size}"')
            if match:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            self.wfile.flush()
            with path.open("rb") as source:
                offset = start
                while offset < size:
                    sent = os.sendfile(self.connection.fileno(), source.fileno(), offset, min(size - offset, 8 * MiB))
                    if sent == 0:
                        break
                    offset += sent

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


# ---- one measured path (runs in a child process) ------------------------------------------------


def run_path(args: argparse.Namespace) -> None:
    context: Any
    if args.path == "videogen":
        # Imported before the baseline, as HttpToS3Operator's module imports S3Hook at its top.
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: F401 - import before baseline
        from airflow.sdk.execution_time.context import OutletEventAccessors

        from airflow_provider_videogen.hooks.videogen import VideoGenHook  # noqa: F401 - import before baseline
        from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

        op: Any = VideoToS3Operator(
            task_id="archive",
            source=args.url,
            s3_bucket=args.bucket,
            s3_key=args.key,
            aws_conn_id="aws_bench",
            videogen_conn_id="videogen_bench",
            replace=True,
        )
        context = {"run_id": "bench", "outlet_events": OutletEventAccessors()}
        action = lambda: op.execute(context)  # noqa: E731
    elif args.path == "http_to_s3":
        from airflow.providers.amazon.aws.transfers.http_to_s3 import HttpToS3Operator
        from airflow.providers.http.hooks.http import HttpHook  # noqa: F401 - import before baseline

        op = HttpToS3Operator(
            task_id="archive",
            endpoint=args.url.split("/", 3)[3],
            method="GET",
            http_conn_id="http_bench",
            s3_bucket=args.bucket,
            s3_key=args.key,
            aws_conn_id="aws_bench",
            replace=True,
        )
        action = lambda: op.execute({})  # noqa: E731
    else:
        import boto3
        from botocore.config import Config

        conn = json.loads(os.environ["AIRFLOW_CONN_AWS_BENCH"])

        def upload() -> None:
            # The client is made inside the timed action, as the operators make theirs in execute().
            client = boto3.client(
                "s3",
                endpoint_url=conn["extra"]["endpoint_url"],
                aws_access_key_id=conn["login"],
                aws_secret_access_key=conn["password"],
                region_name=conn["extra"]["region_name"],
                config=Config(s3={"addressing_style": "path"}),
            )
            client.upload_file(args.file, args.bucket, args.key)

        action = upload
    baseline = peak_rss_mb()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    print(
        json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}),
        flush=True,
    )


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (the upload threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- the driver --------------------------------------------------------------------------------


def measure(
    path: str, size: int, file: Path, url: str, bucket: str, env: dict[str, str], weed_pid: int | None
) -> dict[str, Any]:
    """Run one path in a child process; add SeaweedFS's CPU over the same interval."""
    key = f"bench/{path}-{size}.mp4"
    child_path = "videogen" if path == "floor" else path
    command = [sys.executable, __file__, "run", child_path, "--url", url, "--file", str(file), "--bucket", bucket]
    weed_before = process_cpu(weed_pid)
    done = subprocess.run([*command, "--key", key], env=env, capture_output=True, text=True, check=False)
    weed_cpu = process_cpu(weed_pid) - weed_before
    if done.returncode != 0:
        raise SystemExit(f"{path} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(path=path, size=size, key=key, mib_s=size / MiB / result["seconds"], weed_cpu_s=weed_cpu)
    return result


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of another process (SeaweedFS), 0 when unknown."""
    if pid is None:
        return 0.0
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help=argparse.SUPPRESS)
    serve_cmd.add_argument("directory", type=Path)
    run_cmd = sub.add_parser("run", help=argparse.SUPPRESS)
    run_cmd.add_argument("path", choices=PATHS)
    for name in ("--url", "--file", "--bucket", "--key"):
        run_cmd.add_argument(name, required=True)
    parser.add_argument("--size", action="append", type=parse_size, help="video size, repeatable (default 1GiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path and size; medians are reported")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.directory)
        return
    if args.command == "run":
        run_path(args)
        return
    bench(sorted(args.size or [1024 * MiB]), args.repeat)


def bench(sizes: list[int], repeat: int) -> None:
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as tmp, SeaweedFS(volume_size_limit_mb=1024) as s3:
        work = Path(tmp)
        (work / "airflow").mkdir()
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", str(work)], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            base = f"http://127.0.0.1:{port}"
            bucket = s3.create_bucket("archive-bench")
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(work / "airflow"),
                "AIRFLOW_CONN_AWS_BENCH": s3.connection_json(),
                "AIRFLOW_CONN_HTTP_BENCH": json.dumps({"conn_type": "http", "host": base}),
                "AIRFLOW_CONN_VIDEOGEN_BENCH": json.dumps(
                    {"conn_type": "videogen", "host": base, "password": "bench-key", "extra": {"timeout": 120}}
                ),
            }
            client = s3.boto3_client()
            warm_up(client, bucket, work)
            rows: list[dict[str, Any]] = []
            # The floor: the same operator, process and clients, archiving a 64 KiB video. Its peak
            # RSS is what every run costs before the first part buffer exists.
            tiny = work / "video-tiny.mp4"
            tiny_digest = make_video_file(tiny, FLOOR_SIZE)
            for _ in range(repeat):
                row = measure("floor", FLOOR_SIZE, tiny, f"{base}/{tiny.name}", bucket, env, s3.pid)
                head = client.head_object(Bucket=bucket, Key=row["key"])
                assert head["ContentLength"] == FLOOR_SIZE
                assert head["Metadata"]["sha256"] == tiny_digest
                client.delete_object(Bucket=bucket, Key=row["key"])
                rows.append(row)
            floor = max(r["peak_rss_mb"] for r in rows)
            print(f"  floor (the operator on a 64 KiB video): peak {floor:.0f} MB", flush=True)
            for size in sizes:
                file = work / f"video-{size}.mp4"
                digest = make_video_file(file, size)
                for rep in range(repeat):
                    # Rotate the order so a slow phase of a shared machine hits every path alike.
                    for path in PATHS[rep % len(PATHS) :] + PATHS[: rep % len(PATHS)]:
                        row = measure(path, size, file, f"{base}/{file.name}", bucket, env, s3.pid)
                        head = client.head_object(Bucket=bucket, Key=row["key"])
                        assert head["ContentLength"] == size, (path, head["ContentLength"])
                        if path == "videogen":
                            assert head["Metadata"]["sha256"] == digest, "stored SHA-256 differs from the file's"
                        client.delete_object(Bucket=bucket, Key=row["key"])
                        rows.append(row)
                        print(
                            f"  {human(size):>8} {path:<11} {row['seconds']:6.2f} s {row['mib_s']:7.1f} MiB/s "
                            f"peak {row['peak_rss_mb']:6.0f} MB (+{row['peak_rss_mb'] - row['baseline_rss_mb']:.0f} "
                            f"over imports), CPU {row['cpu_s']:.2f} s, SeaweedFS CPU {row['weed_cpu_s']:.2f} s",
                            flush=True,
                        )
                file.unlink()
            report(rows, sizes)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"total benchmark time {time.monotonic() - started:.0f} s")


def warm_up(client: Any, bucket: str, work: Path) -> None:
    """One multipart write and delete before measuring: SeaweedFS grows its volumes on the first
    write to a bucket (about a second), which would otherwise land on whichever path runs first."""
    file = work / "warm-up.bin"
    file.write_bytes(os.urandom(24 * MiB))
    client.upload_file(str(file), bucket, "bench/warm-up.bin")
    client.delete_object(Bucket=bucket, Key="bench/warm-up.bin")
    file.unlink()


def summarize(rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    """Per path and size: median throughput and CPU, worst peak RSS, RSS over imports of that run."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for key in {(r["path"], r["size"]) for r in rows}:
        runs = [r for r in rows if (r["path"], r["size"]) == key]
        worst = max(runs, key=lambda r: r["peak_rss_mb"])
        speeds = sorted(r["mib_s"] for r in runs)
        out[key] = {
            "mib_s": statistics.median(speeds),
            "slowest": speeds[0],
            "fastest": speeds[-1],
            "cpu": statistics.median(r["cpu_s"] for r in runs),
            "weed_cpu": statistics.median(r["weed_cpu_s"] for r in runs),
            "peak": worst["peak_rss_mb"],
            "extra": worst["peak_rss_mb"] - worst["baseline_rss_mb"],
            "runs": len(runs),
        }
    return out


def report(rows: list[dict[str, Any]], sizes: list[int]) -> None:
    by = summarize(rows)
    floor = by[("floor", FLOOR_SIZE)]["peak"]
    print()
    print(
        f"{'size':>8} | {'path':<10} | {'MiB/s median':>12} | {'(range)':>13} | {'vs disk':>7} | {'peak RSS MB':>11} | "
        f"{'over imports':>12} | {'over floor':>10} | {'CPU s':>5} | {'weed CPU s':>10}"
    )
    print("-" * 124)
    for size in sizes:
        disk_speed = by[("boto3_file", size)]["mib_s"]
        for path in PATHS:
            r = by[(path, size)]
            over_floor = f"{r['peak'] - floor:10.0f}" if path == "videogen" else f"{'':10}"
            print(
                f"{human(size):>8} | {path:<10} | {r['mib_s']:12.1f} | {r['slowest']:5.0f} - {r['fastest']:5.0f} | "
                f"{r['mib_s'] / disk_speed:7.0%} | {r['peak']:11.0f} | {r['extra']:12.0f} | {over_floor} | "
                f"{r['cpu']:5.2f} | {r['weed_cpu']:10.2f}"
            )
    print(
        f"floor: the videogen operator archiving a {FLOOR_SIZE // 1024} KiB video in the same set-up, peak RSS "
        f"{floor:.0f} MB (imports {by[('floor', FLOOR_SIZE)]['peak'] - by[('floor', FLOOR_SIZE)]['extra']:.0f} MB, "
        "then the S3 and HTTP clients)"
    )
    print()
    for size in sizes:
        ours, theirs, disk = by[("videogen", size)], by[("http_to_s3", size)], by[("boto3_file", size)]
        print(
            f"{human(size)}: videogen throughput = {ours['mib_s'] / disk['mib_s']:.0%} of the local-disk upload "
            f"(aim >= 70%), {ours['mib_s'] / theirs['mib_s']:.2f}x HttpToS3Operator's; peak RSS "
            f"{ours['peak']:.0f} MB = {ours['peak'] / theirs['peak']:.2f}x HttpToS3Operator's {theirs['peak']:.0f} MB; "
            f"the transfer adds {ours['peak'] - floor:.0f} MB over the floor; memory over imports "
            f"{ours['extra']:.0f} MB vs {theirs['extra']:.0f} MB"
        )
    if len(sizes) > 1:
        small, large = by[("videogen", sizes[0])], by[("videogen", sizes[-1])]
        print(
            f"videogen peak RSS {human(sizes[0])} -> {human(sizes[-1])}: {small['peak']:.0f} -> {large['peak']:.0f} MB "
            f"(x{large['peak'] / small['peak']:.2f} for x{sizes[-1] / sizes[0]:.0f} the bytes)"
        )


if __name__ == "__main__":
    main()
