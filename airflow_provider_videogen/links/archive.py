"""Extra link "S3" on ``VideoToS3Operator``: where the archived video lives, for as long as it is kept.

The video operators' "Video" link is a signed download URL that dies 24 h after the render;
this one points at the archived object and does not expire. Airflow 3's worker calls
``get_link()`` once, when the task ends, and stores the answer, so the link is computed there
from the task's own result (bucket and keys) and its AWS connection:

* **AWS S3** (no custom endpoint, or an ``*.amazonaws.com`` one): the S3 console page of the
  object (a login to the AWS console is needed, nothing is signed);
* **another S3 server** (SeaweedFS, MinIO, ...): the object's path-style URL on the connection's
  ``endpoint_url``.

One video: the object itself. Several: their common prefix (the console's folder view).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

AWS_CONSOLE = "https://s3.console.aws.amazon.com/s3"


def is_aws_endpoint(endpoint_url: str | None) -> bool:
    return not endpoint_url or (urlsplit(endpoint_url).hostname or "").endswith(".amazonaws.com")


def archive_url(bucket: str, keys: Sequence[str], *, endpoint_url: str | None, region: str | None) -> str:
    """The durable address of ``keys`` in ``bucket``: the AWS console, or the S3 server's own URL."""
    if not keys:
        return ""
    single = len(keys) == 1
    prefix = keys[0] if single else _common_folder(keys)
    if is_aws_endpoint(endpoint_url):
        query = {"region": region or "us-east-1", "prefix": prefix}
        page = "object" if single else "buckets"
        return f"{AWS_CONSOLE}/{page}/{quote(bucket, safe='')}?{urlencode(query)}"
    base = str(endpoint_url).rstrip("/")
    if single:
        return f"{base}/{quote(bucket, safe='')}/{quote(prefix, safe='/')}"
    return f"{base}/{quote(bucket, safe='')}?{urlencode({'prefix': prefix})}"


def _common_folder(keys: Sequence[str]) -> str:
    common: list[str] = []
    for segments in zip(*(key.split("/")[:-1] for key in keys), strict=False):  # shortest key bounds it
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    return "/".join(common) + "/" if common else ""


def connection_endpoint(aws_conn_id: str | None) -> tuple[str | None, str | None]:
    """``(endpoint_url, region)`` of the AWS connection, as the S3 client built from it sees them."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client: Any = S3Hook(aws_conn_id=aws_conn_id).get_conn()
    return client.meta.endpoint_url, client.meta.region_name


class ArchiveLink(BaseOperatorLink):
    """The archived object (or the folder of several) in S3."""

    name = "S3"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        results = XCom.get_value(ti_key=ti_key, key="return_value") or []
        if not isinstance(results, list):
            return ""
        objects = [r for r in results if isinstance(r, dict) and r.get("bucket") and r.get("key")]
        if not objects:
            return ""
        endpoint_url, region = connection_endpoint(getattr(operator, "aws_conn_id", None))
        return archive_url(
            objects[0]["bucket"], [str(r["key"]) for r in objects], endpoint_url=endpoint_url, region=region
        )
