"""DAGs the cluster tests run (copied into the cluster's DAGs folder beside ``dags/``).

Each prompt carries a tag naming its test, so the simulator's create log can be counted per
test (``tests/cluster/helpers.py:creates``), and ``[sim:...]`` directives for its timing. Every
task is a real :class:`VideoGenerationOperator`; only the simulator's answers are staged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)
MODEL = "veo3.1-fast"
POOL = "videogen_api"

#: Triggerer failover: 20 mapped deferrable generations that render long enough for every one of
#: them to be deferred (and its triggerer killed) before the first finishes.
FAILOVER_TASKS = 20
FAILOVER_RENDER = 45
#: Load: 200 mapped generations through the videogen_api pool.
LOAD_TASKS = 200
#: The suite's short version of the load (``make load`` runs the full ``LOAD_TASKS``).
LOAD_SHORT_TASKS = 24
LOAD_RENDER = 20
#: Videos per task in the ``batch`` mode: 200 videos are 8 mapped batch tasks (one per worker slot).
LOAD_BATCH_SIZE = 25
#: ...and the suite's 24 are 3.
LOAD_SHORT_BATCH_SIZE = 8
LOAD_POLL = 5.0
#: Scheduler kill: a run long enough to be in progress when a scheduler dies.
SCHEDULER_TASKS = 6
SCHEDULER_RENDER = 20
#: Worker kills: the hold keeps a create's answer back long enough to kill the worker meanwhile.
HOLD_SECONDS = 30
POLL_KILL_RENDER = 40
#: Triggerers killed under tasks started in the triggerer: this many creating, as many polling.
START_KILL_TASKS = 3
START_KILL_RENDER = 40


def _prompts(tag: str, count: int, directives: str) -> list[str]:
    return [f"{directives} [{tag}] clip {i}: a lighthouse keeper's day, shot {i}" for i in range(count)]


with DAG("cluster_failover", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
    VideoGenerationOperator.partial(task_id="generate", model=MODEL, duration=4, poll_interval=2, retries=0).expand(
        prompt=_prompts("failover", FAILOVER_TASKS, f"[sim:render={FAILOVER_RENDER}]")
    )

#: The load runs in each mode, side by side: ``classic`` resumes every task in a worker after its
#: trigger fired (two workloads per video), ``end`` ends it in the triggerer (``end_from_trigger``,
#: one workload), ``start`` starts and ends it there (``start_from_trigger``, none).
LOAD_MODES: dict[str, dict[str, bool]] = {
    "classic": {"end_from_trigger": False},
    "end": {"end_from_trigger": True},
    "start": {"start_from_trigger": True},
}
for _load_dag, _load_tasks in (("cluster_load", LOAD_TASKS), ("cluster_load_short", LOAD_SHORT_TASKS)):
    for _mode, _mode_kwargs in LOAD_MODES.items():
        with DAG(
            f"{_load_dag}_{_mode}",
            schedule=None,
            start_date=START,
            catchup=False,
            tags=["cluster"],
            max_active_tasks=_load_tasks,
        ):
            VideoGenerationOperator.partial(
                task_id="generate",
                model=MODEL,
                duration=4,
                poll_interval=LOAD_POLL,
                retries=0,
                pool=POOL,
                **_mode_kwargs,
            ).expand(prompt=_prompts(f"load-{_mode}", _load_tasks, f"[sim:render={LOAD_RENDER}]"))
    # ``batch``: the same videos in mapped batches, one workload each (VideoGenerationBatchOperator).
    _size = LOAD_BATCH_SIZE if _load_dag == "cluster_load" else LOAD_SHORT_BATCH_SIZE
    _batch_prompts = _prompts("load-batch", _load_tasks, f"[sim:render={LOAD_RENDER}]")
    with DAG(f"{_load_dag}_batch", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
        VideoGenerationBatchOperator.partial(
            task_id="generate", model=MODEL, duration=4, poll_interval=LOAD_POLL, retries=0, pool=POOL
        ).expand(requests=[_batch_prompts[i : i + _size] for i in range(0, _load_tasks, _size)])

#: Both triggerers are killed while tasks that started in the triggerer are creating (answers
#: held) or polling: the polling ones re-attach, the ones whose create answer was lost refuse to
#: pay again; one create each.
with DAG("cluster_start_kill", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
    VideoGenerationOperator.partial(
        task_id="generate", model=MODEL, duration=4, poll_interval=1, retries=1, start_from_trigger=True
    ).expand(
        prompt=_prompts("start-kill-held", START_KILL_TASKS, f"[sim:hold_answer={HOLD_SECONDS}] [sim:render=3]")
        + _prompts("start-kill-polling", START_KILL_TASKS, f"[sim:render={START_KILL_RENDER}]")
    )

with DAG("cluster_scheduler_kill", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
    VideoGenerationOperator.partial(task_id="generate", model=MODEL, duration=4, poll_interval=1, retries=0).expand(
        prompt=_prompts("scheduler-kill", SCHEDULER_TASKS, f"[sim:render={SCHEDULER_RENDER}]")
    )

#: The worker is killed while this task polls in the worker (not deferred); its retry re-attaches.
with DAG("cluster_poll_kill", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
    VideoGenerationOperator(
        task_id="generate",
        model=MODEL,
        prompt=f"[sim:render={POLL_KILL_RENDER}] [poll-kill] a lighthouse keeper climbs the stairs",
        duration=4,
        deferrable=False,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(0),
    )

#: The worker is killed while the create's answer is held: the retry must not pay again...
with DAG("cluster_create_kill", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
    VideoGenerationOperator(
        task_id="generate",
        model=MODEL,
        prompt=f"[sim:hold_answer={HOLD_SECONDS}] [sim:render=3] [create-kill] a lighthouse at dawn",
        duration=4,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(0),
    )

#: ...unless told to accept the risk: then it submits once more (two creates, as documented).
with DAG("cluster_create_kill_resubmit", schedule=None, start_date=START, catchup=False, tags=["cluster"]):
    VideoGenerationOperator(
        task_id="generate",
        model=MODEL,
        prompt=f"[sim:hold_answer={HOLD_SECONDS}] [sim:render=3] [create-kill-resubmit] a lighthouse at dusk",
        duration=4,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(0),
        on_uncertain_submission="resubmit",
    )
