"""The Videos tab, its links, its auth and the review step, in Chromium on ``make ui``'s stack (issue 22).

* The Videos tab of a finished pipeline run shows one player per clip and remix; each one really
  plays in Chromium (``readyState`` >= 2, ``currentTime`` advances, ``duration`` 8 s / 15 s) and
  seeks (the media endpoint answers ``Range`` from S3).
* The "Video" and "S3" links open the task's Videos tab.
* The media endpoint refuses an anonymous request and a user without access to the DAG.
* With ``review`` on: 3 clips, 1 approved in the UI (2 declined through the REST API with the
  pytest plugin's ``answer_review``), exactly 1 remix created, 2 declined in the manifest.

The pipeline run of ``test_1`` is reused when the session triggered it; alone, this module
triggers its own.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from airflow_provider_videogen.links.videogen import VideoLink
from airflow_provider_videogen.links.view import videos_view_url
from airflow_provider_videogen.testing.pytest_plugin import answer_review
from tests.ui.helpers import RUNS, task_url, wait_for_task_state

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

pytestmark = pytest.mark.ui

DAG_ID = "videogen_pipeline"
RUN_TIMEOUT = 480
#: What the simulator renders (the pipeline's defaults): 8 s clips, 15 s remixes.
DURATIONS = {"clip": 8.0, "remix": 15.0}

#: Plays one <video> muted, waits until it advances, then seeks near its end; returns what it saw.
PLAY_AND_SEEK = """async (video) => {
  const until = (check, ms) => new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => check() ? resolve()
      : (Date.now() - start > ms ? reject(new Error('timeout')) : setTimeout(tick, 100));
    tick();
  });
  video.muted = true;
  await until(() => video.readyState >= 1, 30000);
  await video.play();
  await until(() => video.readyState >= 2 && video.currentTime > 0.3, 30000);
  const played = {readyState: video.readyState, currentTime: video.currentTime, duration: video.duration};
  video.pause();
  const target = video.duration - 1;
  await new Promise((resolve) => {
    video.addEventListener('seeked', resolve, {once: true});
    video.currentTime = target;
  });
  return {...played, seekedTo: video.currentTime, target};
}"""


REVIEW_BRIEF = f"a review test {uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def review_run(ui_stack: UiStack) -> str:
    """The review test's run, started first so it renders while the other tests look at the finished run."""
    ui_stack.api.request("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    return ui_stack.api.trigger(DAG_ID, conf={"review": True, "brief": REVIEW_BRIEF, "variants": 3})


@pytest.fixture(scope="module")
def pipeline_run(ui_stack: UiStack) -> str:
    run_id = RUNS.get("pipeline")
    if run_id is None:  # this module alone: trigger a run with the form's defaults through the API
        run_id = RUNS["pipeline"] = ui_stack.api.trigger(DAG_ID)
    result = ui_stack.api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, poll=2)
    assert result.state == "success", result.task_instances
    return run_id


def _videos_frame(page: Any, title: str) -> Any:
    """The Videos tab's iframe (Airflow renders an external view in one), once its page has loaded."""
    frame = page.frame_locator("iframe").first
    expect(frame.locator("h1")).to_have_text(title)
    return frame


def test_the_videos_tab_plays_and_seeks_every_clip_and_remix(
    page: Any, shot: Any, ui_stack: UiStack, pipeline_run: str
) -> None:
    page.goto(f"{ui_stack.url}/dags/{DAG_ID}/runs/{quote(pipeline_run, safe='')}/plugin/videos")
    frame = _videos_frame(page, "Videos")
    cards = frame.locator("[data-testid=video-card]")
    expect(cards).to_have_count(6)
    videos = frame.locator("video")
    expect(videos).to_have_count(6)
    kinds = [videos.nth(i).get_attribute("data-kind") for i in range(6)]
    assert sorted(kinds) == ["clip"] * 3 + ["remix"] * 3, kinds
    for i, kind in enumerate(kinds):
        seen = videos.nth(i).evaluate(PLAY_AND_SEEK)
        assert seen["readyState"] >= 2, seen
        assert seen["currentTime"] > 0, seen
        assert abs(seen["duration"] - DURATIONS[kind]) < 0.5, (kind, seen)
        assert abs(seen["seekedTo"] - seen["target"]) < 0.5, seen  # Range answered: the player could seek
    text = frame.locator("body").inner_text()
    assert text.count("s3://") == 6, text
    assert "sha256" in text
    assert "estimate" in text
    shot("videos-tab")


