"""
### Daily video campaign: one deterministic set of clips per day, archived under per-date keys

Every day the campaign's theme is expanded into `variants` prompts, and each clip gets a seed,
both derived from the campaign name and the **logical date**. A backfill therefore produces one
distinct, reproducible set per day:

    airflow backfill create --dag-id videogen_daily --from-date 2026-03-01 --to-date 2026-03-07

Objects land under `<s3_prefix>/<campaign>/<YYYY-MM-DD>/<plan id>/`, with a `manifest.json`.
The plan id is a hash of the day's requests: same day and same settings, same keys; edit the
theme or the model and a re-run writes a new set beside the old one instead of overwriting it.

Re-running a day never pays twice for what already succeeded:

* the day's manifest exists and every video it lists is still in S3 with its SHA-256:
  `plan_day` plans nothing and everything after it is skipped (no request is sent);
* otherwise (an earlier run failed half way) clearing the run re-attaches each clip task to the
  remote task it already paid for, or re-uses its finished video (links are valid 24 h), and the
  archive skips objects already written.

A refused clip does not stop the others from being archived (`rendered_clips` passes on each
clip that rendered, tagged with its variant); the manifest names what is missing and the run fails.

`batch_size` (0 by default: one `generate_clip` task per clip) submits the day's clips N per task
instead (`generate_clip_batch`, `VideoGenerationBatchOperator`): each batch takes one worker task
start and is polled by one trigger, which is what a long backfill is short of. Same plan, same keys,
same manifest: a day archived in one mode is archived in the other. A clip the gateway refuses fails
its batch; the batch's other clips are still archived (`rendered_clips` asks the gateway for them),
and clearing the day re-uses them and pays only for the refused one.

`max_credits` caps the day: `plan_day` estimates every clip and fails before the first
submission when the day would cost more (`python -m airflow_provider_videogen.spend.estimate
videogen_daily --from ... --to ...` prints what a backfill would cost).

Submissions run in the `videogen_api` pool. Connections: `videogen_default`, `aws_default`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, task

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.pipelines.batching import BATCH_TASK, CLIP_TASK, finished_clips
from airflow_provider_videogen.pipelines.manifest import archive_kwargs
from airflow_provider_videogen.pipelines.params import (
    aspect_ratio_param,
    batch_size_param,
    duration_param,
    model_param,
    poll_interval_param,
    s3_params,
    variants_param,
)
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

log = logging.getLogger(__name__)

VIDEOGEN_CONN_ID = "videogen_default"
AWS_CONN_ID = "aws_default"
POOL = "videogen_api"

with DAG(
    dag_id="videogen_daily",
    description="A daily campaign: prompts and seeds from the logical date, archived under per-date keys",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # past days are filled with `airflow backfill create`, on purpose
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "campaign": Param(
            "harbour-diaries",
            type="string",
            pattern="^[A-Za-z0-9._-]+$",
            description="campaign name: part of every key, and (with the date) of every prompt and seed; "
            "letters, digits, '.', '_' and '-'",
        ),
        "theme": Param(
            "a small fishing harbour waking up",
            type="string",
            minLength=1,
            description="what the day's clips show; each variant adds its own shot, light and style",
        ),
        "variants": variants_param(3),
        "model": model_param("veo-3.1-fast-generate-preview", "the video model; seeded when it takes a seed"),
        "aspect_ratio": aspect_ratio_param("9:16"),
        "duration": duration_param(4),
        **s3_params("videogen-archive", "videogen-daily", "<s3_prefix>/<campaign>/<YYYY-MM-DD>/<plan id>/"),
        "poll_interval": poll_interval_param(15.0),
        "batch_size": batch_size_param(),
        "max_credits": Param(
            None,
            type=["number", "null"],
            minimum=0,
            description="fail the day before any submission when its estimate is higher (null: no cap)",
        ),
        "allow_unpriced": Param(False, type="boolean", description="let max_credits pass models without a price"),
    },
    doc_md=__doc__,
    tags=["videogen", "example"],
) as dag:

    @task
    def plan_day(params: dict[str, Any], ds: str, ti: Any = None) -> list[dict[str, Any]]:
        """The day's validated plan; empty when the day is already archived (nothing is then sent)."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_videogen.exceptions import InvalidRequestError
        from airflow_provider_videogen.pipelines.batching import check_batch_size
        from airflow_provider_videogen.pipelines.destinations import archive_prefix, check_destinations
        from airflow_provider_videogen.pipelines.manifest import manifest_key, missing_videos, read_manifest
        from airflow_provider_videogen.pipelines.prompts import (
            derive_seed,
            model_takes_seed,
            plan_fingerprint,
            plan_variants,
            template_prompts,
        )
        from airflow_provider_videogen.spend.plan import annotate, check_run_cap, estimate_plan, prices_or_published

        campaign, count, model = params["campaign"], params["variants"], params["model"]
        try:
            # conf chooses where the worker writes; the campaign is a key segment of every object
            check_destinations(params, conn_ids=[AWS_CONN_ID], segments=["campaign"])
            check_batch_size(params["batch_size"])
            plan = plan_variants(
                template_prompts(params["theme"], count, salt=f"{campaign}/{ds}"),
                seeds=[derive_seed(campaign, ds, i) for i in range(count)] if model_takes_seed(model) else None,
                model=model,
                aspect_ratio=params["aspect_ratio"],
                duration=params["duration"],
                poll_interval=params["poll_interval"],
            )
            prefix = archive_prefix(
                s3_prefix=params["s3_prefix"], campaign=campaign, date=ds, plan=plan_fingerprint(plan)
            )
        except InvalidRequestError as exc:  # nothing was submitted; the same params would fail again
            raise AirflowFailException(str(exc)) from None
        cost = estimate_plan(plan, prices_or_published(VIDEOGEN_CONN_ID, log))
        ti.xcom_push(key="estimate", value=cost.to_json())
        ti.xcom_push(key="archive_prefix", value=prefix)
        done = read_manifest(bucket=params["s3_bucket"], key=manifest_key(prefix), aws_conn_id=AWS_CONN_ID)
        if done is not None and not missing_videos(done, aws_conn_id=AWS_CONN_ID):
            log.info(
                "%s is already archived (s3://%s/%s): nothing to generate",
                ds,
                params["s3_bucket"],
                manifest_key(prefix),
            )
            return []  # every downstream task then expands to nothing, and the manifest is left as it is
        log.info("%s would submit %s", ds, cost.describe())
        check_run_cap(cost, params["max_credits"], allow_unpriced=params["allow_unpriced"])
        return annotate(plan, cost)

    plan = plan_day()

    # Both generation tasks are in the DAG; one of them gets the day's clips, the other an empty
    # list and is skipped (batch_size, see pipelines/batching.py).
    @task
    def clip_requests(plan: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """``generate_clip``'s arguments, one per clip; none in batch mode."""
        from airflow_provider_videogen.pipelines.batching import one_per_task

        return one_per_task(plan, params["batch_size"])

    @task
    def clip_batches(plan: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """``generate_clip_batch``'s arguments, one per ``batch_size`` clips; none with ``batch_size`` 0."""
        from airflow_provider_videogen.pipelines.batching import batch_kwargs

        return batch_kwargs(plan, params["batch_size"])

    clips = VideoGenerationOperator.partial(
        task_id=CLIP_TASK, videogen_conn_id=VIDEOGEN_CONN_ID, pool=POOL
    ).expand_kwargs(clip_requests(plan))
    batches = VideoGenerationBatchOperator.partial(
        task_id=BATCH_TASK, videogen_conn_id=VIDEOGEN_CONN_ID, pool=POOL
    ).expand_kwargs(clip_batches(plan))

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def rendered_clips(plan: list[dict[str, Any]], params: dict[str, Any], ti: Any = None) -> list[dict[str, Any]]:
        """Each clip that rendered, tagged with its variant (archived as ``clip-<variant>.mp4``)."""
        prefix = ti.xcom_pull(task_ids="plan_day", key="archive_prefix")
        return finished_clips(ti, plan, params["batch_size"], prefix=prefix, videogen_conn_id=VIDEOGEN_CONN_ID)

    done_clips = rendered_clips(plan)
    [clips, batches] >> done_clips

    archived = VideoToS3Operator.partial(
        task_id="archive_clip",
        s3_bucket="{{ params.s3_bucket }}",
        aws_conn_id=AWS_CONN_ID,
        videogen_conn_id=VIDEOGEN_CONN_ID,
    ).expand_kwargs(done_clips.map(archive_kwargs))

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def write_manifest(
        plan: list[dict[str, Any]],
        clips: list[dict[str, Any]],
        archives: Any,
        params: dict[str, Any],
        dag_run: Any = None,
        ti: Any = None,
    ) -> str:
        """Write the day's ``manifest.json``; fail the run, after writing it, if a clip is missing."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from airflow_provider_videogen.pipelines.batching import clip_task
        from airflow_provider_videogen.pipelines.manifest import build_manifest, manifest_key, write_manifest
        from airflow_provider_videogen.pipelines.prompts import plan_fingerprint

        if plan is None:  # plan_day failed (over max_credits, a broken limit): nothing was submitted
            raise AirflowFailException("No plan: plan_day failed, nothing was submitted (see its log)")
        if not plan:
            raise AirflowSkipException("Nothing was planned: the day is already archived (see plan_day's log)")
        manifest = build_manifest(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            logical_date=dag_run.logical_date,
            brief=params["theme"],
            prompt_source="template",
            plan_id=plan_fingerprint(plan),
            plan=plan,
            clips=clips,
            archives=archives or [],  # None when no clip rendered
            clip_task=clip_task(params["batch_size"]),
        )
        prefix = ti.xcom_pull(task_ids="plan_day", key="archive_prefix")
        uri = write_manifest(manifest, bucket=params["s3_bucket"], key=manifest_key(prefix), aws_conn_id=AWS_CONN_ID)
        if not manifest.complete:
            raise AirflowFailException(f"Incomplete day, manifest {uri}: " + "; ".join(manifest.problems()))
        return uri

    write_manifest(plan, done_clips, archived.output)
