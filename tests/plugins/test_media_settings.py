"""The media endpoint's settings (issue 22 point 2): a presigned redirect when the deployment prefers it."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_videogen.plugins.media import PRESIGNED_SECONDS, s3_answer
from airflow_provider_videogen.plugins.settings import ViewSettings


def test_presigned_delivery_redirects_to_a_fresh_signed_url(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "aws", "login": "key", "password": "secret", "extra": {"endpoint_url": "http://127.0.0.1:9"}}
    monkeypatch.setenv("AIRFLOW_CONN_VIEW_S3", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__VIDEOGEN__MEDIA_DELIVERY", "presigned")
    monkeypatch.setenv("AIRFLOW__VIDEOGEN__AWS_CONN_ID", "view_s3")
    answer = s3_answer("bucket", "run/clip-0.mp4", "bytes=0-", ViewSettings.from_config())
    assert answer["status"] == 307
    location = answer["headers"]["Location"]
    assert location.startswith("http://127.0.0.1:9/bucket/run/clip-0.mp4?")
    assert "Signature=" in location
    expires = int(location.rsplit("Expires=", 1)[1].split("&")[0])
    assert 0 < expires - time.time() <= PRESIGNED_SECONDS  # fresh: valid for minutes, not the gateway's 24 h


def test_an_unknown_delivery_is_refused_with_the_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__VIDEOGEN__MEDIA_DELIVERY", "cdn")
    with pytest.raises(ValueError, match=r"media_delivery='cdn'; allowed: stream, presigned"):
        ViewSettings.from_config()
