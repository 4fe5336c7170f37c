"""What a backfill would cost, before it starts, computed by the DAG's own planning task.

::

    python -m airflow_provider_videogen.spend.estimate videogen_daily --from 2026-03-01 --to 2026-03-31

For every logical date the backfill would create (the DAG's own timetable, as
``airflow backfill create`` computes them), the command calls the DAG's planning task (its
Python callable: ``plan_day`` in ``videogen_daily``) with the DAG's params (plus ``--conf``),
exactly as the run would. The planning task pushes its estimate (XCom ``estimate``) and returns
the plan, or nothing when the day is already archived (its manifest and every video are in S3),
or fails when the day is over ``max_credits``. Nothing is submitted: the planning task only
reads (connections, S3). It prints one line per date and the totals in credits and USD.

Needs what the planning task needs where it runs: the DAG file (``--dags-folder``, default
Airflow's ``[core] dags_folder``; the installed package ships no DAGs, the examples are in the
repository's ``dags/``), the ``videogen`` connection
(for its ``prices``; without it, the published prices) and the ``aws`` connection (the archive
check). A planning task that calls an LLM (``videogen_pipeline`` with ``use_llm``) would call it
here too; that DAG is not scheduled, so it has no backfill to estimate.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.spend.estimate import fmt
from airflow_provider_videogen.spend.prices import USD_QUANTUM

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_PLAN_TASK = "plan_day"


@dataclass
class _RecordingTI:
    """What the planning task sees as ``ti``: it records ``xcom_push`` and answers ``xcom_pull`` with nothing."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        return None


@dataclass
class DayEstimate:
    date: str
    status: str  # "submit" | "archived" | "refused" | "error"
    videos: int = 0
    credits: Decimal = Decimal(0)
    unpriced: int = 0
    message: str = ""


