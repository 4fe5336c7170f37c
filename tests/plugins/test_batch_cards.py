"""A batch task instance (``VideoGenerationBatchOperator``) in the Videos view: one card per video (issue 23).

Rows as ``plugins.store`` reads them from the metadata database (no database here): the batch's
XComs (``return_value`` list, ``videogen_task_ids``, ``videogen_error``), its rendered fields
(``requests`` and the shared defaults) and its items' submission records from the task state store.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY, item_key
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.plugins.page import render_page
from airflow_provider_videogen.plugins.records import RunRecords, TaskRow

OPERATOR = "VideoGenerationBatchOperator"
REQUESTS = ["a boat", {"prompt": "a kite", "model": "veo3.1", "duration": 6}, "a field"]
RENDERED = {"requests": REQUESTS, "model": "veo3.1-fast", "duration": 4}
IDS = ["task-a", "task-b", "task-c"]


def result(remote_id: str, model: str = "veo3.1-fast", credits: float = 2.0) -> dict[str, Any]:
    return {"id": remote_id, "api": "generation", "model": model, "state": "succeeded", "credits_reserved": credits,
            "submitted_at": "2026-01-01T00:00:00", "video_urls": [], "expires_at": "2999-01-01T00:00:00"}  # fmt: skip


def record(remote_id: str, credits: float) -> dict[str, Any]:
    return {"id": remote_id, "api": "generation", "fingerprint": "f", "submitted_at": "2026-01-01T00:00:00+00:00",
            "credits_reserved": credits}  # fmt: skip


def batch(state: str, xcoms: dict[str, Any], records: dict[int, dict[str, Any]] | None = None) -> TaskRow:
    store = {item_key(RECORD_KEY, i): value for i, value in (records or {}).items()}
    return TaskRow("generate", -1, state, OPERATOR, xcoms, dict(RENDERED), store)


def succeeded_run() -> RunRecords:
    results = [result("task-a"), result("task-b", "veo3.1", 3.0), result("task-c")]
    archived = {"video_task_id": "task-b", "bucket": "b", "key": "p/task-b_0.mp4", "uri": "s3://b/p/task-b_0.mp4",
                "size": 7000, "sha256": "ab"}  # fmt: skip
    return RunRecords(
        "d",
        "r",
        [
            batch("success", {"return_value": results, BATCH_IDS_KEY: IDS}),
            TaskRow("archive", -1, "success", "VideoToS3Operator", {"return_value": [archived]}),
        ],
    )


def test_a_batch_shows_one_card_per_video_with_its_own_prompt_model_credits_and_archive() -> None:
    cards = succeeded_run().cards()
    assert [(c.item, c.remote_id, c.state) for c in cards] == [
        (0, "task-a", "succeeded"),
        (1, "task-b", "succeeded"),
        (2, "task-c", "succeeded"),
    ]
    a, b, c = cards
    assert [x.prompt for x in cards] == ["a boat", "a kite", "a field"]
    assert (a.model, a.duration_seconds, a.credits_reserved) == ("veo3.1-fast", 4, 2.0)
    assert (b.model, b.duration_seconds, b.credits_reserved) == ("veo3.1", 6, 3.0)  # the item's own fields
    assert (b.s3_uri, b.key, b.sha256) == ("s3://b/p/task-b_0.mp4", "p/task-b_0.mp4", "ab")
    assert b.archived_by == ("archive", -1)
    assert (a.archived, c.archived) == (False, False)
    assert all(x.playable and x.error is None for x in cards)
    assert [x.remote_id for x in cards if x.belongs_to("generate", -1)] == IDS
    assert [x.remote_id for x in cards if x.belongs_to("archive", -1)] == ["task-b"]


def test_the_page_has_a_player_per_video_of_the_batch() -> None:
    html = render_page("Videos", "d / r", succeeded_run().cards(), root="/videos", dag_id="d", run_id="r")
    assert html.count("<video ") == 3
    for remote_id in IDS:
        assert f"/videos/media/d/r/{remote_id}'" in html
    assert "/videos/poster/d/r/task-b'" in html  # only the archived one has a poster
    assert "/videos/poster/d/r/task-a'" not in html
    assert "data-item='2'" in html
    assert "<dt>batch item</dt><dd class=''>0</dd>" in html


def test_a_deferred_batch_shows_its_videos_rendering_with_the_credits_each_reserved() -> None:
    records = {0: record("task-a", 2.0), 1: record("task-b", 3.0), 2: record("task-c", 2.0)}
    cards = RunRecords("d", "r", [batch("deferred", {BATCH_IDS_KEY: IDS}, records)]).cards()
    assert [(c.remote_id, c.state, c.credits_reserved, c.playable) for c in cards] == [
        ("task-a", "rendering", 2.0, False),
        ("task-b", "rendering", 3.0, False),
        ("task-c", "rendering", 2.0, False),
    ]


def test_a_failed_batch_names_the_failed_video_and_does_not_call_the_others_failed() -> None:
    error = "Remote task task-b failed [content_policy]: refused. A new submission would fail the same way."
    cards = RunRecords("d", "r", [batch("failed", {BATCH_IDS_KEY: IDS, "videogen_error": error})]).cards()
    assert [c.state for c in cards] == ["unknown", "failed", "unknown"]
    assert cards[1].error == error
    assert "outcome is in its log" in str(cards[0].error)
    assert not any(c.playable for c in cards)


def test_a_batch_stopped_half_way_shows_what_it_paid_for_from_its_item_records() -> None:
    """No ids XCom yet (pushed once every item is submitted): item 0's record names its remote task."""
    row = batch("failed", {}, {0: record("task-a", 2.0)})
    cards = RunRecords("d", "r", [row]).cards()
    assert [(c.item, c.remote_id, c.state, c.credits_reserved) for c in cards] == [
        (0, "task-a", "unknown", 2.0),
        (1, None, "not submitted", None),
        (2, None, "not submitted", None),
    ]
    assert "before submitting this request" in str(cards[1].error)


