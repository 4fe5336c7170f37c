"""``python -m airflow_provider_videogen.testing.chaos --seed N --videos V --minutes M``.

Starts the simulator, SeaweedFS and the cluster (:func:`~..cluster_stack.start_cluster`, as the
cluster tests do), runs :func:`~.driver.run_chaos`, stops everything, prints last
``chaos seed N: V videos, F faults, creates C, violations K`` and exits 1 when K > 0.

``--break inflight-marker`` starts the cluster with the test-only switch that stops the
operators from writing the in-flight marker (``operators/reattach.py``): the driver must then
report double creates. ``--keep`` keeps the cluster's home (logs) and prints its path.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from airflow_provider_videogen.operators.reattach import SKIP_IN_FLIGHT_MARKER_VARIABLE
from airflow_provider_videogen.testing.chaos.driver import DEFAULT_DRAIN_MINUTES, run_chaos
from airflow_provider_videogen.testing.cluster_stack import dag_sources, new_simulator, s3_proxy, start_cluster
from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

BREAKS = {"inflight-marker": {SKIP_IN_FLIGHT_MARKER_VARIABLE: "1"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_videogen.testing.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--videos", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes in which faults start")
    parser.add_argument("--drain-minutes", type=float, default=DEFAULT_DRAIN_MINUTES)
    parser.add_argument("--mean-gap", type=float, default=12.0, help="mean seconds between two faults")
    parser.add_argument("--break", dest="broken", choices=sorted(BREAKS), help="a deliberately broken build")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's home and logs")
    args = parser.parse_args(argv)
    if args.videos < 1 or args.minutes <= 0:
        parser.error(f"--videos {args.videos} must be >= 1 and --minutes {args.minutes} > 0")
    base = Path(tempfile.mkdtemp(prefix="videogen-chaos-"))
    env = BREAKS.get(args.broken or "", {})
    if args.broken:
        print(f"chaos: DELIBERATELY BROKEN BUILD --break {args.broken} ({env})", flush=True)
    with new_simulator() as simulator, SeaweedFS() as s3:
        cluster = start_cluster(base, simulator, s3, sources=dag_sources(), extra_env=env)
        try:
            result = run_chaos(
                cluster,
                simulator,
                s3,
                seed=args.seed,
                videos=args.videos,
                minutes=args.minutes,
                drain_minutes=args.drain_minutes,
                mean_gap=args.mean_gap,
                out=lambda line: print(line, flush=True),
            )
        finally:
            cluster.stop()
            proxy = s3_proxy(cluster)
            if proxy is not None:
                proxy.stop()
            if args.keep:
                print(f"chaos: logs kept in {base}", flush=True)
            else:
                shutil.rmtree(base, ignore_errors=True)
    print(f"chaos: {result.seconds / 60:.1f} min from the load's start to the verdict", flush=True)
    print(result.summary(), flush=True)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
