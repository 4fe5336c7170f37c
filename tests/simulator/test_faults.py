"""Fault injection: prompt directives and gateway-wide faults."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import ValidationError

from airflow_provider_videogen.models import TaskState, VideoTask
from tests.simulator.helpers import poll_until

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

VEO = "veo3.1-fast"


def create(client: httpx.Client, prompt: str = "a cat", **fields: object) -> httpx.Response:
    return client.post("/v1/videos/generations", json={"model": VEO, "prompt": prompt, **fields})


# ---- directives ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["content_policy_violation", "generation_timeout", "request_cancelled"])
def test_fail_directive_fails_the_task_with_that_code(client: httpx.Client, code: str) -> None:
    task_id = create(client, f"a cat [sim:fail={code}] [sim:render=0.4]").json()["id"]

    final = poll_until(client, f"/v1/tasks/{task_id}", lambda body: body["status"] != "pending" and
                       body["status"] != "processing")[-1]  # fmt: skip

    assert final["status"] == "failed"
    assert final["error"]["code"] == code
    assert final["error"]["message"]
    assert "results" not in final
    assert final["completed_at"] >= final["created"]
    task = VideoTask.from_generation_response(final)
    expected = TaskState.CANCELLED if code == "request_cancelled" else TaskState.FAILED
    assert task.state is expected
    assert task.error_code == code


def test_render_directive_is_exact_and_not_scaled(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(time_scale=100.0)
    started = time.monotonic()
    task_id = create(client, "a cat [sim:render=0.3]").json()["id"]

    poll_until(client, f"/v1/tasks/{task_id}", lambda body: body["status"] == "completed")

    assert 0.3 <= time.monotonic() - started < 3
    slow = create(client, "a dog").json()
    assert slow["task_info"]["estimated_time"] == 100  # 1 s x time_scale 100


def test_create_status_directive_creates_the_task_but_answers_500(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    response = create(client, "a cat [sim:create_status=500]")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    stats = simulator.stats()
    assert (stats["generation"]["creates"], stats["generation"]["creates_accepted"]) == (1, 1)
    assert stats["faults"] == {"create_status": 1}
    (task_id,) = stats["tasks"]
    assert stats["generation_requests"][0]["task_id"] == task_id
    assert stats["generation_requests"][0]["status_code"] == 500
    assert client.get(f"/v1/tasks/{task_id}").status_code == 200  # the task exists all the same


def test_hold_answer_directive_counts_the_create_before_answering(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    """The window a worker can die in: the task exists and is billed, its id not yet sent."""
    answers: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answers.append(create(client, "a cat [sim:hold_answer=5]")))
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while simulator.stats()["generation"]["creates_accepted"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = simulator.stats()
        assert stats["generation"]["creates_accepted"] == 1
        assert not answers, "the answer came before the hold was over"
    finally:
        sender.join(timeout=15)
    assert len(answers) == 1
    assert answers[0].status_code == 200
    assert answers[0].json()["id"] == stats["generation_requests"][0]["task_id"]


def test_progress_stall_never_finishes(client: httpx.Client) -> None:
    task_id = create(client, "a cat [sim:render=0.2] [sim:progress_stall=30]").json()["id"]
    time.sleep(0.4)

    body = client.get(f"/v1/tasks/{task_id}").json()

    assert (body["status"], body["progress"]) == ("processing", 30)


def test_result_data_and_empty_results_directives(client: httpx.Client) -> None:
    shaped = create(client, "a [sim:render=0] [sim:result_data]").json()["id"]
    empty = create(client, "a [sim:render=0] [sim:empty_results]").json()["id"]

    shaped_body = client.get(f"/v1/tasks/{shaped}").json()
    empty_body = client.get(f"/v1/tasks/{empty}").json()

    assert "results" not in shaped_body
    assert VideoTask.from_generation_response(shaped_body).video_urls == [shaped_body["result_data"][0]["video_url"]]
    assert empty_body["results"] == []


@pytest.mark.parametrize("prompt", ["a [sim:render=fast]", "a [sim: render=1]", "a [sim:extend_fail]"])
def test_bad_directives_are_refused(client: httpx.Client, prompt: str) -> None:
    response = create(client, prompt)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"


# ---- gateway-wide faults ------------------------------------------------------------------


def test_next_responses_answer_in_order_with_retry_after(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(next_responses=[{"status": 429, "retry_after": 2}, {"status": 503, "times": 2}])
    assert simulator.stats()["pending_responses"][1]["remaining"] == 2

    answers = [create(client) for _ in range(4)]

    assert [a.status_code for a in answers] == [429, 503, 503, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert answers[0].json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" not in answers[1].headers
    stats = simulator.stats()
    assert (stats["generation"]["creates_accepted"], stats["generation"]["creates_rejected"]) == (1, 3)
    assert stats["faults"] == {"next_responses": 3}
    assert stats["pending_responses"] == []
    assert len(stats["tasks"]) == 1  # faulted creates made no task


def test_next_responses_filter_by_method_and_path(client: httpx.Client, simulator: SimulatorServer) -> None:
    task_id = create(client).json()["id"]
    simulator.configure(next_responses=[{"status": 502, "method": "GET", "path": "/v1/tasks/"}])

    assert create(client).status_code == 200  # a POST does not match
    assert client.get(f"/v1/tasks/{task_id}").status_code == 502
    assert client.get(f"/v1/tasks/{task_id}").status_code == 200


def test_streamed_answers_read_to_their_end_are_counted_by_kind(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    task_id = create(client).json()["id"]
    simulator.configure(
        next_responses=[
            {"status": 200, "method": "GET", "body": '{"a": 1}', "pad_bytes": 1000},
            {"status": 200, "method": "GET", "body": '{"a": 1}', "trickle_seconds": 0.01},
        ]
    )
    assert client.get(f"/v1/tasks/{task_id}").json() == {"a": 1}
    assert client.get(f"/v1/tasks/{task_id}").json() == {"a": 1}
    deadline = time.monotonic() + 10
    while "trickle_completed" not in (faults := simulator.stats()["faults"]) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server counts a stream's end after its last byte is sent
    assert faults["stream_completed"] == 1
    assert faults["trickle_completed"] == 1


def test_after_create_fault_creates_the_task(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(next_responses=[{"status": 504, "method": "POST", "after_create": True}])

    assert create(client).status_code == 504

    stats = simulator.stats()
    assert stats["generation"]["creates_accepted"] == 1
    assert len(stats["tasks"]) == 1


def test_remix_429_is_localized(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(next_responses=[{"status": 429, "retry_after": 1}])

    response = client.post("/v1/videos", files={"model": (None, "veo_3_1-fast-remix")})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "稍后再试" in response.json()["error"]["message"]
    assert simulator.stats()["remix"]["creates_rejected"] == 1


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [("html", 200, "text/html"), ("html_502", 502, "text/html"), ("truncated", 200, "application/json")],
)
def test_malformed_answers(
    client: httpx.Client, simulator: SimulatorServer, kind: str, status: int, content_type: str
) -> None:
    task_id = create(client).json()["id"]
    simulator.configure(next_responses=[{"malformed": kind}])

    response = client.get(f"/v1/tasks/{task_id}")

    assert response.status_code == status
    assert response.headers["content-type"].startswith(content_type)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    if kind == "truncated":
        assert response.text.startswith('{"created":')
    assert client.get(f"/v1/tasks/{task_id}").status_code == 200  # used up


def test_global_malformed_also_applies_to_creates_which_still_happen(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    simulator.configure(malformed="truncated")

    response = create(client)

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert simulator.stats()["generation"]["creates_accepted"] == 1


def test_get_status_makes_every_query_fail(client: httpx.Client, simulator: SimulatorServer) -> None:
    task_id = create(client).json()["id"]
    simulator.configure(get_status=503)

    assert [client.get(f"/v1/tasks/{task_id}").status_code for _ in range(3)] == [503, 503, 503]
    assert create(client).status_code == 200  # POSTs are not affected
    assert simulator.stats()["faults"]["get_status"] == 3


def test_random_rates_are_reproducible_with_a_seed(client: httpx.Client, simulator: SimulatorServer) -> None:
    task_id = create(client).json()["id"]

    def run() -> list[int]:
        simulator.configure(seed=7, rate_503=0.5, retry_after_seconds=3)
        return [client.get(f"/v1/tasks/{task_id}").status_code for _ in range(20)]

    first, second = run(), run()

    assert first == second
    assert set(first) == {200, 503}
    simulator.configure(rate_503=0.0, rate_429=1.0)
    limited = client.get(f"/v1/tasks/{task_id}")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")


def test_slow_seconds_delays_answers(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(slow_seconds=0.3)
    started = time.monotonic()

    assert create(client).status_code == 200

    assert time.monotonic() - started >= 0.3


def test_control_routes_never_show_keys(simulator: SimulatorServer) -> None:
    with httpx.Client(base_url=simulator.url, headers={"Authorization": f"Bearer {simulator.api_key}"}) as control:
        changed = control.post("/_sim/config", json={"rate_500": 1.0, "api_keys": ["secret-one"]})
        assert changed.status_code == 200
        assert changed.json()["rate_500"] == 1.0
        assert "secret-one" not in changed.text
        control.headers["Authorization"] = "Bearer secret-one"  # the control routes follow the new key
        assert "secret-one" not in control.get("/_sim/config").text
        assert changed.json()["api_key_count"] == 1

        bad = control.post("/_sim/config", json={"rate_5000": 1})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "rate_5000"

        assert control.get("/v1/tasks/task-unified-1-x").status_code == 500
        assert control.get("/_sim/stats").status_code == 200  # never faulted

        assert control.post("/_sim/reset").json() == {"status": "ok"}
        control.headers["Authorization"] = "Bearer sim-key"  # reset: back to the construction settings
        assert control.get("/_sim/config").json()["rate_500"] == 0.0
        assert control.get("/_sim/health").json() == {"status": "ok"}
    assert simulator.api_key == "sim-key"


def test_configure_refuses_unknown_settings(simulator: SimulatorServer) -> None:
    with pytest.raises(ValidationError):
        simulator.configure(rate_4299=1.0)
    with pytest.raises(ValidationError):
        simulator.configure(remix_shape="xml")


def test_reset_clears_tasks_stats_and_faults(client: httpx.Client, simulator: SimulatorServer) -> None:
    create(client)
    simulator.configure(next_responses=[{"status": 500, "times": 5}], render_seconds=99)

    simulator.reset()

    stats = simulator.stats()
    assert stats["tasks"] == {}
    assert stats["generation"]["creates"] == 0
    assert stats["pending_responses"] == []
    assert simulator.config.render_seconds == 1.0
    assert create(client).status_code == 200


def test_fail_prompts_containing_fails_only_the_matching_task(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(fail_prompts_containing={"second shot": "content_policy_violation"})
    first = create(client, "a harbour, first shot [sim:render=0.2]").json()["id"]
    second = create(client, "a harbour, second shot [sim:render=0.2]").json()["id"]

    finals = {
        task_id: poll_until(client, f"/v1/tasks/{task_id}", lambda body: body["status"] in ("completed", "failed"))[-1]
        for task_id in (first, second)
    }

    assert finals[first]["status"] == "completed"
    assert finals[second]["status"] == "failed"
    assert finals[second]["error"]["code"] == "content_policy_violation"
    assert simulator.stats()["generation"]["creates_accepted"] == 2  # created (and billed) all the same
