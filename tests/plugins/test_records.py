"""The Videos view's cards: one per video, joined from what the run recorded (no database here)."""

from __future__ import annotations

from airflow_provider_videogen.plugins.records import RunRecords, TaskRow


def _run() -> RunRecords:
    clip = {"id": "task-1", "api": "generation", "model": "veo3.1-fast", "state": "succeeded", "credits_reserved": 2.0}
    remix = {"id": "remix-1", "api": "remix", "model": "veo_3_1-fast-fl-remix", "state": "succeeded", "partial": False}
    variant = {"index": 0, "prompt": "a boat", "estimate": {"clip": {"credits": 2.5}, "remix": {"credits": 4.0}}}
    return RunRecords(
        "d",
        "r",
        [
            TaskRow("generate_clip", 0, "success", "VideoGenerationOperator",
                    {"return_value": clip, "videogen_task_id": "task-1"}, {"prompt": "a boat, dawn", "duration": 8}),
            TaskRow("generate_clip", 1, "failed", "VideoGenerationOperator",
                    {"videogen_task_id": "task-2", "videogen_error": "content policy: refused"}, {"prompt": "bad"}),
            TaskRow("remix_15s", 0, "success", "VideoRemixOperator",
                    {"return_value": remix, "videogen_task_id": "remix-1"}, {"prompt": "on"}),
            TaskRow("rendered_clips", -1, "success", "_PythonDecoratedOperator",
                    {"return_value": [{"index": 0, "kind": "clip", "variant": variant, "result": clip}]}),
            TaskRow("rendered_remixes", -1, "success", "_PythonDecoratedOperator",
                    {"return_value": [{"index": 0, "kind": "remix", "variant": variant, "result": remix}]}),
            TaskRow("archive_clip", 0, "success", "VideoToS3Operator",
                    {"return_value": [{"video_task_id": "task-1", "bucket": "b", "key": "p/clip-0.mp4",
                                       "uri": "s3://b/p/clip-0.mp4", "size": 7000, "sha256": "ab"}]}),
        ],
    )  # fmt: skip


def test_one_card_per_video_with_prompt_estimate_archive_and_error() -> None:
    clip, failed, remix = _run().cards()
    assert (clip.kind, clip.variant, clip.prompt, clip.duration_seconds) == ("clip", 0, "a boat, dawn", 8)
    assert (clip.estimated_credits, clip.credits_reserved) == (2.5, 2.0)
    assert (clip.bucket, clip.key, clip.size, clip.sha256) == ("b", "p/clip-0.mp4", 7000, "ab")
    assert clip.archived_by == ("archive_clip", 0)
    assert clip.playable
    assert (failed.state, failed.error, failed.playable) == ("failed", "content policy: refused", False)
    assert (remix.kind, remix.duration_seconds, remix.estimated_credits) == ("remix", 15, 4.0)
    assert not remix.archived
    assert remix.playable


def test_a_task_instance_sees_the_videos_it_made_or_archived() -> None:
    cards = _run().cards()
    assert [c.remote_id for c in cards if c.belongs_to("archive_clip", 0)] == ["task-1"]
    assert [c.remote_id for c in cards if c.belongs_to("remix_15s", 0)] == ["remix-1"]
    assert [c.remote_id for c in cards if c.belongs_to("rendered_clips", -1)] == []


def test_the_page_escapes_recorded_text() -> None:
    from airflow_provider_videogen.plugins.page import render_page

    run = _run()
    run.tasks[0].rendered["prompt"] = "<script>alert(1)</script>"
    html = render_page("Videos", "d / r", run.cards(), root="/videos", dag_id="d", run_id="r")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<video ") == 2  # the failed clip has no player
    assert "/videos/media/d/r/task-1" in html
    assert "/videos/poster/d/r/task-1" in html


def test_a_review_decision_shows_on_the_clip_card() -> None:
    run = _run()
    decisions = [{"index": 0, "decision": "declined", "by": "bob", "at": "2026-01-01T00:00:00"}]
    run.tasks.append(TaskRow("reviewed_clips", -1, "success", "_PythonDecoratedOperator", {"reviews": decisions}))
    clip = run.cards()[0]
    assert clip.review == decisions[0]
