"""Test DAGs for @task.videogen and @task.videogen_remix, run with dag.test() against the simulator.

Each function counts its calls in a file under ``$VIDEOGEN_TASKFLOW_CALLS`` (set by the test), so
a test can see that a retry did not call it again.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, task

START = datetime(2026, 1, 1)
FAST = {"poll_interval": 0.2}


def count_call(name: str) -> int:
    """Record one call of the function ``name``; returns how many calls there were so far."""
    folder = os.environ.get("VIDEOGEN_TASKFLOW_CALLS")
    if not folder:
        return 0
    path = Path(folder) / name
    with path.open("a") as handle:
        handle.write(".")
    return path.stat().st_size


with DAG("test_taskflow_videos", schedule=None, start_date=START, catchup=False):

    @task.videogen(model="veo3.1-fast", duration=4, **FAST)
    def clip(topic: str) -> str:
        count_call("clip")
        return f"A slow aerial shot of {topic}"

    @task.videogen(model="doubao-seedance-1.0-pro-fast", **FAST)
    def variant(topic: str) -> dict[str, object]:
        count_call(f"variant {topic}")
        return {"prompt": f"A {topic} in the wind", "duration": 3}

    @task.videogen(
        model="veo3.1-fast", timeout=timedelta(seconds=1), retries=1, retry_delay=timedelta(seconds=1), **FAST
    )
    def retried() -> str:
        # A different prompt on every call (an LLM would do the same): only the stored first
        # result keeps the retry on the task the first try paid for. The first try's wait (1 s)
        # ends before the render (1.5 s); the retry, 1 s later, re-uses the finished video.
        calls = count_call("retried")
        return f"[sim:render=1.5] A dog surfing, take {calls}"

    @task.videogen_remix(model="veo_3_1-fast-remix", size="1280x720", **FAST)
    def story(product: str) -> dict[str, object]:
        count_call("story")
        return {"prompt": f"{product} on a kitchen table", "prompt_extend": "the camera pulls back"}

    @task.videogen_batch(
        model="veo3.1-fast",
        duration=4,
        timeout=timedelta(seconds=1),
        retries=1,
        retry_delay=timedelta(seconds=1),
        **FAST,
    )
    def batched(topics: list[str]) -> list[object]:
        # As ``retried``, for a batch: a different list on every call; the retry re-uses the first.
        calls = count_call("batched")
        return [f"[sim:render=1.5] A cat batch {topic}, take {calls}" for topic in topics[:-1]] + [
            {"prompt": f"[sim:render=1.5] A cat batch {topics[-1]}, take {calls}", "duration": 6}
        ]

    clip("a harbour at dawn")
    batched(["on a roof", "in a box"])
    variant.expand(topic=["red kite", "blue boat"])
    retried()
    story("A teapot")


with DAG("test_taskflow_retry_policy", schedule=None, start_date=START, catchup=False):
    # The test queues one 429 (Retry-After: 1) for the first create: the policy retries after it.
    @task.videogen(model="veo3.1-fast", duration=4, retries=1, retry_delay=timedelta(0), **FAST)
    def rate_limited() -> str:
        return "A heron, after a 429"

    # The gateway refuses the request (an unknown simulator directive: HTTP 400): fail at once.
    @task.videogen(model="veo3.1-fast", retries=3, retry_delay=timedelta(0), trigger_rule="all_done", **FAST)
    def refused() -> str:
        return "[sim:no_such_directive] a request the gateway refuses"

    rate_limited() >> refused()
