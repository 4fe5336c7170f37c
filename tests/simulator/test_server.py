"""The launcher, the console script and behaviour under many concurrent pollers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer


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
        assert httpx.get(f"{server.url}/v1/tasks/task-unified-1-x", headers={"Authorization": "Bearer k2"}).status_code == 404
        with pytest.raises(OSError):
            SimulatorServer(port=port).start()
    assert not server.running
    server.stop()  # idempotent


def test_many_concurrent_pollers(simulator: SimulatorServer) -> None:
    """500 pollers over 100 tasks, all at once: every answer is a valid task object."""
    simulator.configure(render_seconds=0.5)

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        headers = {"Authorization": f"Bearer {simulator.api_key}"}
        async with httpx.AsyncClient(base_url=simulator.url, headers=headers, limits=limits, timeout=30) as client:
            created = await asyncio.gather(
                *(client.post("/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": f"cat {i}"})
                  for i in range(100))
            )  # fmt: skip
            ids = [response.json()["id"] for response in created]

            async def poller(task_id: str) -> int:
                polls = 0
                while True:
                    response = await client.get(f"/v1/tasks/{task_id}")
                    assert response.status_code == 200
                    polls += 1
                    if response.json()["status"] == "completed":
                        return polls
                    await asyncio.sleep(0.1)

            return await asyncio.gather(*(poller(ids[i % 100]) for i in range(500)))

    polls = asyncio.run(run())

    assert len(polls) == 500
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


def test_cli_reports_a_taken_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        exe = Path(sys.executable).parent / "videogen-simulator"
        started = time.monotonic()
        done = subprocess.run([str(exe), "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "cannot listen" in done.stderr
    assert time.monotonic() - started < 30
