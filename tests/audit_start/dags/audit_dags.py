from datetime import datetime

from airflow.sdk import DAG, task, task_group

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

START = datetime(2026, 1, 1)
with DAG("audit_mtg", schedule=None, start_date=START, catchup=False):

    @task
    def seed_for(style: str) -> int:
        return len(style)

    @task_group
    def clips(style):
        VideoGenerationOperator(
            task_id="gen",
            model="veo-3.1-fast-generate-preview",
            prompt="[sim:render=2] [audit-mtg] a cat",
            duration=4,
            seed=seed_for(style),
            poll_interval=1,
            start_from_trigger=True,
        )

    clips.expand(style=["noir", "pastel"])

with DAG("audit_kill", schedule=None, start_date=START, catchup=False):
    VideoGenerationOperator(
        task_id="slow",
        model="veo3.1-fast",
        prompt="[sim:render=120] [audit-kill] a slow cat",
        duration=4,
        poll_interval=1,
        start_from_trigger=True,
    )
