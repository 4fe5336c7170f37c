"""The example DAGs' building blocks, without Airflow runs: prompts and plans, the frame hand-off, the manifest."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import InvalidRequestError, VideoGenError
from airflow_provider_videogen.models import SEED_RANGE
from airflow_provider_videogen.pipelines import chain
from airflow_provider_videogen.pipelines.batching import (
    batch_kwargs,
    check_batch_size,
    clip_task,
    one_per_task,
    plan_batches,
)
from airflow_provider_videogen.pipelines.manifest import (
    Manifest,
    ManifestError,
    archive_kwargs,
    build_manifest,
    finished_batch_results,
    finished_results,
)
from airflow_provider_videogen.pipelines.prompts import (
    MAX_VARIANTS,
    PromptGenerationError,
    derive_seed,
    generation_kwargs,
    llm_messages,
    llm_prompts,
    model_takes_seed,
    parse_prompt_list,
    plan_fingerprint,
    plan_variants,
    prompt_limit_chars,
    remix_size,
    template_prompts,
)

if TYPE_CHECKING:
    from pathlib import Path

# ---- prompts ----------------------------------------------------------------------------------


def test_template_prompts_are_distinct_deterministic_and_salted() -> None:
    prompts = template_prompts("a red kite over the dunes.", MAX_VARIANTS)
    assert len(set(prompts)) == MAX_VARIANTS
    assert all("a red kite over the dunes " in p or "a red kite over the dunes," in p for p in prompts)
    assert template_prompts("a red kite over the dunes", 3) == prompts[:3]  # trailing punctuation ignored
    day1 = template_prompts("a red kite", 3, salt="2026-03-01")
    assert day1 == template_prompts("a red kite", 3, salt="2026-03-01")
    assert day1 != template_prompts("a red kite", 3, salt="2026-03-02")


@pytest.mark.parametrize("count", [0, MAX_VARIANTS + 1])
def test_variant_count_is_bounded(count: int) -> None:
    with pytest.raises(PromptGenerationError, match="variants"):
        template_prompts("a kite", count)


def test_an_empty_brief_is_refused() -> None:
    with pytest.raises(PromptGenerationError, match="brief is empty"):
        template_prompts("  . ", 2)


@pytest.mark.parametrize(
    "answer",
    [
        '{"prompts": ["A kite.", "A boat.", "A kite."]}',
        '["A kite.", "A boat."]',
        '```json\n{"prompts": ["A kite.", "A boat."]}\n```',
        "1. A kite.\n2) A boat.\n- A kite.",
        "Here you go:\n\n* A kite.\n* A boat.",
    ],
)
def test_llm_answers_are_parsed_in_every_usual_shape(answer: str) -> None:
    assert parse_prompt_list(answer) == ["A kite.", "A boat."]


def test_llm_prompts_through_the_simulator(videogen_conn: str, simulator: Any) -> None:
    from airflow_provider_videogen.hooks.videogen import VideoGenHook

    prompts = llm_prompts(VideoGenHook(videogen_conn), "a lighthouse in a storm", 4, model="veo3.1-fast")
    assert len(set(prompts)) == 4
    assert all("a lighthouse in a storm" in p for p in prompts)
    [request] = simulator.stats()["chat_requests"]
    assert "Write 4 distinct video prompts, each under 1000 characters" in json.dumps(request)
    assert prompts == llm_prompts(VideoGenHook(videogen_conn), "a lighthouse in a storm", 4, model="veo3.1-fast")


class _Hook:
    def __init__(self, answer: str) -> None:
        self.answer = answer

    def chat_completion(self, messages: Any, *, model: str, **params: Any) -> str:
        return self.answer


def test_too_few_llm_prompts_fail_before_anything_is_submitted() -> None:
    with pytest.raises(PromptGenerationError, match="returned 1 distinct prompt"):
        llm_prompts(_Hook('{"prompts": ["A kite.", "A kite."]}'), "a kite", 2, model="veo3.1-fast")  # type: ignore[arg-type]


def test_the_llm_is_told_the_models_limit() -> None:
    assert prompt_limit_chars("veo3.1-fast") == 1000
    assert prompt_limit_chars("veo3.1-pro") == 6000  # 2000 tokens, with margin
    assert "under 6000 characters" in llm_messages("a kite", 2, max_chars=6000)[1]["content"]


def test_seeds_are_in_range_and_stable() -> None:
    seeds = {derive_seed("campaign", f"2026-01-{day:02d}", i) for day in range(1, 29) for i in range(3)}
    assert len(seeds) == 84
    assert all(SEED_RANGE[0] <= s <= SEED_RANGE[1] for s in seeds)
    assert derive_seed("c", "d", 0) == derive_seed("c", "d", 0)
    assert model_takes_seed("veo-3.1-fast-generate-preview")
    assert not model_takes_seed("veo3.1-fast")
    assert not model_takes_seed("some-new-model")


def test_plan_holds_the_operators_keyword_arguments() -> None:
    plan = plan_variants(
        ["A kite.", "A boat."], model="veo3.1-fast", aspect_ratio="9:16", duration=6,
        remix_model="veo_3_1-fast-fl-hd-remix", poll_interval=2,
    )  # fmt: skip
    assert generation_kwargs(plan[1]) == {
        "model": "veo3.1-fast", "prompt": "A boat.", "aspect_ratio": "9:16", "duration": 6, "poll_interval": 2,
    }  # fmt: skip
    remix = plan[1]["remix"]
    assert remix["model"] == "veo_3_1-fast-fl-hd-remix"
    assert remix["size"] == "1080x1920"
    assert "A boat." in remix["prompt"]
    assert remix["prompt_extend"]
    assert [v["index"] for v in plan] == [0, 1]
    json.dumps(plan)  # travels through XCom


def test_every_broken_limit_of_every_variant_is_reported_at_once() -> None:
    with pytest.raises(PromptGenerationError) as info:
        plan_variants(["A kite.", "x" * 1001], model="veo3.1-fast", duration=5, seeds=[1, 2])
    message = str(info.value)
    assert "nothing was submitted" in message
    assert "variant 1: prompt is 1001 characters; veo3.1-fast accepts at most 1000" in message
    assert "variant 0:" in message  # veo3.1-fast takes no seed
    assert "seed" in message


def test_remix_requests_are_validated_too() -> None:
    with pytest.raises(PromptGenerationError, match="variant 0 remix"):
        plan_variants(["A kite."], model="veo3.1-fast", remix_model="no-such-remix-model", aspect_ratio="1:1")
    assert remix_size("veo_3_1-fast-fl-remix", "auto") == "1280x720"


def test_plan_fingerprint_ignores_poll_interval_only() -> None:
    base = plan_variants(["A kite."], model="veo3.1-fast", poll_interval=15)
    assert plan_fingerprint(base) == plan_fingerprint(plan_variants(["A kite."], model="veo3.1-fast", poll_interval=1))
    assert plan_fingerprint(base) != plan_fingerprint(plan_variants(["A boat."], model="veo3.1-fast"))


# ---- manifest ---------------------------------------------------------------------------------


class _TI:
    """What the collecting functions use of a task instance: ``xcom_pull`` by task and map index."""

    def __init__(self, results: dict[tuple[str, int], Any], others: dict[tuple[str, int, str], Any] | None = None):
        self.results = results
        self.others = others or {}

    def xcom_pull(self, *, task_ids: str, map_indexes: int, key: str = "return_value") -> Any:
        if key != "return_value":
            return self.others.get((task_ids, map_indexes, key))
        return self.results.get((task_ids, map_indexes))


def _result(remote_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": remote_id, "model": "m", "state": "succeeded", "video_urls": ["u"], "credits_reserved": 2.5, **extra}


PLAN = plan_variants(["A kite.", "A boat.", "A fox."], model="veo3.1-fast", remix_model="veo_3_1-fast-fl-remix")


def test_finished_results_are_tagged_with_their_variant_not_their_position() -> None:
    ti = _TI({("generate_clip", 0): _result("c0"), ("generate_clip", 2): _result("c2")})
    clips = finished_results(ti, "generate_clip", PLAN, kind="clip", prefix="p/")
    assert [(c["index"], c["result"]["id"], c["s3_key"]) for c in clips] == [
        (0, "c0", "p/clip-0.{ext}"),
        (2, "c2", "p/clip-2.{ext}"),
    ]
    # The remix task was mapped over ``clips``: its instance 1 worked on variant 2.
    remixes = finished_results(_TI({("remix_15s", 1): _result("r2")}), "remix_15s", clips, kind="remix", prefix="p")
    assert [(r["index"], r["s3_key"]) for r in remixes] == [(2, "p/remix-2.{ext}")]
    assert archive_kwargs(remixes[0]) == {
        "source": _result("r2"), "s3_key": "p/remix-2.{ext}", "metadata": {"kind": "remix", "variant": "2"},
    }  # fmt: skip


def test_manifest_joins_by_variant_and_remote_id_and_lists_what_is_missing() -> None:
    ti = _TI(
        {
            ("generate_clip", 0): _result("c0"),
            ("generate_clip", 2): _result("c2"),
            ("remix_15s", 1): _result("r2", partial=True),
        }
    )
    clips = finished_results(ti, "generate_clip", PLAN, kind="clip", prefix="p")
    remixes = finished_results(ti, "remix_15s", clips, kind="remix", prefix="p")
    archives = [
        [{"uri": "s3://b/p/remix-2.mp4", "size": 7, "sha256": "e" * 64, "video_task_id": "r2"}],
        [{"uri": "s3://b/p/clip-2.mp4", "size": 5, "sha256": "f" * 64, "video_task_id": "c2"}],
    ]
    manifest = build_manifest(
        dag_id="d", run_id="r", logical_date=None, brief="b", prompt_source="template", plan_id="x",
        plan=PLAN, clips=clips, remixes=remixes, archives=archives,
    )  # fmt: skip
    fox = manifest.variants[2]
    assert fox.clip is not None
    assert fox.clip.s3_uri == "s3://b/p/clip-2.mp4"
    assert fox.clip.prompt == "A fox."
    assert fox.remix is not None
    assert fox.remix.partial
    assert fox.remix.sha256 == "e" * 64
    assert manifest.variants[1].clip is None
    assert manifest.problems() == [
        "variant 0: clip c0 rendered but is not archived",
        "variant 0: no remix (see remix_15s or last_frame)",
        "variant 1: no clip (see generate_clip)",
        "variant 1: no remix (see remix_15s or last_frame)",
    ]
    data = json.loads(manifest.to_json())
    assert data["totals"] == {
        "variants": 3, "videos": 3, "archived": 2, "estimated_credits": 0.0, "credits_reserved": 7.5, "bytes": 12
    }  # fmt: skip
    assert Manifest.model_validate_json(manifest.to_json()) == manifest


def test_results_that_do_not_belong_to_the_plan_are_refused() -> None:
    entry = {"index": 7, "kind": "clip", "variant": {"index": 7, "prompt": "?"}, "result": _result("x")}
    with pytest.raises(ManifestError, match="not in the plan") as info:
        build_manifest(
            dag_id="d", run_id="r", logical_date=None, brief="b", prompt_source="llm", plan_id="x", plan=PLAN,
            clips=[entry],
        )  # fmt: skip
    # One of the provider's errors (``except VideoGenError`` catches it), not a bad argument value.
    assert isinstance(info.value, VideoGenError)
    assert not isinstance(info.value, ValueError)


# ---- batch mode ------------------------------------------------------------------------------

FIVE = plan_variants(
    ["A kite.", "A boat.", "A fox.", "A hen.", "An owl."],
    model="veo-3.1-fast-generate-preview",
    duration=4,
    seeds=[1, 2, 3, 4, 5],
    poll_interval=2.0,
)


def test_batch_size_zero_is_one_task_per_clip_and_n_hands_every_clip_to_the_batches() -> None:
    assert one_per_task(FIVE, 0) == [generation_kwargs(v) for v in FIVE]
    assert batch_kwargs(FIVE, 0) == []
    assert one_per_task(FIVE, 2) == []
    assert [[v["index"] for v in batch] for batch in plan_batches(FIVE, 2)] == [[0, 1], [2, 3], [4]]
    batches = batch_kwargs(FIVE, 2)
    assert [len(b["requests"]) for b in batches] == [2, 2, 1]
    owl = {"model": "veo-3.1-fast-generate-preview", "prompt": "An owl.", "duration": 4, "seed": 5}
    assert batches[2] == {"requests": [owl], "poll_interval": 2.0}  # the poll interval is the operator's
    assert batch_kwargs(FIVE, 200) == [{"requests": [b for a in batches for b in a["requests"]], "poll_interval": 2.0}]
    assert one_per_task([], 0) == batch_kwargs([], 3) == []  # a day already archived: both tasks skipped
    assert (clip_task(0), clip_task(3)) == ("generate_clip", "generate_clip_batch")


def test_a_batch_s_arguments_are_what_the_batch_operator_takes() -> None:
    """The arguments pass the operator's own checks (it validates a literal batch when it is built)."""
    from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator

    operator = VideoGenerationBatchOperator(task_id="generate_clip_batch", **batch_kwargs(FIVE, 3)[0])
    assert [item["prompt"] for item in operator.item_fields()] == ["A kite.", "A boat.", "A fox."]
    assert operator.poll_interval == 2.0


