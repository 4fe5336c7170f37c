"""When to send the next status query: a pure schedule, no I/O, no clock of its own.

Every render in flight costs the gateway's rate limit one request per poll. Polling every
``poll_interval`` from the first second spends most of them on "still running" (a 180 s render
at 15 s: 12 queries, 11 of them useless). The gateway says how long a render should take
(``task_info.estimated_time`` at creation) and how far along it is (``progress`` on every poll),
so the wait can follow the render instead of the clock:

1. **Predict the finish.** From the progress rate once two polls have reported progress far
   enough apart; before that from the estimate, pulled earlier by a single progress report that
   shows the render running ahead of it (progress counted from submission can only lag the real
   rate, since queueing shows as 0 %, so it never pulls the prediction later).
2. **Wait a share of what remains**, the share growing with the evidence: a quarter before the
   first answer (so a render up to 4x faster than estimated is still caught early); without a
   rate, until a window of about a fifth of the predicted render time before the predicted finish, so
   that fixed polling covers the scatter of renders around their estimate; all of it (plus a
   quarter interval, to land just after the finish rather than just before it) once the rate
   is known.
   A rate needs progress that moves with the render. A gateway may report 0 until the end, or
   jump in a few coarse steps (0, 25, 50, 75): coarse reports (every value seen a multiple of
   :data:`MIN_PROGRESS_SPAN` or more) give no rate, since a step says only that the render
   passed it, not where it is now; the estimate and the window decide instead.
3. **Near or past the predicted finish, or with nothing to go by, poll every ``poll_interval``**:
   fixed polling. A render far slower than its estimate, a stalled progress, a gateway that
   reports no estimate and no progress: all of them end up here, so adaptive polling never
   polls more often than fixed polling would.

4. **The gateway's poll hint** (``Retry-After`` or ``openai-poll-after-ms`` on a status answer,
   handed up by the hook as ``VideoTask.poll_after``) lengthens the next wait to what it asks,
   in fixed and adaptive polling alike; it never shortens one. A lying hint cannot stall the
   wait nor make it spin: it is clamped to ``[poll_interval, max_poll_interval]`` like any wait.

Bounds on every wait: at least ``poll_interval`` (never more requests than fixed polling), at
most ``max_poll_interval`` (a wrong estimate costs little), and never past the deadline.

The history is in memory only. A trigger rebuilt after a triggerer restart starts a new
schedule from the numbers it serialized (estimate and submission time): it may poll a little
more, never less correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Default longest wait between two polls of an adaptive schedule (seconds).
DEFAULT_MAX_POLL_INTERVAL = 180.0
#: Progress points two reports must be apart before their rate is trusted: progress is an
#: integer percentage, so a rate over 1-2 points is mostly rounding.
MIN_PROGRESS_SPAN = 5
#: Share of the predicted remaining time waited before the first answer (see the module docstring).
SHARE_BEFORE_FIRST_ANSWER = 0.25
#: Without a progress rate, fixed polling starts this share of the predicted render time before
#: the predicted finish: renders scatter around their estimate, and only a rate narrows that.
#: At the 12:1 estimate-to-interval ratio of the defaults (180 s / 15 s), 0.22 sees a render up to
#: 30% early within one interval and one on time at the fifth poll (the early look, then four).
WINDOW_WITHOUT_RATE = 0.22
#: Once the rate is known, aim this many poll intervals after the predicted finish.
AIM_PAST_FINISH = 0.25


def resolve_max_poll_interval(poll_interval: float, max_poll_interval: float | None) -> float:
    """The longest wait: as given, or the default (never below ``poll_interval``) when not given.

    An explicit value below ``poll_interval`` is refused: it would contradict the interval.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval={poll_interval} must be > 0 seconds")
    if max_poll_interval is None:
        return max(DEFAULT_MAX_POLL_INTERVAL, float(poll_interval))
    if max_poll_interval < poll_interval:
        raise ValueError(f"max_poll_interval={max_poll_interval} must be >= poll_interval={poll_interval} seconds")
    return float(max_poll_interval)


