"""Downloads refuse non-public hosts by default, at every hop and at connect time (issue 13 points 7,
8 and 17): a real HTTP server on loopback plays both the internal service and the gateway."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_videogen.frames import FrameExtractionError, extract_frame
from airflow_provider_videogen.hooks.addresses import (
    AddressPolicy,
    BlockedAddressError,
    GuardedTransport,
    host_is_private,
)
from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.hooks.transport import public_download_client
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import validate_callback_url
from airflow_provider_videogen.pipelines.chain import last_frame_reference
from tests.transfers.video_server import VideoServer

if TYPE_CHECKING:
    from collections.abc import Iterator

SIGNATURE = "X-Amz-Signature=int3rnalsecret&X-Amz-Expires=600"
#: Every way of writing "this machine" or "not a public host" the check must see through.
PRIVATE_HOSTS = [
    "127.0.0.1",
    "2130706433",
    "127.1",
    "0x7f000001",
    "0177.0.0.1",
    "0",
    "localhost",
    "localhost.",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "169.254.169.254",
    "10.1.2.3",
    "192.168.0.1",
    "100.64.0.1",
    "224.0.0.251",
    "0.0.0.0",
]


@pytest.fixture(scope="module")
def server() -> Iterator[VideoServer]:
    started = VideoServer().start()
    yield started
    started.stop()


@pytest.fixture
def route() -> str:
    return f"/internal/{uuid.uuid4().hex}/clip.mp4"


@pytest.fixture
def gateway_hook(server: VideoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[VideoGenHook]:
    """A videogen connection whose gateway is the loopback server (the gateway itself is trusted)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIDEOGEN_ADDRESS_TEST",
        json.dumps({"conn_type": "videogen", "host": server.url(""), "password": "sk-address-test"}),
    )
    hook = VideoGenHook("videogen_address_test")
    yield hook
    hook.close()


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_every_spelling_of_a_private_host_is_recognised(host: str) -> None:
    assert host_is_private(host)


@pytest.mark.parametrize("host", ["93.184.216.34", "[2606:2800:220:1:248:1893:25c8:1946]", "cdn.example.com"])
def test_public_hosts_pass(host: str) -> None:
    assert not host_is_private(host)


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_callback_url_refuses_every_spelling_of_a_private_host(host: str) -> None:
    with pytest.raises(ValueError, match="private, loopback or link-local"):
        validate_callback_url(f"https://{host}/hooks/video")


def test_public_client_refuses_loopback_before_connecting(server: VideoServer, route: str) -> None:
    url = server.add(route, b"internal data")
    with public_download_client(5.0) as client, pytest.raises(BlockedAddressError) as info:
        client.get(f"{url}?{SIGNATURE}")
    message = str(info.value)
    assert f"refusing to fetch {redact_url(url + '?' + SIGNATURE)}" in message
    assert route not in message  # the path is a secret too
    assert "loopback" in message
    assert "allow_private_hosts" in message
    assert "int3rnalsecret" not in message
    assert server.hits_for(route) == []


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://2130706433:9/x", "http://[::1]:9/"]
)
def test_public_client_refuses_metadata_and_odd_spellings(url: str) -> None:
    # Refused before any socket is opened: no traffic leaves for these addresses.
    with public_download_client(1.0) as client, pytest.raises(BlockedAddressError, match="refusing to fetch"):
        client.get(url)


def test_connect_time_check_holds_without_the_request_hook(server: VideoServer, route: str) -> None:
    """The transport alone refuses: the address that is checked is the one connected to."""
    url = server.add(route, b"internal data")
    shown = re.escape(redact_url(f"{url}?{SIGNATURE}"))
    with (
        httpx.Client(transport=GuardedTransport(AddressPolicy())) as client,
        pytest.raises(BlockedAddressError, match=rf"refusing to fetch {shown}: .*loopback"),
    ):
        client.get(f"{url}?{SIGNATURE}")
    assert server.hits_for(route) == []


def test_a_redirect_from_the_gateway_into_loopback_is_refused(
    server: VideoServer, route: str, gateway_hook: VideoGenHook
) -> None:
    internal = server.add(f"{route}/secret", b"internal data").replace("127.0.0.1", "localhost")
    link = server.add(route, b"", redirect_to=f"{internal}?{SIGNATURE}")
    with pytest.raises(BlockedAddressError) as info, gateway_hook.stream_download(link):
        pass
    assert "localhost" in str(info.value)
    assert "int3rnalsecret" not in str(info.value)
    assert len(server.hits_for(route)) == 1  # the gateway answered the redirect ...
    assert server.hits_for(f"{route}/secret") == []  # ... the internal host was never asked


def test_the_pipeline_last_frame_step_refuses_a_redirect_into_loopback(
    server: VideoServer, route: str, gateway_hook: VideoGenHook
) -> None:
    internal = server.add(f"{route}/frame", b"internal").replace("127.0.0.1", "localhost")
    link = server.add(route, b"", redirect_to=internal)
    with pytest.raises(FrameExtractionError, match="refusing to fetch"):
        last_frame_reference(link, name="unused.png", hook=gateway_hook)
    assert server.hits_for(f"{route}/frame") == []


def test_extract_frame_refuses_loopback_by_default(server: VideoServer, route: str) -> None:
    url = server.add(route, b"not fetched")
    with pytest.raises(FrameExtractionError, match=r"refusing to fetch .*loopback.*allow_private_hosts"):
        extract_frame(url)
    assert server.hits_for(route) == []


def test_opt_in_reaches_private_hosts(server: VideoServer, route: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = server.add(route, b"self-hosted storage")
    with public_download_client(5.0, allow_private_hosts=True) as client:
        assert client.get(url).content == b"self-hosted storage"
    internal = server.add(f"{route}/cdn", b"behind a redirect").replace("127.0.0.1", "localhost")
    link = server.add(f"{route}/link", b"", redirect_to=internal)
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIDEOGEN_PRIVATE_OK",
        json.dumps(
            {
                "conn_type": "videogen",
                "host": server.url(""),
                "password": "sk-address-test",
                "extra": {"allow_private_hosts": True},
            }
        ),
    )
    hook = VideoGenHook("videogen_private_ok")
    try:
        with hook.stream_download(link) as response:
            assert response.read() == b"behind a redirect"
    finally:
        hook.close()


# ---- point 8: frame downloads are bounded ------------------------------------------------------


def test_extract_frame_refuses_an_announced_body_above_max_bytes(server: VideoServer, route: str) -> None:
    url = server.add(route, b"\x00" * 4096)
    with pytest.raises(FrameExtractionError, match=r"announces 4096 bytes, more than max_bytes \(1000\)"):
        extract_frame(url, max_bytes=1000, allow_private_hosts=True)


def test_extract_frame_stops_an_unannounced_body_at_max_bytes(server: VideoServer, route: str) -> None:
    url = server.add(route, b"\x00" * 4096, content_length=False)
    with pytest.raises(FrameExtractionError, match=r"larger than max_bytes \(1000 bytes\)"):
        extract_frame(url, max_bytes=1000, allow_private_hosts=True)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_extract_frame_refuses_a_bad_max_bytes(bad: object) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        extract_frame("clip.mp4", max_bytes=bad)  # type: ignore[arg-type]
