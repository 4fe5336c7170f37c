"""Test DAGs for VideoRemixOperator, run with dag.test() against the simulator.

Timing and failures come from the prompts' simulator directives, and files from ``dag_run.conf``,
so parsing this file needs no network, no file and no configuration.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_videogen.frames import extract_frame
from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)
#: These tests read the download links from the results (xcom_links=True; the default is False).
FAST: dict[str, Any] = {"poll_interval": 0.2, "xcom_links": True}
MODEL = "veo_3_1-fast-remix"
FL_MODEL = "veo_3_1-fast-fl-remix"

with DAG("test_remix_deferrable", schedule=None, start_date=START, catchup=False):
    # A file reference whose path is only known at run time: read at execute, sent as a file part.
    VideoRemixOperator(
        task_id="remix",
        model=MODEL,
        prompt="[sim:render=2] A lighthouse at dusk",
        prompt_extend="The camera flies out to sea",
        size="1280x720",
        input_references=["{{ dag_run.conf['reference'] }}", "https://images.example.com/style.png"],
        adaptive_polling=False,  # poll through both segments, so both are logged
        **FAST,
    )

with DAG("test_remix_extend_failed", schedule=None, start_date=START, catchup=False):
    VideoRemixOperator(
        task_id="remix",
        model=MODEL,
        prompt="[sim:extend_fail] A lighthouse at dusk",
        prompt_extend="The camera flies out to sea",
        retries=0,
        **FAST,
    )

with DAG("test_remix_extend_failed_accept", schedule=None, start_date=START, catchup=False):
    VideoRemixOperator(
        task_id="remix",
        model=MODEL,
        prompt="[sim:extend_fail] A lighthouse at dusk",
        prompt_extend="The camera flies out to sea",
        on_extend_failure="accept_first_segment",
        retries=0,
        **FAST,
    )

with DAG("test_remix_generate_failed", schedule=None, start_date=START, catchup=False):
    VideoRemixOperator(
        task_id="remix",
        model=MODEL,
        prompt="[sim:generate_fail] Something the safety filter refuses",
        prompt_extend="More of it",
        retries=2,  # must not be used: a new submission would be billed and fail the same way
        retry_delay=timedelta(0),
        **FAST,
    )

with DAG("test_remix_retry_reattach", schedule=None, start_date=START, catchup=False):
    # The first try's wait (2 s) ends before the render (3 s): it fails with a timeout, and the
    # retry (2 s later, after the render ended) must re-use the remix it already paid for instead
    # of submitting again (the timeout counts from the first submission: no second wait).
    VideoRemixOperator(
        task_id="remix",
        model=MODEL,
        prompt="[sim:render=3] A dog surfing",
        prompt_extend="The dog rides the wave to the beach",
        timeout=timedelta(seconds=2),
        retries=1,
        retry_delay=timedelta(seconds=2),
        **FAST,
    )

with DAG("test_remix_templated_invalid", schedule=None, start_date=START, catchup=False):
    VideoRemixOperator(
        task_id="remix",
        model=FL_MODEL,
        prompt="A cat",
        prompt_extend="The cat sits down",
        size="{{ dag_run.conf.get('size', '1280*720') }}",  # renders to a size that is not WIDTHxHEIGHT
        input_references="https://images.example.com/first.png",
        retries=2,
        **FAST,
    )

with DAG("test_remix_chain_last_frame", schedule=None, start_date=START, catchup=False):
    # An 8 s clip, its last frame, then a 15 s first/last-frame remix that starts where the clip ends.
    clip = VideoGenerationOperator(task_id="clip", model="veo3.1-fast", prompt="A paper boat on a river", **FAST)

    @task
    def last_frame(result: dict[str, Any]) -> str:
        # A temporary file on this machine; with several workers, write to shared storage instead.
        # The simulator listens on loopback, so this download opts in to private hosts.
        return str(extract_frame(result["video_urls"][0], "last", allow_private_hosts=True))

    VideoRemixOperator(
        task_id="remix",
        model=FL_MODEL,
        prompt="The boat drifts under a bridge",
        prompt_extend="It reaches the sea",
        input_references=[last_frame(clip.output)],
        **FAST,
    )
