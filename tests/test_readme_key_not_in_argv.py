"""The README's way to add the connection from a shell never puts the key on a command line.

Issue 21 point 20: ``airflow connections add --conn-password "$VIDEOGEN_API_KEY"`` shows the key
to every local user (``ps``, ``/proc/<pid>/cmdline``). The README's shell block is run as written
under ``strace``, which records the arguments of every program it starts. ``airflow`` is a
stand-in that loads the file with the loader ``airflow connections import`` uses
(``load_connections_dict``) and reports what it read: the CLI itself would add 30 s of start-up
and a metadata DB, and its arguments are the block's, which strace sees either way.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
CONN_ID = "videogen_default"
STRACE = ("strace", "-f", "--seccomp-bpf", "-qq", "-s", "65536", "-e", "trace=execve")
AIRFLOW_STAND_IN = """#!/bin/sh
[ "$1 $2" = "connections import" ] || exit 0  # e.g. "connections add": its arguments are in the trace
exec "{python}" -c '
import json, sys
from airflow.secrets.local_filesystem import load_connections_dict
found = load_connections_dict(sys.argv[1])
json.dump({{k: [c.conn_type, c.host, c.password, c.extra_dejson] for k, c in found.items()}}, open(sys.argv[2], "w"))
' "$3" "{report}"
"""


def _cli_block() -> str:
    match = re.search(r"From the CLI\b.*?```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, "the README has no 'From the CLI' bash block"
    return match.group(1)


def _environment(tmp_path: Path, key: str) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    report = tmp_path / "imported.report"
    stand_in = bin_dir / "airflow"
    stand_in.write_text(AIRFLOW_STAND_IN.format(python=sys.executable, report=report))
    stand_in.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    return {**env, "VIDEOGEN_API_KEY": key, "PATH": path}, report


@pytest.mark.e2e  # an Airflow subprocess
def test_the_readme_cli_block_imports_the_connection_without_the_key_in_any_argv(tmp_path: Path) -> None:
    assert shutil.which("strace"), "strace is missing: `make suite` installs it (apt-get install strace)"
    key = "vg-" + secrets.token_hex(20)
    env, report = _environment(tmp_path, key)
    work = tmp_path / "work"
    work.mkdir()
    trace = tmp_path / "execve.trace"

    done = subprocess.run(
        [*STRACE, "-o", str(trace), "bash", "-euc", _cli_block()],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    started = trace.read_text()
    assert "connections" in started  # the trace did see the programs' arguments
    assert key not in started
    conn_type, host, password, extra = json.loads(report.read_text())[CONN_ID]
    assert (conn_type, host, password) == ("videogen", "https://api.evolink.ai", key)
    assert extra == {"timeout": 60, "max_retries": 5}
    assert not list(work.iterdir()), "the connection file was left behind"


def test_the_file_the_block_writes_is_private_from_its_creation(tmp_path: Path) -> None:
    env, _ = _environment(tmp_path, "vg-test-key")
    writer = _cli_block().split("airflow connections import", 1)[0]  # the part before Airflow runs

    subprocess.run(["bash", "-euc", f"umask 022\n{writer}"], cwd=tmp_path, env=env, check=True, timeout=60)

    written = next(tmp_path.glob("*.json"))
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert "vg-test-key" in written.read_text()
