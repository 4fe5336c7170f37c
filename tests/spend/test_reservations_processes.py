"""The reservation rules with several processes on one SeaweedFS budget (issue 21, points 1-3).

* Two worker processes, each its own "deployment" (its own task state store) of the same task
  instance (same DAG, run and task ids): every create loses its answer, then one process edits
  the request (point 1) and the other resubmits it (point 2), racing for a budget that holds exactly one
  more video. Each create that may bill must hold its own entry (point 3).
* Two Airflow homes (two metadata databases) run the same DAG id and run id with ``dag.test()``
  against one budget: the second never adopts the first's reservation.

The invariant: what the simulator billed equals what the ledger holds, never more.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.spend.test_reservation_rules import (
    LOST,
    VIDEO,
    accepted,
    billed,
    budget_extra,
    ledger_doc,
)

if TYPE_CHECKING:
    import pytest
    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.spend.ledger import S3Ledger

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS_DAG = ROOT / "tests" / "dag_files" / "deployments" / "spend_two_deployments.py"


def _outcome(call: Any) -> str:
    from airflow.sdk.exceptions import AirflowFailException

    try:
        call()
    except AirflowFailException as exc:
        text = str(exc)
        if "may have reached the gateway" in text:
            return "sent"
        if "is exhausted" in text:
            return "refused"
        return f"error: {text[:300]}"
    return "sent"


def _deployment(index: int, barrier: Any, results: Any) -> None:
    """One deployment of the task instance: try 1 loses its answer; try 2 edits or resubmits."""
    from tests.operators.test_submission_money import Store
    from tests.spend.test_reservation_rules import run_try

    store = Store()
    first = _outcome(lambda: run_try(store, 1, f"a clip {LOST}"))
    barrier.wait()  # every first create is out: now the second tries race for what is left
    if index % 2 == 0:
        second = _outcome(lambda: run_try(store, 2, "a clip, edited"))
    else:
        second = _outcome(lambda: run_try(store, 2, f"a clip {LOST}", on_uncertain_submission="resubmit"))
    results.put((index, first, second))


def test_racing_deployments_each_hold_their_own_reservation_per_create(
    simulator: SimulatorServer, with_budget: Any
) -> None:
    ledger: S3Ledger = with_budget(VIDEO * 3)  # the two first creates and exactly one second
    mp = multiprocessing.get_context("spawn")
    barrier, results = mp.Barrier(2), mp.Queue()
    workers = [mp.Process(target=_deployment, args=(i, barrier, results)) for i in range(2)]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=240) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    firsts, seconds = [o[1] for o in outcomes], [o[2] for o in outcomes]
    assert firsts == ["sent"] * 2, outcomes
    assert sorted(seconds) == ["refused", "sent"], outcomes
    assert accepted(simulator) == 3
    doc = ledger_doc(ledger)
    assert len(doc.entries) == 3, doc.model_dump_json(indent=1)
    assert doc.held() == billed(simulator) == VIDEO * 3 <= doc.limit


def _home(base: Path, name: str, migrated: Path) -> dict[str, str]:
    """A second Airflow deployment: its own home, DAGs folder and metadata database (a migrated copy)."""
    home = base / name
    (home / "dags").mkdir(parents=True)
    (home / "dags" / DEPLOYMENTS_DAG.name).symlink_to(DEPLOYMENTS_DAG)
    shutil.copyfile(migrated / "airflow.db", home / "airflow.db")
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PYTHONPATH": str(ROOT),
    }


RUN_DAG = """
import sys
from datetime import datetime, timezone
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
when = datetime(2026, 3, 1, tzinfo=timezone.utc)
run = bag.get_dag("spend_two_deployments").test(logical_date=when, run_after=when)
print("RUN", run.run_id, run.state)
"""


def test_two_airflow_homes_on_one_budget_never_share_a_reservation(
    simulator: SimulatorServer,
    s3_bucket: str,
    aws_conn_id: str,
    s3_client: S3Client,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    with_budget: Any,
) -> None:
    """Staging and production run the same DAG id and run id against one budget that holds one video."""
    ledger: S3Ledger = with_budget(VIDEO * 3 / 2)
    conn = {
        "conn_type": "videogen",
        "host": simulator.url,
        "password": simulator.api_key,
        "extra": budget_extra(s3_bucket, aws_conn_id, VIDEO * 3 / 2),
    }
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_BUDGET", json.dumps(conn))
    homes = [_home(tmp_path, name, airflow_db) for name in ("staging", "production")]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_DAG, env["AIRFLOW__CORE__DAGS_FOLDER"]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for env in homes
    ]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    ends = [re.findall(r"^RUN (\S+) (\S+)$", output, re.MULTILINE) for output in outputs]
    assert ends[0] == ends[1] == [(ends[0][0][0], "failed")], outputs[0][-3000:] + outputs[1][-3000:]
    joined = "\n".join(outputs)
    assert "may have reached the gateway" in joined, joined[-3000:]
    assert "is exhausted" in joined, joined[-3000:]
    assert accepted(simulator) == 1, "the second deployment sent a create the budget could not hold"
    doc = ledger_doc(ledger)
    assert [e.state for e in doc.entries.values()] == ["reserved"]
    assert doc.held() == billed(simulator) == VIDEO
    assert Decimal(doc.limit) == VIDEO * 3 / 2
