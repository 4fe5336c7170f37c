"""start_from_trigger: what the operator stores at parse time and how the trigger gets a map index's arguments.

The mapped cases go through Airflow's own DAG serialization (the scheduler's view the triggerer
gets), not hand-made stand-ins.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow.serialization.serialized_objects import DagSerialization
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_videogen.deadlines import DEFERRAL_GRACE, MAX_WAIT_TIMEOUT
from airflow_provider_videogen.decorators.videogen import videogen_task
from airflow_provider_videogen.operators.start_args import (
    XCOM_REF,
    CannotStartInTriggerer,
    expanded_index,
    mapped_arguments,
    resolve_references,
)
from airflow_provider_videogen.operators.start_mode import START_TRIGGER
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.start import START_IN_WORKER, VideoStartTrigger, start_in_worker_event

START = datetime(2026, 1, 1)


def serialized(dag: DAG, task_id: str) -> Any:
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task(task_id)


@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3))
def test_expanded_index_follows_airflows_order(lengths: list[int]) -> None:
    """Airflow expands ``expand(a=[...], b=[...])`` as the cross product with the last key fastest."""
    order = [f"k{i}" for i in range(len(lengths))]
    by_name = dict(zip(order, lengths, strict=True))
    for map_index, combo in enumerate(itertools.product(*(range(n) for n in lengths))):
        assert [expanded_index(by_name, order, name, map_index) for name in order] == list(combo)


def test_a_plain_task_stores_its_own_arguments_and_output_references() -> None:
    with DAG("d", schedule=None, start_date=START):

        @task
        def brief() -> str:
            return "a cat"

        upstream = brief()
        op = VideoGenerationOperator(
            task_id="gen",
            model="veo3.1-fast",
            prompt=upstream,
            duration=4,
            poll_interval=3,
            retries=2,
            pool="videogen_api",
            start_from_trigger=True,
        )
    args = op.start_trigger_args
    assert args is not None
    assert args.trigger_cls == START_TRIGGER
    assert args.next_method == "execute_complete"
    assert args.timeout == timedelta(hours=1) + DEFERRAL_GRACE
    kwargs = args.trigger_kwargs or {}
    assert kwargs["operator_class"] == "airflow_provider_videogen.operators.videogen.VideoGenerationOperator"
    stored = kwargs["operator_kwargs"]
    # BaseOperator's arguments (retries, pool...) are the scheduler's, not the trigger's.
    assert {"retries", "pool", "task_id"}.isdisjoint(stored)
    assert stored["model"] == "veo3.1-fast"
    assert stored["poll_interval"] == 3
    assert stored["prompt"] == {XCOM_REF: {"task_id": "brief", "key": "return_value"}}
    resolved = resolve_references(stored, lambda task_id, key: f"{task_id}:{key}")
    assert resolved["prompt"] == "brief:return_value"


def test_a_task_that_cannot_start_in_the_triggerer_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="deferrable=False polls in a worker"):
        VideoGenerationOperator(task_id="a", model="veo3.1-fast", prompt="x", deferrable=False, start_from_trigger=True)
    with pytest.raises(ValueError, match="xcom_links=True would put signed links"):
        VideoGenerationOperator(task_id="b", model="veo3.1-fast", prompt="x", xcom_links=True, start_from_trigger=True)
    with DAG("d", schedule=None, start_date=START):

        @task
        def briefs() -> list[str]:
            return ["a", "b"]

        derived = briefs().map(str.upper)
        with pytest.raises(ValueError, match="derived task output"):
            VideoGenerationOperator(task_id="c", model="veo3.1-fast", prompt=derived, start_from_trigger=True)


def test_decorated_tasks_do_not_start_in_the_triggerer() -> None:
    @videogen_task(model="veo3.1-fast", start_from_trigger=True)
    def clip() -> dict[str, Any]:
        return {"prompt": "a cat"}

    with DAG("d", schedule=None, start_date=START), pytest.raises(ValueError, match="runs a Python function first"):
        clip()


def test_a_mapped_task_gets_its_map_indexs_arguments_from_the_serialized_task() -> None:
    with DAG("d", schedule=None, start_date=START) as dag:

        @task
        def briefs() -> list[str]:
            return ["one", "two", "three"]

        VideoGenerationOperator.partial(
            task_id="lit", model="veo3.1-fast", duration=4, start_from_trigger=True, retries=1
        ).expand(prompt=["a", "b"], seed=[1, 2, 3])
        VideoGenerationOperator.partial(task_id="up", model="veo3.1-fast", start_from_trigger=True).expand(
            prompt=briefs()
        )
    lit = serialized(dag, "lit")
    assert lit.start_from_trigger is True
    stored = lit.start_trigger_args.trigger_kwargs
    stored = stored.get("__var", stored)  # the scheduler keeps it in Airflow's serialized form
    assert stored["operator_kwargs"] is None  # read from the serialized task at run time

    def never(task_id: str, key: str) -> Any:
        raise AssertionError("literal lists need no XCom")

    got = [mapped_arguments(lit, i, never) for i in range(6)]
    assert [(g["prompt"], g["seed"]) for g in got] == list(itertools.product(["a", "b"], [1, 2, 3]))
    assert got[0]["model"] == "veo3.1-fast"
    assert got[0]["duration"] == 4

    pulled: list[tuple[str, str]] = []

    def pull(task_id: str, key: str) -> Any:
        pulled.append((task_id, key))
        return ["one", "two", "three"]

    assert mapped_arguments(serialized(dag, "up"), 2, pull)["prompt"] == "three"
    assert pulled == [("briefs", "return_value")]


def test_a_mapping_over_a_mapped_upstream_starts_in_a_worker() -> None:
    with DAG("d", schedule=None, start_date=START) as dag:
        first = VideoGenerationOperator.partial(task_id="gen", model="veo3.1-fast").expand(prompt=["a", "b"])
        VideoGenerationOperator.partial(task_id="again", model="veo3.1-fast", start_from_trigger=True).expand(
            prompt=first.output
        )
    with pytest.raises(CannotStartInTriggerer, match="mapped task 'gen'"):
        mapped_arguments(serialized(dag, "again"), 0, lambda task_id, key: ["x", "y"])


def test_the_start_trigger_serializes_no_more_than_the_dag_file_holds() -> None:
    trigger = VideoStartTrigger(operator_class="m.C", operator_kwargs={"prompt": "{{ ds }}"})
    assert trigger.serialize() == (
        "airflow_provider_videogen.triggers.start.VideoStartTrigger",
        {"operator_class": "m.C", "operator_kwargs": {"prompt": "{{ ds }}"}},
    )
    event = start_in_worker_event("failed: https://cdn.example/v.mp4?X-Amz-Signature=abc")
    assert "X-Amz-Signature=abc" not in str(event.payload[START_IN_WORKER])
    assert VideoGenerationOperator.start_trigger_args.timeout == MAX_WAIT_TIMEOUT + DEFERRAL_GRACE


def test_a_registered_listener_sends_the_task_to_a_worker() -> None:
    """Listeners (OpenLineage...) run in workers: a task that never ran in one would escape them."""
    from airflow.listeners.listener import get_listener_manager

    from airflow_provider_videogen.triggers.start import core_listeners_active

    manager = get_listener_manager()
    manager.clear()
    try:
        assert core_listeners_active() is False

        class Listener:
            """Any registered listener."""

        manager.add_listener(Listener())
        assert core_listeners_active() is True
    finally:
        manager.clear()


def test_durable_false_and_mapped_task_groups_cannot_start_in_the_triggerer() -> None:
    """Found by the audit: durable=False kept no markers (a triggerer restart paid again), and a
    task in a mapped task group read its group's argument as nothing."""
    with pytest.raises(ValueError, match="durable=False keeps no markers"):
        VideoGenerationOperator(task_id="a", model="veo3.1-fast", prompt="x", durable=False, start_from_trigger=True)
    from airflow.sdk import task_group

    with DAG("d", schedule=None, start_date=START):

        @task_group
        def per_seed(seed: int) -> None:
            VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="x", seed=seed, start_from_trigger=True)

        with pytest.raises(ValueError, match="mapped task group"):
            per_seed.expand(seed=[1, 2])


