"""A DAG file whose @task.videogen has a literal duration the model refuses: parsing it must fail.

Kept out of the top level of tests/dag_files, which every dag.test() run parses.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

with DAG("test_taskflow_invalid_literal", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task.videogen(model="veo3.1-fast", duration=99)
    def clip(topic: str) -> str:
        return f"A {topic}"

    clip.expand(topic=["a", "b"])