@pytest.mark.parametrize("value", [-1, 201, True, "2", 2.0, None])
def test_a_bad_batch_size_is_refused_naming_it_and_the_range(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"batch_size=.*allowed: 0 .* or 1 to 200"):
        check_batch_size(value)


def test_batch_results_are_tagged_with_their_variant_and_a_failed_batch_leaves_out_its_clips() -> None:
    batches = plan_batches(FIVE, 2)
    ti = _TI(
        {
            ("generate_clip_batch", 0): [_result("c0"), _result("c1")],
            ("generate_clip_batch", 2): [_result("c4")],  # batch 1 failed: no result
        },
        {("generate_clip_batch", 1, "videogen_task_ids"): ["c2", "c3"]},
    )
    clips = finished_batch_results(ti, "generate_clip_batch", batches, kind="clip", prefix="p")
    assert [(c["index"], c["result"]["id"], c["s3_key"], c["map_index"]) for c in clips] == [
        (0, "c0", "p/clip-0.{ext}", 0), (1, "c1", "p/clip-1.{ext}", 0), (4, "c4", "p/clip-4.{ext}", 2),
    ]  # fmt: skip
    assert {c["task_id"] for c in clips} == {"generate_clip_batch"}
    assert clips[2]["variant"] == FIVE[4]
    manifest = build_manifest(
        dag_id="d", run_id="r", logical_date=None, brief="b", prompt_source="template", plan_id="x", plan=FIVE,
        clips=clips, clip_task="generate_clip_batch",
    )  # fmt: skip
    assert [line for line in manifest.problems() if "no clip" in line] == [
        "variant 2: no clip (see generate_clip_batch)",
        "variant 3: no clip (see generate_clip_batch)",
    ]
    with pytest.raises(AirflowFailException, match="No plan"):
        finished_batch_results(ti, "generate_clip_batch", None, kind="clip", prefix="p")


