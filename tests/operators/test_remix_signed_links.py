"""Signed reference and clip links stay out of the remix path's logs, errors and rendered fields
(issue 13 point 6), the way the archive keeps its video links out."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, cast

import pytest
from airflow.sdk._shared.secrets_masker import redact

from airflow_provider_videogen.exceptions import VideoTaskFailedError
from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.models import ApiKind, RemixReference, TaskState, VideoTask
from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.remix_result import settle_partial_remix


def signed(host: str = "bucket.s3.example.com") -> tuple[str, str]:
    """A presigned-looking URL and its (unique) signature."""
    signature = uuid.uuid4().hex
    query = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature={signature}"
    return f"https://{host}/refs/first.png?{query}", signature


def test_a_url_reference_is_described_without_its_query() -> None:
    url, signature = signed()
    described = RemixReference.from_text(url).describe()
    assert described == f"URL {redact_url(url)}"
    assert "first.png" not in described
    assert signature not in described


def test_rendered_reference_links_are_masked_before_they_are_shown() -> None:
    url, signature = signed()
    op = VideoRemixOperator(
        task_id="remix",
        model="veo_3_1-fast-fl-remix",
        prompt="a",
        prompt_extend="b",
        input_references=["{{ params.first }}", RemixReference.from_text(signed("cdn.example.com")[0])],
    )
    assert signature in redact(f"before: {url}")  # unknown to the masker until rendered
    op.render_template_fields(cast("Any", {"params": {"first": url}}))
    assert op.input_references[0] == url  # rendered as is: the gateway needs the whole link
    assert signature not in redact(f"rendered: {op.input_references!r}")


def test_the_partial_remix_error_and_log_name_the_clip_without_its_signature(caplog: pytest.LogCaptureFixture) -> None:
    clip, signature = signed("cdn.example.com")
    task = VideoTask(
        id="task_r",
        api=ApiKind.REMIX,
        state=TaskState.FAILED,
        error_code="extend_failed",
        error_message="the extension failed",
        video_urls=[clip],
        remix_id="video_1",
        completed_at=datetime(2026, 11, 28, tzinfo=timezone.utc),
    )
    pushed: dict[str, Any] = {}
    context = cast("Any", {"ti": SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))})
    log = logging.getLogger("test.remix.partial")

    with pytest.raises(VideoTaskFailedError) as info:
        settle_partial_remix(context, task, policy="fail", retryable=True, result_of=lambda t: {}, log=log)
    assert redact_url(clip) in str(info.value)
    assert "first.png" not in str(info.value)
    assert signature not in str(info.value)
    assert pushed["first_segment_url"] == clip  # XCom keeps the working link for a rescue task

    with caplog.at_level(logging.WARNING, logger="test.remix.partial"):
        settle_partial_remix(
            context, task, policy="accept_first_segment", retryable=True, result_of=lambda t: {}, log=log
        )
    assert redact_url(clip) in caplog.text
    assert signature not in caplog.text
