"""The fault schedule of a chaos run, drawn only from the seed so that a failure replays by seed.

:func:`draw_schedule` uses one ``random.Random(seed)`` and nothing else (no clock, no state of the
cluster): the same seed, minutes and component names give the same faults at the same offsets,
and :func:`describe` prints them at the start of a run. Faults of one kind never overlap (each
gateway fault sets and later clears its own simulator setting); faults of different kinds may.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "kill",  # SIGKILL one or two components, restart them after `duration` seconds
    "postgres-restart",  # fast shutdown of PostgreSQL, start again after `duration` seconds
    "lost-answers",  # the next `count` create answers are replaced by a 5xx after the task was created
    "rate-429",  # a share `rate` of /v1 requests answered 429 with Retry-After, for `duration` s
    "storm-5xx",  # every poll (GET /v1) answered 503 for `duration` s
    "slow",  # every /v1 answer waits `rate` seconds, for `duration` s
    "trickle",  # the next `count` polls answered 503, one byte every `rate` seconds
    "failing-renders",  # tasks created during `duration` s fail at the gateway with a retryable code
    "s3-freeze",  # SeaweedFS stopped (SIGSTOP) for `duration` s, then continued
    "ledger-fail",  # the budget ledger's writes answered 503 by the S3 proxy for `duration` s
    "upload-fail",  # archive uploads (PUT/POST outside the ledger) answered 503 for `duration` s
]

#: How often each kind is drawn (relative weights).
WEIGHTS: dict[FaultKind, float] = {
    "kill": 34,
    "postgres-restart": 5,
    "lost-answers": 14,
    "rate-429": 12,
    "storm-5xx": 8,
    "slow": 8,
    "trickle": 6,
    "failing-renders": 9,
    "s3-freeze": 6,
    "ledger-fail": 5,
    "upload-fail": 5,
}

#: The code a failing render reports: transient, so the operator retries with a new create.
RETRYABLE_RENDER_CODE = "service_unavailable"


@dataclass(frozen=True)
class Fault:
    """One fault: what, when (seconds after the load starts), on what, for how long."""

    at: float
    kind: FaultKind
    duration: float
    targets: tuple[str, ...] = ()
    rate: float = 0.0
    count: int = 0
    retry_after: float = 0.0

    def describe(self) -> str:
        what = {
            "kill": f"SIGKILL {' + '.join(self.targets)}, restart after {self.duration:.0f} s",
            "postgres-restart": f"PostgreSQL fast shutdown, start after {self.duration:.0f} s",
            "lost-answers": f"lose the next {self.count} create answer(s) (task created, answer 502)",
            "rate-429": f"{self.rate:.0%} of /v1 answered 429 Retry-After {self.retry_after:.0f} s "
            f"for {self.duration:.0f} s",
            "storm-5xx": f"every poll answered 503 for {self.duration:.0f} s",
            "slow": f"every /v1 answer {self.rate:.1f} s late for {self.duration:.0f} s",
            "trickle": f"the next {self.count} poll(s) answered 503 one byte every {self.rate:.2f} s",
            "failing-renders": f"renders created in the next {self.duration:.0f} s fail with {RETRYABLE_RENDER_CODE}",
            "s3-freeze": f"SeaweedFS frozen (SIGSTOP) for {self.duration:.0f} s",
            "ledger-fail": f"the budget ledger's writes answered 503 for {self.duration:.0f} s",
            "upload-fail": f"archive uploads answered 503 for {self.duration:.0f} s",
        }[self.kind]
        return f"t+{self.at:6.1f}s  {self.kind:<16} {what}"


@dataclass(frozen=True)
class Schedule:
    """The faults of one run, in order of ``at``; ``window`` is the seconds faults may start in."""

    seed: int
    window: float
    faults: tuple[Fault, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        lines = [f"chaos seed {self.seed}: {len(self.faults)} faults over {self.window:.0f} s"]
        lines += [f"  {fault.describe()}" for fault in self.faults]
        return "\n".join(lines)


def draw_schedule(
    seed: int,
    *,
    minutes: float,
    components: list[str],
    mean_gap: float = 12.0,
    first_at: float = 15.0,
) -> Schedule:
    """Faults from ``first_at`` to ``minutes`` after the load starts, about one per ``mean_gap`` s.

    ``components`` are the names a kill may pick (sorted here, so their order does not matter).
    """
    if minutes <= 0 or mean_gap <= 0:
        raise ValueError(f"minutes={minutes} and mean_gap={mean_gap} must be > 0")
    rng = random.Random(seed)
    names = sorted(components)
    window = minutes * 60.0
    kinds = list(WEIGHTS)
    weights = [WEIGHTS[kind] for kind in kinds]
    busy_until: dict[str, float] = {}
    faults: list[Fault] = []
    at = first_at
    while at < window:
        kind: FaultKind = rng.choices(kinds, weights)[0]
        fault = _draw(rng, kind, at, names)
        if busy_until.get(kind, -1.0) <= at and not _kills_busy(fault, faults):
            faults.append(fault)
            busy_until[kind] = at + fault.duration
        at += rng.uniform(0.4 * mean_gap, 1.6 * mean_gap)
    return Schedule(seed=seed, window=window, faults=tuple(faults))


def _kills_busy(fault: Fault, earlier: list[Fault]) -> bool:
    """A kill of a component that an earlier kill still holds down would find nothing to kill."""
    if fault.kind != "kill":
        return False
    return any(
        f.kind == "kill" and f.at + f.duration >= fault.at and set(f.targets) & set(fault.targets) for f in earlier
    )


def _draw(rng: random.Random, kind: FaultKind, at: float, names: list[str]) -> Fault:
    if kind == "kill":
        both = rng.random() < 0.3
        targets = tuple(sorted(rng.sample(names, 2 if both and len(names) > 1 else 1)))
        return Fault(at=at, kind=kind, targets=targets, duration=round(rng.uniform(1.0, 15.0), 1))
    if kind == "postgres-restart":
        return Fault(at=at, kind=kind, duration=round(rng.uniform(1.0, 6.0), 1))
    if kind == "lost-answers":
        return Fault(at=at, kind=kind, count=rng.randint(1, 3), duration=0.0)
    if kind == "rate-429":
        return Fault(
            at=at,
            kind=kind,
            rate=round(rng.uniform(0.2, 0.7), 2),
            retry_after=float(rng.randint(1, 3)),
            duration=round(rng.uniform(5.0, 30.0), 1),
        )
    if kind == "storm-5xx":
        return Fault(at=at, kind=kind, duration=round(rng.uniform(5.0, 25.0), 1))
    if kind == "slow":
        return Fault(at=at, kind=kind, rate=round(rng.uniform(0.5, 4.0), 1), duration=round(rng.uniform(5.0, 25.0), 1))
    if kind == "trickle":
        # An error body is ~100 bytes: 2-20 s per answer, around the client's read timeout.
        return Fault(at=at, kind=kind, count=rng.randint(1, 4), rate=round(rng.uniform(0.02, 0.2), 2), duration=0.0)
    if kind in ("ledger-fail", "upload-fail"):
        return Fault(at=at, kind=kind, duration=round(rng.uniform(5.0, 20.0), 1))
    if kind == "failing-renders":
        return Fault(at=at, kind=kind, duration=round(rng.uniform(5.0, 20.0), 1))
    return Fault(at=at, kind=kind, duration=round(rng.uniform(3.0, 15.0), 1))  # s3-freeze