def _parse_date(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def logical_dates(dag: Any, start: datetime, end: datetime) -> list[datetime]:
    """The logical dates ``airflow backfill create --from-date start --to-date end`` would run."""
    from airflow.serialization.serialized_objects import DagSerialization

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    now = datetime.now(tz=timezone.utc)
    dates: list[datetime] = []
    for info in scheduler_dag.iter_dagrun_infos_between(start, end):
        if info.logical_date is not None and (info.data_interval is None or info.data_interval.end < now):
            dates.append(info.logical_date)
    return dates


#: The installed package carries no DAG files: the command reads the DAG the user runs.
WHERE_THE_EXAMPLES_ARE = (
    "The command runs the DAG's own planning task, so it needs the DAG file: the example DAGs "
    "(videogen_daily, videogen_pipeline) are in the dags/ folder of the source repository, not in the "
    "installed package; pass --dags-folder /path/to/the/repository/dags, or your own DAGs folder."
)


def load_dag(dag_id: str, dags_folder: str | None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    folder = dags_folder or os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if folder is None:
        from airflow.configuration import conf

        folder = conf.get("core", "dags_folder")
    where = "--dags-folder" if dags_folder else "Airflow's [core] dags_folder; --dags-folder reads another"
    if not os.path.isdir(folder):
        raise SystemExit(f"The DAGs folder {folder} (from {where}) does not exist. {WHERE_THE_EXAMPLES_ARE}")
    bag = DagBag(dag_folder=folder)
    if dag_id not in bag.dags:
        errors = "; ".join(f"{path}: {error.splitlines()[-1]}" for path, error in bag.import_errors.items())
        raise SystemExit(
            f"No DAG {dag_id!r} in {folder} (from {where})"
            f"{' (import errors: ' + errors + ')' if errors else ''}. {WHERE_THE_EXAMPLES_ARE}"
        )
    return bag.dags[dag_id]


def plan_date(dag: Any, task_id: str, params: dict[str, Any], logical_date: datetime) -> DayEstimate:
    """Run the planning task's callable for one logical date and read what it planned and estimated."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    task = dag.get_task(task_id)
    callable_ = task.python_callable
    ds = logical_date.date().isoformat()
    run_id = f"backfill__{logical_date.isoformat()}"
    ti = _RecordingTI(dag_id=dag.dag_id, task_id=task_id, run_id=run_id)
    context = {"params": params, "ds": ds, "ti": ti, "logical_date": logical_date, "run_id": run_id}
    accepted = inspect.signature(callable_).parameters
    kwargs = {name: value for name, value in context.items() if name in accepted}
    day = DayEstimate(date=ds, status="submit")
    try:
        plan = callable_(**kwargs)
    except AirflowFailException as exc:
        day.status, day.message = "refused", str(exc)
    except AirflowSkipException as exc:
        day.status, day.message = "archived", str(exc)
    except Exception as exc:  # the real run would fail the same way: say so, go on with the other dates
        day.status, day.message = "error", f"{type(exc).__name__}: {exc}"
    else:
        if not plan:
            day.status = "archived"
    estimate = ti.pushed.get("estimate")
    if estimate is None:
        if day.status == "submit":
            day.status, day.message = (
                "error",
                f"{task_id} pushed no 'estimate' XCom: is it a spend-aware planning task?",
            )
        return day
    day.videos = int(estimate["videos"])
    day.credits = Decimal(str(estimate["credits"]))
    day.unpriced = int(estimate["unpriced"])
    return day


STATUS_TEXT = {
    "submit": "to submit",
    "archived": "archived: nothing to pay",
    "refused": "refused by max_credits: the run would fail before submitting",
    "error": "error",
}


def report(dag_id: str, days: list[DayEstimate], credits_per_usd: Decimal) -> str:
    def usd(credits: Decimal) -> str:
        return fmt((credits / credits_per_usd).quantize(USD_QUANTUM))

    lines = [f"{'date':<12}{'videos':>7}{'credits':>11}{'USD':>9}  status"]
    for day in days:
        unpriced = f" (+{day.unpriced} unpriced)" if day.unpriced else ""
        status = STATUS_TEXT[day.status] + (f": {day.message}" if day.status == "error" else "")
        lines.append(f"{day.date:<12}{day.videos:>7}{fmt(day.credits):>11}{usd(day.credits):>9}  {status}{unpriced}")
    to_pay = [d for d in days if d.status == "submit"]
    archived = [d for d in days if d.status == "archived"]
    refused = [d for d in days if d.status == "refused"]
    total = sum((d.credits for d in to_pay), Decimal(0))
    lines.append(
        f"total: {len(to_pay)} of {len(days)} run(s) would submit {sum(d.videos for d in to_pay)} video(s) for "
        f"{fmt(total)} credits (${usd(total)})"
        + (f", plus {sum(d.unpriced for d in to_pay)} unpriced video(s)" if any(d.unpriced for d in to_pay) else "")
        + f"; {len(archived)} already archived"
        + (f"; {len(refused)} over max_credits" if refused else "")
    )
    return f"{dag_id}:\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_videogen.spend.estimate",
        description="Print what a backfill of a DAG would submit and cost, from the DAG's own planning task.",
    )
    parser.add_argument("dag_id")
    parser.add_argument("--from", dest="start", required=True, help="first logical date, e.g. 2026-03-01")
    parser.add_argument("--to", dest="end", required=True, help="last logical date, e.g. 2026-03-31")
    parser.add_argument("--conf", default="{}", help="JSON params, as for 'airflow backfill create --dag-run-conf'")
    parser.add_argument(
        "--plan-task", default=DEFAULT_PLAN_TASK, help=f"the planning task (default {DEFAULT_PLAN_TASK})"
    )
    parser.add_argument(
        "--dags-folder",
        default=None,
        help="the folder holding the DAG file (default: Airflow's [core] dags_folder); the example DAGs are "
        "in the source repository's dags/ folder, not in the installed package",
    )
    parser.add_argument(
        "--videogen-conn-id", default="videogen_default", help="whose 'credits_per_usd' converts to USD"
    )
    args = parser.parse_args(argv)

    from airflow_provider_videogen.spend.plan import prices_or_published

    dag = load_dag(args.dag_id, args.dags_folder)
    params_dict = copy.deepcopy(dag.params)
    params_dict.update(json.loads(args.conf))
    params = params_dict.validate()  # the DAG's own checks, as for a triggered run
    dates = logical_dates(dag, _parse_date(args.start), _parse_date(args.end))
    if not dates:
        print(f"{args.dag_id}: no run between {args.start} and {args.end}")
        return 0
    days = [plan_date(dag, args.plan_task, params, date) for date in dates]
    prices = prices_or_published(args.videogen_conn_id)
    print(report(args.dag_id, days, prices.credits_per_usd))
    return 1 if any(day.status == "error" for day in days) else 0
