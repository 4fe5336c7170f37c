"""
### Video generation pipeline: brief -> prompts -> clips -> 15 s remixes -> S3 + manifest

1. **plan_prompts** turns the creative brief into `variants` distinct prompts, with an LLM
   through the gateway's chat API (`use_llm`) or a deterministic template, and validates every
   clip and remix request against the chosen models' limits before anything is submitted.
2. **generate_clip** renders one clip per prompt (`VideoGenerationOperator`, mapped, deferrable:
   no worker slot is held while a video renders). With `batch_size` N > 0, **generate_clip_batch**
   submits them N per task instead (`VideoGenerationBatchOperator`: one worker task start and one
   trigger per batch); everything after it is the same.
3. **last_frame** extracts each clip's last frame; **remix_15s** makes it the first frame of a
   15 s first/last-frame remix (`VideoRemixOperator`, mapped, deferrable).
   With `review` on, **review_clip** first asks a person, per clip (Required Actions: its poster,
   a link to its player in the Videos tab, the remix's estimate), whether to pay for its remix
   (and lets them rewrite the remix prompt); only approved clips are remixed. Unanswered after
   24 h: Skip. The manifest records each decision, who made it and when.
4. **archive_clip** / **archive_remix** stream every video to
   `s3://<s3_bucket>/<s3_prefix>/<dag_id>/<run id>/<clip|remix>-<variant>.mp4` (the run id with
   `:` and `+` made `_`, e.g. `manual__2026-03-01T10_00_00_000000_00_00`) before the 24 h
   download links expire; **write_manifest** writes `manifest.json` next to them.

`max_credits` caps the run: **plan_prompts** estimates every clip and remix (prices: seed 001
plus the connection extra `prices`) and fails before the first submission when the run would
cost more; the manifest records each video's estimate beside the gateway's reserved credits.

One refused prompt does not cost the others: **rendered_clips** / **rendered_remixes** pass on
every video that did render, tagged with its variant, so they are still remixed and archived;
the manifest lists what is missing and the run then fails, so nobody misses it.

Submissions run in the `videogen_api` pool: size it to the gateway's rate limits (see README).
Connections: `videogen_default` (the gateway) and `aws_default` (S3). Nothing else changes
between the offline simulator and the real gateway with AWS S3.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, Param, TriggerRule, task

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator
from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.pipelines.batching import BATCH_TASK, CLIP_TASK, finished_clips
from airflow_provider_videogen.pipelines.manifest import archive_kwargs, finished_results
from airflow_provider_videogen.pipelines.params import (
    INLINE_FRAMES,
    aspect_ratio_param,
    batch_size_param,
    duration_param,
    model_param,
    poll_interval_param,
    remix_model_param,
    s3_params,
    variants_param,
)
from airflow_provider_videogen.pipelines.review import (
    DEFAULT_DECISION,
    OPTIONS,
    PROMPT_FIELD,
    REVIEW_TIMEOUT,
    REVIEWS_KEY,
    TIMEOUT_TEXT,
)
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

log = logging.getLogger(__name__)

VIDEOGEN_CONN_ID = "videogen_default"
AWS_CONN_ID = "aws_default"
#: Caps concurrent submissions to the gateway; create it before the first run (see README).
POOL = "videogen_api"

with DAG(
    dag_id="videogen_pipeline",
    description="Brief -> prompts -> clips -> 15 s remixes from each clip's last frame -> S3 + manifest",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "brief": Param(
            "a paper boat drifting down a rain-soaked city street",
            type="string",
            minLength=1,
            description="what the videos show; each variant adds its own shot, light and style to it",
        ),
        "variants": variants_param(3, "clips (each also remixed to 15 s)"),
        "model": model_param("veo3.1-fast", "the model of the first clips"),
        "aspect_ratio": aspect_ratio_param("16:9"),
        "duration": duration_param(8),
        "remix_model": remix_model_param("veo_3_1-fast-fl-remix"),
        **s3_params("videogen-archive", "videogen", "<s3_prefix>/<dag_id>/<run id, sanitized>/"),
        "use_llm": Param(False, type="boolean", description="write the prompts with an LLM (gateway chat API)"),
        "llm_model": Param(
            "gpt-4o-mini", type="string", minLength=1, description="the chat model that writes the prompts (use_llm)"
        ),
        "frame_store": Param(
            INLINE_FRAMES,
            type="string",
            description=f"where last frames travel: '{INLINE_FRAMES}' (a data URI through XCom, fine for a few "
            "frames) or an Object Storage URL every worker can read, e.g. s3://aws_default@bucket/frames",
        ),
        "poll_interval": poll_interval_param(15.0),
        "batch_size": batch_size_param(),
        "max_credits": Param(
            None,
            type=["number", "null"],
            minimum=0,
            description="fail the run before any submission when its estimate (clips and remixes) is higher",
        ),
        "allow_unpriced": Param(False, type="boolean", description="let max_credits pass models without a price"),
        "review": Param(
            False,
            type="boolean",
            description="a person approves each clip before its remix is paid for (Required Actions); "
            f"unanswered after {TIMEOUT_TEXT}: {DEFAULT_DECISION}. Off: every clip is remixed unattended",
        ),
    },
    doc_md=__doc__,
    tags=["videogen", "example"],
) as dag:

    @task
    def plan_prompts(params: dict[str, Any], ti: Any = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Every request of the run, validated before the first one is sent; also fixes the archive prefix."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_videogen.exceptions import InvalidRequestError
        from airflow_provider_videogen.hooks.videogen import VideoGenHook
        from airflow_provider_videogen.pipelines.batching import check_batch_size
        from airflow_provider_videogen.pipelines.destinations import check_destinations
        from airflow_provider_videogen.pipelines.prompts import llm_prompts, plan_variants, template_prompts
        from airflow_provider_videogen.spend.plan import annotate, check_run_cap, estimate_plan, prices_or_published
        from airflow_provider_videogen.transfers.keys import safe_value

        try:
            check_destinations(params, conn_ids=[AWS_CONN_ID])  # conf chooses where the worker writes
            check_batch_size(params["batch_size"])
            if params["use_llm"]:
                hook = VideoGenHook(videogen_conn_id=VIDEOGEN_CONN_ID)
                prompts = llm_prompts(
                    hook, params["brief"], params["variants"], model=params["model"], llm_model=params["llm_model"]
                )
            else:
                prompts = template_prompts(params["brief"], params["variants"])
            plan = plan_variants(
                prompts,
                model=params["model"],
                aspect_ratio=params["aspect_ratio"],
                duration=params["duration"],
                remix_model=params["remix_model"],
                poll_interval=params["poll_interval"],
            )
        except InvalidRequestError as exc:  # nothing was submitted; the same params would fail again
            raise AirflowFailException(str(exc)) from None
        cost = estimate_plan(plan, prices_or_published(VIDEOGEN_CONN_ID, log))
        ti.xcom_push(key="estimate", value=cost.to_json())
        log.info("The run would submit %s: %s", cost.describe(), "; ".join(cost.lines()))
        check_run_cap(cost, params["max_credits"], allow_unpriced=params["allow_unpriced"])
        prefix = "/".join([params["s3_prefix"].strip("/"), safe_value(ti.dag_id), safe_value(run_id)]).lstrip("/")
        ti.xcom_push(key="archive_prefix", value=prefix)
        return annotate(plan, cost)

    plan = plan_prompts()

    # Both generation tasks are in the DAG; one of them gets the run's clips, the other an empty
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
        """Each clip that rendered, tagged with its variant: one refused prompt must not hold up the others."""
        prefix = ti.xcom_pull(task_ids="plan_prompts", key="archive_prefix")
        return finished_clips(ti, plan, params["batch_size"], prefix=prefix, videogen_conn_id=VIDEOGEN_CONN_ID)

    done_clips = rendered_clips(plan)
    [clips, batches] >> done_clips

    def archive(task_id: str, done: Any) -> Any:
        """Stream each finished video to ``<prefix>/<clip|remix>-<variant>.mp4`` before its link expires."""
        return VideoToS3Operator.partial(
            task_id=task_id,
            s3_bucket="{{ params.s3_bucket }}",
            aws_conn_id=AWS_CONN_ID,
            videogen_conn_id=VIDEOGEN_CONN_ID,
        ).expand_kwargs(done.map(archive_kwargs))

    archived_clips = archive("archive_clip", done_clips)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def review_requests(
        done_clips: list[dict[str, Any]] | None, archived: Any, params: dict[str, Any], dag_run: Any = None
    ) -> list[dict[str, Any]]:
        """One review per clip when ``review`` is on (after archiving: the reviewer sees its poster); none when off."""
        from airflow_provider_videogen.pipelines.review import review_request, ui_base_url

        if not params["review"] or not done_clips:
            return []
        base = ui_base_url()
        return [review_request(e, dag_id=dag_run.dag_id, run_id=dag_run.run_id, base_url=base) for e in done_clips]

    reviews = HITLOperator.partial(
        task_id="review_clip",
        options=OPTIONS,
        defaults=[DEFAULT_DECISION],
        params={
            PROMPT_FIELD: Param(
                None,
                type=["null", "string"],  # optional: a string-only field would be required in the form
                description="replaces the planned remix prompt; empty keeps it",
                source="task",
            )
        },
        response_timeout=REVIEW_TIMEOUT,
    ).expand_kwargs(review_requests(done_clips, archived_clips.output))

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def reviewed_clips(done_clips: list[dict[str, Any]] | None, params: dict[str, Any], ti: Any = None) -> Any:
        """The clips to remix: every clip without review, the approved ones (prompt as edited) with it."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_videogen.pipelines.review import decide

        if done_clips is None:  # returning None would fail the remix mapping, and be retried, for nothing
            raise AirflowFailException("No clips to remix: rendered_clips failed (see its log)")
        if not params["review"] or not done_clips:
            return done_clips
        decided = [decide(e, ti.xcom_pull(task_ids="review_clip", map_indexes=j)) for j, e in enumerate(done_clips)]
        ti.xcom_push(key=REVIEWS_KEY, value=[{"index": e["index"], **e["review"]} for e in decided])
        log.info("Review: %s", ", ".join(f"clip {e['index']} {e['review']['decision']}" for e in decided))
        return [e for e in decided if e["review"]["decision"] == "approved"]

    approved_clips = reviewed_clips(done_clips)
    reviews >> approved_clips

    @task
    def last_frame(clip: dict[str, Any], params: dict[str, Any], ti: Any = None) -> dict[str, Any]:
        """The remix's keyword arguments, with the clip's last frame as its first frame."""
        from airflow_provider_videogen.hooks.videogen import VideoGenHook
        from airflow_provider_videogen.pipelines.chain import clip_url, last_frame_reference
        from airflow_provider_videogen.transfers.keys import safe_value

        hook = VideoGenHook(videogen_conn_id=VIDEOGEN_CONN_ID)
        frame = last_frame_reference(
            clip_url(clip["result"], hook),  # links are not in XCom (xcom_links=False): asked by id
            name=f"{ti.dag_id}/{safe_value(ti.run_id)}/variant-{clip['index']}.png",
            hook=hook,
            store=params["frame_store"],
        )
        return {**clip["variant"]["remix"], "input_references": [frame]}

    remixes = VideoRemixOperator.partial(
        task_id="remix_15s",
        videogen_conn_id=VIDEOGEN_CONN_ID,
        pool=POOL,
        on_extend_failure="accept_first_segment",  # keep the paid 8 s clip, flagged partial in the manifest
    ).expand_kwargs(last_frame.expand(clip=approved_clips))

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def rendered_remixes(done_clips: list[dict[str, Any]], ti: Any = None) -> list[dict[str, Any]]:
        """Each remix that rendered; ``remix_15s`` instance j continued ``done_clips[j]`` (the approved clips)."""
        prefix = ti.xcom_pull(task_ids="plan_prompts", key="archive_prefix")
        return finished_results(ti, "remix_15s", done_clips, kind="remix", prefix=prefix)

    done_remixes = rendered_remixes(approved_clips)
    remixes >> done_remixes

    archived_remixes = archive("archive_remix", done_remixes)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def write_manifest(
        plan: list[dict[str, Any]],
        clips: list[dict[str, Any]],
        remixes: list[dict[str, Any]],
        clip_archives: Any,
        remix_archives: Any,
        params: dict[str, Any],
        dag_run: Any = None,
        ti: Any = None,
    ) -> str:
        """Write ``manifest.json`` next to the videos; fail the run, after writing it, if anything is missing."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_videogen.pipelines.batching import clip_task
        from airflow_provider_videogen.pipelines.manifest import build_manifest, manifest_key, write_manifest
        from airflow_provider_videogen.pipelines.prompts import plan_fingerprint

        if plan is None:  # plan_prompts failed (over max_credits, a broken limit): nothing was submitted
            raise AirflowFailException("No plan: plan_prompts failed, nothing was submitted (see its log)")
        manifest = build_manifest(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            logical_date=dag_run.logical_date,
            brief=params["brief"],
            prompt_source="llm" if params["use_llm"] else "template",
            plan_id=plan_fingerprint(plan),
            plan=plan,
            clips=clips,
            remixes=remixes,
            archives=[*(clip_archives or []), *(remix_archives or [])],  # None when nothing rendered
            reviews=ti.xcom_pull(task_ids="reviewed_clips", key=REVIEWS_KEY) or [],
            clip_task=clip_task(params["batch_size"]),
        )
        prefix = ti.xcom_pull(task_ids="plan_prompts", key="archive_prefix")
        uri = write_manifest(manifest, bucket=params["s3_bucket"], key=manifest_key(prefix), aws_conn_id=AWS_CONN_ID)
        if not manifest.complete:
            raise AirflowFailException(f"Incomplete run, manifest {uri}: " + "; ".join(manifest.problems()))
        return uri

    write_manifest(plan, done_clips, done_remixes, archived_clips.output, archived_remixes.output)
