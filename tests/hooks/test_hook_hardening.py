"""The hook against a hostile gateway and a careless user (issue 13, points 4, 5, 8, 9, 10, 11, 16, 19).

Every case is produced by the simulator over loopback (its ``next_responses`` faults: a raw
``body``, ``pad_bytes`` of JSON whitespace streamed without a length, ``trickle_seconds``), or
by a connection a user could write.
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.exceptions import (
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    VideoGenConnectionError,
    VideoGenError,
)
from airflow_provider_videogen.hooks.connection_form import CONN_FIELDS
from airflow_provider_videogen.hooks.extras import ConnectionExtras
from airflow_provider_videogen.hooks.transport import MAX_JSON_BODY_BYTES
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_videogen.simulator import SimulatorServer

SECRET = "sk-HARDENING-4f1d8e2b9a"
TASK_ID = "task-unified-1795000000-abcdefgh"
TASK_PATH = "/v1/tasks/"


def connect(
    monkeypatch: pytest.MonkeyPatch, simulator: SimulatorServer, *, password: str = SECRET, **extra: Any
) -> VideoGenHook:
    simulator.configure(api_keys=[SECRET])
    conn = {
        "conn_type": "videogen",
        "host": simulator.url,
        "password": password,
        "extra": {"retry_backoff": 0.01, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_HARD", json.dumps(conn))
    return VideoGenHook("videogen_hard")


def answer(body: Any, *, status: int = 200, method: str = "GET", path: str = TASK_PATH, **fault: Any) -> None:
    """A fault entry answering the next matching request with ``body`` (a dict is JSON-encoded)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {"status": status, "method": method, "path": path, "body": text, **fault}  # type: ignore[return-value]


