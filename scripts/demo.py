"""``make demo``: run the example pipeline end to end on this machine, offline, in about a minute.

What it does, in order:

1. starts the gateway simulator (in this process) and a SeaweedFS S3 server, both on free
   loopback ports, and creates the bucket ``videogen-demo``;
2. prepares a throwaway ``AIRFLOW_HOME`` (SQLite), with the connections ``videogen_default``
   (simulator) and ``aws_default`` (SeaweedFS) as ``AIRFLOW_CONN_*`` variables, and the
   ``videogen_api`` pool;
3. runs ``airflow dags test videogen_pipeline`` in a subprocess, showing each task and each
   remote video task as it progresses;
4. reads the run's manifest from S3, checks every archived object against it (size, SHA-256,
   ffmpeg decodes it), copies them and the manifest to ``demo-output/pipeline/``, and prints a
   summary table;
5. stops everything it started and exits non-zero on any failure.

Options: ``--variants N``, ``--render-seconds S``, ``--no-llm``, ``--keep-home`` (keep the
Airflow home for inspection; it is always kept when something fails), ``--cluster`` (run it on
the production shape instead: PostgreSQL, Redis, Celery workers, two schedulers and two
triggerers, through the REST API; see ``scripts/demo_cluster.py``). The same DAG runs against
the real gateway and AWS S3 with nothing changed but the two connections (see the README).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.testing.watchdog import unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "videogen_pipeline"
BUCKET = "videogen-demo"
POOL = "videogen_api"
POOL_SLOTS = 4
DAG_TEST_TIMEOUT = 900.0
_TASK_LINE = re.compile(r"\[DAG TEST\] (starting|end task) task_id=(\S+) map_index=(-?\d+)")
_FAILURE_LINE = re.compile(r"Task failed|DagRun failed|new_state=(failed|up_for_retry)")
#: ``airflow db migrate`` then ``airflow pools set ...`` in one interpreter: Airflow's start-up is
#: the slow part of each CLI call, and this runs while the servers start.
_PREPARE = """
import sys
from airflow.cli.cli_parser import get_parser
parser = get_parser()
for argv in (["db", "migrate"], ["pools", "set", *sys.argv[1:]]):
    args = parser.parse_args(argv)
    args.func(args)
