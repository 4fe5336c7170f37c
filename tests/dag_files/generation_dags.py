"""Test DAGs for VideoGenerationOperator, run with dag.test() against the simulator.

Values that shape timing come from the prompt's simulator directives, so the DAGs need no
network or configuration at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.sensors.videogen import VideoTaskSensor

START = datetime(2026, 1, 1)
#: These tests read the download links from the results (xcom_links=True; the default is False).
FAST = {"poll_interval": 0.2, "xcom_links": True}

with DAG("test_generation_deferrable", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(task_id="generate", model="veo3.1-fast", prompt="A cat playing piano", duration=4, **FAST)

with DAG("test_generation_in_worker", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt="A cat playing piano", deferrable=False, **FAST
    )

with DAG("test_generation_retry_reattach", schedule=None, start_date=START, catchup=False):
    # The first try's wait (2 s) ends before the render (3 s): it fails with a timeout, and the
    # retry (2 s later, after the render finished) must re-use the task it already paid for
    # instead of submitting again. (The timeout counts from the first submission, so a retry
    # that came before the render ended would time out at once: see the DAG below.)
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:render=3] A dog surfing",
        timeout=timedelta(seconds=2),
        retries=1,
        retry_delay=timedelta(seconds=2),
        **FAST,
    )

with DAG("test_generation_content_policy", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:fail=content_policy_violation] something forbidden",
        retries=3,
        retry_delay=timedelta(0),
        **FAST,
    )

with DAG("test_generation_transient_failure", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:fail=service_unavailable] try again later",
        retries=0,
        **FAST,
    )

with DAG("test_generation_templated_invalid", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="A cat",
        duration="{{ 2 + 3 }}",  # type: ignore[arg-type]  # renders to 5: not allowed for veo3.1-fast
        retries=2,
        **FAST,
    )

with DAG("test_generation_mapped", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator.partial(
        task_id="generate", model="doubao-seedance-1.0-pro-fast", duration=3, **FAST
    ).expand(prompt=["A red kite", "A blue boat", "A green field"])

with DAG("test_generation_fan_out_sensor", schedule=None, start_date=START, catchup=False):
    submit = VideoGenerationOperator(
        task_id="submit", model="veo3.1-fast", prompt="A fox in snow", wait_for_completion=False, **FAST
    )
    VideoTaskSensor(
        task_id="wait",
        task_id_to_watch="{{ ti.xcom_pull(task_ids='submit')['id'] }}",
        poll_interval=0.2,
    ).set_upstream(submit)

with DAG("test_sensor_remix_partial", schedule=None, start_date=START, catchup=False):
    # The sensor follows a remix submitted elsewhere and applies the same extend_failed policy.
    from airflow_provider_videogen.operators.remix import VideoRemixOperator

    remix = VideoRemixOperator(
        task_id="submit",
        model="veo_3_1-fast-remix",
        prompt="[sim:extend_fail] a cat walks in",
        prompt_extend="the cat sits",
        wait_for_completion=False,
        **FAST,
    )
    VideoTaskSensor(
        task_id="wait",
        api="remix",
        task_id_to_watch="{{ ti.xcom_pull(task_ids='submit')['id'] }}",
        on_extend_failure="accept_first_segment",
        poll_interval=0.2,
    ).set_upstream(remix)

with DAG("test_generation_to_s3", schedule=None, start_date=START, catchup=False):
    # Bucket and connection come from the run's conf, so the file needs nothing at parse time.
    from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

    generated = VideoGenerationOperator(task_id="generate", model="veo3.1-fast", prompt="A cat at sea", **FAST)
    VideoToS3Operator(
        task_id="archive",
        source=generated.output,
        s3_bucket="{{ dag_run.conf['bucket'] }}",
        aws_conn_id="{{ dag_run.conf['aws_conn_id'] }}",
    )

with DAG("test_sensor_poke_mode", schedule=None, start_date=START, catchup=False):
    # deferrable=False: the sensor pokes in the worker, reusing one hook for every poke.
    poke_submit = VideoGenerationOperator(
        task_id="submit", model="veo3.1-fast", prompt="A heron", wait_for_completion=False, **FAST
    )
    VideoTaskSensor(
        task_id="wait",
        task_id_to_watch="{{ ti.xcom_pull(task_ids='submit')['id'] }}",
        deferrable=False,
        poll_interval=0.2,
    ).set_upstream(poke_submit)

with DAG("test_generation_deadline_from_first_submission", schedule=None, start_date=START, catchup=False):
    # The render never ends; the first try times out after 2 s. The retry re-attaches to the same
    # remote task and keeps the deadline of the first submission: it times out at once, without a
    # second create request and without waiting another 2 s.
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:progress_stall] A snail racing",
        timeout=timedelta(seconds=2),
        retries=1,
        retry_delay=timedelta(0),
        **FAST,
    )

with DAG("test_generation_not_durable", schedule=None, start_date=START, catchup=False):
    # durable=False (ResumableJobMixin's argument): the retry submits again instead of re-using
    # the first try's task; each try waits 2 s for a 3 s render, so both time out.
    VideoGenerationOperator(
        task_id="generate",
        model="veo3.1-fast",
        prompt="[sim:render=3] A dog surfing, twice",
        timeout=timedelta(seconds=2),
        retries=1,
        retry_delay=timedelta(seconds=2),
        durable=False,
        **FAST,
    )

with DAG("test_generation_to_s3_without_links", schedule=None, start_date=START, catchup=False):
    # xcom_links=False: XCom keeps the remote id and times only; the archive reads the links by id.
    from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

    unlinked = VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt="A cat at sea, no links", **{**FAST, "xcom_links": False}
    )
    VideoToS3Operator(
        task_id="archive",
        source=unlinked.output,
        s3_bucket="{{ dag_run.conf['bucket'] }}",
        aws_conn_id="{{ dag_run.conf['aws_conn_id'] }}",
    )
