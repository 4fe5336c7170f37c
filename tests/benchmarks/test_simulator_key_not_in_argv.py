"""The benchmark's simulator gets its key from the environment, not its command line (issue 21 point 20)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trigger_scale.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trigger_scale_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_simulator_key_is_in_no_argv() -> None:
    bench = _benchmark()
    with bench.Simulator(None) as sim:
        argv = Path(f"/proc/{sim.process.pid}/cmdline").read_bytes().split(b"\0")
        stats = sim.stats()  # the key works: /_sim/stats needs it

    assert bench.API_KEY.encode() not in b" ".join(argv)
    assert stats["requests"]["auth_failures"] == 0
