"""Where a triggerer's CPU went: buckets of ``py-spy record --subprocesses -f raw`` output.

``VIDEOGEN_LOAD_PROFILE=<dir>`` makes ``tests/cluster/test_load.py`` record each triggerer while a
mode runs (``<dir>/<mode>-<triggerer>.txt``); this prints, per file, the CPU seconds and share of
each bucket (the first bucket whose marker a stack contains wins):

    python benchmarks/triggerer_profile.py /tmp/prof/*.txt
"""

from __future__ import annotations

import argparse
from collections import Counter

RATE = 50  # samples per second (test_load.py records with ``-r 50``)
RUNNER = "trigger runner process (the triggers' own code)"
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("execution API: one-time app set-up (Cadwyn)", ("_cadwyn_initialize",)),
    (RUNNER, ()),
    (
        "execution API: answering the triggers' requests",
        ("Cadwyn.__call__", "TaskHandle._run_coro", "WorkerThread.run", "_service_subprocess"),
    ),
    (
        "triggerer loop: load/assign/clean triggers, heartbeat",
        ("load_triggers", "clean_unused", "heartbeat", "handle_events", "handle_failed_triggers", "emit_metrics"),
    ),
)


def bucket_of(stack: str) -> str:
    frames = stack.split(";")
    in_runner = any(frame.startswith("process ") for frame in frames[1:])  # the supervisor's child
    for name, markers in BUCKETS:
        if name == RUNNER:
            if in_runner:
                return name
        elif any(marker in stack for marker in markers):
            return name
    return "other (event-loop waits, DB driver, ...)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+")
    for path in parser.parse_args().files:
        seconds: Counter[str] = Counter()
        with open(path) as lines:
            for line in lines:
                stack, _, count = line.rstrip().rpartition(" ")
                if stack:
                    seconds[bucket_of(stack)] += int(count) / RATE
        total = sum(seconds.values()) or 1.0
        print(f"{path}: {total:.1f} CPU-seconds sampled")
        for name, value in seconds.most_common():
            print(f"  {value / total:6.1%} {value:6.1f} s  {name}")


if __name__ == "__main__":
    main()
