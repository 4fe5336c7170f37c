"""The example DAGs' run parameters, as the trigger form renders them (issue 15, problems 1 and 3).

The form treats ``""`` as missing (Trigger greyed out), clamps a number to ``maximum`` silently,
does not enforce ``exclusiveMinimum`` (the API then answers with a raw JSON-schema 400), and
turns an ``enum`` into a drop-down labelled by ``values_display``.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import MODEL_SPECS
from airflow_provider_videogen.pipelines.prompts import MAX_VARIANTS, plan_variants, template_prompts

if TYPE_CHECKING:
    from types import ModuleType

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = ("videogen_pipeline", "videogen_daily")
ENUM_PARAMS = {
    "videogen_pipeline": ("model", "aspect_ratio", "remix_model"),
    "videogen_daily": ("model", "aspect_ratio"),
}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_params_{name}", DAGS / f"{name}.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=DAG_FILES)
def dag(request: pytest.FixtureRequest) -> Any:
    return load(request.param).dag


def schema(dag: Any, name: str) -> dict[str, Any]:
    return dict(dag.params.get_param(name).schema)


def test_every_param_has_a_description(dag: Any) -> None:
    missing = [name for name in dag.params if not dag.params.get_param(name).description]
    assert not missing, f"{dag.dag_id}: params without a description: {missing}"


def test_no_required_string_defaults_to_empty(dag: Any) -> None:
    """The form shows an empty required field in red and disables Trigger without saying why."""
    empty = [name for name, value in dag.params.items() if value == ""]
    assert not empty, f"{dag.dag_id}: empty defaults {empty}"


def test_known_value_sets_are_enums_with_labels(dag: Any) -> None:
    for name in ENUM_PARAMS[dag.dag_id]:
        spec = schema(dag, name)
        assert spec.get("enum"), f"{dag.dag_id}.{name} is free text"
        assert set(spec.get("values_display", {})) == set(spec["enum"]), f"{dag.dag_id}.{name} labels"
        assert dag.params[name] in spec["enum"]
    assert schema(dag, "model")["enum"] == list(MODEL_SPECS)


def test_poll_interval_has_a_minimum_the_form_enforces(dag: Any) -> None:
    spec = schema(dag, "poll_interval")
    assert spec.get("minimum", 0) > 0
    assert "exclusiveMinimum" not in spec


def test_variants_above_the_limit_are_refused_with_the_limit_not_clamped(dag: Any) -> None:
    spec = schema(dag, "variants")
    assert "maximum" not in spec, "a maximum makes the form clamp 50 to 20 without a word"
    assert str(MAX_VARIANTS) in dag.params.get_param("variants").description
    with pytest.raises(InvalidRequestError, match=rf"variants=50; allowed: 1 to {MAX_VARIANTS}"):
        template_prompts("a kite", 50)


def test_batch_size_defaults_to_one_task_per_clip_and_is_refused_above_the_limit_not_clamped(dag: Any) -> None:
    from airflow_provider_videogen.operators.batch import MAX_BATCH_SIZE

    spec = schema(dag, "batch_size")
    assert (dag.params["batch_size"], spec["minimum"]) == (0, 0)
    assert "maximum" not in spec, "the plan task refuses a batch_size above the limit, with the limit"
    assert str(MAX_BATCH_SIZE) in dag.params.get_param("batch_size").description
    # The planning task refuses more, naming the param and the range, before it reads or sends anything.
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_videogen.spend.backfill import _RecordingTI

    plan_task = next(t for t in dag.tasks if t.task_id in ("plan_day", "plan_prompts"))
    ti = _RecordingTI(dag_id=dag.dag_id, task_id=plan_task.task_id, run_id="r")
    params = {**dag.params, "batch_size": MAX_BATCH_SIZE + 1}
    context = {"params": params, "ds": "2026-03-01", "ti": ti, "run_id": "r"}
    kwargs = {k: v for k, v in context.items() if k in inspect.signature(plan_task.python_callable).parameters}
    with pytest.raises(
        AirflowFailException, match=rf"batch_size={MAX_BATCH_SIZE + 1}; allowed: 0 .* to {MAX_BATCH_SIZE}"
    ):
        plan_task.python_callable(**kwargs)
    assert ti.pushed == {}


def test_the_pipeline_triggers_with_its_defaults_and_keeps_inline_frames() -> None:
    dag = load("videogen_pipeline").dag
    dag.params.validate()  # what the API does with the form's defaults
    assert dag.params["frame_store"] == "inline"


def test_variant_numbering_is_zero_based_in_plan_errors() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        plan_variants(["fine", "x" * 5000], model="veo3.1-fast")
    assert "variant 1" in str(caught.value)
    assert "variant 2" not in str(caught.value)
