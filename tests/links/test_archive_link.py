"""The "S3" extra link's address: the AWS console for AWS, the object's URL on any other S3 server."""

from __future__ import annotations

from airflow_provider_videogen.links.archive import ArchiveLink, archive_url
from airflow_provider_videogen.transfers.video_to_s3 import VideoToS3Operator


def test_aws_object_opens_in_the_s3_console() -> None:
    url = archive_url("my-bucket", ["videogen/d/run_1/clip-0.mp4"], endpoint_url=None, region="eu-west-1")
    assert url == (
        "https://s3.console.aws.amazon.com/s3/object/my-bucket?region=eu-west-1&prefix=videogen%2Fd%2Frun_1%2Fclip-0.mp4"
    )


def test_regional_aws_endpoint_is_still_aws() -> None:
    url = archive_url("b", ["k.mp4"], endpoint_url="https://s3.eu-west-1.amazonaws.com", region="eu-west-1")
    assert url.startswith("https://s3.console.aws.amazon.com/s3/object/b?")


def test_other_s3_servers_get_the_objects_own_url() -> None:
    url = archive_url("b", ["videogen/run 1/clip-0.mp4"], endpoint_url="http://127.0.0.1:8333/", region="us-east-1")
    assert url == "http://127.0.0.1:8333/b/videogen/run%201/clip-0.mp4"


def test_several_objects_link_to_their_common_folder() -> None:
    keys = ["p/run/clip-0.mp4", "p/run/clip-1.mp4"]
    assert archive_url("b", keys, endpoint_url=None, region="us-east-1") == (
        "https://s3.console.aws.amazon.com/s3/buckets/b?region=us-east-1&prefix=p%2Frun%2F"
    )
    assert archive_url("b", keys, endpoint_url="http://s3.local", region=None) == "http://s3.local/b?prefix=p%2Frun%2F"


def test_the_operator_declares_the_link() -> None:
    assert any(isinstance(link, ArchiveLink) for link in VideoToS3Operator.operator_extra_links)
    assert archive_url("b", [], endpoint_url=None, region=None) == ""
