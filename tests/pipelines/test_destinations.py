"""Where a pipeline run writes, when dag_run.conf chooses it (issue 13 point 18)."""

from __future__ import annotations

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.pipelines.destinations import (
    bucket_problem,
    check_destinations,
    frame_store_problem,
    prefix_problem,
)
from airflow_provider_videogen.pipelines.params import INLINE_FRAMES


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


@pytest.mark.parametrize(
    "store", ["", None, "inline", "s3://videogen-frames/frames", "s3://aws_default@videogen-frames/f"]
)
def test_frame_stores_accepted(store: object) -> None:
    assert frame_store_problem(store, conn_ids=["aws_default"]) is None


@pytest.mark.parametrize(
    ("store", "why"),
    [
        ("file:///etc/videogen", "scheme s3://"),
        ("/tmp/frames", "scheme s3://"),
        ("gs://bucket/frames", "scheme s3://"),
        ("s3://other_conn@videogen-frames/frames", "names connection 'other_conn'"),
        ("s3://videogen-frames/../elsewhere", "'.' or '..' segment"),
        ("s3://Bad_Bucket/frames", "not a bucket name"),
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
