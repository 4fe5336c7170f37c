"""Extra link "S3" on ``VideoToS3Operator``: the archived videos, in the task's Videos tab.

The link opens the archive task's "Videos" tab in the Airflow UI (:mod:`.view`): the archived
videos play there, streamed from S3 through the api-server with the provider's AWS connection,
behind Airflow's login. A raw S3 URL would not play: a private bucket answers ``403
AccessDenied`` (SeaweedFS on the local stack too), and the AWS console needs another login.

:func:`archive_url` still gives an object's raw address (the AWS console page, or the path-style
URL on another S3 server), for tools that have credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_videogen.links.view import videos_view_url

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
    """The archive task's Videos tab: its archived videos, playable behind Airflow's login."""

    name = "S3"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        results = XCom.get_value(ti_key=ti_key, key="return_value") or []
        if not isinstance(results, list):
            return ""
        objects = [r for r in results if isinstance(r, dict) and r.get("bucket") and r.get("key")]
        return videos_view_url(ti_key) if objects else ""