@dataclass
class PollSchedule:
    """The waits between the status queries of one remote task.

    :param poll_interval: the fixed-polling interval, and the shortest wait.
    :param max_poll_interval: the longest wait between two polls.
    :param deadline: wall-clock epoch seconds; no wait goes past it.
    :param adaptive: ``False`` gives fixed polling (every wait is ``poll_interval``).
    :param estimated_time: the gateway's estimate of the render time, in seconds, if known.
    :param submitted_at: wall-clock epoch seconds of the submission, if known.

    Times passed to :meth:`observe` and :meth:`next_wait` are wall-clock epoch seconds
    (``time.time()``), the clock the deadline and the submission time are on.
    """

    poll_interval: float
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL
    deadline: float = float("inf")
    adaptive: bool = True
    estimated_time: float | None = None
    submitted_at: float | None = None
    #: (time, progress) of the first poll that reported progress, and of the latest one.
    _first: tuple[float, int] | None = field(default=None, init=False, repr=False)
    _last: tuple[float, int] | None = field(default=None, init=False, repr=False)
    #: The latest progress report repeated the one before: the render is not advancing.
    _stalled: bool = field(default=False, init=False, repr=False)
    _answers: int = field(default=0, init=False, repr=False)
    #: The latest answer's poll hint, in seconds (``None``: it sent none).
    _hint: float | None = field(default=None, init=False, repr=False)
    #: Greatest common divisor of the progress values reported (0 before the first).
    _granularity: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.max_poll_interval = resolve_max_poll_interval(self.poll_interval, self.max_poll_interval)
        if self.estimated_time is not None and self.estimated_time <= 0:
            self.estimated_time = None

    # ---- what the polls said ---------------------------------------------------------------

    def observe(
        self,
        now: float,
        progress: int,
        *,
        estimated_time: float | None = None,
        submitted_at: float | None = None,
        sent_at: float | None = None,
        poll_after: float | None = None,
    ) -> None:
        """Record one answer of a render still in progress, received at ``now``.

        The gateway measured ``progress`` somewhere between sending (``sent_at``) and receiving:
        the midpoint is taken, so a busy event loop that reads the answer late does not make
        the render look slower than it is. A query that took longer than an interval (the hook
        retried it) is dated when it was received.

        ``estimated_time`` and ``submitted_at`` fill in what the schedule was not given (a
        sensor watching a task someone else submitted learns them from the first answer).
        ``poll_after`` is the answer's poll hint, applied to the next wait only.
        """
        self._answers += 1
        self._hint = poll_after
        at = now
        if sent_at is not None and 0 <= now - sent_at <= self.poll_interval:
            at = (sent_at + now) / 2
        if self.estimated_time is None and estimated_time is not None and estimated_time > 0:
            self.estimated_time = float(estimated_time)
        if self.submitted_at is None and submitted_at is not None:
            self.submitted_at = min(float(submitted_at), at)  # a gateway clock ahead of ours
        if progress <= 0:
            return
        self._granularity = math.gcd(self._granularity, int(progress))
        self._stalled = self._last is not None and progress <= self._last[1]
        if self._first is None:
            self._first = (at, progress)
        if not self._stalled:
            self._last = (at, progress)

    # ---- predictions -------------------------------------------------------------------------

    def _rate_finish(self) -> float | None:
        """The finish predicted from the progress rate between the first and the latest report."""
        if self._first is None or self._last is None or self._granularity >= MIN_PROGRESS_SPAN:
            return None  # no report yet, or coarse steps: see the module docstring
        (t0, p0), (t1, p1) = self._first, self._last
        if p1 - p0 < MIN_PROGRESS_SPAN or t1 <= t0:
            return None
        return t1 + (100 - p1) * (t1 - t0) / (p1 - p0)

    def predicted_finish(self) -> float | None:
        """Wall-clock time the render should end, or ``None`` when nothing says."""
        if self._stalled:
            return None
        by_rate = self._rate_finish()
        if by_rate is not None:
            return by_rate
        candidates: list[float] = []
        if self.submitted_at is not None and self.estimated_time is not None:
            candidates.append(self.submitted_at + self.estimated_time)
        if self._last is not None and self.submitted_at is not None and self._last[0] > self.submitted_at:
            t, p = self._last
            candidates.append(self.submitted_at + (t - self.submitted_at) * 100 / p)
        return min(candidates) if candidates else None

    # ---- the wait ----------------------------------------------------------------------------

    def next_wait(self, now: float) -> float:
        """Seconds to sleep before the next status query (0 when it is due now)."""
        wait = self._wait(now)
        if self._answers and self._hint is not None and self._hint > wait:
            wait = min(self._hint, max(self.max_poll_interval, wait))  # clamped: see the module docstring
        return max(0.0, min(wait, self.deadline - now))

    def _wait(self, now: float) -> float:
        if not self.adaptive:
            return self.poll_interval if self._answers else 0.0
        finish = self.predicted_finish()
        if finish is None:
            return self.poll_interval if self._answers else 0.0
        remaining = finish - now
        if self._answers == 0:
            # Before the first answer: an early look, so progress can correct the estimate.
            return min(max(0.0, remaining * SHARE_BEFORE_FIRST_ANSWER), self.max_poll_interval)
        if remaining <= self.poll_interval:
            return self.poll_interval  # near or past the predicted end: fixed polling
        if self._rate_finish() is not None:
            wait = remaining + AIM_PAST_FINISH * self.poll_interval
        else:
            start = self.submitted_at if self.submitted_at is not None else now
            wait = remaining - WINDOW_WITHOUT_RATE * max(0.0, finish - start)
        return min(max(wait, self.poll_interval), self.max_poll_interval)
