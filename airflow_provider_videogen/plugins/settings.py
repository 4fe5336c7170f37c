"""The Videos view's settings: Airflow configuration section ``[videogen]`` (or ``AIRFLOW__VIDEOGEN__*``).

* ``aws_conn_id`` (default ``aws_default``): the connection the api-server reads archived videos
  and writes poster frames with.
* ``videogen_conn_id`` (default ``videogen_default``): the gateway connection used to proxy a
  video that is not archived yet.
* ``media_delivery``: ``stream`` (default: the api-server streams from S3, with Range) or
  ``presigned`` (a redirect to a presigned S3 URL valid for five minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SECTION = "videogen"
DELIVERIES = ("stream", "presigned")


@dataclass(frozen=True)
class ViewSettings:
    aws_conn_id: str = "aws_default"
    videogen_conn_id: str = "videogen_default"
    media_delivery: Literal["stream", "presigned"] = "stream"

    @classmethod
    def from_config(cls) -> ViewSettings:
        """Read ``[videogen]``; an unknown ``media_delivery`` is an error naming the allowed values."""
        from airflow.configuration import conf

        delivery = conf.get(SECTION, "media_delivery", fallback="stream").strip().lower()
        if delivery not in DELIVERIES:
            raise ValueError(f"[{SECTION}] media_delivery={delivery!r}; allowed: {', '.join(DELIVERIES)}")
        return cls(
            aws_conn_id=conf.get(SECTION, "aws_conn_id", fallback="aws_default"),
            videogen_conn_id=conf.get(SECTION, "videogen_conn_id", fallback="videogen_default"),
            media_delivery="presigned" if delivery == "presigned" else "stream",
        )
