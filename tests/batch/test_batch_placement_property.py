"""Property: whatever lists the tries of one batch task instance get, no video is paid twice (issue 23).

Hypothesis draws a history of tries: each a list of requests (repeats allowed, order free, items
inserted and removed between tries), some of which lose a create's answer. Each try places its
items (:func:`airflow_provider_videogen.operators.batch_items.place`, the real code, on an in-memory store), then
applies the submission guard's rule (:func:`~airflow_provider_videogen.operators.reattach.decide`,
the real rule) to each item in order with every remote task still rendering, writing what the
guard writes: a record after a create, or an in-flight marker left by a lost answer (the try ends).

Invariants: the items of a try get distinct keys; each copy of a request is paid at most once over
the whole history (a request that appears k times at most is paid at most k times); a request
whose create answer was lost is never paid again; each item is attached to a video of its own request.
"""

from __future__ import annotations

from collections import Counter
from itertools import count
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.models import ApiKind, TaskState, VideoTask
from airflow_provider_videogen.operators.batch import ItemStore, VideoGenerationBatchOperator
from airflow_provider_videogen.operators.reattach import (
    IN_FLIGHT_KEY,
    RECORD_KEY,
    InFlightMarker,
    SubmissionRecord,
    decide,
    fingerprint,
    load_model,
    stored_record,
)
from tests.operators.test_submission_money import FakeTI, Store

PROMPTS = ["a heron", "a fox", "a cat", "an owl"]
#: One try: its requests, and the position (if any) whose create answer is lost.
tries = st.lists(
    st.tuples(st.lists(st.sampled_from(PROMPTS), max_size=6), st.none() | st.integers(min_value=0, max_value=5)),
    min_size=1,
    max_size=5,
)


def running(remote_id: str) -> VideoTask:
    return VideoTask(id=remote_id, api=ApiKind.GENERATION, state=TaskState.RUNNING)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=tries)
def test_no_request_is_paid_twice_whatever_the_tries_lists(history: list[tuple[list[str], int | None]]) -> None:
    store, ids = Store(), count()
    paid: Counter[str] = Counter()
    most: Counter[str] = Counter()  # the most copies of each request any try asked for
    lost: set[str] = set()
    for try_number, (prompts, lose_at) in enumerate(history, start=1):
        for prompt, copies in Counter(prompts).items():
            most[prompt] = max(most[prompt], copies)
        op = VideoGenerationBatchOperator(task_id="batch", requests=prompts, model="veo3.1-fast", duration=4)
        context: Any = {"ti": FakeTI(try_number), "task_state_store": store}
        children = op._build_children(context, grow=True)
        assert len({child.slot for child in children}) == len(children)
        for position, (prompt, child) in enumerate(zip(prompts, children, strict=True)):
            view = ItemStore(store, child.slot)
            print_ = fingerprint(child.build_request())
            record = stored_record(view)
            marker = load_model(InFlightMarker, view.get(IN_FLIGHT_KEY))
            decision = decide(record, marker, running(record.id) if record else None, print_)
            if decision.action == "refuse":
                assert prompt in lost
                break
            assert prompt not in lost, f"{prompt!r} lost a create's answer, and was not refused"
            if decision.action != "submit":
                assert record is not None
                assert record.fingerprint == print_  # its own request's video
                continue
            paid[prompt] += 1
            if position == lose_at:
                lost.add(prompt)
                sent = InFlightMarker(fingerprint=print_, started_at=utcnow(), try_number=try_number)
                view.set(IN_FLIGHT_KEY, sent.model_dump(mode="json"))
                break
            made = SubmissionRecord(
                id=f"task-{next(ids)}", api=ApiKind.GENERATION, fingerprint=print_, submitted_at=utcnow()
            )
            view.set(RECORD_KEY, made.model_dump(mode="json"))
        for prompt, times in paid.items():
            assert times <= most[prompt], f"{prompt!r} paid {times} times for at most {most[prompt]} copies"
