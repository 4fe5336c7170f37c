"""A hostile pass over the batch mode (issue 23): what a lying gateway, a careless user or a crash can do.

Each test is an attack that worked against the first version of ``VideoGenerationBatchOperator``
(paid twice, failed a paid video, retried what must not be, leaked a signed link); the fast
pattern of ``test_batch_retry.py``: ``execute`` against the simulator over loopback, with an
in-memory task state store shared by the tries of one task instance.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import pytest
from airflow.sdk._shared.secrets_masker import redact
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import GenerationRequest, TaskState
from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY, VideoGenerationBatchOperator, item_key
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.spend.ledger import BudgetConfig, S3Ledger
from airflow_provider_videogen.triggers.batch import ITEMS_KEY, VideoBatchTrigger
from tests.operators.test_submission_money import FakeTI, Store, accepted
from tests.spend.test_reservation_rules import TI, budget_extra, set_connection

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


def operator(requests: Any, **kwargs: Any) -> VideoGenerationBatchOperator:
    kwargs.setdefault("poll_interval", 0.2)
    return VideoGenerationBatchOperator(task_id="batch", requests=requests, model="veo3.1-fast", duration=4, **kwargs)


def execute(store: Store, try_number: int, requests: Any, ti: FakeTI | None = None, **kwargs: Any) -> Any:
    ti = ti or FakeTI(try_number)
    try:
        return operator(requests, **kwargs).execute({"ti": ti, "task_state_store": store})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        return deferred.trigger


def rebuilt(trigger: VideoBatchTrigger) -> VideoBatchTrigger:
    _, kwargs = trigger.serialize()
    return VideoBatchTrigger(**kwargs)


def resume(store: Store, try_number: int, requests: Any, trigger: VideoBatchTrigger, **kwargs: Any) -> Any:
    event = {ITEMS_KEY: [e.to_payload() for e in asyncio.run(rebuilt(trigger).wait_all())]}
    op = operator(requests, **kwargs)
    return op.execute_complete({"ti": FakeTI(try_number), "task_state_store": store}, event)  # type: ignore[arg-type]


class BudgetTI(TI, FakeTI):
    """A task instance with the ids a budget's reservation is keyed by."""


def ids_of(trigger: VideoBatchTrigger) -> list[str]:
    return [item["remote_task_id"] for item in trigger.items]


# ---- a retry whose list changed: each request keeps its own video -----------------------------------


