"""DAGs run by real Airflow components in tests/e2e (copied into the components' own DAGs folder).

Timing comes from the simulator directive in each prompt (``[sim:render=N]``), so nothing here
needs the network or configuration at parse time. ``poll_interval=1`` keeps the trigger's
progress lines frequent and the waits short.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)

#: One deferrable generation that renders for a few seconds: deferred, trigger, success, clear.
with DAG("e2e_generation", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:render=6] A lighthouse in a storm at dusk, slow dolly-in",
        duration=4,
        poll_interval=1,
    )

#: Three generations of 20 s each; with one worker slot they overlap only if deferral frees it.
with DAG("e2e_mapped_generation", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    VideoGenerationOperator.partial(
        task_id="generate",
        model="veo3.1-fast",
        duration=4,
        poll_interval=1,
    ).expand(
        prompt=[
            "[sim:render=20] A paper boat drifting down a rain gutter",
            "[sim:render=20] Neon koi circling in a night-time pond",
            "[sim:render=20] A slow pan across a snowy mountain village",
        ]
    )

#: A long render, killed by a user while deferred (tests/e2e/test_kill.py); the triggerer is
#: restarted first. The same again, started in the triggerer (``start_from_trigger``).
for _kill_dag, _start in (("e2e_kill_deferred", False), ("e2e_kill_started", True)):
    with DAG(_kill_dag, schedule=None, start_date=START, catchup=False, tags=["e2e"]):
        VideoGenerationOperator(
            task_id="generate",
            model="veo3.1-fast",
            prompt="[sim:render=300] A glacier calving, very slowly",
            adaptive_polling=False,  # the test waits for polls from the start of a 300 s render
            duration=4,
            poll_interval=1,
            start_from_trigger=_start,
        )

#: The same, polling in the worker (deferrable=False): the operator's own on_kill cancels.
with DAG("e2e_kill_in_worker", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:render=300] A tide coming in over sand, very slowly",
        adaptive_polling=False,  # the test waits for polls from the start of a 300 s render
        duration=4,
        poll_interval=1,
        deferrable=False,
    )


#: ``@task.videogen`` on real components: the function writes the prompt on the first try only; a
#: clear re-attaches to the video that try paid for without calling it again (tests/e2e).
@task.videogen(model="veo3.1-fast", duration=4, poll_interval=1)
def taskflow_clip() -> str:
    logging.getLogger("airflow.task").info("e2e: the decorated function ran")
    return "[sim:render=6] A kite over a windy beach, written by a function"


with DAG("e2e_taskflow", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    taskflow_clip()


@task
def results_are_dicts(results: object) -> int:
    """A downstream worker task sees a video task's result as the dict it is, however it ended.

    Airflow 3.3.2 stores the XComs of a ``TaskSuccessEvent`` as JSON text, which a downstream task
    then reads as ``str``: this task fails on that.
    """
    values = [results] if isinstance(results, (dict, str)) else list(results)  # type: ignore[call-overload]
    for value in values:
        if not isinstance(value, dict):
            raise TypeError(f"a downstream task read a video result as {type(value).__name__}: {str(value)[:80]}")
    return len(values)


#: Ends in the triggerer on success (one workload): a downstream task reads the result.
with DAG("e2e_end_in_triggerer", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    ended = VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:render=4] [end] A heron lifting off a pond",
        duration=4,
        poll_interval=1,
        end_from_trigger=True,
    )
    results_are_dicts(ended.output)

#: Started in the triggerer (``start_from_trigger``): a templated plain task, a mapped task over an
#: upstream's output, and one whose render fails for good (handed to a worker, which fails it).
with DAG("e2e_start_in_triggerer", schedule=None, start_date=START, catchup=False, tags=["e2e"]):

    @task
    def briefs() -> list[str]:
        return ["[sim:render=4] [start] A kite over dunes", "[sim:render=4] [start] Rain on a tin roof"]

    templated = VideoGenerationOperator(
        task_id="templated",
        model="veo3.1-fast",
        prompt="[sim:render=4] [start] A lantern for run {{ run_id }}",
        duration=4,
        poll_interval=1,
        start_from_trigger=True,
    )
    mapped = VideoGenerationOperator.partial(
        task_id="mapped", model="veo3.1-fast", duration=4, poll_interval=1, start_from_trigger=True
    ).expand(prompt=briefs())
    results_are_dicts.override(task_id="templated_result")(templated.output)
    results_are_dicts.override(task_id="mapped_results")(mapped.output)

with DAG("e2e_start_failing_render", schedule=None, start_date=START, catchup=False, tags=["e2e"]):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:fail=content_policy_violation] [start-fail] A forbidden scene",
        duration=4,
        poll_interval=1,
        start_from_trigger=True,
    )
