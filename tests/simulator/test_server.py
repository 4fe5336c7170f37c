"""The launcher, the console script and behaviour under many concurrent pollers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer, cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_on_a_given_port_and_a_taken_port(tmp_path: Path) -> None:
    port = free_port()
    with SimulatorServer(SimulatorConfig(api_keys=["k1", "k2"]), port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert server.api_key == "k1"
        assert httpx.get(f"{server.url}/_sim/health").json() == {"status": "ok"}
        assert (
            httpx.get(f"{server.url}/v1/tasks/task-unified-1-x", headers={"Authorization": "Bearer k2"}).status_code
            == 404
        )
        with pytest.raises(OSError, match=r"(?i)address already in use|in use"):
            SimulatorServer(port=port).start()
    assert not server.running
    server.stop()  # idempotent


async def _poll_raw(port: int, task_id: str, key: str) -> int:
    """One poller on its own keep-alive connection (plain asyncio: httpx's pool, not the server,
    is the bottleneck at this concurrency); returns how many polls it took to see completion."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET /v1/tasks/{task_id} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    polls = 0
    try:
        while True:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), head
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = json.loads(await reader.readexactly(length))
            polls += 1
            if body["status"] == "completed":
                return polls
            await asyncio.sleep(0.2)
    finally:
        writer.close()


@pytest.mark.load
def test_a_thousand_concurrent_pollers(simulator: SimulatorServer) -> None:
    """1,000 pollers on 1,000 connections over 200 tasks, all at once: every answer is right."""
    simulator.configure(render_seconds=0.6)
    with httpx.Client(base_url=simulator.url, headers={"Authorization": f"Bearer {simulator.api_key}"}) as client:
        ids = [
            client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": f"cat {i}"}).json()["id"]
            for i in range(200)
        ]

    async def run() -> list[int]:
        return await asyncio.gather(
            *(_poll_raw(simulator.port, ids[i % len(ids)], simulator.api_key) for i in range(1000))
        )

    polls = asyncio.run(run())

    assert len(polls) == 1000
    stats = simulator.stats()
    assert stats["generation"]["polls"] == sum(polls)
    assert sum(entry["polls"] for entry in stats["tasks"].values()) == sum(polls)


def test_cli_starts_answers_and_stops() -> None:
    port = free_port()
    exe = Path(sys.executable).parent / "videogen-simulator"
    process = subprocess.Popen(
        [str(exe), "--port", str(port), "--api-key", "cli-key", "--render-seconds", "0", "--set", "rate_429=0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"videogen simulator listening on http://127.0.0.1:{port}"
        assert "cli-key" not in process.stdout.readline()  # the key is never printed
        headers = {"Authorization": "Bearer cli-key"}
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/videos/generations",
            json={"model": "veo3.1-fast", "prompt": "a cat"},
            headers=headers,
        )
        assert created.status_code == 200
        body = httpx.get(f"http://127.0.0.1:{port}/v1/tasks/{created.json()['id']}", headers=headers).json()
        assert body["status"] == "completed"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 0


def test_cli_reports_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    handler = signal.getsignal(signal.SIGINT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        code = cli.main(["--port", str(sock.getsockname()[1])])
    assert code == 1
    assert "cannot listen" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is handler  # main() restores the caller's handlers


def test_cli_settings() -> None:
    args = cli.build_parser().parse_args(
        ["--render-seconds", "2", "--time-scale", "0.5", "--link-ttl", "60", "--remix-shape", "openai",
         "--set", "rate_503=0.25", "--set", "malformed=html", "--set", 'next_responses=[{"status": 429}]']
    )  # fmt: skip
    config = SimulatorConfig(**cli.settings_from_args(args))
    assert (config.render_time(), config.link_ttl_seconds, config.remix_shape) == (1.0, 60, "openai")
    assert (config.rate_503, config.malformed, config.next_responses[0].status) == (0.25, "html", 429)
