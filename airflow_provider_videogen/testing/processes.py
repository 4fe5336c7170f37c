"""Small process helpers shared by the local servers (SeaweedFS, Airflow components)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, held open together so none is handed out twice."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask the kernel to SIGKILL this child when its parent dies (Linux only; best effort).

    A test run killed by CI's time limit must not leave servers holding ports and memory.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``pid``; a group that is already gone is fine.

    The servers start their child with ``start_new_session=True``, so the child leads its own
    group (pgid == pid) and this reaches every process it spawned.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its parents) or narrow an existing one to mode 0700; return it.

    The stacks' state folders hold S3 data, metadata DBs, logs with task output and secrets
    files: on a shared machine no other user may list or read them.
    """
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.chmod(folder, 0o700)
    except PermissionError:
        raise PermissionError(
            f"{folder} must be private to you (mode 0700) but belongs to another user; choose another folder"
        ) from None
    return folder


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that only this user can ever read it, from the first byte on.

    A ``write_text`` then ``chmod`` leaves a window in which the file is world-readable (and an
    open descriptor taken then keeps reading after the chmod). So the content goes into a new
    file created with mode 0600 (``O_EXCL``: never someone else's file or link), which then
    replaces ``path`` in one rename.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(text.encode())
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, target)
