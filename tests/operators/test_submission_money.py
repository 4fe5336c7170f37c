"""No second bill: the in-flight marker, lost create answers, a lone 404, redirected creates (issue 13, 1-3).

The operator's ``execute`` runs against the simulator over loopback with an in-memory task state
store shared by the "tries" of one task instance (the store's get/set/delete, as Airflow's), so
each sequence of tries costs a few requests instead of a ``dag.test()`` per try.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.operators import reattach
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


class FakeTI:
    def __init__(self, try_number: int) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class Store:
    """The task state store's get/set/delete, in memory; one per task instance, shared by its tries."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.rows[key] = json.loads(json.dumps(value))  # stored as JSON, like the real store

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


def run_try(store: Store, try_number: int, prompt: str, **kwargs: Any) -> Any:
    op = VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt=prompt, duration=4, wait_for_completion=False, **kwargs
    )
    return op.execute({"ti": FakeTI(try_number), "task_state_store": store})  # type: ignore[arg-type]


def accepted(simulator: SimulatorServer) -> int:
    return int(simulator.stats()["generation"]["creates_accepted"])


def wait_ended(simulator: SimulatorServer, conn_id: str, task_id: str) -> None:
    from airflow_provider_videogen.hooks.videogen import VideoGenHook

    hook = VideoGenHook(conn_id)
    deadline = time.monotonic() + 30
    while not hook.get_generation(task_id).state.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)


# ---- point 1: a lost create answer is never ignored because an older record exists -------------


def test_lost_answer_after_an_earlier_failed_task_refuses_the_third_submission(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    prompt = "a cat [sim:fail=service_error] [sim:render=0.2]"
    first = run_try(store, 1, prompt)  # try 1: task A, which fails with a retryable code
    wait_ended(simulator, videogen_conn, first["id"])
    # try 2: the record says "A failed, submit"; the gateway accepts B but the answer is lost (502).
    simulator.configure(next_responses=[{"status": 502, "method": "POST", "after_create": True}])
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        run_try(store, 2, prompt)
    assert accepted(simulator) == 2
    assert store.get(IN_FLIGHT_KEY) is not None
    # try 3: task B may be rendering and billing; whatever the record of A says, do not pay a third time.
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it"):
        run_try(store, 3, prompt)
    assert accepted(simulator) == 2


def test_resubmit_policy_overrides_the_refusal(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    simulator.configure(next_responses=[{"status": 502, "method": "POST", "after_create": True}])
    with pytest.raises(AirflowFailException):
        run_try(store, 1, "a dog")
    result = run_try(store, 2, "a dog", on_uncertain_submission="resubmit")
    assert result["id"].startswith("task-unified-")
    assert accepted(simulator) == 2
    assert store.get(IN_FLIGHT_KEY) is None


def test_a_marker_left_by_a_crash_after_recording_is_recognised_as_answered(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    first = run_try(store, 1, "a fox [sim:render=30]")
    # The worker died between writing the record and deleting the marker: put the marker back.
    record = store.get(RECORD_KEY)
    store.set(
        IN_FLIGHT_KEY,
        {"fingerprint": record["fingerprint"], "started_at": record["marker_started_at"], "try_number": 1},
    )
    again = run_try(store, 2, "a fox [sim:render=30]")
    assert again["id"] == first["id"]  # re-attached, not refused and not paid again
    assert accepted(simulator) == 1


# ---- point 2: nothing written before the request is built; a provably unsent create leaves no marker


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        ({"extra": {"pool_size": 0}}, "pool_size"),
        ({"password": "sim-key\nsecond-line"}, "control character"),
        ({"host": "htps://127.0.0.1:9"}, "must be http:// or https://"),
    ],
    ids=["bad extra", "key with inner newline", "htps host"],
)
def test_local_configuration_errors_leave_no_marker(
    simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], match: str
) -> None:
    full = {"conn_type": "videogen", "host": simulator.url, "password": simulator.api_key, **conn}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_DEFAULT", json.dumps(full))
    store = Store()
    with pytest.raises(VideoGenError, match=match) as info:
        run_try(store, 1, "a cat")
    assert "may have reached the gateway" not in str(info.value)
    assert IN_FLIGHT_KEY not in store.rows
    assert simulator.stats()["requests"]["total"] == 0


def test_a_body_that_cannot_be_encoded_leaves_no_marker(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    with pytest.raises(VideoGenError, match=r"cannot be built.*nothing was sent"):
        run_try(store, 1, "a cat", extra_params={"guidance": float("nan")})
    assert IN_FLIGHT_KEY not in store.rows
    run_try(store, 2, "a cat", extra_params={"guidance": 1.5})  # the next try is not refused
    assert accepted(simulator) == 1


def test_a_refused_connection_deletes_the_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_videogen.testing.processes import free_ports

    conn = {"conn_type": "videogen", "host": f"http://127.0.0.1:{free_ports(1)[0]}", "password": "k"}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_DEFAULT", json.dumps({**conn, "extra": {"max_retries": 0}}))
    seen: list[Any] = []

    class Watching(Store):
        def set(self, key: str, value: Any, retention: Any = None) -> None:
            seen.append(key)
            super().set(key, value, retention)

    store = Watching()
    with pytest.raises(VideoGenError, match="ConnectError") as info:
        run_try(store, 1, "a cat")
    assert not info.value.submission_uncertain
    assert seen == [IN_FLIGHT_KEY]  # written right before sending...
    assert IN_FLIGHT_KEY not in store.rows  # ...and deleted: the connection was never established


# ---- point 3: one 404 is confirmed before resubmitting; a create is never redirected ------------


def test_a_single_404_for_the_stored_task_is_confirmed_before_resubmitting(
    simulator: SimulatorServer, videogen_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reattach, "NOT_FOUND_CONFIRM_DELAY", 0.01)
    store = Store()
    first = run_try(store, 1, "a heron [sim:render=30]")
    simulator.configure(next_responses=[{"status": 404, "method": "GET", "path": "/v1/tasks/"}])
    again = run_try(store, 2, "a heron [sim:render=30]")
    assert again["id"] == first["id"]
    assert accepted(simulator) == 1


def test_two_404s_resubmit(simulator: SimulatorServer, videogen_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reattach, "NOT_FOUND_CONFIRM_DELAY", 0.01)
    store = Store()
    first = run_try(store, 1, "a heron [sim:render=30]")
    simulator.configure(next_responses=[{"status": 404, "method": "GET", "path": "/v1/tasks/", "times": 2}])
    again = run_try(store, 2, "a heron [sim:render=30]")
    assert again["id"] != first["id"]
    assert accepted(simulator) == 2


def test_a_redirected_create_is_not_followed(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    target = simulator.url + "/v1/videos/generations"
    simulator.configure(next_responses=[{"status": 307, "method": "POST", "location": target}])
    with pytest.raises(VideoGenError, match="redirect") as info:
        run_try(store, 1, "a cat")
    assert not info.value.submission_uncertain
    assert simulator.stats()["generation"]["creates"] == 1  # one POST: the body was not posted again
    assert accepted(simulator) == 0
    assert IN_FLIGHT_KEY not in store.rows
