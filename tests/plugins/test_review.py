"""The review step's pieces (issue 22 point 4): the request a reviewer sees, the decision, the manifest."""

from __future__ import annotations

from airflow_provider_videogen.pipelines.manifest import build_manifest
from airflow_provider_videogen.pipelines.review import DEFAULT_DECISION, REMIX, decide, review_request

VARIANT = {
    "index": 1,
    "prompt": "a <b>boat</b>",
    "estimate": {"clip": {"credits": 2.0}, "remix": {"credits": 5.5}},
    "remix": {"model": "veo_3_1-fast-fl-remix", "prompt": "continue", "prompt_extend": "pull back"},
}
ENTRY = {"index": 1, "kind": "clip", "variant": VARIANT, "result": {"id": "task-1", "model": "veo3.1-fast"}}


def test_the_request_shows_poster_player_and_estimate_as_markdown_without_html() -> None:
    request = review_request(ENTRY, dag_id="d", run_id="manual__1+00:00", base_url="http://airflow:8080")
    body = request["body"]
    assert "![clip 1](http://airflow:8080/videos/poster/d/manual__1%2B00%3A00/task-1)" in body
    assert (
        "(http://airflow:8080/dags/d/runs/manual__1%2B00%3A00/tasks/generate_clip/mapped/1/plugin/task-videos)" in body
    )
    assert "5.5 credits (estimate)" in request["subject"]
    assert "<b>" not in body


def test_approved_with_an_edited_prompt_declined_and_timed_out() -> None:
    answer = {"chosen_options": [REMIX], "params_input": {"remix_prompt": "new"}, "responded_at": "2026-01-01T00:00:00",
              "responded_by_user": {"id": "1", "name": "alice"}}  # fmt: skip
    approved = decide(ENTRY, answer)
    assert approved["review"]["decision"] == "approved"
    assert approved["review"]["by"] == "alice"
    assert approved["variant"]["remix"]["prompt"] == "new"
    timed_out = decide(ENTRY, {"chosen_options": [DEFAULT_DECISION], "params_input": {}, "responded_by_user": None})
    assert timed_out["review"]["decision"] == "declined"
    assert "no answer" in timed_out["review"]["reason"]
    assert decide(ENTRY, None)["review"]["decision"] == "declined"


def test_a_declined_clip_without_remix_is_not_a_problem_of_the_manifest() -> None:
    plan = [{**VARIANT, "index": 0}, VARIANT]
    clips = [{**ENTRY, "index": i, "result": {"id": f"task-{i}"}} for i in (0, 1)]
    remix = {"index": 0, "kind": "remix", "variant": plan[0], "result": {"id": "remix-0"}}
    reviews = [{"index": 0, "decision": "approved", "by": "alice"}, {"index": 1, "decision": "declined", "by": "bob"}]
    manifest = build_manifest(dag_id="d", run_id="r", logical_date=None, brief="b", prompt_source="template",
                              plan_id="p", plan=plan, clips=clips, remixes=[remix], reviews=reviews)  # fmt: skip
    assert [p for p in manifest.problems() if "no remix" in p] == []
    assert manifest.variants[1].review == {"decision": "declined", "by": "bob"}
    assert '"declined": 1' in manifest.to_json()
    without_review = build_manifest(dag_id="d", run_id="r", logical_date=None, brief="b", prompt_source="template",
                                    plan_id="p", plan=plan, clips=clips, remixes=[remix])  # fmt: skip
    assert "variant 1: no remix (see remix_15s or last_frame)" in without_review.problems()
