"""``RemixRequest`` hides its references in errors and its repr, as ``GenerationRequest`` hides its links.

pydantic's own error text echoes the whole input (a presigned reference link, a data URI) and
the repr showed every reference's value; the operator's ``InvalidRequestError`` still names the
field, the value (redacted) and the limit.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import RemixRequest, explain_validation_error
from airflow_provider_videogen.models.remix import RemixReference

MODEL = "veo_3_1-fast-remix"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def presigned(token: str) -> str:
    return f"https://bucket.s3.example.com/refs/{token}.png?X-Amz-Signature={token}"


@pytest.mark.parametrize(
    ("references", "shown"),
    [
        (lambda link: [{"kind": "url", "value": link}] * 4, "at most 3"),  # a model rule: the whole input echoed
        (lambda link: [link], "input_references.0=https://bucket.s3.example.com/(redacted:"),  # not a reference
        (lambda link: link, "input_references=https://bucket.s3.example.com/(redacted:"),  # not a list
        (lambda link: [{"kind": "data_uri", "value": "data:image/png;base64," + b64(link)}], "not a JPEG"),
    ],
    ids=["too many", "a bare string", "not a list", "a data URI"],
)
def test_remix_validation_errors_never_echo_a_reference(references: Any, shown: str) -> None:
    token = uuid.uuid4().hex[:16]  # short enough for pydantic's truncated input_value to show it whole
    link = presigned(token)
    with pytest.raises(ValidationError) as info:
        RemixRequest(model=MODEL, prompt="a", prompt_extend="b", input_references=references(link))
    assert token not in str(info.value)
    assert b64(link)[:24] not in str(info.value)  # nor a data URI's bytes
    problems = explain_validation_error(info.value)
    text = str(InvalidRequestError("RemixRequest", problems))
    assert token not in text
    assert "input_reference" in text
    assert shown in text


def test_the_remix_request_repr_holds_no_reference() -> None:
    token = uuid.uuid4().hex
    request = RemixRequest(
        model=MODEL,
        prompt="a",
        prompt_extend="b",
        input_references=[RemixReference(kind="url", value=presigned(token))],
    )
    assert token not in repr(request)
    assert token not in str(request)
