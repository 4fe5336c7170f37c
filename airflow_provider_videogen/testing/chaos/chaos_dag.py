"""The DAGs a chaos run drives (copied into the cluster's DAGs folder by ``cluster_stack``).

``chaos_videos``: the prompts come from the run's ``conf`` (the driver draws them from the seed),
each is a real :class:`VideoGenerationOperator` (deferrable, through the ``videogen_api`` pool, on
the ``videogen_chaos`` connection that carries the shared budget); ``rendered`` (all done) keeps
the videos that rendered, so one refused video does not hold up the others' archive, and each is
streamed to S3 by a mapped :class:`VideoToS3Operator`. Then the example pipeline's second stage:
the remixes the ``conf`` asks for (``remixes``: ``prompt`` / ``prompt_extend``), a mapped
deferrable :class:`VideoRemixOperator` (15 s) on the same budget connection, and their archive
(``archive_remix``). The remix is not fed the clip's last frame (the example's ``last_frame``
step downloads the clip and decodes it: no fault of the provider is in it); it starts when the
clips ended, as in the example.

``chaos_daily``: the daily campaign's shape (``@daily``, catchup off) whose past days the driver
fills with a backfill (``POST /api/v2/backfills``); each day's prompts come from the backfill's
``conf`` (``days``: ``YYYY-MM-DD -> prompts``), so each day creates its own videos. Retries are on: killed workers and
triggerers must be survived by re-attaching, never by paying twice.

The archive declares its asset (``asset=``, registered when the DAG is parsed) instead of the
default alias: with the alias, the first archives to a new destination that finish at the same
moment race to create the asset row in Airflow 3.3.2 and the API server fails the loser's task
after its object was written (``idx_asset_name_uri_unique``; CHAOS.md, "What the seeds found").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, TriggerRule, task

from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

CHAOS_DAG_ID = "chaos_videos"
CHAOS_DAILY_DAG_ID = "chaos_daily"
REMIX_MODEL = "veo_3_1-fast-remix"
CHAOS_CONN_ID = "videogen_chaos"
CHAOS_POOL = "videogen_api"
CHAOS_BUCKET = "videogen-cluster"  # cluster_stack.BUCKET (not imported: the DAG file stays standalone)
#: cluster_stack.CHAOS_AWS_CONN_ID: SeaweedFS through the S3 fault proxy (``upload-fail``).
CHAOS_AWS_CONN_ID = "aws_chaos"
#: Retries of every task, 5 to 60 s apart (about 135 s in all): enough to outlast the longest
#: outage a schedule draws (the API server down 15 s plus its start, PostgreSQL down 6 s, S3 frozen
#: 15 s), as production retries are set to outlast a node's restart. Seed 3's first run (3 retries
#: 2 s apart) lost a video to three API-server outages in a row (CHAOS.md, "What the seeds found").
RETRIES: dict[str, Any] = {
    "retries": 5,
    "retry_delay": timedelta(seconds=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(seconds=60),
}
CHAOS_ASSET = f"s3://{CHAOS_BUCKET}/videogen/{CHAOS_DAG_ID}"


def _asset(dag_id: str) -> Asset:
    """The archive's declared asset; in ``outlets`` too: a mapped operator's ``__init__`` runs only
    in the worker, so only ``partial``'s own ``outlets`` reach the DAG processor, which registers
    the asset at parse time."""
    uri = f"s3://{CHAOS_BUCKET}/videogen/{dag_id}"
    return Asset(name=uri, uri=uri)


@task(**RETRIES)
def prompts(dag_run: Any = None, ds: str | None = None) -> list[str]:
    """The run's prompts: ``conf["prompts"]``, or a backfilled day's ``conf["days"][ds]``; none
    for a run without them (the daily DAG's own scheduled run: it generates nothing)."""
    conf = dag_run.conf or {}
    chosen = conf["days"].get(ds, []) if "days" in conf else conf.get("prompts", [])
    return [str(p) for p in chosen]


def _finished(task_id: str, count: int, ti: Any) -> list[dict[str, Any]]:
    """The result of every instance of ``task_id`` that rendered (a failed one is left out, its reason in its log)."""
    results = [ti.xcom_pull(task_ids=task_id, map_indexes=i) for i in range(count)]
    return [r for r in results if r]


def _videos(dag_id: str) -> Any:
    """prompts -> generate (mapped) -> rendered -> archive (mapped); returns ``rendered``'s output."""
    planned = prompts()
    generated = VideoGenerationOperator.partial(
        task_id="generate",
        videogen_conn_id=CHAOS_CONN_ID,
        model="veo3.1-fast",
        duration=4,
        poll_interval=2,
        pool=CHAOS_POOL,
        **RETRIES,
    ).expand(prompt=planned)

    @task(trigger_rule=TriggerRule.ALL_DONE, **RETRIES)
    def rendered(prompts: list[str], ti: Any = None) -> list[dict[str, Any]]:
        return _finished("generate", len(prompts or []), ti)

    done = rendered(planned)  # type: ignore[arg-type]  # an XComArg, resolved at run time
    generated >> done
    _archive("archive", dag_id, done)
    return done


def _archive(task_id: str, dag_id: str, done: Any) -> None:
    asset = _asset(dag_id)
    VideoToS3Operator.partial(
        task_id=task_id,
        s3_bucket=CHAOS_BUCKET,
        aws_conn_id=CHAOS_AWS_CONN_ID,
        videogen_conn_id=CHAOS_CONN_ID,
        asset=asset,
        outlets=[asset],
        **RETRIES,
    ).expand(source=done)


with DAG(CHAOS_DAG_ID, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["chaos"]):
    clips_done = _videos(CHAOS_DAG_ID)

    @task(trigger_rule=TriggerRule.ALL_DONE, **RETRIES)
    def remix_requests(dag_run: Any = None) -> list[dict[str, Any]]:
        """Every remix the conf asks for, in its order (the map index is the remix's place in it)."""
        return [
            {"prompt": str(r["prompt"]), "prompt_extend": str(r["prompt_extend"])}
            for r in (dag_run.conf or {}).get("remixes", [])
        ]

    requested = remix_requests()
    clips_done >> requested
    remixed = VideoRemixOperator.partial(
        task_id="remix",
        videogen_conn_id=CHAOS_CONN_ID,
        model=REMIX_MODEL,
        poll_interval=2,
        pool=CHAOS_POOL,
        **RETRIES,
    ).expand_kwargs(requested)

    @task(trigger_rule=TriggerRule.ALL_DONE, **RETRIES)
    def rendered_remixes(requests: list[dict[str, Any]], ti: Any = None) -> list[dict[str, Any]]:
        return _finished("remix", len(requests or []), ti)

    remixes_done = rendered_remixes(requested)  # type: ignore[arg-type]
    remixed >> remixes_done
    _archive("archive_remix", CHAOS_DAG_ID, remixes_done)

#: A daily campaign whose past days the driver backfills; the scheduled run of today (the DAG is
#: unpaused to take the backfill) has no prompts and generates nothing.
with DAG(
    CHAOS_DAILY_DAG_ID,
    schedule="@daily",
    start_date=datetime(2018, 1, 1),
    catchup=False,
    max_active_runs=3,
    tags=["chaos"],
):
    _videos(CHAOS_DAILY_DAG_ID)