def test_a_retry_or_a_clear_is_handed_to_a_worker() -> None:
    """A retry may find its markers in the task state store (the DAG switched modes): only a worker reads both."""
    from types import SimpleNamespace

    trigger = VideoStartTrigger(operator_class="airflow_provider_videogen.operators.videogen.VideoGenerationOperator")
    trigger.task_instance = SimpleNamespace(  # type: ignore[assignment]
        dag_id="d", run_id="r", task_id="gen", map_index=-1, try_number=2
    )
    trigger._context = {}
    with pytest.raises(CannotStartInTriggerer, match="a retry or a clear runs in a worker"):
        trigger._start()


def test_markers_of_either_mode_are_read_and_deleted_in_both_stores() -> None:
    from airflow_provider_videogen.operators.variable_store import EitherStore

    class Store(dict):  # type: ignore[type-arg]
        def set(self, key: str, value: Any, retention: Any = None) -> None:
            self[key] = value

        def delete(self, key: str) -> None:
            self.pop(key, None)

    primary, secondary = Store(), Store(in_flight={"phase": "sending"}, record={"id": "old"})
    either = EitherStore(primary, secondary)
    assert either.get("record") == {"id": "old"}  # the other mode's record is found
    either.set("record", {"id": "new"})
    assert primary["record"] == {"id": "new"}
    assert either.get("record") == {"id": "new"}
    either.delete("in_flight")  # answered: it must not survive in either store (a lock-out)
    assert "in_flight" not in secondary
    assert either.get("in_flight") is None
