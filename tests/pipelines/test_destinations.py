"""Where a pipeline run writes, when dag_run.conf chooses it (issue 13 point 18)."""

from __future__ import annotations

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.pipelines.destinations import (
    archive_prefix,
    bucket_problem,
    check_destinations,
    frame_store_problem,
    prefix_problem,
    storage_connection_problem,
)
from airflow_provider_videogen.pipelines.params import INLINE_FRAMES
from airflow_provider_videogen.transfers.keys import render_key, safe_value


@pytest.mark.parametrize("name", ["videogen-archive", "abc", "my.bucket.2026", "a" * 63])
def test_bucket_names_that_s3_accepts(name: str) -> None:
    assert bucket_problem(name) is None


@pytest.mark.parametrize(
    "name", ["ab", "a" * 64, "Upper", "under_score", "-start", "end-", "a..b", "192.168.0.1", "xn--abc", "b/k", 7]
)
def test_bucket_names_refused(name: object) -> None:
    assert bucket_problem(name) is not None


@pytest.mark.parametrize("prefix", ["", "videogen", "videogen/daily/2026", "a.b/c=d_e-f"])
def test_prefixes_accepted(prefix: str) -> None:
    assert prefix_problem(prefix) is None


@pytest.mark.parametrize("prefix", ["..", "a/../b", "./a", "a/.", "a b", "a\\b", "a?b", "ü", None])
def test_prefixes_refused(prefix: object) -> None:
    assert prefix_problem(prefix) is not None


@pytest.mark.parametrize("store", ["", None, "inline", "s3://aws_default@videogen-frames/f"])
def test_frame_stores_accepted(store: object) -> None:
    assert frame_store_problem(store, conn_ids=["aws_default"]) is None


@pytest.mark.parametrize(
    ("store", "why"),
    [
        ("file:///etc/videogen", "scheme s3://"),
        ("/tmp/frames", "scheme s3://"),
        ("gs://bucket/frames", "scheme s3://"),
        ("s3://other_conn@videogen-frames/frames", "names connection 'other_conn'"),
        ("s3://aws_default@videogen-frames/../elsewhere", "'.' or '..' segment"),
        ("s3://aws_default@Bad_Bucket/frames", "not a bucket name"),
        ("s3://videogen-frames/f?versionId=1", "query"),
    ],
)
def test_frame_stores_refused(store: str, why: str) -> None:
    problem = frame_store_problem(store, conn_ids=["aws_default"])
    assert problem is not None
    assert why in problem


def test_check_destinations_names_every_bad_parameter() -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_destinations(
            {"s3_bucket": "x", "s3_prefix": "../p", "frame_store": "file:///tmp", "brief": "ignored"},
            conn_ids=["aws_default"],
        )
    assert info.value.fields == ["s3_bucket", "s3_prefix", "frame_store"]


def test_check_destinations_accepts_the_example_defaults() -> None:
    # The params' own defaults, as the trigger form sends them (frame_store "inline").
    check_destinations({"s3_bucket": "videogen-archive", "s3_prefix": "videogen", "frame_store": INLINE_FRAMES})


# ---- issue 21 point 13: every part of a key is checked with the archive's own rules ------------


@pytest.mark.parametrize("campaign", ["..", ".", "a/b", "", "a b", "x" * 513, None])
def test_a_campaign_that_cannot_be_a_key_segment_is_refused_by_name(campaign: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_destinations({"campaign": campaign, "s3_bucket": "videogen-archive"}, segments=["campaign"])
    assert info.value.fields == ["campaign"]
    assert repr(campaign)[:40] in str(info.value)


@pytest.mark.parametrize("campaign", ["harbour-diaries", "...", "a.b", "v=2"])
def test_campaigns_the_archive_accepts(campaign: str) -> None:
    check_destinations({"campaign": campaign}, segments=["campaign"])
    prefix = archive_prefix(s3_prefix="videogen-daily", campaign=campaign, date="2026-03-01", plan="abc")
    # The archive's own key rules accept every key the run will write under that prefix.
    render_key(f"{prefix}/manifest.json", {})
    render_key(f"{prefix}/clip-19.{{ext}}", {"ext": "mp4"})


@pytest.mark.parametrize(
    ("parts", "why"),
    [
        ({"s3_prefix": "videogen", "campaign": "..", "date": "2026-03-01"}, "'.' or '..' segment"),
        ({"s3_prefix": "a" * 500, "campaign": "b" * 500, "date": "2026-03-01"}, "bytes"),
    ],
)
def test_archive_prefix_refuses_what_the_archive_would_refuse_naming_the_parts(parts: dict[str, str], why: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        archive_prefix(**parts)
    assert info.value.fields == ["s3_prefix/campaign/date"]
    assert why in str(info.value)


def test_archive_prefix_joins_the_parts_as_before() -> None:
    assert archive_prefix(s3_prefix="/videogen-daily/", campaign="c", date="2026-03-01", plan="f") == (
        "videogen-daily/c/2026-03-01/f"
    )
    assert archive_prefix(s3_prefix="", campaign="c", date="d") == "c/d"


@pytest.mark.parametrize(("value", "segment"), [("..", "__"), (".", "_"), ("...", "..."), ("", "_")])
def test_a_value_never_renders_to_a_dot_segment(value: str, segment: str) -> None:
    # A manual run id may be ".." (Airflow's default run id pattern allows it): the pipeline's
    # prefix and the default key template then used to hold a ".." segment the archive refuses.
    assert safe_value(value) == segment
    assert render_key("videogen/{run_id}/{index}.{ext}", {"run_id": value, "index": 0, "ext": "mp4"}) == (
        f"videogen/{segment}/0.mp4"
    )


# ---- issue 21 point 14: a frame store names the identity that writes it -------------------------


def test_a_frame_store_without_a_connection_is_refused_naming_the_ambient_identity() -> None:
    problem = frame_store_problem("s3://videogen-frames/frames", conn_ids=["aws_default"])
    assert problem is not None
    assert "ambient AWS identity" in problem
    assert "s3://<conn_id>@videogen-frames/frames" in problem
    with pytest.raises(InvalidRequestError) as info:
        check_destinations({"frame_store": "s3://videogen-frames/frames"}, conn_ids=["aws_default"])
    assert info.value.fields == ["frame_store"]


def test_storage_connection_problem_only_concerns_s3_urls_without_a_connection() -> None:
    assert storage_connection_problem("s3://aws_default@b/f") is None
    assert storage_connection_problem("file:///shared/frames") is None
    assert storage_connection_problem("s3://b/f") is not None
    assert storage_connection_problem("s3://@b/f") is not None  # an empty connection id is none
    assert storage_connection_problem("gs://b/f") is not None
    assert storage_connection_problem("memory://b/f") is None


def test_last_frame_reference_refuses_a_store_without_a_connection_before_downloading() -> None:
    from airflow_provider_videogen.pipelines.chain import last_frame_reference

    # The clip's URL is unreachable: the refusal must come before any download is tried.
    with pytest.raises(ValueError, match="ambient AWS identity"):
        last_frame_reference("http://192.0.2.1/clip.mp4", name="run/variant-0.png", store="s3://videogen-frames/f")
