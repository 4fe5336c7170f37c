"""A launcher killed with SIGKILL leaves no server behind (issue 21 point 19).

The launcher is a real one in a subprocess: an Airflow scheduler started by the library's own
class, as ``make ui`` and the cluster start it; its LocalExecutor worker is the grandchild that
outlived a killed launcher (the kernel's parent-death signal reaches only the scheduler). The
launcher is SIGKILLed, so none of its ``finally`` blocks run, and every process it had started,
grandchildren included, must be gone. (SeaweedFS is one process, which that signal already kills.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from airflow_provider_videogen.testing import watchdog

LAUNCHER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import psutil
    from airflow_provider_videogen.testing.airflow_components import AirflowComponents

    root = Path(sys.argv[1])
    (root / "dags").mkdir()
    airflow = AirflowComponents(dags_folder=root / "dags", home=root / "home", components=("scheduler",),
                                startup_timeout=240)
    airflow.start()
    scheduler = psutil.Process(airflow.pid("scheduler"))
    deadline = time.monotonic() + 120
    while not scheduler.children() and time.monotonic() < deadline:  # its LocalExecutor worker
        time.sleep(0.2)
    print(json.dumps({"started": [p.pid for p in psutil.Process().children(recursive=True)],
                      "groups": [scheduler.pid],
                      "secrets": [airflow.password, *airflow._secrets.values()]}), flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _in_groups(groups: set[int]) -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) in groups and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


@pytest.mark.e2e
def test_a_sigkilled_launcher_leaves_no_process(tmp_path: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    pids: set[int] = set()
    groups: set[int] = set()
    try:
        assert launcher.stdout is not None
        line = launcher.stdout.readline()
        assert line, f"the launcher exited with {launcher.wait()} before starting its servers"
        started = json.loads(line)
        pids, groups = set(started["started"]), set(started["groups"])
        assert len(pids) >= 2, f"expected the scheduler and its executor's worker: {pids}"
        for pid in pids:  # point 20: secrets go through the environment, never a command line
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert not [secret for secret in started["secrets"] if secret in argv], f"a secret in {pid}'s argv"

        os.kill(launcher.pid, signal.SIGKILL)  # no finally, no atexit, no signal handler
        launcher.wait(timeout=30)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ({p for p in pids if _alive(p)} or _in_groups(groups)):
            time.sleep(0.2)
        left = {p for p in pids if _alive(p)} | set(_in_groups(groups))
        assert not left, f"left running: {[psutil.Process(p).cmdline()[:4] for p in left if _alive(p)]}"
    finally:  # never leave them to the next tests, whatever failed
        if launcher.poll() is None:
            launcher.kill()
        for pid in {p for p in pids if _alive(p)} | set(_in_groups(groups)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_watchdog_kills_a_watched_group_when_its_pipe_closes() -> None:
    """The same, fast: the watchdog alone, with a group whose leader has a child of its own."""
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "child = subprocess.Popen([sys.executable, '-c', 'import os, time; os.setsid(); time.sleep(60)']); "
            "print(child.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    dog = subprocess.Popen([sys.executable, "-I", watchdog.__file__], stdin=subprocess.PIPE, start_new_session=True)
    try:
        assert leader.stdout is not None
        assert dog.stdin is not None
        escaped = int(leader.stdout.readline())  # left the group with setsid: only its ancestry ties it to us
        dog.stdin.write(f"+g{leader.pid}\n".encode())
        dog.stdin.flush()
        time.sleep(watchdog.SCAN_SECONDS * 2.5)  # a scan notes the escaped grandchild

        dog.stdin.close()  # what the kernel does when the launcher dies

        assert dog.wait(timeout=30) == 0
        assert leader.wait(timeout=10) == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while _alive(escaped) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(escaped)
    finally:
        for process in (leader, dog):
            if process.poll() is None:
                process.kill()
