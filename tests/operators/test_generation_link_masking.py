"""``image_urls`` and ``callback_url`` are masked like the remix references (issue 21, point 11).

A presigned image link or a webhook token in ``callback_url`` showed in the "Rendered Template"
view (the task runner stores the rendered fields through the secrets masker right after
rendering) and in validation errors, whose text echoes the input. Checked with Airflow's own
secrets masker and the real validation path (operator at parse, request model).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from airflow.sdk._shared.secrets_masker import redact
from pydantic import ValidationError

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import GenerationRequest
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator


def secret() -> str:
    return uuid.uuid4().hex + "Tk"


def presigned(token: str) -> str:
    return f"https://bucket.s3.example.com/imgs/first.png?X-Amz-Expires=3600&X-Amz-Signature={token}"


def webhook(token: str) -> str:
    return f"https://hooks.example.com/services/{token}"


def test_rendered_image_urls_and_callback_url_are_masked() -> None:
    image, hook_token, path_token = secret(), secret(), secret()
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="a cat",
        image_urls=["{{ params.first }}", f"https://cdn.example.com/files/{path_token}.png"],
        callback_url="{{ params.callback }}",
    )
    assert hook_token in str(redact(webhook(hook_token)))  # unknown to the masker until rendered
    op.render_template_fields(cast("Any", {"params": {"first": presigned(image), "callback": webhook(hook_token)}}))
    assert op.image_urls[0] == presigned(image)  # sent as is: the gateway needs the whole link
    assert op.callback_url == webhook(hook_token)
    shown = str(redact({"image_urls": op.image_urls, "callback_url": op.callback_url}))
    assert image not in shown
    assert hook_token not in shown
    assert path_token not in shown


def test_a_templated_list_rendered_as_one_string_is_masked_too() -> None:
    token = secret()
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", image_urls="{{ params.urls }}")
    op.render_template_fields(cast("Any", {"params": {"urls": [presigned(token)]}}))
    assert token not in str(redact(str(op.image_urls)))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"callback_url": "http://hooks.example.com/services/{t}"}, "callback_url"),  # not https
        ({"callback_url": "https://10.0.0.7/services/{t}"}, "callback_url"),  # private host
        ({"callback_url": "https:///services/{t}"}, "callback_url"),  # no host
        ({"callback_url": "https://hooks.example.com/" + "x" * 2100 + "{t}"}, "callback_url"),  # too long
        ({"image_urls": ["ftp://bucket.example.com/imgs/{t}.png"]}, "image_urls"),
        ({"image_urls": ["https://bucket.example.com/imgs/{t}.gif"]}, "image_urls"),
        ({"image_urls": "https://bucket.example.com/imgs/{t}.png"}, "image_urls"),  # a string, not a list
        ({"image_urls": ["https://bucket.example.com/imgs/x.png?sig={t}", 7]}, "image_urls"),
    ],
)
def test_validation_errors_never_echo_a_link(fields: dict[str, Any], field: str) -> None:
    token = secret()
    filled = {
        name: [v.format(t=token) if isinstance(v, str) else v for v in value]
        if isinstance(value, list)
        else value.format(t=token)
        for name, value in fields.items()
    }
    with pytest.raises(InvalidRequestError) as info:
        VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", **filled)
    assert any(name.split(".")[0] == field for name in info.value.fields)
    assert token not in str(info.value)
    with pytest.raises(ValidationError) as raw:  # a user building the request model directly
        GenerationRequest(model="veo3.1-fast", prompt="a cat", **filled)
    assert token not in str(raw.value)
    assert token not in repr(raw.value)


def test_the_request_repr_holds_no_link() -> None:
    token = secret()
    request = GenerationRequest(
        model="veo3.1-fast", prompt="a cat", image_urls=[presigned(token)], callback_url=webhook(token)
    )
    assert token not in repr(request)
    assert request.to_api_body()["callback_url"] == webhook(token)


def test_a_secret_in_a_link_s_fragment_or_user_info_is_masked_too() -> None:
    """``#access_token=...`` (a webhook, an OAuth-style link) and ``https://user:pass@host/`` carry
    credentials as well: masked although the path is short."""
    fragment, password, user_token = secret(), secret(), secret()
    op = VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt="a cat",
        image_urls=[f"https://{user_token}@cdn.example.com/i.png"],
        callback_url=f"https://hooks:{password}@hooks.example.com/#token={fragment}",
    )
    op.render_template_fields(cast("Any", {"params": {}}))
    shown = str(redact({"image_urls": op.image_urls, "callback_url": op.callback_url}))
    for token in (fragment, password, user_token):
        assert token not in shown
