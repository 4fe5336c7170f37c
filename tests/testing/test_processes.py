"""The process helpers the local servers (SeaweedFS, Airflow components) share."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from airflow_provider_videogen.testing.processes import free_ports, signal_group

SPAWN_GRANDCHILD = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print(child.pid, flush=True); time.sleep(60)"
)


def _gone(pid: int, wait: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie waiting to be reaped by init)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False)
        if done.stdout.strip() in ("", "Z"):
            return True
        time.sleep(0.1)
    return False


def test_signal_group_reaches_the_whole_group_and_tolerates_a_gone_one() -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", SPAWN_GRANDCHILD], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert leader.stdout is not None
    grandchild = int(leader.stdout.readline())

    signal_group(leader.pid, signal.SIGTERM)

    assert leader.wait(timeout=10) == -signal.SIGTERM
    assert _gone(grandchild)
    signal_group(leader.pid, signal.SIGKILL)  # the group no longer exists: no error


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(1024 < port < 65536 for port in ports)
