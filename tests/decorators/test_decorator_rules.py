"""The decorators' rules that need no DAG run: parse-time checks, result shapes, stored references."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_videogen.decorators.remix import storable_references
from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import GenerationRequest, RemixReference

ROOT = Path(__file__).resolve().parents[2]
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cf00000301010018dd8db00000000049454e44ae426082"
)


def test_a_dag_file_with_an_invalid_literal_fails_to_parse_naming_field_value_and_range() -> None:
    from airflow.dag_processing.dagbag import DagBag

    path = ROOT / "tests" / "dag_files" / "decorators" / "invalid_literal_dag.py"
    bag = DagBag(dag_folder=str(path))
    (error,) = bag.import_errors.values()
    assert "duration=99 is not allowed for veo3.1-fast; allowed: one of 4, 6, 8 seconds" in error


@pytest.mark.parametrize(
    ("decorator", "kwargs", "expected"),
    [
        ("videogen", {"model": "veo3.1-fast", "n": 9}, "n=9"),
        ("videogen", {"model": "veo3.1-fast", "max_credits": -1}, "max_credits"),
        ("videogen", {"model": "veo3.1-fast", "poll_interval": 0}, "poll_interval=0"),
        ("videogen_remix", {"model": "veo_3_1-fast-remix", "size": "1280*720"}, "size='1280*720'"),
        ("videogen_remix", {"model": "veo_3_1-fast-fl-remix", "input_references": ["a.gif"]}, "a.gif"),
    ],
)
def test_literal_arguments_are_checked_when_the_decorator_is_applied(
    decorator: str, kwargs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        getattr(task, decorator)(**kwargs)


def test_templated_or_missing_values_wait_for_execute() -> None:
    task.videogen(model="veo3.1-fast", duration="{{ params.duration }}")
    task.videogen(duration=99)  # no model yet: the function returns it, the request is checked then
    task.videogen_remix(model="veo_3_1-fast-fl-remix", input_references="{{ params.first_frame }}")


def operator(decorator: str, **kwargs: Any) -> Any:
    with DAG(f"rules_{decorator}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @getattr(task, decorator)(**kwargs)
        def make() -> str:
            return "unused"

        make()
    return dag.task_dict["make"]


def test_the_function_result_shapes() -> None:
    op = operator("videogen", model="veo3.1-fast", duration=8)
    assert op.fields_from_result("A cat") == {"prompt": "A cat"}
    assert op.fields_from_result({"prompt": "A cat", "seed": 3}) == {"prompt": "A cat", "seed": 3}
    whole = op.fields_from_result(GenerationRequest(model="veo3.1", prompt="A dog"))
    assert whole["model"] == "veo3.1"
    assert whole["duration"] is None  # a whole request is used as it is: the decorator's 8 s is not merged
    with pytest.raises(InvalidRequestError, match="'promt' is not a request field"):
        op.fields_from_result({"promt": "typo"})
    with pytest.raises(InvalidRequestError, match="the function returned int; return a prompt string"):
        op.fields_from_result(42)


def test_remix_references_are_kept_in_a_form_that_rebuilds_the_same_request(tmp_path: Path) -> None:
    image = tmp_path / "first.png"
    image.write_bytes(PNG)
    stored = storable_references([image, PNG, RemixReference.from_bytes(PNG), "https://example.com/a.png"])
    assert stored[0] == str(image)
    assert stored[1] == stored[2]
    assert stored[1].startswith("data:image/png;base64,")
    assert stored[3] == "https://example.com/a.png"
    with pytest.raises(InvalidRequestError, match="input_references #1"):
        storable_references([object()])


def test_a_dict_annotation_describes_the_request_and_does_not_unroll_the_result() -> None:
    with DAG("rules_outputs", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.videogen(model="veo3.1-fast")
        def make() -> dict[str, Any]:
            return {"prompt": "A cat"}

        make()
    assert dag.task_dict["make"].multiple_outputs is False


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # Each passed before: the create was sent, then the wait deadline crashed (nan, inf) or had
        # already passed (negative): a paid video nobody waited for.
        ({"timeout": float("nan")}, "timeout=nan"),
        ({"timeout": float("inf")}, "timeout=inf"),
        ({"timeout": -5}, "timeout=-5"),
        ({"timeout": "an hour"}, "timeout='an hour'"),
        ({"max_poll_interval": float("nan")}, "max_poll_interval=nan"),
        ({"max_poll_interval": float("inf")}, "max_poll_interval=inf"),
    ],
)
def test_hostile_timing_literals_are_refused_at_parse_naming_field_and_value(
    kwargs: dict[str, Any], expected: str
) -> None:
    from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

    with pytest.raises(ValueError, match=re.escape(expected)):
        task.videogen(model="veo3.1-fast", **kwargs)  # mapped tasks build no operator at parse
    with pytest.raises(ValueError, match=re.escape(expected)):
        VideoGenerationOperator(task_id="t", model="veo3.1-fast", prompt="x", **kwargs)


@pytest.mark.parametrize(
    ("decorator", "override", "expected"),
    [
        ("videogen", {"duration": 99}, "duration=99"),
        ("videogen", {"timeout": float("nan")}, "timeout=nan"),
        ("videogen", {"max_credits": -1}, "max_credits"),
        ("videogen_remix", {"size": "1280*720"}, "size='1280*720'"),
    ],
)
def test_override_does_not_bypass_the_literal_checks(decorator: str, override: dict[str, Any], expected: str) -> None:
    """Attack: ``.override()`` re-creates the decorator without the factory's parse check."""
    model = "veo3.1-fast" if decorator == "videogen" else "veo_3_1-fast-remix"

    @getattr(task, decorator)(model=model)
    def make() -> str:
        return "A heron"

    with (
        DAG("override_checks", schedule=None, start_date=datetime(2026, 1, 1)),
        pytest.raises(ValueError, match=re.escape(expected)),
    ):
        make.override(task_id="overridden", **override)()
