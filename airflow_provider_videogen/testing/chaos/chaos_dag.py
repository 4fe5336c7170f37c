"""The DAG a chaos run triggers (copied into the cluster's DAGs folder by ``cluster_stack``).

``chaos_videos``: the prompts come from the run's ``conf`` (the driver draws them from the seed),
each is a real :class:`VideoGenerationOperator` (deferrable, through the ``videogen_api`` pool, on
the ``videogen_chaos`` connection that carries the shared budget); ``rendered`` (all done) keeps
the videos that rendered, so one refused video does not hold up the others' archive, and each is
streamed to S3 by a mapped :class:`VideoToS3Operator`. Retries are on: killed workers and
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

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

CHAOS_DAG_ID = "chaos_videos"
CHAOS_CONN_ID = "videogen_chaos"
CHAOS_POOL = "videogen_api"
CHAOS_BUCKET = "videogen-cluster"  # cluster_stack.BUCKET (not imported: the DAG file stays standalone)
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
#: Declared in ``outlets`` too: a mapped operator's ``__init__`` runs only in the worker, so only
#: ``partial``'s own ``outlets`` reach the DAG processor, which registers the asset at parse time.
_ASSET = Asset(name=CHAOS_ASSET, uri=CHAOS_ASSET)

with DAG(CHAOS_DAG_ID, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["chaos"]):

    @task(**RETRIES)
    def prompts(dag_run: Any = None) -> list[str]:
        return [str(p) for p in dag_run.conf["prompts"]]

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
        """The result of every generation that rendered (a failed one is left out, its reason in its log)."""
        results = [ti.xcom_pull(task_ids="generate", map_indexes=i) for i in range(len(prompts))]
        return [r for r in results if r]

    done = rendered(planned)  # type: ignore[arg-type]  # an XComArg, resolved at run time
    generated >> done

    VideoToS3Operator.partial(
        task_id="archive",
        s3_bucket=CHAOS_BUCKET,
        videogen_conn_id=CHAOS_CONN_ID,
        asset=_ASSET,
        outlets=[_ASSET],
        **RETRIES,
    ).expand(source=done)
