from __future__ import annotations

import pytest
from airflow.sdk._shared.logging.structlog import redact_jwt

from airflow_provider_videogen.testing.logs import as_logged


@pytest.mark.parametrize(
    "task_id",
    ["task_1uX733P5t70hFifQ2eyJnacWnx3ELznm", "task_plain0123456789", "eyJhbGciOi.eyJzdWIi.sig"],
)
def test_as_logged_is_what_airflows_log_pipeline_prints(task_id: str) -> None:
    event = {"event": f"Remote task {task_id}: running"}
    assert redact_jwt(None, "info", event)["event"] == f"Remote task {as_logged(task_id)}: running"


def test_an_id_without_a_jwt_start_is_printed_as_is() -> None:
    assert as_logged("task_plain0123456789") == "task_plain0123456789"
    assert as_logged("task_1uX733P5t70hFifQ2eyJnacWnx3ELznm") == "task_1uX733P5t70hFifQ2eyJ***"