def test_the_video_and_s3_links_open_the_videos_tab(page: Any, shot: Any, ui_stack: UiStack, pipeline_run: str) -> None:
    for task_id, name in (("generate_clip", VideoLink.name), ("archive_clip", "S3")):
        page.goto(task_url(ui_stack, DAG_ID, pipeline_run, task_id, 0, "details"))
        link = page.get_by_role("link", name=name, exact=True)
        key = type("Key", (), {"dag_id": DAG_ID, "run_id": pipeline_run, "task_id": task_id, "map_index": 0})
        expect(link).to_have_attribute("href", videos_view_url(key))  # type: ignore[arg-type]
        link.click()
        frame = _videos_frame(page, f"Videos of {task_id}[0]")
        expect(frame.locator("[data-testid=video-card][data-kind=clip]")).to_have_count(1)
        expect(frame.locator("video")).to_have_count(1)
        shot(f"{task_id}-link")


def test_the_media_endpoint_refuses_anonymous_and_unauthorised_users(ui_stack: UiStack, pipeline_run: str) -> None:
    [archived] = ui_stack.api.xcom(DAG_ID, pipeline_run, "archive_clip", map_index=0)
    url = f"{ui_stack.url}/videos/media/{DAG_ID}/{quote(pipeline_run, safe='')}/{quote(archived['video_task_id'])}"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 403
    token = ui_stack.api._token or ui_stack.api._login()
    assert (
        httpx.get(url, headers={"Authorization": f"Bearer {token}", "Range": "bytes=0-99"}, timeout=30).status_code
        == 206
    )


def test_the_review_remixes_only_the_approved_clip(page: Any, shot: Any, ui_stack: UiStack, review_run: str) -> None:
    brief, run_id = REVIEW_BRIEF, review_run
    for i in range(3):
        wait_for_task_state(
            ui_stack, DAG_ID, run_id, "review_clip", {"awaiting_input", "deferred"}, map_index=i, timeout=RUN_TIMEOUT
        )

    # Clip 1 is approved in the UI: its Required Actions tab shows the poster, the player link, the estimate.
    page.goto(task_url(ui_stack, DAG_ID, run_id, "review_clip", 1, "required_actions"))
    expect(page.get_by_text("Remix clip 1?").first).to_be_visible()
    expect(page.get_by_role("link", name="Play clip 1 in the Videos tab")).to_be_visible()
    poster = page.get_by_role("img", name="clip 1")
    expect(poster).to_be_visible()
    assert poster.evaluate("img => img.naturalWidth") > 0  # the poster really loaded (behind the login)
    shot("review-form")
    page.get_by_role("button", name="Remix", exact=True).click()
    wait_for_task_state(ui_stack, DAG_ID, run_id, "review_clip", {"success"}, map_index=1, timeout=120)
    shot("review-answered")
    for i in (0, 2):  # the others: declined through the REST API, as a DAG's own test would
        answer_review(ui_stack.api, DAG_ID, run_id, "review_clip", map_index=i, chosen_options=["Skip"])

    result = ui_stack.api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, poll=2)
    assert result.state == "success", result.task_instances
    remixes = [r for r in ui_stack.sim_stats().get("remix_requests", []) if brief in json.dumps(r)]
    assert len(remixes) == 1, remixes  # the simulator's count: only the approved clip was remixed (and paid)
    manifest = _manifest(ui_stack, run_id)
    decisions = {v["index"]: v["review"]["decision"] for v in manifest["variants"]}
    assert decisions == {0: "declined", 1: "approved", 2: "declined"}, decisions
    assert manifest["variants"][1]["review"]["by"] == ui_stack.username
    assert manifest["variants"][1]["remix"] is not None
    assert manifest["totals"]["declined"] == 2


def _manifest(ui_stack: UiStack, run_id: str) -> dict[str, Any]:
    """The run's manifest, read from SeaweedFS with the stack's own S3 credentials (its secrets.json)."""
    import boto3

    state = re.search(r"state \(DB[^:]*: (\S+)", ui_stack.log())
    assert state, ui_stack.log()
    secrets = json.loads((Path(state.group(1)) / "secrets.json").read_text())
    uri = ui_stack.api.xcom(DAG_ID, run_id, "write_manifest")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=ui_stack.s3_url,
        aws_access_key_id=secrets["s3_access_key"],
        aws_secret_access_key=secrets["s3_secret_key"],
        region_name="us-east-1",
    )
    return dict(json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
