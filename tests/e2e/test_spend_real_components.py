"""The shared budget with real Airflow components: a race of 20 workers, and a worker killed mid-submission.

* **Race**: 20 mapped generations (46.08 credits each) through a real scheduler with
  ``parallelism=4`` (LocalExecutor: separate worker processes) against a budget of exactly
  460.8 credits: exactly 10 creates at the simulator, 10 tasks failed with a message naming the
  budget, and the ledger (an S3 object on SeaweedFS) holds 10 settled reservations whose sum is
  what the simulator reserved for the 10 tasks it created.
* **Killed worker**: a try SIGKILLs its own process right after reserving, another right after
  the create (before settling). Each retry settles the same reservation (``#1``): the ledger
  ends with exactly one settled entry per task, equal to the simulator's credits.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_provider_videogen.spend.ledger import BudgetConfig, LedgerDocument, S3Ledger
from airflow_provider_videogen.testing.airflow_components import AirflowComponents, RunResult
from tests.e2e.conftest import CONN_ID, DAG_FILES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

pytestmark = [pytest.mark.e2e, pytest.mark.s3]

VIDEO = Decimal("46.08")  # veo3.1-fast, 8 s, 720p, no audio (seed 001)
RACE_DAG = "e2e_spend_race"
KILL_DAG = "e2e_spend_killed_worker"
PARALLELISM = 4
RUN_TIMEOUT = 300.0


def budget_extra(bucket: str, name: str, credits: Decimal) -> dict[str, Any]:
    return {
        "retry_backoff": 0.2,
        "budget": {
            "credits": str(credits),
            "period": "total",
            "ledger": f"s3://{bucket}/budgets",
            "aws_conn_id": "e2e_ledger",
            "name": name,
        },
    }


@pytest.fixture(scope="module")
def ledger_bucket(seaweedfs: SeaweedFS) -> Iterator[str]:
    name = f"e2e-ledger-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(name)
    yield name
    seaweedfs.delete_bucket(name)


@pytest.fixture(scope="module")
def airflow_components(  # overrides the conftest's: more worker slots, the budget connections
    e2e_simulator: SimulatorServer, seaweedfs: SeaweedFS, ledger_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowComponents]:
    def conn(extra: dict[str, Any]) -> str:
        return json.dumps(
            {"conn_type": "videogen", "host": e2e_simulator.url, "password": e2e_simulator.api_key, "extra": extra}
        )

    env = {
        f"AIRFLOW_CONN_{CONN_ID.upper()}": conn({"retry_backoff": 0.2}),
        "AIRFLOW_CONN_VIDEOGEN_BUDGET": conn(budget_extra(ledger_bucket, "e2e-race", VIDEO * 10)),
        "AIRFLOW_CONN_VIDEOGEN_BUDGET_KILL": conn(budget_extra(ledger_bucket, "e2e-kill", VIDEO * 100)),
        "AIRFLOW_CONN_E2E_LEDGER": seaweedfs.connection_json(),
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    }
    components = AirflowComponents(
        dags_folder=DAG_FILES,
        home=tmp_path_factory.mktemp("airflow-e2e-spend"),
        env=env,
        parallelism=PARALLELISM,
        startup_timeout=240,
    )
    started = time.monotonic()
    components.start()
    print(f"\n[e2e] Airflow components (parallelism={PARALLELISM}) healthy in {time.monotonic() - started:.0f} s")
    try:
        yield components
    finally:
        components.stop()


def ledger(seaweedfs: SeaweedFS, bucket: str, name: str) -> LedgerDocument:
    config = BudgetConfig.from_extra(budget_extra(bucket, name, Decimal(0)), "x")
    assert config is not None
    doc = S3Ledger(config, client=seaweedfs.boto3_client()).read(config.key("total"))
    assert doc is not None, f"no ledger for {name}"
    return doc


def simulator_credits(simulator: SimulatorServer, task_ids: set[str]) -> dict[str, Decimal]:
    headers = {"Authorization": f"Bearer {simulator.api_key}"}
    credits = {}
    for task_id in task_ids:
        body = httpx.get(f"{simulator.url}/v1/tasks/{task_id}", headers=headers).json()
        credits[task_id] = Decimal(str(body["usage"]["credits_reserved"]))
    return credits


def created_for(simulator: SimulatorServer, marker: str) -> set[str]:
    """Ids of the generation tasks the simulator created whose prompt contains ``marker``."""
    stats = simulator.stats()
    return {
        request["task_id"]
        for request in stats["generation_requests"]
        if marker in request["body"].get("prompt", "") and request.get("task_id")
    }


def describe(result: RunResult) -> str:
    tis = sorted(
        (ti["task_id"], ti.get("map_index"), ti.get("state"), ti.get("try_number")) for ti in result.task_instances
    )
    return f"run {result.run_id} ended {result.state!r}; task instances {tis}"


def test_twenty_workers_race_for_a_budget_of_ten_videos(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer, seaweedfs: SeaweedFS, ledger_bucket: str
) -> None:
    api = airflow_components.api
    result = api.trigger_and_wait(RACE_DAG, timeout=RUN_TIMEOUT)
    states = [ti["state"] for ti in result.task_instances]
    assert len(states) == 20, describe(result)
    if not (states.count("success") == 10 and states.count("failed") == 10):
        why = []
        for ti in result.task_instances:
            if ti["state"] != "success":
                for try_number in range(1, int(ti.get("try_number") or 1) + 1):
                    log = api.task_log(RACE_DAG, result.run_id, "generate", try_number, map_index=ti["map_index"])
                    errors = [line for line in log.splitlines() if "error" in line.lower() or "Not submitting" in line]
                    why.append(f"[{ti['map_index']} try {try_number}] " + " | ".join(errors[-4:])[-800:])
        pytest.fail(describe(result) + "\n" + "\n".join(why))

    created = created_for(e2e_simulator, "of the race")
    assert len(created) == 10, f"{len(created)} creates at the simulator: {sorted(created)}"

    conflicts = 0
    for ti in result.task_instances:
        # The log file as the worker wrote it (JSON lines): the REST text leaves out the exception's message.
        (path,) = [
            p
            for p in airflow_components.task_log_files(RACE_DAG, result.run_id, "generate")
            if p.parent.name == f"map_index={ti['map_index']}" and p.name == "attempt=1.log"
        ]
        log = path.read_text(errors="replace")
        if ti["state"] == "failed":
            assert "Not submitting: budget 'e2e-race' (460.8 credits in total" in log, log[-2000:]
            assert "would cost 46.08 credits" in log, log[-2000:]
            assert "Nothing was sent" in log, log[-2000:]
            assert "Submitting veo3.1-fast" in log, log[-2000:]
            assert "Reserved" not in log, log[-2000:]
        else:
            found = re.search(r"\((\d+) conflicting ledger write\(s\) retried\)", log)
            assert found, log[-2000:]
            conflicts += int(found.group(1))

    doc = ledger(seaweedfs, ledger_bucket, "e2e-race")
    assert len(doc.entries) == 10, doc
    assert {e.state for e in doc.entries.values()} == {"settled"}, doc
    assert {e.remote_id for e in doc.entries.values()} == created
    paid = simulator_credits(e2e_simulator, created)
    assert doc.held() == sum(paid.values()) == VIDEO * 10

    scheduler_log = airflow_components.component_log("scheduler").read_text(errors="replace")
    assert f"LocalExecutor(parallelism={PARALLELISM})" in scheduler_log
    print(
        f"\n[e2e] {RACE_DAG}: 20 tasks, parallelism={PARALLELISM}: 10 creates, 10 refusals; ledger holds "
        f"{doc.held()} credits = simulator's {sum(paid.values())}; {conflicts} conflicting ledger write(s) retried; "
        f"run took {result.duration:.0f} s"
    )


def test_a_killed_worker_is_settled_by_its_retry_on_the_same_reservation(
    airflow_components: AirflowComponents, e2e_simulator: SimulatorServer, seaweedfs: SeaweedFS, ledger_bucket: str
) -> None:
    api = airflow_components.api
    result = api.trigger_and_wait(KILL_DAG, timeout=RUN_TIMEOUT)
    got = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in result.task_instances}
    assert got == {"killed_after_reserve": ("success", 2), "killed_after_create": ("success", 2)}, describe(result)

    created = created_for(e2e_simulator, "killed after")
    assert len(created) == 2, f"one create per task expected, saw {sorted(created)}"

    doc = ledger(seaweedfs, ledger_bucket, "e2e-kill")
    run = result.run_id
    assert [rid.rpartition(".")[0] for rid in sorted(doc.entries)] == [  # <key>#<n>.<nonce> (issue 21, point 3)
        f"{KILL_DAG}/{run}/killed_after_create/-1#1",
        f"{KILL_DAG}/{run}/killed_after_reserve/-1#1",
    ], sorted(doc.entries)
    assert {e.state for e in doc.entries.values()} == {"settled"}
    assert doc.held() == sum(simulator_credits(e2e_simulator, created).values()) == VIDEO * 2

    first = api.task_log(KILL_DAG, run, "killed_after_reserve", 1)
    assert "Reserved 46.08 credits" in first, first[-2000:]
    assert "Remote task" not in first, first[-2000:]
    retry = api.task_log(KILL_DAG, run, "killed_after_reserve", 2)
    assert f"Re-using reservation {KILL_DAG}/{run}/killed_after_reserve/-1#1" in retry, retry[-2000:]
    retry = api.task_log(KILL_DAG, run, "killed_after_create", 2)
    assert f"Settling reservation {KILL_DAG}/{run}/killed_after_create/-1#1." in retry, retry[-2000:]
    assert "left by an earlier try" in retry, retry[-2000:]
    assert "Submitting" not in retry, retry[-2000:]
    print(f"\n[e2e] {KILL_DAG}: both tasks killed on try 1, settled on try 2; ledger {doc.summary()}")
