"""The chaos S3 fault proxy, against the real SeaweedFS: it forwards signed requests unchanged and
fails only the ledger's writes (``fail_ledger``) or only uploads (``fail_uploads``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_provider_videogen.testing.chaos.s3_proxy import S3FaultProxy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

pytestmark = pytest.mark.s3

LEDGER = "chaos-budgets/chaos/total.json"
ARCHIVE = "videogen/chaos_videos/run/clip.mp4"


@pytest.fixture
def proxied(seaweedfs: SeaweedFS, s3_bucket: str) -> Iterator[tuple[S3FaultProxy, Any]]:
    with S3FaultProxy(seaweedfs.endpoint_url, ledger_prefix=f"{s3_bucket}/chaos-budgets") as proxy:
        client = boto3.client(
            "s3",
            endpoint_url=proxy.endpoint_url,  # signed for the proxy's host, as the cluster's connection is
            aws_access_key_id=seaweedfs.access_key,
            aws_secret_access_key=seaweedfs.secret_key,
            region_name=seaweedfs.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}),
        )
        yield proxy, client


def _status(call: Any) -> int:
    try:
        call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def test_forwards_signed_reads_and_writes_unchanged(
    proxied: tuple[S3FaultProxy, Any], seaweedfs: SeaweedFS, s3_bucket: str
) -> None:
    proxy, client = proxied
    body = bytes(range(256)) * 4096  # 1 MiB
    client.put_object(Bucket=s3_bucket, Key=ARCHIVE, Body=body, Metadata={"sha256": "x"})
    client.put_object(Bucket=s3_bucket, Key=LEDGER, Body=b"{}", IfNoneMatch="*")
    assert seaweedfs.boto3_client().get_object(Bucket=s3_bucket, Key=ARCHIVE)["Body"].read() == body
    assert client.head_object(Bucket=s3_bucket, Key=ARCHIVE)["ContentLength"] == len(body)
    assert client.get_object(Bucket=s3_bucket, Key=LEDGER)["Body"].read() == b"{}"
    assert proxy.failed == []


def test_ledger_fault_fails_only_the_ledger_writes(proxied: tuple[S3FaultProxy, Any], s3_bucket: str) -> None:
    proxy, client = proxied
    client.put_object(Bucket=s3_bucket, Key=LEDGER, Body=b"{}")
    etag = client.head_object(Bucket=s3_bucket, Key=LEDGER)["ETag"]
    proxy.fail_ledger = True
    assert _status(lambda: client.put_object(Bucket=s3_bucket, Key=LEDGER, Body=b"{1}", IfMatch=etag)) == 503
    assert client.get_object(Bucket=s3_bucket, Key=LEDGER)["Body"].read() == b"{}"  # reads work, nothing written
    assert _status(lambda: client.put_object(Bucket=s3_bucket, Key=ARCHIVE, Body=b"video")) == 200
    proxy.fail_ledger = False
    assert _status(lambda: client.put_object(Bucket=s3_bucket, Key=LEDGER, Body=b"{1}", IfMatch=etag)) == 200
    assert proxy.failed
    assert all(method == "PUT" and "/chaos-budgets/" in path for method, path in proxy.failed)


def test_upload_fault_fails_puts_and_multipart_but_not_the_ledger(
    proxied: tuple[S3FaultProxy, Any], s3_bucket: str
) -> None:
    proxy, client = proxied
    proxy.fail_uploads = True
    assert _status(lambda: client.put_object(Bucket=s3_bucket, Key=ARCHIVE, Body=b"video")) == 503
    assert _status(lambda: client.create_multipart_upload(Bucket=s3_bucket, Key=ARCHIVE)) == 503
    assert _status(lambda: client.put_object(Bucket=s3_bucket, Key=LEDGER, Body=b"{}")) == 200
    assert _status(lambda: client.head_object(Bucket=s3_bucket, Key=ARCHIVE)) == 404  # nothing was written
    proxy.fail_uploads = False
    assert _status(lambda: client.put_object(Bucket=s3_bucket, Key=ARCHIVE, Body=b"video")) == 200
