"""``python scripts/demo.py --cluster``: the example pipeline on the production shape, offline.

Instead of ``airflow dags test`` (one process, SQLite), the run goes through
:class:`~airflow_provider_videogen.testing.cluster.AirflowCluster`: PostgreSQL, Redis, the
CeleryExecutor with two workers, two schedulers, two triggerers, a dag-processor and the API
server, all on loopback. The DAG is triggered through the REST API as a user would, and the
task states are printed as they change. Needs the ``cluster`` extra (``make install`` has it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

POOL_DESCRIPTION = "Concurrent submissions to the video gateway"


def run_on_cluster(
    *,
    dags: Path,
    home: Path,
    env: dict[str, str],
    dag_id: str,
    conf: dict[str, Any],
    pool: str,
    pool_slots: int,
    timeout: float,
    say: Callable[[str], None],
) -> int:
    """Start the cluster, run ``dag_id`` once with ``conf``, stop the cluster; 0 on success."""
    from airflow_provider_videogen.testing.cluster import AirflowCluster

    cluster = AirflowCluster(dags_folder=dags, home=home, env=env, worker_concurrency=4)
    say(
        "starting the cluster: PostgreSQL, Redis, api-server, dag-processor, 2 schedulers, "
        f"2 triggerers, 2 Celery workers (home {home}; about 1-2 minutes)"
    )
    with cluster:
        api = cluster.api
        jobs = sorted((job["job_type"], job["hostname"], job["id"]) for job in api.jobs())
        say("cluster healthy: " + ", ".join(f"{host} (job {job_id})" for _, host, job_id in jobs))
        api.request(
            "POST",
            "/pools",
            json={"name": pool, "slots": pool_slots, "include_deferred": False, "description": POOL_DESCRIPTION},
            expect=(200, 201, 409),
        )
        api.wait_for_dag(dag_id)
        run_id = api.trigger(dag_id, conf=conf)
        say(f"triggered {dag_id} through the REST API: run {run_id}")
        seen: dict[tuple[str, int], str] = {}
        deadline = time.monotonic() + timeout
        while True:
            run = api.dag_run(dag_id, run_id)
            for ti in api.task_instances(dag_id, run_id):
                key = (str(ti["task_id"]), int(ti.get("map_index", -1)))
                state = str(ti.get("state"))
                if seen.get(key) != state:
                    seen[key] = state
                    name = key[0] if key[1] < 0 else f"{key[0]}[{key[1]}]"
                    where = f" on {ti['hostname']}" if ti.get("hostname") and state == "running" else ""
                    say(f"  {name}: {state}{where}")
            if run.get("state") in ("success", "failed"):
                say(f"run {run['state']}")
                return 0 if run["state"] == "success" else 1
            if time.monotonic() > deadline:
                say(f"run still {run.get('state')} after {timeout:.0f} s")
                return 1
            time.sleep(1)
