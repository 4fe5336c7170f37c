"""A download link is a secret wherever its secret sits: query, path or user info (issue 21, point 10).

``redact_url`` used to drop only the query, so links shaped ``/files/<token>.mp4`` (the simulator's,
the remix API's ``video_url``) were written whole into archive errors, logs, lineage and S3
metadata. Now every place shows scheme, host and a fingerprint (``hooks.redaction``), checked here
for arbitrary URLs (hypothesis) and against the simulator for the places a link is shown.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_videogen.exceptions import InvalidResponseError, VideoTaskFailedError
from airflow_provider_videogen.frames import FrameExtractionError, extract_frame
from airflow_provider_videogen.hooks.redaction import (
    FINGERPRINT_CHARS,
    link_fingerprint,
    mask_link,
    redact_links,
    redact_url,
)
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, RemixRequest, TaskState, VideoTask
from airflow_provider_videogen.remix_result import settle_partial_remix
from airflow_provider_videogen.transfers.sources import parse_source

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

SHOWN = re.compile(rf"(?P<origin>[a-z0-9]+://[^/]*)/\(redacted:(?P<fp>[0-9a-f]{{{FINGERPRINT_CHARS}}})\)")

# ---- the function, for arbitrary links ---------------------------------------------------------

_TOKEN = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=8, max_size=40).filter(
    lambda t: t.strip() == t and not {"/", "?", "#", "@", "%"} & set(t)
)
_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}(:[0-9]{2,5})?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTPS"]),
    host=_HOST,
    before=st.lists(st.from_regex(r"[A-Za-z0-9._-]{1,6}", fullmatch=True), max_size=3),
    token=_TOKEN,
    where=st.sampled_from(["path", "query", "fragment", "userinfo", "encoded"]),
)
def test_redact_url_never_shows_a_path_token_or_query_secret(
    scheme: str, host: str, before: list[str], token: str, where: str
) -> None:
    path = "/" + "/".join(before)
    if where == "path":
        url = f"{scheme}://{host}{path}/{token}.mp4"
    elif where == "query":
        url = f"{scheme}://{host}{path}?sig={token}"
    elif where == "fragment":
        url = f"{scheme}://{host}{path}#{token}"
    elif where == "userinfo":
        url = f"{scheme}://u:{token}@{host}{path}"
    else:  # the token percent-encoded, slashes and all
        encoded = "".join(f"%{b:02X}" for b in token.encode())
        url = f"{scheme}://{host}{path}/{encoded}%2F..%2Fx.mp4"
    shown = redact_url(url)
    assert token not in shown
    assert token.encode().hex() not in shown
    fingerprint = hashlib.sha256(url.encode()).hexdigest()[:FINGERPRINT_CHARS]  # support can match it
    if shown.startswith("(unparseable URL"):  # e.g. a '[' in user info: nothing but the fingerprint
        assert shown == f"(unparseable URL, redacted:{fingerprint})"
        return
    match = SHOWN.fullmatch(shown)
    assert match is not None, shown
    assert match["origin"] == f"{scheme.lower()}://{host}"
    assert match["fp"] == fingerprint


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_redact_url_of_any_text_shows_no_more_than_a_scheme_and_a_host(text: str) -> None:
    shown = redact_url(text)
    assert "\n" not in shown
    assert "\r" not in shown
    assert f"(redacted:{link_fingerprint(text)})" in shown or shown == text


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/files/9f3c1a77e0b24d5c8e1f.mp4",
        "https://cdn.example.com/files/9f3c1a77e0b24d5c8e1f.mp4?X-Amz-Signature=abcdef012345",
        "https://cdn.example.com/..%2F..%2Ffiles%2F9f3c1a77e0b24d5c8e1f.mp4",
        "https://cdn.example.com/files/%E2%80%AE9f3c1a77e0b24d5c8e1f.mp4",
        "https://cdn.example.com/files/vidéo-9f3c1a77e0b24d5c8e1f.mp4",
        "https://cdn.example.com\r\nX-Forged: 1/9f3c1a77e0b24d5c8e1f.mp4",
        "//cdn.example.com/files/9f3c1a77e0b24d5c8e1f.mp4",
        "files/9f3c1a77e0b24d5c8e1f.mp4",
        "data:video/mp4;base64,9f3c1a77e0b24d5c8e1f",
        "https://[::1]:8443/files/9f3c1a77e0b24d5c8e1f.mp4",
    ],
)
def test_hostile_links_show_no_token(url: str) -> None:
    shown = redact_url(url)
    assert "9f3c1a77e0b24d5c8e1f" not in shown
    assert "\n" not in shown
    assert "X-Forged" not in shown


def test_a_bare_origin_is_shown_as_it_is() -> None:
    assert redact_url("https://gateway.example.com") == "https://gateway.example.com"
    assert redact_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/"


def test_a_re_signed_link_keeps_its_query_free_fingerprint() -> None:
    one, two = "https://cdn.example.com/v/clip.mp4?sig=aaaaaaaaaa", "https://cdn.example.com/v/clip.mp4?sig=bbbbbbbbbb"
    assert redact_url(one) != redact_url(two)
    assert redact_url(one, ignore_query=True) == redact_url(two, ignore_query=True)


def test_text_echoing_a_link_is_redacted() -> None:
    link = "https://cdn.example.com/files/9f3c1a77e0b24d5c8e1f.mp4?sig=SIGNATURE99"
    text = f"extend failed for {link}; path /files/9f3c1a77e0b24d5c8e1f.mp4 query sig=SIGNATURE99"
    shown = redact_links(text, [link, None])
    assert "9f3c1a77e0b24d5c8e1f" not in shown
    assert "SIGNATURE99" not in shown
    assert redact_url(link) in shown


def test_mask_link_masks_the_path_token_in_log_text() -> None:
    from airflow.sdk._shared.secrets_masker import redact

    token = "p4thT0ken" + hashlib.sha256(b"mask").hexdigest()[:12]
    url = f"https://cdn.example.com/files/{token}.mp4"
    assert token in str(redact(f"HTTP Request: GET {url}"))
    mask_link(url)
    assert token not in str(redact(f"HTTP Request: GET {url}"))


# ---- where links are shown, against the simulator ---------------------------------------------


@pytest.fixture
def videogen_conn_extra() -> dict[str, Any]:
    return {"retry_backoff": 0.01, "max_retries": 0}


def test_a_failed_frame_download_names_no_path_token(simulator: SimulatorServer) -> None:
    token = "0123456789abcdef0123456789abcdef"
    with pytest.raises(FrameExtractionError) as info:
        extract_frame(f"{simulator.url}/files/{token}.mp4", allow_private_hosts=True)
    assert token not in str(info.value)
    assert simulator.url in str(info.value)


def test_a_bad_archive_source_names_no_path_token() -> None:
    token = "0123456789abcdef0123456789abcdef"
    with pytest.raises(Exception, match="Not a valid video URL") as info:
        parse_source(f"https://cdn.example.com:bad/files/{token}.mp4")
    assert token not in str(info.value)


def test_a_gateway_redirect_names_no_path_token(simulator: SimulatorServer, videogen_conn: str) -> None:
    """The point-8 refusal names where the gateway pointed: without the link's secret."""
    hook = VideoGenHook(videogen_conn)
    task_id = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="[sim:render=0.2] a cat")).id
    token = "tok" + hashlib.sha256(task_id.encode()).hexdigest()
    location = f"https://cdn.example.net/files/{token}.mp4?sig=SIGNATURE99"
    simulator.configure(next_responses=[{"status": 302, "method": "GET", "path": "/v1/tasks/", "location": location}])
    with pytest.raises(InvalidResponseError) as info:
        hook.get_generation(task_id)
    assert token not in str(info.value)
    assert "SIGNATURE99" not in str(info.value)
    assert redact_url(location) in str(info.value)


