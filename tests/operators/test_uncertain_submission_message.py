"""Where a human must act on an uncertain submission, the message says where in the UI (issue 15, problem 2).

No request is sent here: the store holds an in-flight marker for this very request and no
record, so the operator refuses before any HTTP call.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, InFlightMarker, fingerprint, where_to_delete
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator


class Store:
    """The part of Airflow's task state store the operator uses."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self.rows = rows

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.rows[key] = value

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


def context(map_index: int, store: Store) -> Any:
    ti = SimpleNamespace(task_id="generate_clip", run_id="manual__2026-11-28", map_index=map_index, try_number=2)
    return {"ti": ti, "task_state_store": store}


@pytest.mark.parametrize("map_index", [-1, 2])
def test_the_refusal_names_the_key_and_where_to_find_it_per_map_index(map_index: int) -> None:
    operator = VideoGenerationOperator(task_id="generate_clip", model="veo3.1-fast", prompt="A heron.")
    request = operator.build_request()
    marker = InFlightMarker(fingerprint=fingerprint(request), started_at=datetime.now(tz=timezone.utc), try_number=1)
    store = Store({IN_FLIGHT_KEY: marker.model_dump(mode="json")})
    with pytest.raises(AirflowFailException) as refused:
        operator._submit_or_reattach(context(map_index, store), request)
    message = str(refused.value)
    assert f"'{IN_FLIGHT_KEY}'" in message
    assert "Task Instance -> Storage -> Task State Store" in message
    assert "generate_clip" in message
    assert "manual__2026-11-28" in message
    if map_index >= 0:
        assert f"map index {map_index}" in message
        assert f"mapped task {map_index}" in message
    else:
        assert "map index" not in message
    assert store.rows.get(IN_FLIGHT_KEY), "the refusal must not delete the marker itself"


def test_where_to_delete_without_a_context_still_says_where() -> None:
    assert "Storage -> Task State Store" in where_to_delete(None)
