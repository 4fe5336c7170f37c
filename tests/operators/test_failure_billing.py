"""What a failed render costs, and what an unknown failure code means for money (issue 21 point 16).

The seeds document no refund: credits are reserved at create and the failure callback comes
"after billing is confirmed". So a failed render may be billed and every resubmission is a new
charge; an undocumented code is not resubmitted automatically (it used to count as retryable).
The README and the errors say it in the same words (``models.errors.FAILED_RENDER_BILLING``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import VideoTaskFailedError
from airflow_provider_videogen.models.errors import (
    FAILED_RENDER_BILLING,
    NON_RETRYABLE_TASK_ERRORS,
    TRANSIENT_TASK_ERRORS,
    TaskErrorKind,
    classify_task_error,
    is_retryable_task_error,
)
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

README = Path(__file__).resolve().parents[2] / "README.md"


class Store:
    """The task state store's get/set/delete, in memory (as ``test_submission_money``)."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.rows[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


class FakeTI:
    try_number = 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.mark.parametrize("code", sorted(NON_RETRYABLE_TASK_ERRORS))
def test_request_codes_are_not_retried(code: str) -> None:
    assert classify_task_error(code) is TaskErrorKind.REQUEST
    assert not is_retryable_task_error(code)


@pytest.mark.parametrize("code", sorted(TRANSIENT_TASK_ERRORS))
def test_documented_transient_codes_are_retried(code: str) -> None:
    assert classify_task_error(code) is TaskErrorKind.TRANSIENT
    assert is_retryable_task_error(code)


@pytest.mark.parametrize("code", [None, "", "mystery_code", "E-2003", "500", "Content_Policy_Violation"])
def test_unknown_codes_are_not_resubmitted_automatically(code: str | None) -> None:
    assert classify_task_error(code) is TaskErrorKind.UNKNOWN
    assert not is_retryable_task_error(code)


def test_an_unknown_failure_code_fails_without_retry_saying_what_a_resubmission_costs(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    simulator.configure(render_seconds=0.2)
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="a cat [sim:fail=mystery_code]",
        duration=4,
        deferrable=False,
        poll_interval=0.1,
        adaptive_polling=False,
    )
    with pytest.raises(AirflowFailException) as info:  # Airflow does not retry this exception
        op.execute({"ti": FakeTI(), "task_state_store": Store()})  # type: ignore[arg-type]
    text = str(info.value)
    assert "[mystery_code]" in text
    assert "not retried automatically" in text
    assert FAILED_RENDER_BILLING in text
    assert simulator.stats()["generation"]["creates"] == 1


@pytest.mark.parametrize(("code", "retryable"), [("content_policy_violation", False), ("service_error", True)])
def test_every_failure_text_states_the_same_cost(code: str, retryable: bool) -> None:
    text = str(VideoTaskFailedError("task-unified-1-abcdefgh", code, "no", retryable=retryable))
    assert text.endswith(FAILED_RENDER_BILLING)
    assert "would be billed again" not in text


def test_the_readme_says_what_the_errors_say_about_failed_renders() -> None:
    readme = re.sub(r"\s+", " ", README.read_text())
    assert FAILED_RENDER_BILLING.replace("A failed", "failed").rstrip(".") in readme.replace("A failed", "failed")
    for contradiction in ("does not bill failures", "failed generations are not billed", "failures are not billed"):
        assert contradiction not in readme


def test_no_module_says_a_failure_is_free() -> None:
    """The re-attach table and its decision text once said 'failures are not billed' (issue 21 point 16)."""
    package = Path(__file__).resolve().parents[2] / "airflow_provider_videogen"
    for source in package.rglob("*.py"):
        text = re.sub(r"\s+", " ", source.read_text())
        for contradiction in ("failures are not billed", "failure is not billed", "not billed for failures"):
            assert contradiction not in text, f"{source.name} says {contradiction!r}"
