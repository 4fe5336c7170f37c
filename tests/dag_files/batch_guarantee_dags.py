"""DAGs showing that a ``VideoGenerationBatchOperator`` keeps the single operator's guarantees (issue 23).

Run with ``dag.test()`` by tests/spend/test_batch_spend.py (the spend guard, the Video link) and,
with the OpenLineage provider's listener on, by tests/lineage/test_batch_openlineage.py.
``veo3.1-fast`` costs 5.76 credits a second (720p, no audio): 4 s = 23.04, 8 s = 46.08 credits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator

START = datetime(2026, 1, 1)
FAST: dict[str, Any] = {"model": "veo3.1-fast", "poll_interval": 0.2}

#: One run, two batches (tests/spend/test_batch_spend.py sets the budget of ``videogen_default`` to two
#: 8 s videos). ``over_cap``: item 1 (8 s, 46.08 credits) is over ``max_credits=40``, item 0 (4 s) is
#: not: nothing may be sent. ``over_budget``: three 46.08-credit videos, room for two: nothing may be sent.
with DAG("test_batch_spend", schedule=None, start_date=START, catchup=False, max_active_tasks=1):
    VideoGenerationBatchOperator(
        task_id="over_cap",
        requests=["[sim:render=0.5] under the cap", {"prompt": "[sim:render=0.5] over the cap", "duration": 8}],
        duration=4,
        max_credits=40,
        retries=2,
        **FAST,
    )
    VideoGenerationBatchOperator(
        task_id="over_budget",
        requests=[f"[sim:render=0.5] budget clip {i}" for i in range(3)],
        duration=8,
        **FAST,
    )

#: Lineage: a batch that succeeds and one whose second video fails for good at the gateway.
with DAG("test_batch_lineage", schedule=None, start_date=START, catchup=False):
    VideoGenerationBatchOperator(
        task_id="batch_ok",
        requests=["[sim:render=0.5] lineage clip 0", "[sim:render=0.5] lineage clip 1"],
        duration=4,
        **FAST,
    )
    VideoGenerationBatchOperator(
        task_id="batch_failing",
        requests=["[sim:render=0.5] lineage keeps", "[sim:fail=content_policy_violation] lineage breaks"],
        duration=4,
        **FAST,
    )
