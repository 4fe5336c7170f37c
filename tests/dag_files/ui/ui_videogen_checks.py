"""Three one-task DAGs for the browser tests, beside the example DAGs that ``make ui`` serves.

* ``ui_content_policy``: the simulator refuses the prompt (``[sim:fail=...]``); the task must fail
  with the gateway's message and not be retried, although it has retries.
* ``ui_slow_render``: a render of two minutes polled every 5 s from the start
  (``adaptive_polling=False``), so a test can see the task deferred and its log gain progress
  lines. The trigger logs a progress line when the state changes and otherwise at most every
  ``LOG_PROGRESS_EVERY`` (a minute); an adaptive schedule would poll a 90 s render about three
  times, logging a single "running" line. Two minutes leave room for a "running" line a
  minute after the first one even when the triggerer picks the task up late.
* ``ui_late_connection``: uses connection ``videogen_late``, which does not exist when the first
  run starts; the test adds it, clears the task, and expects exactly one create request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.videogen import LOG_PROGRESS_EVERY

#: Each prompt is unique, so the test counts its own create requests in the simulator's log.
CONTENT_POLICY_PROMPT = "A lighthouse in a storm [sim:fail=content_policy_violation]"
LATE_CONNECTION_PROMPT = "A kite over the dunes at dawn, ui late-connection check"
#: The slow render lasts two progress-log periods: at least two "running" lines (see above).
SLOW_RENDER_SECONDS = int(2 * LOG_PROGRESS_EVERY)
SLOW_RENDER_PROMPT = f"A snail crossing a leaf [sim:render={SLOW_RENDER_SECONDS}]"
SLOW_RENDER_POLL_INTERVAL = 5

with DAG(
    dag_id="ui_content_policy",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["videogen", "ui-test"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
):
    VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt=CONTENT_POLICY_PROMPT, duration=4, poll_interval=0.5
    )

with DAG(
    dag_id="ui_late_connection",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["videogen", "ui-test"],
):
    VideoGenerationOperator(
        task_id="generate",
        videogen_conn_id="videogen_late",
        model="veo3.1-fast",
        prompt=LATE_CONNECTION_PROMPT,
        duration=4,
        poll_interval=0.5,
    )

with DAG(
    dag_id="ui_slow_render",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["videogen", "ui-test"],
):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt=SLOW_RENDER_PROMPT,
        duration=4,
        poll_interval=SLOW_RENDER_POLL_INTERVAL,
        adaptive_polling=False,  # the test reads the progress lines of polls from the start
    )
