"""Kill a launcher's servers when the launcher dies, however it dies (SIGKILL included).

The stacks (``make ui``, the pytest fixtures, the cluster, the demo) start servers in process
groups of their own. They stop them on a normal exit or Ctrl-C; ``PR_SET_PDEATHSIG`` kills each
*direct* child when the launcher dies. But a launcher killed with SIGKILL (an OOM kill, CI's time
limit, ``kill -9``) runs no ``finally``, and the kernel's death signal reaches no grandchild: the
API server's workers, the triggerer's runner, the executor's workers, a PostgreSQL started by
``pg_ctl`` then keep running, holding ports, memory and the laptop's CPU.

So the first process group a launcher starts also starts this watchdog: a small child in its own
session (a terminal's Ctrl-C or a ``kill`` of the launcher's group does not reach it) that reads
the launcher's instructions on a pipe only the launcher writes to:

    +g<pgid>   watch a process group         -g<pgid>   the launcher stopped it itself
    +p<pid>    watch a single process         -p<pid>

When the pipe reaches end of file, the launcher is gone (the kernel closes its end, whatever
killed it): the watchdog sends SIGTERM to every watched group and process, then SIGKILL after a
short grace, and exits. Every second it also notes the descendants of what it watches (from
``/proc``, with their start times), so a grandchild that left its group with ``setsid`` is
killed too, and a recycled pid never is. A launcher that exits normally has already stopped and
un-watched its servers, so the watchdog then finds nothing to kill.

This file runs as a script (``python -I <this file>``): it imports only the standard library,
so it starts in a few milliseconds and needs nothing from the launcher's environment.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["unwatch", "watch"]

#: Seconds between SIGTERM and SIGKILL once the launcher is gone.
GRACE_SECONDS = 2.0
#: How often the descendants of the watched processes are noted.
SCAN_SECONDS = 1.0


# ---- the launcher's side ----------------------------------------------------------------------

_lock = threading.Lock()
_watchdog: subprocess.Popen[bytes] | None = None
_owner_pid = 0


def _send(line: str) -> None:
    global _watchdog, _owner_pid
    with _lock:
        if _watchdog is None or _owner_pid != os.getpid() or _watchdog.poll() is not None:
            # none yet, inherited through a fork, or killed: a new one (it watches what comes next)
            _watchdog = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            _owner_pid = os.getpid()
        stdin = _watchdog.stdin
        if stdin is None:
            raise RuntimeError("internal error: the watchdog has no stdin")  # an invariant, kept under python -O
        with contextlib.suppress(BrokenPipeError, ValueError):  # a watchdog that died cannot help anyway
            stdin.write(f"{line}\n".encode())
            stdin.flush()


def watch(pid: int, *, group: bool = True) -> None:
    """Have ``pid``'s process group (or, with ``group=False``, the process alone) killed if we die."""
    _send(f"+{'g' if group else 'p'}{int(pid)}")


def unwatch(pid: int, *, group: bool = True) -> None:
    """Forget ``pid``: it was stopped (its number may be reused; the watchdog must not kill that)."""
    if _watchdog is not None and _owner_pid == os.getpid():
        _send(f"-{'g' if group else 'p'}{int(pid)}")


def watchdog_pid() -> int | None:
    """The running watchdog's pid (for tests), ``None`` before the first :func:`watch`."""
    return _watchdog.pid if _watchdog is not None and _owner_pid == os.getpid() else None


# ---- the watchdog's side ----------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """``(ppid, pgid, start time)`` of a live process from ``/proc``, ``None`` if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def _processes() -> dict[int, tuple[int, int, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            facts = _stat(int(entry))
            if facts is not None:
                found[int(entry)] = facts
    return found


def _descendants(groups: set[int], pids: set[int]) -> dict[int, int]:
    """Every live member of ``groups``, ``pids`` and their descendants: pid -> start time."""
    table = _processes()
    chosen = {pid for pid, (_, pgid, _) in table.items() if pgid in groups} | (pids & table.keys())
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(chosen)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in chosen:
                chosen.add(child)
                todo.append(child)
    return {pid: table[pid][2] for pid in chosen}


def _kill_all(groups: set[int], pids: set[int], noted: dict[int, int], sig: signal.Signals) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid, started in {**noted, **{pid: -1 for pid in pids}}.items():
        facts = _stat(pid)
        if facts is not None and (started == -1 or facts[2] == started):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def serve(stream: int = 0) -> None:
    """Read instructions from ``stream`` until end of file, then kill what is watched."""
    groups: set[int] = set()
    pids: set[int] = set()
    noted: dict[int, int] = {}
    buffer = b""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    while True:
        if selector.select(SCAN_SECONDS):
            chunk = os.read(stream, 4096)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").strip()
                if len(text) < 3 or text[0] not in "+-" or text[1] not in "gp" or not text[2:].isdigit():
                    continue
                target = groups if text[1] == "g" else pids
                (target.add if text[0] == "+" else target.discard)(int(text[2:]))
        noted = _descendants(groups, pids) if groups or pids else {}
    if not groups and not pids:
        return
    noted.update(_descendants(groups, pids))
    _kill_all(groups, pids, noted, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and _descendants(groups, pids):
        time.sleep(0.1)
    noted.update(_descendants(groups, pids))
    _kill_all(groups, pids, noted, signal.SIGKILL)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the end of the pipe ends the watch
    serve()