def test_a_retry_with_the_requests_reordered_re_attaches_each_to_its_own_video(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    """An upstream that lists its prompts from a set (or a clear of it) hands the retry another order."""
    store = Store()
    a, b, c = (f"[sim:render=30] reordered {name}" for name in "abc")
    first = execute(store, 1, [a, b, c])
    by_prompt = dict(zip([a, b, c], ids_of(first), strict=True))
    again = execute(store, 2, [c, a, b])
    assert accepted(simulator) == 3, "a reordered retry paid again for videos that were rendering"
    assert ids_of(again) == [by_prompt[c], by_prompt[a], by_prompt[b]]


def test_a_retry_with_a_request_removed_and_one_inserted_pays_only_for_the_new_one(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    a, b, c, new = (f"[sim:render=30] edited {name}" for name in ("a", "b", "c", "new"))
    first = execute(store, 1, [a, b, c])
    by_prompt = dict(zip([a, b, c], ids_of(first), strict=True))
    again = execute(store, 2, [new, c, b])  # a removed, new inserted in front
    assert accepted(simulator) == 4
    assert ids_of(again)[1:] == [by_prompt[c], by_prompt[b]]
    assert ids_of(again)[0] not in by_prompt.values()
    # ... and a third try with the first list back re-uses all three (a was never forgotten)
    third = execute(store, 3, [a, b, c])
    assert accepted(simulator) == 4
    assert ids_of(third) == [by_prompt[a], by_prompt[b], by_prompt[c]]


def test_identical_requests_in_one_batch_are_each_paid_once_and_kept_apart(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    same = "[sim:render=30] the same clip twice"
    first = execute(store, 1, [same, same])
    assert len(set(ids_of(first))) == 2  # two videos asked, two made
    again = execute(store, 2, ["[sim:render=30] another", same, same])
    assert accepted(simulator) == 3
    assert sorted(ids_of(again)[1:]) == sorted(ids_of(first))


def test_a_reordered_retry_still_refuses_a_create_whose_answer_was_lost(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    a, b = "[sim:render=30] known", "[sim:render=30] answer lost"
    execute(store, 1, [a])
    simulator.configure(next_responses=[{"status": 502, "method": "POST", "after_create": True}])
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        execute(store, 2, [a, b])
    assert accepted(simulator) == 2
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it"):
        execute(store, 3, [b, a])  # b moved to the place a's video is recorded at
    assert accepted(simulator) == 2, "the lost create was paid a second time"


def test_a_resumed_worker_that_renders_another_order_matches_results_by_remote_task(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    """The deferral re-renders ``requests`` in the resuming worker: an upstream XCom may have changed order."""
    store = Store()
    a, b = "[sim:render=0.3] resumed a", "[sim:render=0.3] resumed b"
    trigger = execute(store, 1, [a, b])
    id_a, id_b = ids_of(trigger)
    results = resume(store, 1, [b, a], trigger)
    assert [r["id"] for r in results] == [id_b, id_a], "a result was handed on for another request"


# ---- a finished video is never failed for the time it took -------------------------------------------


def test_a_finished_video_past_its_deadline_is_re_used_by_the_retry_not_timed_out(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    requests = ["[sim:render=0.3] finished long ago", "[sim:render=0.3] breaks once"]
    simulator.configure(fail_prompts_containing={"breaks once": "service_error"})
    trigger = execute(store, 1, requests, timeout=600)
    with pytest.raises(VideoGenError, match="1 of 2 videos did not succeed"):
        resume(store, 1, requests, trigger, timeout=600)
    # The retry comes after the first video's deadline (its timeout counts from its first submission).
    row = store.rows[item_key(RECORD_KEY, 0)]
    row["submitted_at"] = (utcnow() - timedelta(hours=2)).isoformat()
    simulator.configure(fail_prompts_containing={})
    retried = execute(store, 2, requests, timeout=600)
    results = retried if isinstance(retried, list) else resume(store, 2, requests, retried, timeout=600)
    assert [r["state"] for r in results] == ["succeeded", "succeeded"]
    assert accepted(simulator) == 3


# ---- the retry policy: an item that must not be retried keeps its rule ------------------------------------


def test_a_request_at_fault_failure_fails_the_batch_without_retry_even_beside_a_transient_one(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    """A retry resubmits every failed item: the content-policy one would be billed and fail again."""
    store = Store()
    requests = ["[sim:render=0.3] refused by policy", "[sim:render=0.3] flaky"]
    simulator.configure(
        fail_prompts_containing={"refused by policy": "content_policy_violation", "flaky": "service_error"}
    )
    trigger = execute(store, 1, requests)
    with pytest.raises(
        AirflowFailException, match=r"2 of 2 videos did not succeed.*request 0.*content_policy_violation"
    ):
        resume(store, 1, requests, trigger)


# ---- the spend guard: refused before the first create, for any item ----------------------------------------


def test_an_item_over_max_credits_is_refused_before_any_item_is_sent(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    before = accepted(simulator)
    requests = ["[sim:render=30] 4 s, 23.04 credits", {"prompt": "[sim:render=30] 8 s", "duration": 8}]
    with pytest.raises(AirflowFailException, match=r"Request 1 of the batch: .*max_credits=40.*Nothing was sent"):
        execute(Store(), 1, requests, max_credits=40)
    assert accepted(simulator) == before, "the cheap item was paid before the batch was refused"


# ---- the lying gateway ---------------------------------------------------------------------------------------


def create_answer(remote_id: str) -> dict[str, Any]:
    body = json.dumps({"id": remote_id, "status": "pending", "usage": {"credits_reserved": 23.04}})
    return {"status": 200, "method": "POST", "path": "/v1/videos/generations", "body": body}


def test_a_gateway_that_answers_one_remote_id_for_two_requests_stops_the_batch(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    """Two different requests cannot be one video: one result would be handed on for both."""
    store = Store()
    requests = [f"[sim:render=30] lied about {i}" for i in range(3)]
    (known,) = ids_of(execute(store, 1, requests[:1]))
    simulator.configure(next_responses=[create_answer(known)])  # request 1's create answers request 0's id
    with pytest.raises(AirflowFailException, match=rf"same remote task {known} for requests 0 and 1"):
        execute(store, 2, requests)
    assert simulator.stats()["generation"]["creates"] == 2, "the batch kept submitting to a gateway that lies"
    # a retry refuses again (the record stays for a human to look at), and pays nothing
    with pytest.raises(AirflowFailException, match=rf"same remote task {known}"):
        execute(store, 3, requests)
    assert simulator.stats()["generation"]["creates"] == 2


# ---- secrets -------------------------------------------------------------------------------------------------


def test_signed_links_in_the_requests_are_masked_when_rendered() -> None:
    token, hook_token, shared = (uuid.uuid4().hex + tag for tag in ("Tk", "Hk", "Sh"))
    link = f"https://bucket.s3.example.com/imgs/first.png?X-Amz-Expires=3600&X-Amz-Signature={token}"
    callback = f"https://hooks.example.com/services/{hook_token}"
    op = operator(
        [
            "a plain prompt",
            {"prompt": "b", "image_urls": ["{{ params.link }}"], "callback_url": "{{ params.callback }}"},
        ],
        image_urls="{{ params.shared }}",
    )
    params = {"link": link, "callback": callback, "shared": f"https://b.example.com/s.png?X-Amz-Signature={shared}"}
    op.render_template_fields(cast("Any", {"params": params}))
    assert op.requests[1]["image_urls"] == [link]  # sent as is
    shown = str(redact({"requests": op.requests, "image_urls": op.image_urls}))
    assert token not in shown
    assert hook_token not in shown
    assert shared not in shown


def test_a_requests_value_that_is_not_a_list_is_refused_without_echoing_a_link() -> None:
    token = uuid.uuid4().hex
    rendered = f'[{{"prompt": "a", "image_urls": ["https://b.example.com/x.png?X-Amz-Signature={token}"]}}]'
    op = operator(["a"])
    op.requests = rendered  # a list rendered as one string (render_template_as_native_obj=False)
    with pytest.raises(AirflowFailException, match="expected a list") as exc:
        op.execute({"ti": FakeTI(1), "task_state_store": Store()})  # type: ignore[arg-type]
    assert token[:6] not in str(exc.value)
    assert "render_template_as_native_obj" in str(exc.value)


def test_the_xcom_lists_the_ids_in_request_order_after_a_reorder(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    a, b = "[sim:render=30] xcom a", "[sim:render=30] xcom b"
    first = execute(store, 1, [a, b])
    ti = FakeTI(2)
    execute(store, 2, [b, a], ti=ti)
    assert ti.xcoms[BATCH_IDS_KEY] == list(reversed(ids_of(first)))
    assert item_key(IN_FLIGHT_KEY, 0) not in store.rows


# ---- the trigger's on_kill ------------------------------------------------------------------------------------


@pytest.fixture
def cancel_conn(simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    extra = {"retry_backoff": 0.05, "cancel_path": "/v1/tasks/{task_id}/cancel"}
    conn = {"conn_type": "videogen", "host": simulator.url, "password": simulator.api_key, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_CANCEL", json.dumps(conn))
    return "videogen_cancel"


async def test_a_killed_batch_cancels_the_videos_still_rendering_and_leaves_the_ended_alone(
    simulator: SimulatorServer, cancel_conn: str, log_text: Any
) -> None:
    hook = VideoGenHook(cancel_conn)
    request = GenerationRequest(model="veo3.1-fast", prompt="[sim:render=0.2] ends soon", duration=4)
    quick = hook.submit_generation(request).id
    slow = hook.submit_generation(request.model_copy(update={"prompt": "[sim:render=60] renders on"})).id
    deadline = time.time() + 60
    items = [{"remote_task_id": rid, "deadline": deadline} for rid in (quick, slow)]
    trigger = VideoBatchTrigger(videogen_conn_id=cancel_conn, api="generation", items=items, poll_interval=0.1)
    waiting = asyncio.ensure_future(trigger.wait_all(VideoGenHook(cancel_conn)))
    while quick not in trigger.ended:  # the quick one ended and was seen; the user kills the task now
        assert not waiting.done()
        await asyncio.sleep(0.1)
    waiting.cancel()
    await trigger.on_kill()
    assert (await hook.aget_generation(slow)).state is TaskState.CANCELLED
    assert simulator.stats()["generation"]["cancels"] == 1
    assert f"Cancelling remote task {quick} failed" not in log_text(), "a finished video was reported as billing on"


# ---- a batch larger than the budget --------------------------------------------------------------------------


def test_a_batch_larger_than_the_budget_is_refused_before_any_create(
    simulator: SimulatorServer, s3_bucket: str, aws_conn_id: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two 4 s videos (23.04 credits each) under a budget of 40: the first was paid, then the batch failed."""
    extra = budget_extra(s3_bucket, aws_conn_id, Decimal(40))
    set_connection(monkeypatch, simulator, extra)
    config = BudgetConfig.from_extra(extra, "videogen_default")
    assert config is not None
    ledger = S3Ledger(config, client=s3_client)
    requests = ["[sim:render=30] fits", "[sim:render=30] does not fit"]
    with pytest.raises(AirflowFailException, match=r"2 new video\(s\) would cost 46.08 credits.*has 40 left.*Nothing"):
        execute(Store(), 1, requests, ti=BudgetTI(1))
    assert accepted(simulator) == 0, "a video was paid for a batch the budget could not hold"
    assert ledger.read(ledger.config.key("total")) is None  # nothing reserved either
    # one that fits is submitted, and a retry that re-attaches to it is never refused by the budget
    store = Store()
    first = execute(store, 1, requests[:1], ti=BudgetTI(1))
    again = execute(store, 2, requests[:1], ti=BudgetTI(2))
    assert ids_of(again) == ids_of(first)
    assert accepted(simulator) == 1


def test_a_resumed_worker_whose_requests_were_replaced_is_never_handed_another_requests_video(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    a, b, replaced = "[sim:render=0.3] kept a", "[sim:render=0.3] removed b", "[sim:render=0.3] new c"
    trigger = execute(store, 1, [a, b])
    with pytest.raises(VideoGenError, match=r"no video for request\(s\) \[1\].*clear the task"):
        resume(store, 1, [a, replaced], trigger)


def test_a_worker_killed_while_polling_cancels_only_the_videos_still_rendering(
    simulator: SimulatorServer, cancel_conn: str, log_text: Any
) -> None:
    """``deferrable=False``: the worker's ``on_kill`` runs while ``execute`` polls in another thread."""
    requests = ["[sim:render=0.2] polled, ends soon", "[sim:render=60] polled, renders on"]
    op = operator(requests, deferrable=False, videogen_conn_id=cancel_conn, poll_interval=0.1, adaptive_polling=False)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            op.execute({"ti": FakeTI(1), "task_state_store": Store()})  # type: ignore[arg-type]
        except BaseException as exc:  # the cancelled video fails the batch
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while op._polling is None or len(op._polling.ended) < 1:
        assert time.monotonic() < deadline, "the quick video never ended"
        time.sleep(0.05)
    quick = next(iter(op._polling.ended))
    op.on_kill()
    worker.join(30)
    assert simulator.stats()["generation"]["cancels"] == 1
    assert f"Cancelling remote task {quick} failed" not in log_text()
    assert outcome, "the batch did not fail although a video was cancelled"
    assert isinstance(outcome[0], AirflowFailException)  # cancelled: not retried (the user killed it)


def test_a_ledger_still_down_at_completion_costs_the_batch_one_settlement_wait_not_one_per_video(
    simulator: SimulatorServer,
    s3_bucket: str,
    aws_conn_id: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    log_text: Any,
) -> None:
    """Each unsettled item waited about 50 s of retries in the worker slot: 25 videos, 20 minutes."""
    from airflow_provider_videogen.spend import resume
    from airflow_provider_videogen.spend.ledger_errors import LedgerError

    set_connection(monkeypatch, simulator, budget_extra(s3_bucket, aws_conn_id, Decimal(1000)))

    def down(self: S3Ledger, *args: Any, **kwargs: Any) -> Any:
        raise LedgerError("Cannot write the ledger (simulated: ServiceUnavailable)")

    monkeypatch.setattr(S3Ledger, "settle", down)  # reserving works; every settlement fails
    monkeypatch.setattr(resume, "SETTLE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    requests = [f"[sim:render=0.2] ledger down {i}" for i in range(3)]
    results = execute(Store(), 1, requests, ti=BudgetTI(1), deferrable=False, adaptive_polling=False)
    assert [r["state"] for r in results] == ["succeeded"] * 3  # paid videos: the ledger never fails the task
    text = log_text()
    waited = set(re.findall(r"Settling reservation (\S+) again", text))
    assert len(waited) == 1, f"every unsettled video waited for the ledger again: {waited}"
    assert "stay held at their estimates" in text
