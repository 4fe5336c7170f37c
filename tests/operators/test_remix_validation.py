"""Every broken limit is refused before anything is sent: literal values when the DAG is parsed
(operator construction), templated values and file contents at execute (AirflowFailException).

The simulator's statistics prove that no create request (no request at all) reached it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.operators.remix import VideoRemixOperator

if TYPE_CHECKING:
    from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
GIF = b"GIF89a" + b"\x00" * 64
URL = "https://images.example.com/a.png"
MODEL = "veo_3_1-fast-remix"
FL_MODEL = "veo_3_1-fast-fl-remix"


class FakeTI:
    try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        raise AssertionError(f"nothing may be pushed for a refused request ({key}={value!r})")


def make(**overrides: Any) -> VideoRemixOperator:
    fields: dict[str, Any] = {
        "task_id": "remix",
        "model": MODEL,
        "prompt": "a lighthouse at dusk",
        "prompt_extend": "the camera flies out to sea",
        "poll_interval": 0.2,
    }
    fields.update(overrides)
    return VideoRemixOperator(**fields)


def execute_rendered(op: VideoRemixOperator, params: dict[str, Any]) -> Any:
    op.render_template_fields({"params": params})  # type: ignore[arg-type]
    return op.execute({"ti": FakeTI(), "task_state_store": None})  # type: ignore[arg-type]


@pytest.fixture
def sim(simulator: Any, videogen_conn: str) -> Any:
    yield simulator
    stats = simulator.stats()
    assert stats["remix"]["creates"] == 0, stats["remix_requests"]
    assert stats["requests"]["total"] == 0


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "png": tmp_path / "a.png",
        "gif_named_png": tmp_path / "really-a-gif.png",
        "huge": tmp_path / "huge.png",
        "missing": tmp_path / "missing.png",
    }
    paths["png"].write_bytes(PNG)
    paths["gif_named_png"].write_bytes(GIF)
    with paths["huge"].open("wb") as out:
        out.write(PNG)
        out.truncate(11 * 1024 * 1024)
    return paths


# ---- literal values: refused when the DAG file is parsed ------------------------------------------

PARSE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("3 images for a -fl model", {"model": FL_MODEL, "input_references": [URL] * 3}, r"3 image\(s\).*1 to 2"),
    ("no image for a -fl model", {"model": FL_MODEL}, r"0 image\(s\).*first/last-frame"),
    ("4 images for a reference model", {"input_references": [PNG] * 4}, r"4 images.*at most 3"),
    ("GIF bytes", {"input_references": [GIF]}, r"#1: .*not a JPEG, PNG or WEBP"),
    ("GIF file name", {"input_references": ["/srv/anim.gif"]}, r"#1: .*'/srv/anim.gif' looks like image/gif"),
    ("GIF URL", {"input_references": ["https://x.example.com/a.gif"]}, r"\.gif file"),
    ("11 MB bytes", {"input_references": [PNG + b"\x00" * (11 * 1024 * 1024)]}, r"11.0 MB; at most 10 MB"),
    ("data URI of a GIF", {"input_references": ["data:image/gif;base64,R0lGODlh"]}, r"image/gif"),
    ("prompt_extend None", {"prompt_extend": None}, r"prompt_extend is required"),
    ("blank prompt_extend", {"prompt_extend": "  "}, r"prompt_extend is empty; it describes the last 7 s"),
    ("size with a star", {"size": "1280*720"}, r"size='1280\*720' is not WIDTHxHEIGHT"),
    ("size upper-case X", {"size": "1280X720"}, r"not WIDTHxHEIGHT"),
    ("size not offered", {"size": "640x480"}, r"'640x480' is not offered"),
]


@pytest.mark.parametrize(("overrides", "pattern"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_literal_limits_fail_at_dag_parse(sim: Any, overrides: dict[str, Any], pattern: str) -> None:
    with pytest.raises(InvalidRequestError, match=pattern):
        make(**overrides)


def test_missing_prompt_extend_fails_at_dag_parse() -> None:
    with pytest.raises(TypeError, match="prompt_extend"):
        VideoRemixOperator(task_id="remix", model=MODEL, prompt="a")  # type: ignore[call-arg]


def test_paths_are_counted_at_parse_but_read_at_execute(sim: Any, files: dict[str, Path]) -> None:
    with pytest.raises(InvalidRequestError, match=r"3 image\(s\)"):
        make(model=FL_MODEL, input_references=[files["missing"]] * 3)
    # A path that does not exist yet is fine at parse time: it is only read at execute.
    op = make(model=FL_MODEL, input_references=[files["missing"], files["png"]])
    with pytest.raises(AirflowFailException, match=r"#1: input_reference file '.*missing.png' does not exist"):
        op.execute({"ti": FakeTI(), "task_state_store": None})  # type: ignore[arg-type]


def test_policy_is_checked_at_parse() -> None:
    with pytest.raises(ValueError, match="on_extend_failure='retry'"):
        make(on_extend_failure="retry")


# ---- file contents and templated values: refused at execute, before any request ------------------


def test_gif_content_behind_a_png_name_fails_at_execute(sim: Any, files: dict[str, Path]) -> None:
    op = make(input_references=[files["png"], str(files["gif_named_png"])])
    with pytest.raises(AirflowFailException, match=r"#2: .*'really-a-gif.png' is not a JPEG, PNG or WEBP image"):
        op.execute({"ti": FakeTI(), "task_state_store": None})  # type: ignore[arg-type]


def test_11_mb_file_fails_at_execute(sim: Any, files: dict[str, Path]) -> None:
    op = make(input_references=[files["huge"]])
    with pytest.raises(AirflowFailException, match=r"huge.png' is 11.0 MB; at most 10 MB per image"):
        op.execute({"ti": FakeTI(), "task_state_store": None})  # type: ignore[arg-type]


TEMPLATED_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "3 images for a -fl model",
        {"model": FL_MODEL, "input_references": ["{{ params.url }}"] * 3},
        {"url": URL},
        r"3 image\(s\).*1 to 2",
    ),
    (
        "4 images for a reference model",
        {"input_references": ["{{ params.url }}"] * 4},
        {"url": URL},
        r"4 images.*at most 3",
    ),
    ("GIF path", {"input_references": "{{ params.path }}"}, {"path": "GIF"}, r"not a JPEG, PNG or WEBP"),
    ("11 MB path", {"input_references": ["{{ params.path }}"]}, {"path": "HUGE"}, r"11.0 MB"),
    ("empty prompt_extend", {"prompt_extend": "{{ params.ext }}"}, {"ext": ""}, r"prompt_extend is empty"),
    ("size not WIDTHxHEIGHT", {"size": "{{ params.size }}"}, {"size": "1280*720"}, r"not WIDTHxHEIGHT"),
    ("model template", {"model": "{{ params.m }}"}, {"m": FL_MODEL}, r"0 image\(s\)"),
]


@pytest.mark.parametrize(
    ("overrides", "params", "pattern"), [c[1:] for c in TEMPLATED_CASES], ids=[c[0] for c in TEMPLATED_CASES]
)
def test_templated_limits_fail_at_execute_with_airflow_fail_exception(
    sim: Any, files: dict[str, Path], overrides: dict[str, Any], params: dict[str, Any], pattern: str
) -> None:
    op = make(**overrides)  # nothing can be checked yet: no error here
    stand_ins = {"GIF": str(files["gif_named_png"]), "HUGE": str(files["huge"])}
    params = {key: stand_ins.get(value, value) for key, value in params.items()}
    with pytest.raises(AirflowFailException, match=pattern):
        execute_rendered(op, params)