"""


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> str:
        return f"[{time.monotonic() - self.start:6.1f}s]"


CLOCK = Clock()


def say(message: str) -> None:
    print(f"{CLOCK()} {message}", flush=True)


# ---- environment -----------------------------------------------------------------------------


def airflow_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A hermetic environment: nothing ``AIRFLOW*`` is inherited, so a user's own Airflow is untouched."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def start_prepare(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``airflow db migrate`` + ``airflow pools set videogen_api ...`` in the background."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _PREPARE, POOL, str(POOL_SLOTS), "Concurrent submissions to the video gateway"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    watch(process.pid)  # killed with its group even if the demo is SIGKILLed
    return process


def stop_if_running(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    unwatch(process.pid)


def finish_prepare(process: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise DemoError(f"preparing the Airflow database took more than {timeout:.0f} s; see {log}") from None
    if code != 0:
        raise DemoError(f"airflow db migrate / pools set failed (exit {code}); see {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---- progress --------------------------------------------------------------------------------


class Progress(threading.Thread):
    """Print task starts/ends from the ``airflow dags test`` log and remote task states from the simulator."""

    def __init__(self, log: Path, simulator: Any) -> None:
        super().__init__(name="demo-progress", daemon=True)
        self.log, self.simulator = log, simulator
        self.stop_event = threading.Event()
        self._offset = 0
        self._remote: dict[str, tuple[str, int]] = {}

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            self.poll()
        self.poll()

    def poll(self) -> None:
        self._read_log()
        self._read_simulator()

    def _read_log(self) -> None:
        try:
            with self.log.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return
        complete = chunk.rfind(b"\n") + 1
        self._offset += complete
        for raw in chunk[:complete].decode(errors="replace").splitlines():
            match = _TASK_LINE.search(raw)
            if match:
                verb, task_id, index = match.groups()
                name = task_id if index == "-1" else f"{task_id}[{index}]"
                say(f"{'>' if verb == 'starting' else ' '} {name} {'started' if verb == 'starting' else 'done'}")
            elif _FAILURE_LINE.search(raw):
                say(f"! {raw.strip()[:200]}")

    def _read_simulator(self) -> None:
        tasks = self.simulator.stats().get("tasks", {})
        for task_id, entry in tasks.items():
            state = (str(entry.get("status")), int(entry.get("progress") or 0))
            if self._remote.get(task_id) != state:
                self._remote[task_id] = state
                api = entry.get("api", "")
                say(f"    gateway {api} {task_id}: {state[0]} {state[1]}%")


# ---- the run ---------------------------------------------------------------------------------


def run_dag_test(env: dict[str, str], conf: dict[str, Any], log: Path, simulator: Any, timeout: float) -> int:
    """Run the DAG with ``airflow dags test`` (a subprocess), printing progress; return its exit code."""
    airflow = Path(sys.executable).parent / "airflow"
    progress = Progress(log, simulator)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(airflow), "dags", "test", DAG_ID, "--conf", json.dumps(conf)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        watch(process.pid)  # killed with its group even if the demo is SIGKILLed
        progress.start()
        try:
            code = process.wait(timeout=timeout)
        except BaseException:  # timeout, Ctrl-C, SIGTERM: stop the run and everything it started
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            raise
        finally:
            unwatch(process.pid)
            progress.stop_event.set()
            progress.join(5)
    return code


def find_manifest(client: Any) -> tuple[str, bytes] | None:
    keys = [obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    manifests = [key for key in keys if key.endswith("/manifest.json")]
    if not manifests:
        return None
    if len(manifests) > 1:
        raise DemoError(f"expected one manifest in s3://{BUCKET}, found {manifests}")
    return manifests[0], client.get_object(Bucket=BUCKET, Key=manifests[0])["Body"].read()


def verify_and_copy(client: Any, video: dict[str, Any], out_dir: Path) -> None:
    """Download one archived video to ``out_dir``; it must match the manifest and decode with ffmpeg."""
    import imageio_ffmpeg

    key = video["s3_uri"].split("/", 3)[3]
    data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    target = out_dir / key.rsplit("/", 1)[1]
    target.write_bytes(data)
    if len(data) != video["size"] or hashlib.sha256(data).hexdigest() != video["sha256"]:
        raise DemoError(f"{video['s3_uri']} does not match the manifest (size or SHA-256)")
    check = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(target), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0 or check.stderr.strip():
        raise DemoError(f"ffmpeg cannot decode {video['s3_uri']}: {check.stderr.strip()}")


def summary_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per planned video, including the ones that failed or were not archived."""
    rows = []
    for variant in manifest["variants"]:
        kinds = ("clip", "remix") if manifest.get("with_remix") else ("clip",)
        for kind in kinds:
            video = variant.get(kind) or {}
            if not video:
                state = "failed"
            elif not video.get("s3_uri"):
                state = "not archived"
            else:
                state = "partial" if video.get("partial") else video["state"]
            rows.append(
                {
                    "variant": variant["index"],
                    "kind": kind,
                    "prompt": variant["prompt"] if kind == "clip" else "15 s remix from the clip's last frame",
                    "remote_id": video.get("remote_id") or "-",
                    "state": state,
                    "size": f"{video['size']:,} B" if video.get("size") else "-",
                    "s3_uri": video.get("s3_uri") or "-",
                }
            )
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    def short(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 3] + "..."

    columns = [
        ("#", "variant", 2),
        ("video", "kind", 5),
        ("prompt", "prompt", 44),
        ("remote id", "remote_id", 34),
        ("state", "state", 12),
        ("size", "size", 9),
        ("S3 URI", "s3_uri", 0),
    ]
    lines = [
        "  ".join(title.ljust(width) for title, _, width in columns).rstrip(),
        "  ".join("-" * (width or 6) for _, _, width in columns),
    ]
    for row in rows:
        cells = []
        for _, field, width in columns:
            text = str(row[field])
            if field == "size":
                cells.append(text.rjust(width))
            elif width:
                cells.append(short(text, width).ljust(width))
            else:
                cells.append(text)
        lines.append("  ".join(cells))
    return "\n".join(lines)


@contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception, so ``finally`` blocks stop the servers."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="scripts/demo.py")
    parser.add_argument("--variants", type=int, default=3, help="prompts (clips and remixes) to make (default 3)")
    parser.add_argument("--render-seconds", type=float, default=3.0, help="simulated render time (default 3)")
    parser.add_argument("--no-llm", action="store_true", help="template prompts instead of the LLM")
    parser.add_argument("--output", type=Path, default=Path("demo-output") / "pipeline", help="where to copy results")
    parser.add_argument("--keep-home", action="store_true", help="keep the throwaway AIRFLOW_HOME")
    parser.add_argument("--timeout", type=float, default=DAG_TEST_TIMEOUT, help="seconds the DAG run may take")
    parser.add_argument("--cluster", action="store_true", help="run on Postgres + Celery + 2 schedulers/triggerers")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="videogen-demo-airflow-"))
    (home / "dags").mkdir()
    for source in sorted((ROOT / "dags").glob("videogen_*.py")):
        (home / "dags" / source.name).symlink_to(source)
    # This process imports Airflow too (the provider's models): point it at the throwaway home first.
    os.environ.update(airflow_env(home, {}))
    log = home / "demo.log"
    failed = True
    print(f"videogen demo: {DAG_ID} with {args.variants} variant(s); Airflow home {home}", flush=True)
    try:
        with terminate_on_sigterm(), ExitStack() as stack:
            if not args.cluster:
                say(f"migrating the Airflow metadata database (SQLite) and creating pool {POOL} ({POOL_SLOTS} slots)")
                prepare = start_prepare(airflow_env(home, {}), log)
                stack.callback(stop_if_running, prepare)

            from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer
            from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

            sim = stack.enter_context(SimulatorServer(SimulatorConfig(render_seconds=args.render_seconds)))
            say(f"gateway simulator on {sim.url} (render time {args.render_seconds:g} s)")
            s3 = stack.enter_context(SeaweedFS())
            s3.create_bucket(BUCKET)
            say(f"SeaweedFS S3 on {s3.endpoint_url}, bucket {BUCKET}")
            connections = {
                "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(
                    {"conn_type": "videogen", "host": sim.url, "password": sim.api_key, "extra": {"retry_backoff": 0.2}}
                ),
                "AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json(),
            }
            conf = {
                "variants": args.variants,
                "use_llm": not args.no_llm,
                "s3_bucket": BUCKET,
                "poll_interval": 0.5,
            }
            if args.cluster:
                from demo_cluster import run_on_cluster

                code = run_on_cluster(
                    dags=home / "dags", home=home / "cluster", env=connections, dag_id=DAG_ID, conf=conf,
                    pool=POOL, pool_slots=POOL_SLOTS, timeout=args.timeout, say=say,
                )  # fmt: skip
            else:
                env = airflow_env(home, connections)
                finish_prepare(prepare, log)
                say(f"Airflow database ready, pool {POOL} created")
                say(f"airflow dags test {DAG_ID} --conf '{json.dumps(conf)}'  (log: {log})")
                code = run_dag_test(env, conf, log, sim, args.timeout)
            say("DAG run succeeded; checking the archive" if code == 0 else f"DAG run FAILED (exit {code})")

            if args.output.exists():
                shutil.rmtree(args.output)
            args.output.mkdir(parents=True)
            client = s3.boto3_client()
            found = find_manifest(client)
            if found is None:
                raise DemoError(f"the run wrote no manifest (exit {code}); see {log}:\n{tail(log)}")
            key, body = found
            (args.output / "manifest.json").write_bytes(body)
            manifest = json.loads(body)
            for variant in manifest["variants"]:
                for kind in ("clip", "remix"):
                    if (variant.get(kind) or {}).get("s3_uri"):
                        verify_and_copy(client, variant[kind], args.output)
            stats = sim.stats()
        print()
        print(summary_table(summary_rows(manifest)))
        print()
        totals = manifest["totals"]
        print(
            f"{totals['archived']} video(s) archived and verified (size, SHA-256, ffmpeg decodes them); "
            f"{stats['generation']['creates']} generation + {stats['remix']['creates']} remix request(s), "
            f"{stats['chat']['calls']} LLM call(s), {totals['credits_reserved']:g} credits reserved (simulated)."
        )
        print(f"manifest: s3://{BUCKET}/{key}")
        print(f"local copies (the S3 server is gone now): {args.output.resolve()}/")
        print(f"done in {time.monotonic() - CLOCK.start:.0f} s")
        if code != 0 or manifest["problems"]:
            raise DemoError(f"the DAG run failed: {'; '.join(manifest['problems']) or 'see ' + str(log)}")
        failed = False
        return 0
    except DemoError as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a server that did not start, a timeout...: say what, exit non-zero
        traceback.print_exc()
        print(f"\ndemo FAILED: {type(exc).__name__}: {exc}\nlog: {log}", file=sys.stderr)
        return 1
    finally:
        if failed or args.keep_home:
            print(f"Airflow home kept for inspection: {home}", file=sys.stderr if failed else sys.stdout)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