def test_the_simulator_s_links_never_reach_the_partial_remix_error_even_when_echoed(
    simulator: SimulatorServer, videogen_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A real extend_failed answer from the simulator, its message made to echo the clip's link."""
    hook = VideoGenHook(videogen_conn)
    request = RemixRequest(
        model="veo_3_1-fast-remix", prompt="[sim:render=0] [sim:extend_fail] a cat", prompt_extend="b"
    )
    remote_id = hook.submit_remix(request).id
    remote = hook.get_remix(remote_id)
    for _ in range(200):  # renders in no time: a few polls
        if remote.state.is_terminal:
            break
        time.sleep(0.05)
        remote = hook.get_remix(remote_id)
    assert remote.is_partial
    assert remote.video_urls
    clip = remote.video_urls[0]
    token = clip.rsplit("/", 1)[1].split(".")[0]
    task = remote.model_copy(update={"error_message": f"extension failed for {clip} (E-2003)"})
    pushed: dict[str, Any] = {}
    context = cast("Any", {"ti": SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))})
    log = logging.getLogger("test.link.partial")

    for xcom_links in (True, False):
        with pytest.raises(VideoTaskFailedError) as info:
            settle_partial_remix(
                context, task, policy="fail", retryable=True, result_of=lambda t: {}, log=log, xcom_links=xcom_links
            )
        assert token not in str(info.value)
    assert token not in str(pushed["partial_result"].get("error_message"))
    with caplog.at_level(logging.WARNING, logger="test.link.partial"):
        result = settle_partial_remix(
            context, task, policy="accept_first_segment", retryable=True, result_of=lambda t: {}, log=log
        )
    assert token not in caplog.text
    assert token not in str(result["error_message"])


def test_a_remix_task_with_a_path_link_describes_itself_without_it() -> None:
    clip = "http://127.0.0.1:9/files/0123456789abcdef0123456789abcdef.mp4"
    task = VideoTask(
        id="video_1",
        api=ApiKind.REMIX,
        state=TaskState.FAILED,
        error_code="extend_failed",
        video_urls=[clip],
        completed_at=datetime(2026, 11, 28, tzinfo=timezone.utc),
    )
    assert "0123456789abcdef" not in task.summary()
