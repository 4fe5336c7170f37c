"""Pure parts of the archive: body sniffing, URL redaction, source parsing and key rendering."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.transfers.errors import VideoArchiveError
from airflow_provider_videogen.transfers.keys import DEFAULT_S3_KEY, check_unique, render_key, safe_value
from airflow_provider_videogen.transfers.sources import parse_source, url_task_id
from airflow_provider_videogen.transfers.verification import describe_bytes, sniff

FTYP = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"

# ---- sniffing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "content_type", "expected"),
    [
        (FTYP, "video/mp4", "video/mp4"),
        (FTYP, "application/octet-stream", "video/mp4"),
        (FTYP, None, "video/mp4"),
        (FTYP, "video/quicktime", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 12, None, "video/webm"),
        (b"\x00\x01\x02\x03" * 4, "video/x-custom; codecs=x", "video/x-custom"),
        (b"<!DOCTYPE html><html>", "video/mp4", None),
        (b'  {"error": "expired"}', "video/mp4", None),
        (b"<?xml version='1.0'?><Error>", "application/xml", None),
        (b"\x00\x01\x02\x03" * 4, "application/octet-stream", None),
        (b"\x00\x00\x00\x04ftyp", None, None),  # a box smaller than its own header
        (b"", "video/mp4", None),
        (b"", None, None),
    ],
)
def test_sniff(head: bytes, content_type: str | None, expected: str | None) -> None:
    assert sniff(head, content_type).content_type == expected


def test_redact_url_shows_scheme_host_and_a_fingerprint_only() -> None:
    url = "https://user:pw@cdn.example.com:8443/v/clip.mp4?X-Amz-Signature=abc#t=1"
    assert re.fullmatch(r"https://cdn\.example\.com:8443/\(redacted:[0-9a-f]{12}\)", redact_url(url))
    assert redact_url("https://cdn.example.com/a.mp4").startswith("https://cdn.example.com/(redacted:")
    assert redact_url("https://cdn.example.com:abc/a.mp4?sig=SECRET").startswith("https://cdn.example.com:abc/(")


def test_describe_bytes_masks_token_like_runs() -> None:
    text = describe_bytes(b'{"token": "abcdefghijklmnopqrstuvwxyz0123"}\n\x00')
    assert "abcdefghijklmnopqrstuvwxyz" not in text
    assert text.startswith('{"token": "***"}')


# ---- sources -------------------------------------------------------------------------------


def xcom(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "task-unified-1",
        "model": "veo3.1-fast",
        "state": "succeeded",
        "video_urls": ["https://cdn.example/a.mp4?sig=1", "https://cdn.example/b.MOV"],
        "expires_at": "2030-01-01T00:00:00Z",
    }
    base.update(over)
    return base


def test_task_dict_gives_one_ref_per_url() -> None:
    refs = parse_source(xcom())
    assert [(r.video_task_id, r.index, r.ext, r.model) for r in refs] == [
        ("task-unified-1", 0, "mp4", "veo3.1-fast"),
        ("task-unified-1", 1, "mov", "veo3.1-fast"),
    ]
    assert refs[0].expires_at == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert "sig=1" not in refs[0].label


def test_list_of_dicts_urls_and_rendered_reprs() -> None:
    mapped = [xcom(id="task-unified-a"), None, xcom(id="task-unified-b", video_urls=["https://x/c.webm"])]
    assert [r.video_task_id for r in parse_source(mapped)] == ["task-unified-a"] * 2 + ["task-unified-b"]
    assert [r.index for r in parse_source(["https://x/1.mp4", "https://x/2.mp4"])] == [0, 1]
    assert parse_source(repr(xcom()))[0].remote_task_id == "task-unified-1"  # Jinja-rendered dict
    assert parse_source('["https://x/1.mp4"]')[0].url == "https://x/1.mp4"


def test_expiry_from_completed_at_when_expires_at_is_missing() -> None:
    done = datetime.now(tz=timezone.utc) - timedelta(hours=25)
    [ref, _] = parse_source(xcom(expires_at=None, completed_at=done.isoformat()))
    assert ref.is_expired()


def test_bare_url_task_id_ignores_the_signature() -> None:
    assert url_task_id("https://cdn.example/a.mp4?sig=1") == url_task_id("https://cdn.example/a.mp4?sig=2")
    assert url_task_id("https://cdn.example/a.mp4") != url_task_id("https://cdn.example/b.mp4")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (xcom(state="failed"), "is failed, not succeeded"),
        (xcom(video_urls=[]), "lists no video URLs"),
        ({"model": "x"}, "no remote task id"),
        ("ftp://host/a.mp4", "expected http or https"),
        ("https:///a.mp4", "expected http or https"),
        (
            ["https://cdn.example.com/a.mp4", "https://cdn.example.com:abc/b.mp4?sig=SECRET"],
            r"Not a valid video URL: 'https://cdn.example.com:abc/\(redacted:[0-9a-f]{12}\)'",
        ),
        ("https://cdn.example.com:99999/a.mp4", "Not a valid video URL.*out of range"),
        ([], "source is empty"),
        (42, "source is a int"),
    ],
)
def test_bad_sources_are_explained(source: object, message: str) -> None:
    with pytest.raises(VideoArchiveError, match=message) as caught:
        parse_source(source)
    assert "SECRET" not in str(caught.value)


def test_partial_remix_falls_back_to_first_video_url() -> None:
    [ref] = parse_source(xcom(video_urls=[], first_video_url="https://cdn.example/first.mp4", partial=True))
    assert ref.url == "https://cdn.example/first.mp4"


# ---- keys ----------------------------------------------------------------------------------


def fields(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "dag_id": "daily_ads",
        "run_id": "scheduled__2026-11-23T08:00:00+00:00",
        "logical_date": datetime(2026, 11, 23, 8, tzinfo=timezone.utc),
        "task_id": "archive",
        "map_index": -1,
        "video_task_id": "task-unified-1",
        "index": 0,
        "ext": "mp4",
    }
    base.update(over)
    return base


def test_default_layout() -> None:
    assert render_key(DEFAULT_S3_KEY, fields()) == (
        "videogen/daily_ads/scheduled__2026-11-23T08_00_00_00_00/archive/-1/task-unified-1_0.mp4"
    )


def test_default_layout_separates_runs_backfills_maps_and_videos() -> None:
    variants = [
        fields(),
        fields(run_id="backfill__2026-11-23T08:00:00+00:00"),
        fields(run_id="manual__2026-11-23T08:00:00+00:00"),
        fields(map_index=0),
        fields(map_index=1),
        fields(task_id="archive_remix"),
        fields(video_task_id="task-unified-2"),
        fields(index=1),
        fields(dag_id="weekly_ads"),
    ]
    keys = [render_key(DEFAULT_S3_KEY, f) for f in variants]
    check_unique(keys)


def test_values_cannot_add_path_segments_and_none_is_spelled() -> None:
    key = render_key("{dag_id}/{logical_date}/{video_task_id}", fields(video_task_id="../../etc", logical_date=None))
    assert key == "daily_ads/none/.._.._etc"
    assert safe_value("a b/c") == "a_b_c"


def test_bad_templates() -> None:
    with pytest.raises(VideoArchiveError, match="allowed placeholders"):
        render_key("{bucket}/{index}", fields())
    with pytest.raises(VideoArchiveError, match="allowed placeholders"):
        render_key("{index:03d}", fields())
    with pytest.raises(VideoArchiveError, match="malformed"):
        render_key("{index", fields())
    with pytest.raises(VideoArchiveError, match="same key"):
        check_unique(["a", "b", "a"])


# ---- issue 13 point 13: clear errors instead of raw crashes ---------------------------------------


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("videogen/../{video_task_id}_{index}.{ext}", {}),
        ("videogen/./{video_task_id}_{index}.{ext}", {}),
    ],
)
def test_keys_never_hold_dot_segments(template: str, fields: dict[str, str]) -> None:
    with pytest.raises(VideoArchiveError, match=r"'\.' or '\.\.' segment"):
        render_key(template, {"video_task_id": "task-1", "index": 0, "ext": "mp4", **fields})
    # A *value* of "." or ".." (a run id may be one) becomes "_" / "__" instead: refusing it here came
    # after the video was paid for (issue 21 point 13; tests/pipelines/test_destinations.py).


def test_a_key_with_dots_inside_a_segment_is_fine() -> None:
    assert render_key("a/..b/c.{ext}", {"ext": "mp4"}) == "a/..b/c.mp4"


@pytest.mark.parametrize("raw", [1e300, float("nan"), float("inf"), 10**400, -1e20])
def test_an_expiry_out_of_range_is_a_clear_error(raw: float) -> None:
    source = {"id": "task-1", "state": "succeeded", "video_urls": ["https://cdn.example/v.mp4"], "expires_at": raw}
    with pytest.raises(VideoArchiveError, match=r"expires_at=.* is not a time"):
        parse_source(source)


@pytest.mark.parametrize("opening", ["[", '{"a": '])
def test_a_deeply_nested_source_is_a_clear_error(opening: str) -> None:
    depth = 100_000
    closing = "]" if opening == "[" else "}"
    with pytest.raises(VideoArchiveError, match="nested too deeply"):
        parse_source(opening * depth + "1" + closing * depth)
