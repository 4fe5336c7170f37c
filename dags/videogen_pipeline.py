"""
### Video generation pipeline: brief -> prompts -> clips -> 15 s remixes -> S3 + manifest

1. **plan_prompts** turns the creative brief into `variants` distinct prompts, with an LLM
   through the gateway's chat API (`use_llm`) or a deterministic template, and validates every
   clip and remix request against the chosen models' limits before anything is submitted.
2. **generate_clip** renders one clip per prompt (`VideoGenerationOperator`, mapped, deferrable:
   no worker slot is held while a video renders).
3. **last_frame** extracts each clip's last frame; **remix_15s** makes it the first frame of a
   15 s first/last-frame remix (`VideoRemixOperator`, mapped, deferrable).
4. **archive_clip** / **archive_remix** stream every video to S3 (`VideoToS3Operator`) before the
   24 h download links expire; **write_manifest** writes `manifest.json` next to them.

Submissions run in the `videogen_api` pool: size it to the gateway's rate limits (see README).
Connections: `videogen_default` (the gateway) and `aws_default` (S3).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.prompts import MAX_VARIANTS, generation_kwargs
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator

VIDEOGEN_CONN_ID = "videogen_default"
AWS_CONN_ID = "aws_default"
#: Caps concurrent submissions to the gateway; create it before the first run (see README).
POOL = "videogen_api"
#: Every object of a run lands under this prefix (computed once, by plan_prompts).
PREFIX = "{{ ti.xcom_pull(task_ids='plan_prompts', key='archive_prefix') }}"

with DAG(
    dag_id="videogen_pipeline",
    description="Brief -> prompts -> clips -> 15 s remixes from each clip's last frame -> S3 + manifest",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "brief": Param("a paper boat drifting down a rain-soaked city street", type="string", minLength=1),
        "variants": Param(3, type="integer", minimum=1, maximum=MAX_VARIANTS),
        "model": Param("veo3.1-fast", type="string", examples=["veo3.1-fast", "veo3.1-pro", "doubao-seedance-1.0-pro-fast"]),
        "aspect_ratio": Param("16:9", type="string", examples=["16:9", "9:16"]),
        "duration": Param(8, type=["integer", "null"], description="seconds; null for the model's default"),
        "remix_model": Param("veo_3_1-fast-fl-remix", type="string", examples=["veo_3_1-fast-fl-remix", "veo_3_1-fl-remix"]),
        "s3_bucket": Param("videogen-archive", type="string", minLength=3),
        "s3_prefix": Param("videogen", type="string"),
        "use_llm": Param(False, type="boolean", description="write the prompts with an LLM (gateway chat API)"),
        "llm_model": Param("gpt-4o-mini", type="string"),
        "frame_store": Param(
            "",
            type="string",
            description="where last frames travel: '' inline (data URI via XCom), or an Object Storage URL "
            "every worker can read, e.g. s3://aws_default@bucket/frames",
        ),
        "poll_interval": Param(15.0, type="number", exclusiveMinimum=0, description="seconds between status checks"),
    },
    doc_md=__doc__,
    tags=["videogen", "example"],
) as dag:

    @task
    def plan_prompts(params: dict[str, Any], ti: Any = None, run_id: str | None = None) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_videogen.exceptions import InvalidRequestError
        from airflow_provider_videogen.hooks.videogen import VideoGenHook
        from airflow_provider_videogen.prompts import llm_prompts, plan_variants, template_prompts
        from airflow_provider_videogen.transfers.keys import safe_value

        try:
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
        prefix = "/".join([params["s3_prefix"].strip("/"), safe_value(ti.dag_id), safe_value(run_id)]).lstrip("/")
        ti.xcom_push(key="archive_prefix", value=prefix)
        return plan

    plan = plan_prompts()

    clips = VideoGenerationOperator.partial(
        task_id="generate_clip", videogen_conn_id=VIDEOGEN_CONN_ID, pool=POOL
    ).expand_kwargs(plan.map(generation_kwargs))

    @task
    def last_frame(clip_and_variant: tuple[dict[str, Any], dict[str, Any]], params: dict[str, Any], ti: Any = None) -> dict[str, Any]:
        """The remix's keyword arguments, with the clip's last frame as its first frame."""
        from airflow_provider_videogen.chain import last_frame_reference
        from airflow_provider_videogen.hooks.videogen import VideoGenHook
        from airflow_provider_videogen.transfers.keys import safe_value

        clip, variant = clip_and_variant
        frame = last_frame_reference(
            clip["video_urls"][0],
            name=f"{ti.dag_id}/{safe_value(ti.run_id)}/variant-{ti.map_index}.png",
            hook=VideoGenHook(videogen_conn_id=VIDEOGEN_CONN_ID),
            store=params["frame_store"],
        )
        return {**variant["remix"], "input_references": [frame]}

    remixes = VideoRemixOperator.partial(
        task_id="remix_15s",
        videogen_conn_id=VIDEOGEN_CONN_ID,
        pool=POOL,
        on_extend_failure="accept_first_segment",  # keep the paid 8 s clip, flagged partial in the manifest
    ).expand_kwargs(last_frame.expand(clip_and_variant=clips.output.zip(plan)))

    def archive(task_id: str, videos: Any, name: str) -> Any:
        return VideoToS3Operator.partial(
            task_id=task_id,
            s3_bucket="{{ params.s3_bucket }}",
            s3_key=PREFIX + "/" + name + "-{map_index}.{ext}",
            aws_conn_id=AWS_CONN_ID,
            videogen_conn_id=VIDEOGEN_CONN_ID,
            metadata={"pipeline": "{{ dag.dag_id }}", "kind": name, "variant": "{{ ti.map_index }}"},
        ).expand(source=videos)

    archived_clips = archive("archive_clip", clips.output, "clip")
    archived_remixes = archive("archive_remix", remixes.output, "remix")

    @task
    def write_manifest(
        plan: list[dict[str, Any]],
        clips: Any,
        clip_archives: Any,
        remixes: Any,
        remix_archives: Any,
        params: dict[str, Any],
        dag_run: Any = None,
        ti: Any = None,
    ) -> str:
        from airflow_provider_videogen.manifest import build_manifest, manifest_key, write_manifest
        from airflow_provider_videogen.prompts import plan_fingerprint

        manifest = build_manifest(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            logical_date=dag_run.logical_date,
            brief=params["brief"],
            prompt_source="llm" if params["use_llm"] else "template",
            plan_id=plan_fingerprint(plan),
            plan=plan,
            clips=list(clips),
            clip_archives=list(clip_archives),
            remixes=list(remixes),
            remix_archives=list(remix_archives),
        )
        prefix = ti.xcom_pull(task_ids="plan_prompts", key="archive_prefix")
        return write_manifest(manifest, bucket=params["s3_bucket"], key=manifest_key(prefix), aws_conn_id=AWS_CONN_ID)

    write_manifest(plan, clips.output, archived_clips.output, remixes.output, archived_remixes.output)