def test_an_item_whose_create_answer_was_lost_is_uncertain_not_unsubmitted() -> None:
    marker = {"api": "generation", "model": "veo3.1-fast", "fingerprint": "f", "started_at": "2026-01-01T00:00:01",
              "try_number": 1, "phase": "sending"}  # fmt: skip
    row = batch("failed", {}, {0: record("task-a", 2.0)})
    row.item_store[item_key(IN_FLIGHT_KEY, 1)] = marker
    row.item_store[item_key(IN_FLIGHT_KEY, 2)] = {**marker, "phase": "prepared"}  # provably nothing sent
    cards = RunRecords("d", "r", [row]).cards()
    assert [c.state for c in cards] == ["unknown", "uncertain", "not submitted"]
    assert "uncertain list" in str(cards[1].error)


def test_only_remote_ids_the_batch_recorded_become_cards() -> None:
    """A result or a record naming another id than the item's is not shown (nor served by the media endpoint)."""
    stale = {0: record("task-old", 9.0)}
    xcoms = {BATCH_IDS_KEY: IDS[:2], "return_value": [result("task-a"), result("task-of-another-run")]}
    cards = RunRecords("d", "r", [batch("success", xcoms, stale)]).cards()
    assert [c.remote_id for c in cards] == ["task-a", "task-b", None]
    assert cards[0].credits_reserved == 2.0  # from its result; the stale record is not read
    assert (cards[1].state, cards[1].model) == ("success", "veo3.1")  # no result taken from another id
    assert "task-of-another-run" not in str([c.to_json() for c in cards])
    assert "task-old" not in str([c.to_json() for c in cards])


def test_a_batch_not_started_yet_has_one_waiting_card() -> None:
    row = TaskRow("generate", 3, "scheduled", OPERATOR)
    (card,) = RunRecords("d", "r", [row]).cards()
    assert (card.remote_id, card.state, card.item, card.map_index) == (None, "waiting", None, 3)


def test_a_generation_task_that_never_ran_has_no_card() -> None:
    """The example DAGs' generation task of the mode not chosen is mapped over [] and skipped (7 cards for 6)."""
    rows = [
        TaskRow("generate_clip_batch", -1, "skipped", OPERATOR),
        TaskRow("generate_clip", -1, "skipped", "VideoGenerationOperator"),
        TaskRow("generate_clip", 0, "removed", "VideoGenerationOperator"),
    ]
    assert RunRecords("d", "r", rows).cards() == []


def test_a_long_batch_truncated_by_airflow_keeps_the_prompts_of_its_complete_items() -> None:
    """Airflow stores ``requests`` longer than ``[core] max_templated_field_length`` as truncated text."""
    from airflow.serialization.helpers import serialize_template_field

    requests: list[Any] = [f'clip {i}, it\'s "quoted" [and bracketed], {{braced}}' for i in range(150)]
    requests[1] = {"prompt": "a dict, with 'quotes'", "duration": 6}
    stored = serialize_template_field(requests, "requests")
    assert isinstance(stored, str)
    assert stored.startswith("Truncated.")
    ids = [f"task-{i}" for i in range(150)]
    row = TaskRow("generate", -1, "deferred", OPERATOR, {BATCH_IDS_KEY: ids}, {**RENDERED, "requests": stored})
    cards = RunRecords("d", "r", [row]).cards()
    assert [c.remote_id for c in cards] == ids
    shown = [c.prompt for c in cards if c.prompt is not None]
    assert 10 < len(shown) < 150
    assert shown == [r if isinstance(r, str) else r["prompt"] for r in requests[: len(shown)]]
    assert all(c.prompt is None for c in cards[len(shown) :])
    assert cards[1].duration_seconds == 6