def test_the_review_of_a_batch_clip_links_to_the_batch_task_instance_that_made_it() -> None:
    from airflow_provider_videogen.pipelines.review import review_request

    ti = _TI({("generate_clip_batch", 1): [_result("c2"), _result("c3")]})
    [_, hen] = finished_batch_results(ti, "generate_clip_batch", plan_batches(FIVE, 2), kind="clip", prefix="p")
    body = review_request(hen, dag_id="d", run_id="r", base_url="http://a")["body"]
    assert "(http://a/dags/d/runs/r/tasks/generate_clip_batch/mapped/1/plugin/task-videos)" in body
    [one] = finished_results(_TI({("generate_clip", 3): _result("c3")}), "generate_clip", FIVE, kind="clip", prefix="p")
    assert "/tasks/generate_clip/mapped/3/plugin/" in review_request(one, dag_id="d", run_id="r", base_url="")["body"]


# ---- the last-frame hand-off ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import imageio_ffmpeg

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=10:duration=1",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_frame_travels_inline_as_a_png_data_uri(clip: Path) -> None:
    reference = chain.last_frame_reference(str(clip), name="unused.png")
    assert reference.startswith("data:image/png;base64,")
    assert base64.b64decode(reference.split(",", 1)[1]).startswith(b"\x89PNG")


def test_a_large_frame_is_sent_inline_as_jpeg(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain, "INLINE_MAX_BYTES", 100)
    assert chain.last_frame_reference(str(clip), name="unused.png").startswith("data:image/jpeg;base64,")


def test_frame_travels_through_object_storage(clip: Path, tmp_path: Path) -> None:
    from airflow_provider_videogen.references import to_reference

    reference = chain.last_frame_reference(str(clip), name="run/variant-0.png", store=f"file://{tmp_path}/frames/")
    assert reference == f"file://{tmp_path}/frames/run/variant-0.png"
    assert (tmp_path / "frames" / "run" / "variant-0.png").read_bytes().startswith(b"\x89PNG")
    assert to_reference(reference).kind == "file"  # what the remix operator does with it at execute