@contextmanager
def peak_memory() -> Iterator[Callable[[], int]]:
    """Peak bytes Python allocated inside the block (tracemalloc): what reading an answer cost."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    result: list[int] = []
    try:
        yield lambda: result[0]
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def processing_task() -> dict[str, Any]:
    return {"id": TASK_ID, "model": "veo3.1-fast", "status": "processing", "progress": 40}


# ---- point 4: a key with surrounding whitespace works; inner control characters are refused unseen ---


def test_key_with_trailing_newline_is_stripped(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = connect(monkeypatch, simulator, password=f"  {SECRET}\n")
    with pytest.raises(NotFoundError):  # authenticated (401 otherwise), then "no such task"
        hook.get_generation(TASK_ID)
    assert hook.settings.api_key == SECRET


@pytest.mark.parametrize("bad", [f"{SECRET[:6]}\n{SECRET[6:]}", f"{SECRET}\x00x", f"{SECRET[:4]} {SECRET[4:]}"])
def test_key_with_inner_control_character_is_refused_without_showing_it(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    hook = connect(monkeypatch, simulator, password=bad)
    ok, message = hook.test_connection()
    assert not ok
    assert "API key contains" in message
    with pytest.raises(VideoGenError) as info:
        hook.get_generation(TASK_ID)
    for text in (str(info.value), repr(info.value), message):
        assert SECRET[:6] not in text
        assert SECRET[6:] not in text
    assert simulator.stats()["requests"]["total"] == 0


# ---- point 5: whatever the gateway echoes, the key does not leave the hook ---------------------


def test_key_echoed_in_error_fields_is_redacted(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0)
    error = {"error": {"code": f"bad_{SECRET}", "message": "no", "param": SECRET, "fallback_suggestion": SECRET}}
    simulator.configure(next_responses=[answer(error, status=400)])
    with pytest.raises(VideoGenError) as info:
        hook.get_generation(TASK_ID)
    exc = info.value
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc)
    assert all(SECRET not in str(value) for value in vars(exc).values())


@pytest.mark.parametrize(
    "body",
    [
        f"<html>Authorization: Bearer {SECRET}</html>",  # unparseable 2xx
        json.dumps({"id": TASK_ID, "status": f"weird-{SECRET}"}),  # parseable, unknown status
        json.dumps({"id": TASK_ID, "status": "processing", "model": {"echo": SECRET}}),
    ],
    ids=["not json", "unknown status", "bad field"],
)
def test_key_in_a_2xx_body_is_redacted(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0)
    simulator.configure(next_responses=[answer(body)])
    with pytest.raises(InvalidResponseError) as info:
        hook.get_generation(TASK_ID)
    assert SECRET not in str(info.value)


def test_key_in_a_failed_task_and_a_chat_answer_is_redacted(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator)
    failed = {"id": TASK_ID, "status": "failed", "error": {"code": "upstream_error", "message": f"key {SECRET}"}}
    chat = {"choices": [{"message": {"role": "assistant", "content": f"Your key is {SECRET}."}}]}
    simulator.configure(next_responses=[answer(failed), answer(chat, method="POST", path="/v1/chat/")])
    task = hook.get_generation(TASK_ID)
    assert task.state is TaskState.FAILED
    assert SECRET not in task.model_dump_json()
    reply = hook.chat_completion([{"role": "user", "content": "hi"}], model="gpt-4o-mini")
    assert reply == "Your key is ***."


# ---- point 8: JSON answers are capped and read as a stream ---------------------------------------


def test_an_oversized_answer_is_refused_after_the_cap(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0)
    pad = 16 * MAX_JSON_BODY_BYTES  # valid JSON: whitespace, then a task (more than loopback buffers hold)
    simulator.configure(next_responses=[answer(processing_task(), pad_bytes=pad)])
    with peak_memory() as peak, pytest.raises(InvalidResponseError, match="larger than 4 MiB"):
        hook.get_generation(TASK_ID)
    assert peak() < 4 * MAX_JSON_BODY_BYTES  # read up to the cap, not the 64 MiB answer


def test_an_oversized_answer_is_refused_on_the_async_path(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0)
    simulator.configure(next_responses=[answer(processing_task(), pad_bytes=16 * MAX_JSON_BODY_BYTES)])
    with peak_memory() as peak, pytest.raises(InvalidResponseError, match="larger than"):
        asyncio.run(hook.aget_task(ApiKind.GENERATION, TASK_ID))
    assert peak() < 4 * MAX_JSON_BODY_BYTES


# ---- point 9: a trickling answer cannot hold a query past its time limit or the deadline --------


def test_a_trickling_answer_is_cut_at_the_query_time_limit(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0, query_timeout=0.5, timeout=5)
    simulator.configure(next_responses=[answer(processing_task(), trickle_seconds=0.1)])  # ~9 s in all
    with pytest.raises(VideoGenConnectionError, match="TotalTimeout"):
        hook.get_generation(TASK_ID)
    assert "trickle_completed" not in simulator.stats()["faults"]


def test_a_trickling_answer_is_cut_at_the_callers_deadline(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator, max_retries=3, timeout=5)
    simulator.configure(next_responses=[answer(processing_task(), trickle_seconds=0.1, times=4)])
    with pytest.raises(VideoGenConnectionError):
        asyncio.run(hook.aget_task(ApiKind.GENERATION, TASK_ID, deadline=time.time() + 0.5))
    faults = simulator.stats()["faults"]
    assert "trickle_completed" not in faults
    assert faults["next_responses"] == 1  # no retry after the deadline


# ---- point 10: numbers that overflow are an invalid answer, not a raw crash ----------------------


@pytest.mark.parametrize(
    "raw",
    [
        f'{{"id": "{TASK_ID}", "status": "processing", "progress": 1{"0" * 400}}}',
        f'{{"id": "{TASK_ID}", "status": "processing", "created": 1e20}}',
        f'{{"id": "{TASK_ID}", "status": "processing", "task_info": {{"estimated_time": 1e400}}}}',
    ],
    # credits_reserved 10**400 leaves the answer readable (tests/spend/test_amounts.py): it may be a paid create's
    ids=["progress 10**400", "created 1e20", "estimated_time 1e400"],
)
def test_overflowing_numbers_are_invalid_responses(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0)
    simulator.configure(next_responses=[answer(raw)])
    try:
        task = hook.get_generation(TASK_ID)
    except InvalidResponseError:
        return
    assert task.progress == 100  # progress 10**400 is clamped, like any large progress


def test_an_overflowing_create_answer_is_uncertain_and_names_the_id(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator)
    raw = f'{{"id": "{TASK_ID}", "status": "pending", "created": 1e20}}'
    simulator.configure(next_responses=[answer(raw, method="POST", path="/v1/videos/generations")])
    with pytest.raises(InvalidResponseError) as info:
        hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    assert info.value.submission_uncertain
    assert TASK_ID in str(info.value)


# ---- point 11: connection extras are validated, and the form says the same ------------------------


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"pool_size": 0}, ["pool_size", ">= 1"]),
        ({"pool_size": "0"}, ["pool_size", ">= 1"]),
        ({"timeout": "30s"}, ["timeout", "30s", "number"]),
        ({"retry_backoff": -1}, ["retry_backoff", ">= 0"]),
        ({"query_timeout": "nan"}, ["query_timeout", "finite"]),
        ({"max_retries": 2.5}, ["max_retries"]),
        ({"verify_ssl": "maybe"}, ["verify_ssl"]),
        ({"cancel_path": "v1/x"}, ["cancel_path"]),
    ],
)
def test_bad_extras_are_refused_naming_the_extra_and_range(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], names: list[str]
) -> None:
    hook = connect(monkeypatch, simulator, **extra)
    with pytest.raises(VideoGenError) as info:
        hook.get_generation(TASK_ID)
    for name in names:
        assert name in str(info.value)
    assert simulator.stats()["requests"]["total"] == 0


def test_numbers_as_strings_and_blank_fields_are_accepted(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator, pool_size="3", timeout="12.5", verify_ssl="false", cancel_path="")
    settings = hook.settings
    assert (settings.pool_size, settings.timeout, settings.verify_ssl, settings.cancel_path) == (3, 12.5, False, None)


def test_the_form_schema_agrees_with_the_model() -> None:
    fields = ConnectionExtras.model_fields
    assert set(CONN_FIELDS) <= set(fields)
    assert CONN_FIELDS["pool_size"]["schema"]["minimum"] == 1
    assert CONN_FIELDS["retry_backoff"]["schema"]["minimum"] == 0
    assert CONN_FIELDS["timeout"]["schema"]["exclusiveMinimum"] == 0
    assert CONN_FIELDS["max_retries"]["schema"]["type"] == ["integer", "null"]
    assert CONN_FIELDS["verify_ssl"]["schema"]["type"] == ["boolean", "null"]
    for name, spec in CONN_FIELDS.items():
        assert spec["label"] == fields[name].title
        assert spec["description"] == fields[name].description


# ---- point 16: remote ids cannot steer the authenticated request elsewhere -----------------------


@pytest.mark.parametrize("task_id", ["../../videos/generations", "a/b", "..", "x?y=1", "", "task\n1", "%2e%2e"])
def test_unsafe_task_ids_are_refused_before_any_request(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, task_id: str
) -> None:
    hook = connect(monkeypatch, simulator)
    with pytest.raises(InvalidRequestError, match="task_id"):
        hook.get_generation(task_id)
    with pytest.raises(InvalidRequestError, match="task_id"):
        asyncio.run(hook.aget_task(ApiKind.REMIX, task_id))
    assert simulator.stats()["requests"]["total"] == 0


# ---- point 19: the Test button says what it verified -------------------------------------------


def test_connection_on_404_says_what_was_and_was_not_checked(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = connect(monkeypatch, simulator).test_connection()
    assert ok
    assert "API key was accepted" in message
    assert "Not checked" in message


def test_connection_on_400_does_not_claim_the_key_was_accepted(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator)
    simulator.configure(next_responses=[{"status": 400, "method": "GET"}])
    ok, message = hook.test_connection()
    assert not ok
    assert "could not be verified" in message
    assert "was accepted" not in message


def test_connection_with_a_wrong_key(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = connect(monkeypatch, simulator, password="sk-wrong-key-1234")
    ok, message = hook.test_connection()
    assert not ok
    assert "refused the API key" in message
    assert "sk-wrong-key-1234" not in message


def test_a_deeply_nested_answer_is_an_invalid_response(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, simulator, max_retries=0)
    simulator.configure(next_responses=[answer('{"a": ' * 900 + "1" + "}" * 900)])
    with pytest.raises(InvalidResponseError):
        hook.get_generation(TASK_ID)
