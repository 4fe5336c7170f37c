"""
### TaskFlow: `@task.videogen` and `@task.videogen_remix`

A Python function writes the request; the decorator renders it. `clip` runs once per topic
(`.expand()`) and returns a prompt string; `story` returns the two prompts of a 15 s remix as a
`dict`. Each task is a `VideoGenerationOperator` / `VideoRemixOperator` underneath: it waits
for the video in the triggerer (no worker slot), re-attaches on retry, checks `max_credits`
before it sends anything, cancels the render when killed (where the gateway can) and returns
the same XCom result and "Video" link.

Rules worth knowing:

* **The function runs once per task instance.** Its result is stored (task state store) before
  the request is sent; a retry or a clear builds the request from that copy and re-attaches to
  the video it paid for: it does not call the function again, so a random or LLM-written prompt
  cannot turn a retry into a second bill. It runs again only when its arguments, its code or the
  decorator's fields changed.
* **Its result is the request**: a prompt string, a `dict` of request fields (merged over the
  decorator's) or a whole `GenerationRequest` / `RemixRequest`.
* **Literal decorator arguments are checked when this file is parsed** (a `duration=99` is an
  import error naming the field and the allowed values), with the models' own limits.
* Retries follow `VideoRetryPolicy`: a gateway 5xx, a 429 (after its `Retry-After`) or a lost
  trigger is retried; an invalid or refused request, a budget refusal or a content-policy failure
  fails at once, and the log says why.

Submissions run in the `videogen_api` pool. Connection: `videogen_default`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

log = logging.getLogger(__name__)

POOL = "videogen_api"

with DAG(
    dag_id="videogen_taskflow",
    description="TaskFlow video tasks: a function returns the prompt, the decorator renders it",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "style": Param("Golden-hour documentary footage", type="string", minLength=1, description="every clip's look"),
        "topics": Param(
            ["a lighthouse on a cliff", "a night market in the rain"],
            type="array",
            items={"type": "string", "minLength": 1},
            minItems=1,
            maxItems=5,
            description="one 4 s clip per topic",
        ),
        "product": Param("a copper kettle", type="string", minLength=1, description="the 15 s remix's subject"),
    },
    doc_md=__doc__,
    tags=["videogen", "example"],
) as dag:

    @task
    def topics(params: dict[str, Any]) -> list[str]:
        return list(params["topics"])

    @task.videogen(model="veo3.1-fast", duration=4, aspect_ratio="16:9", max_credits=40, pool=POOL)
    def clip(topic: str, params: dict[str, Any]) -> str:
        """One clip per topic: the function returns the prompt."""
        return f"{params['style']}: {topic}, slow dolly-in, natural sound"

    @task.videogen_remix(model="veo_3_1-fast-remix", size="1280x720", pool=POOL)
    def story(params: dict[str, Any]) -> dict[str, Any]:
        """A 15 s remix: the first 8 s from `prompt`, 7 more from `prompt_extend`."""
        return {
            "prompt": f"{params['product']} on a wooden kitchen table, steam rising, morning light",
            "prompt_extend": "the camera pulls back to reveal the whole kitchen and a window onto the sea",
        }

    @task
    def summary(clips: list[dict[str, Any]], remix: dict[str, Any]) -> dict[str, Any]:
        """The remote ids of what was rendered (the videos themselves stay with the gateway, 24 h)."""
        rendered = {"clips": [c["id"] for c in clips], "story": remix["id"]}
        log.info("Rendered %d clip(s) and a 15 s story: %s", len(rendered["clips"]), rendered)
        return rendered

    summary(clip.expand(topic=topics()), story())
