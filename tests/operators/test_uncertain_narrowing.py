"""What counts as an uncertain submission: only a create whose first byte may have left (issue 24 point 4).

The in-flight marker is written "prepared" once the request is built and "sending" right before
its first byte can leave (the hook's ``wire_trace``, after the connection is opened). A try killed
in between leaves a "prepared" marker: the gateway received nothing, so the retry submits, once.
A try that dies or loses its answer after that still makes every retry refuse. The operator runs
against the simulator over loopback; a "kill" is a ``BaseException`` raised by the store write.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.hooks.wire import traces_connections, wire_trace
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, InFlightMarker, decide
from tests.operators.test_submission_money import Store, accepted, run_try

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


class Killed(BaseException):
    """SIGKILL, as far as the code under test can tell: nothing after it runs."""


class KilledWhenSending(Store):
    """The process dies while writing the marker's "sending" phase: before the request's first byte."""

    def __init__(self, simulator: SimulatorServer) -> None:
        super().__init__()
        self.simulator = simulator
        self.creates_seen_when_sending: list[int] = []

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        if key == IN_FLIGHT_KEY and value.get("phase") == "sending":
            self.creates_seen_when_sending.append(accepted(self.simulator))
            raise Killed
        super().set(key, value, retention)


def test_a_try_killed_before_its_first_byte_lets_the_retry_submit_exactly_once(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    dying = KilledWhenSending(simulator)
    with pytest.raises(Killed):
        run_try(dying, 1, "a heron")
    assert dying.creates_seen_when_sending == [0]  # the connection was open, the create not yet sent
    assert accepted(simulator) == 0
    marker = dying.get(IN_FLIGHT_KEY)
    assert marker["phase"] == "prepared"
    assert marker["model"] == "veo3.1-fast"
    assert marker["api"] == "generation"

    store = Store()
    store.rows = dict(dying.rows)  # the next try, in a process that lives
    result = run_try(store, 2, "a heron")
    assert result["id"].startswith("task-unified-")
    assert accepted(simulator) == 1
    assert store.get(IN_FLIGHT_KEY) is None


def test_the_sending_phase_is_stored_before_the_gateway_receives_the_create(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    phases: list[tuple[str, int]] = []

    class Watching(Store):
        def set(self, key: str, value: Any, retention: Any = None) -> None:
            if key == IN_FLIGHT_KEY:
                phases.append((value["phase"], accepted(simulator)))
            super().set(key, value, retention)

    run_try(Watching(), 1, "an owl")
    assert phases == [("prepared", 0), ("sending", 0)]
    assert accepted(simulator) == 1


def test_a_lost_answer_after_sending_still_refuses_the_retry(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    simulator.configure(next_responses=[{"status": 502, "method": "POST", "after_create": True}])
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        run_try(store, 1, "a crane")
    assert store.get(IN_FLIGHT_KEY)["phase"] == "sending"
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it") as info:
        run_try(store, 2, "a crane")
    assert "python -m airflow_provider_videogen.uncertain list --dag-id" in str(info.value)  # the bulk way out
    assert accepted(simulator) == 1


# ---- the rule and the hook's part, without a gateway ---------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_only_a_prepared_marker_is_ignored_and_a_marker_without_phase_stays_uncertain() -> None:
    prepared = InFlightMarker(fingerprint="p", started_at=NOW, try_number=1, phase="prepared")
    decision = decide(None, prepared, None, "p")
    assert decision.action == "submit"
    assert "stopped before sending any of it" in decision.reason
    older = InFlightMarker.model_validate({"fingerprint": "p", "started_at": NOW.isoformat(), "try_number": 1})
    assert older.phase == "sending"
    assert decide(None, older, None, "p").action == "refuse"


def test_the_wire_trace_fires_once_on_the_first_step_after_connecting() -> None:
    fired: list[str] = []
    trace = wire_trace(lambda: fired.append("x"))
    for event in ("connection.connect_tcp.started", "connection.connect_tcp.complete", "connection.start_tls.started"):
        trace(event, {})
    assert fired == []
    trace("http11.send_request_headers.started", {})
    trace("http11.send_request_body.started", {})
    assert fired == ["x"]
    proxied = wire_trace(lambda: fired.append("proxy"))
    proxied("proxy.connect_tcp.complete", {})  # not a step this module knows: counts as sending
    assert fired == ["x", "proxy"]


def test_a_transport_that_does_not_report_its_steps_counts_as_sending_at_once() -> None:
    url = httpx.URL("http://gateway.test/v1/videos/generations")
    assert traces_connections(httpx.Client(), url)
    assert not traces_connections(httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))), url)
