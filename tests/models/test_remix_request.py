"""RemixRequest limits: references, sizes, required fields; each fails before any request is sent."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import RemixReference, RemixRequest
from airflow_provider_videogen.operators.video_task import validate

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64
URL = "https://cdn.example.com/ref.jpg"
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def build(**fields: Any) -> RemixRequest:
    base = {"model": "veo_3_1-fast-remix", "prompt": "a cat walks in", "prompt_extend": "the cat sits down"}
    return validate(RemixRequest, "RemixRequest", **{**base, **fields})  # type: ignore[no-any-return]


def refs(n: int) -> list[RemixReference]:
    return [RemixReference.from_bytes(PNG, f"r{i}.png") for i in range(n)]


def test_text_only_and_every_reference_form() -> None:
    assert build().input_references == []
    req = build(
        size="1920x1080",
        input_references=[
            RemixReference.from_bytes(JPEG, "a"),
            RemixReference.from_text(URL),
            RemixReference.from_text(DATA_URI),
        ],
    )
    assert [r.kind for r in req.input_references] == ["file", "url", "data_uri"]
    assert req.input_references[0].content_type == "image/jpeg"
    assert req.input_references[0].value == "a.jpg"
    assert req.form_fields()[-1] == ("size", "1920x1080")


@pytest.mark.parametrize("model", ["veo_3_1-fast-fl-remix", "veo_3_1-hd-fl-remix"])
@pytest.mark.parametrize("count", [1, 2])
def test_first_last_models_take_one_or_two_images(model: str, count: int) -> None:
    assert len(build(model=model, input_references=refs(count)).input_references) == count


CASES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "fl with 3 images",
        {"model": "veo_3_1-fast-fl-remix", "input_references": refs(3)},
        "input_references",
        ["3 image", "1 to 2"],
    ),
    ("fl with none", {"model": "veo_3_1-fl-remix"}, "input_references", ["0 image", "first/last-frame"]),
    ("reference model with 4", {"input_references": refs(4)}, "input_references", ["4 images", "at most 3"]),
    ("missing prompt_extend", {"prompt_extend": None}, "prompt_extend", ["prompt_extend is required"]),
    ("blank prompt_extend", {"prompt_extend": "  "}, "prompt_extend", ["last 7 s"]),
    ("size with star", {"size": "1280*720"}, "size", ["'1280*720'", "WIDTHxHEIGHT", "'1280x720'"]),
    ("size not offered", {"size": "640x480"}, "size", ["'640x480'", "not offered"]),
]


@pytest.mark.parametrize(("fields", "field", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_remix_requests(fields: dict[str, Any], field: str, fragments: list[str]) -> None:
    if fields.get("prompt_extend", "") is None:
        fields = {k: v for k, v in fields.items() if k != "prompt_extend"}
        with pytest.raises(InvalidRequestError) as info:
            validate(RemixRequest, "RemixRequest", model="veo_3_1-remix", prompt="a")
    else:
        with pytest.raises(InvalidRequestError) as info:
            build(**fields)
    assert field in info.value.fields
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: RemixReference.from_bytes(GIF, "anim.gif"), "not a JPEG, PNG or WEBP"),
        (lambda: RemixReference.from_bytes(b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024), "big.jpg"), "11.0 MB"),
        (lambda: RemixReference.from_text("https://cdn.example.com/anim.gif"), ".gif"),
        (lambda: RemixReference.from_text("data:image/gif;base64,R0lGODlh"), "image/gif"),
        (lambda: RemixReference.from_text("data:image/png;base64," + base64.b64encode(GIF).decode()), "bytes are not"),
        (lambda: RemixReference.from_text("ftp://cdn.example.com/a.png"), "http(s) URL"),
    ],
    ids=["gif file", "11 MB file", "gif url", "gif data uri", "lying data uri", "ftp url"],
)
def test_reference_that_is_not_an_allowed_image_is_refused(make: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match="input_reference") as info:
        make()
    assert fragment in str(info.value)


def test_reference_describe_never_dumps_content() -> None:
    ref = RemixReference.from_text(DATA_URI)
    assert "base64" not in ref.describe()
    assert ref.describe().startswith("data URI")
    assert "content" not in repr(RemixReference.from_bytes(PNG, "x.png")) or "\\x89PNG" not in repr(
        RemixReference.from_bytes(PNG, "x.png")
    )


def test_a_generation_model_is_not_a_remix_model() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(model="veo3.1-fast")
    assert info.value.fields == ["model"]
    assert "-remix" in str(info.value)
    assert build(model="veo_3_2-fast-remix").model == "veo_3_2-fast-remix"  # the documented naming rule
