"""Video links: CDN-like downloads with Range, expiry and dropped connections."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_videogen.models import VideoTask
from airflow_provider_videogen.simulator.media import RangeNotSatisfiable, VideoBlob, free_box, parse_range
from tests.simulator.helpers import poll_until

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


def finished_url(client: httpx.Client, prompt: str = "a cat [sim:render=0]") -> str:
    task_id = client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": prompt}).json()["id"]
    body = poll_until(client, f"/v1/tasks/{task_id}", lambda b: b["status"] == "completed")[-1]
    return VideoTask.from_generation_response(body).video_urls[0]


def test_range_requests_return_the_same_bytes(client: httpx.Client, simulator: SimulatorServer) -> None:
    url = finished_url(client)
    whole = httpx.get(url).content
    size = len(whole)

    middle = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    tail = httpx.get(url, headers={"Range": "bytes=-500"})
    rest = httpx.get(url, headers={"Range": f"bytes={size - 10}-"})
    beyond = httpx.get(url, headers={"Range": f"bytes={size}-"})
    several = httpx.get(url, headers={"Range": "bytes=0-1,5-6"})

    assert (middle.status_code, middle.headers["content-range"]) == (206, f"bytes 1000-1999/{size}")
    assert middle.content == whole[1000:2000]
    assert int(middle.headers["content-length"]) == 1000
    assert tail.content == whole[-500:]
    assert rest.content == whole[-10:]
    assert (beyond.status_code, beyond.headers["content-range"]) == (416, f"bytes */{size}")
    assert (several.status_code, several.content) == (200, whole)
    assert simulator.stats()["downloads"]["ranges"] == 3


def test_if_range_with_a_stale_etag_sends_the_whole_file(client: httpx.Client) -> None:
    url = finished_url(client)
    first = httpx.get(url)
    etag = first.headers["etag"]

    same = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    stale = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})

    assert (same.status_code, len(same.content)) == (206, 10)
    assert (stale.status_code, stale.content) == (200, first.content)


def test_head_gives_the_size_without_a_body(client: httpx.Client) -> None:
    url = finished_url(client)

    head = httpx.head(url)

    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(httpx.get(url).content)
    assert head.content == b""


def test_each_task_gets_distinct_bytes(client: httpx.Client) -> None:
    first, second = finished_url(client), finished_url(client)

    assert httpx.get(first).content != httpx.get(second).content


def test_links_expire_like_a_cdn(client: httpx.Client, simulator: SimulatorServer) -> None:
    simulator.configure(link_ttl_seconds=0.5)
    url = finished_url(client)
    assert httpx.get(url).status_code == 200
    time.sleep(0.6)

    expired = httpx.get(url)

    assert expired.status_code == 403
    assert expired.headers["content-type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "Request has expired" in expired.text
    assert simulator.stats()["downloads"]["expired"] == 1


def test_expiry_is_announced_in_first_video_url(client: httpx.Client, simulator: SimulatorServer) -> None:
    created = client.post(
        "/v1/videos",
        data={"model": "veo_3_1-fast-remix", "prompt": "a [sim:render=0]", "prompt_extend": "b"},
        files=[("_", (None, ""))],
    ).json()
    body = client.get(f"/v1/videos/{created['task_id']}").json()

    expires = int(body["data"]["first_video_url"].rsplit("Expires=", 1)[1])

    assert expires == body["data"]["completed_at"] + 86400


def test_unknown_and_not_yet_available_links_are_404(client: httpx.Client, simulator: SimulatorServer) -> None:
    created = client.post(
        "/v1/videos",
        data={"model": "veo_3_1-fast-remix", "prompt": "a [sim:render=0] [sim:extend_fail]", "prompt_extend": "b"},
        files=[("_", (None, ""))],
    ).json()
    task = simulator.state.find("remix", created["task_id"])
    assert task is not None
    full_video, first_segment = task.media

    assert httpx.get(f"{simulator.url}/files/{full_video.token}.mp4").status_code == 404  # the 15 s never existed
    assert httpx.get(f"{simulator.url}/files/{first_segment.token}.mp4").status_code == 200
    missing = httpx.get(f"{simulator.url}/files/nothing-here.mp4")
    assert missing.status_code == 404
    assert "<Code>NoSuchKey</Code>" in missing.text
    downloads = simulator.stats()["downloads"]
    assert (downloads["not_ready"], downloads["not_found"]) == (1, 1)


def test_dropped_download_resumes_with_range(client: httpx.Client, simulator: SimulatorServer) -> None:
    url = finished_url(client)
    whole = httpx.get(url).content
    simulator.configure(drop_download_after_bytes=5000, drop_download_times=1)

    received = bytearray()

    def read_until_dropped() -> None:
        with httpx.stream("GET", url) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        read_until_dropped()
    assert len(received) == 5000

    resumed = httpx.get(url, headers={"Range": f"bytes={len(received)}-"})

    assert resumed.status_code == 206
    assert bytes(received) + resumed.content == whole
    downloads = simulator.stats()["downloads"]
    assert downloads["dropped"] == 1
    assert httpx.get(url).content == whole  # only once


def test_downloads_are_faulted_only_by_entries_that_select_them(
    client: httpx.Client, simulator: SimulatorServer
) -> None:
    url = finished_url(client)
    simulator.configure(rate_503=1.0, next_responses=[{"status": 500, "path": "/files/"}])

    assert httpx.get(url).status_code == 500
    assert httpx.get(url).status_code == 200


# ---- Range arithmetic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-", (10, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=5-1", None),
        ("items=0-1", None),
        ("bytes=0-1,3-4", None),
        ("bytes=abc", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_blob_reads_across_the_free_box() -> None:
    tail = free_box(b"task")
    blob = VideoBlob(b"0123456789", tail)
    whole = b"0123456789" + tail

    assert blob.size == len(whole) == 22
    for start, end in [(0, 21), (3, 12), (10, 21), (15, 17), (0, 0)]:
        assert blob.read(start, end) == whole[start : end + 1]
