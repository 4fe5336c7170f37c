"""Keep benchmarks/triggerer_profile.py honest: each kind of stack lands in its bucket."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "triggerer_profile.py"
SUPERVISOR = 'process 1:"airflow triggerer"'
RUNNER = 'process 2:"airflow triggerer"'


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("triggerer_profile_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stacks_land_in_their_buckets(tmp_path: Path) -> None:
    profile = _module()
    stacks = {
        f"{SUPERVISOR};run_once (x.py:1);load_triggers (airflow/jobs/triggerer_job_runner.py:9)": 100,
        f"{SUPERVISOR};Handle._run (a.py:1);Cadwyn.__call__ (c.py:2);Cadwyn._cadwyn_initialize (c.py:3)": 50,
        f"{SUPERVISOR};Handle._run (a.py:1);Cadwyn.__call__ (c.py:2);solve (f.py:3)": 25,
        f"{SUPERVISOR};{RUNNER};TriggerRunner.arun (t.py:1);VideoTaskTrigger.run (v.py:2)": 25,
    }
    expected = [
        "triggerer loop: load/assign/clean triggers, heartbeat",
        "execution API: one-time app set-up (Cadwyn)",
        "execution API: answering the triggers' requests",
        "trigger runner process (the triggers' own code)",
    ]
    assert [profile.bucket_of(stack) for stack in stacks] == expected
    raw = tmp_path / "start-triggerer-1.txt"
    raw.write_text("".join(f"{stack} {count}\n" for stack, count in stacks.items()))
    out = subprocess.run([sys.executable, str(SCRIPT), str(raw)], capture_output=True, text=True, check=True).stdout
    assert "4.0 CPU-seconds sampled" in out
    assert " 50.0%    2.0 s  triggerer loop" in out
