"""The production-shaped stack the cluster tests and the chaos driver share: one way to build it.

A gateway simulator, a SeaweedFS with the archive bucket, and an :class:`AirflowCluster` whose
DAGs folder holds the given DAG files, with the ``videogen_api`` pool and four connections:
``videogen_default`` (the simulator), ``videogen_chaos`` (the simulator with a shared budget whose
ledger is in the bucket), ``aws_default`` (the SeaweedFS) and ``aws_chaos`` (the same SeaweedFS
through the chaos run's S3 fault proxy: the chaos budget's ledger and the chaos DAGs' archives
use it, so a chaos run can fail their writes on their own; :func:`s3_proxy`). ``tests/cluster/conftest.py`` and
``python -m airflow_provider_videogen.testing.chaos`` both call :func:`start_cluster`, so what the
suite tests is what the chaos runs break.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_videogen.testing.chaos.s3_proxy import S3FaultProxy
from airflow_provider_videogen.testing.cluster import AirflowCluster

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

ROOT = Path(__file__).resolve().parents[2]
#: The chaos DAG (``chaos_videos``), copied beside the others.
CHAOS_DAG_FILE = Path(__file__).parent / "chaos" / "chaos_dag.py"
POOL = "videogen_api"
POOL_SLOTS = 8
WORKER_CONCURRENCY = 4
BUCKET = "videogen-cluster"
#: The shared budget on ``videogen_chaos``: far above what a run spends, so that it never refuses
#: (a refusal is no fault); the chaos invariants check that held + settled never exceeds it.
CHAOS_BUDGET_CREDITS = 20000
CHAOS_BUDGET_NAME = "chaos"
CHAOS_LEDGER_PREFIX = "chaos-budgets"
CHAOS_AWS_CONN_ID = "aws_chaos"
#: The chaos load's remix model is unpriced in the published table; a budget refuses what it
#: cannot price (nothing sent), so ``videogen_chaos`` prices it (README, "Prices").
CHAOS_PRICES = {"veo_3_1-fast-remix": {"credits_per_video": 60}}


def new_simulator() -> SimulatorServer:
    """The gateway the cluster calls, with a random key (so a leak of it can be searched for)."""
    key = "sk-sim-" + secrets.token_hex(12)
    return SimulatorServer(SimulatorConfig(render_seconds=2, time_scale=1.0, api_keys=[key]))


#: The S3 fault proxy of each running cluster (the chaos injector's ``ledger-fail`` / ``upload-fail``).
_PROXIES: WeakKeyDictionary[AirflowCluster, S3FaultProxy] = WeakKeyDictionary()


def s3_proxy(cluster: AirflowCluster) -> S3FaultProxy | None:
    """The fault proxy ``aws_chaos`` goes through, ``None`` for a cluster not built here."""
    return _PROXIES.get(cluster)


def connections(simulator: SimulatorServer, s3: SeaweedFS, proxy: S3FaultProxy | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables of the cluster (in the environment, never in the metadata DB)."""
    default = {
        "conn_type": "videogen",
        "host": simulator.url,
        "password": simulator.api_key,
        "extra": {"retry_backoff": 0.2},
    }
    budget = {
        "credits": CHAOS_BUDGET_CREDITS,
        "period": "total",
        "ledger": f"s3://{BUCKET}/{CHAOS_LEDGER_PREFIX}",
        "aws_conn_id": CHAOS_AWS_CONN_ID if proxy is not None else "aws_default",
        "name": CHAOS_BUDGET_NAME,
    }
    chaos = {**default, "extra": {"retry_backoff": 0.2, "budget": budget, "prices": CHAOS_PRICES}}
    found = {
        "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(default),
        "AIRFLOW_CONN_VIDEOGEN_CHAOS": json.dumps(chaos),
        "AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json(),
    }
    if proxy is not None:
        through = json.loads(s3.connection_json())
        through["extra"]["endpoint_url"] = proxy.endpoint_url
        found["AIRFLOW_CONN_AWS_CHAOS"] = json.dumps(through)
    return found


def dag_sources(extra: Iterable[Path] = ()) -> list[Path]:
    """The example DAGs (``dags/videogen_*.py``), the chaos DAG and ``extra`` files."""
    return [*extra, *sorted((ROOT / "dags").glob("videogen_*.py")), CHAOS_DAG_FILE]


def start_cluster(
    base: Path,
    simulator: SimulatorServer,
    s3: SeaweedFS,
    *,
    sources: Iterable[Path],
    startup_timeout: float = 300,
    extra_env: Mapping[str, str] | None = None,
) -> AirflowCluster:
    """Start the cluster under ``base`` (``dags/``, ``home/``) and create the pool; stopped on a failed start."""
    dags = base / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy(source, dags / source.name)
    s3.create_bucket(BUCKET)
    proxy = S3FaultProxy(s3.endpoint_url, ledger_prefix=f"{BUCKET}/{CHAOS_LEDGER_PREFIX}").start()
    env = {
        **connections(simulator, s3, proxy),
        # Only the DAGs a test waits for are unpaused (AirflowApi.wait_for_dag): the daily
        # example must not start its scheduled runs before the backfill test wants them.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        **(extra_env or {}),
    }
    airflow = AirflowCluster(
        dags_folder=dags,
        home=base / "home",
        env=env,
        schedulers=2,
        triggerers=2,
        celery_workers=2,
        worker_concurrency=WORKER_CONCURRENCY,
        startup_timeout=startup_timeout,
    )
    _PROXIES[airflow] = proxy
    started = time.monotonic()
    airflow.start()
    try:
        airflow.api.request(
            "POST",
            "/pools",
            json={"name": POOL, "slots": POOL_SLOTS, "include_deferred": False, "description": "gateway submissions"},
            expect=(200, 201, 409),
        )
    except BaseException:
        airflow.stop()
        proxy.stop()
        raise
    print(f"\n[cluster] healthy in {time.monotonic() - started:.0f} s (home {airflow.home})")
    return airflow
