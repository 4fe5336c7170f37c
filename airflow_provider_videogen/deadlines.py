"""When a wait for a remote task ends, and when Airflow's own safety net ends it if the trigger is lost.

Two rules, shared by the operators and the sensor:

* **The timeout counts from the first submission.** "Wait at most one hour for this video"
  means one hour after the video was paid for, not one hour per try: a retry or a clear that
  re-attaches to the same remote task keeps the original deadline (the submission record in the
  task state store holds ``submitted_at``). A retry after the deadline still re-uses a video that
  finished meanwhile; it does not wait again.
* **A safety net on deferral.** The trigger sends a clean ``timeout`` event at its deadline. The
  operators also give ``defer(timeout=...)`` a deadline :data:`DEFERRAL_GRACE` later, so a
  trigger that was lost (a triggerer that never picked it up, a bug) still ends the task; the
  trigger's event comes first whenever the trigger runs.

``timeout`` itself is checked once, when the operator or sensor is built
(:func:`check_wait_timeout`): an infinite, NaN or huge value used to pass and then overflow
the deadline arithmetic right after the create was paid, on every retry.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

#: How long after the trigger's own deadline Airflow's deferral timeout fires. Longer than one
#: status query with the hook's retries, so the trigger's ``timeout`` event (with the remote id
#: and last progress) wins whenever the trigger is alive.
DEFERRAL_GRACE = timedelta(minutes=5)

#: The longest ``timeout`` accepted. Renders take minutes and the gateway's links live 24 h, so a
#: week is far beyond any real wait; the bound keeps every deadline (plus
#: :data:`DEFERRAL_GRACE`) a time ``datetime`` and Airflow's deferral timeout can represent.
MAX_WAIT_TIMEOUT = timedelta(days=7)


def check_wait_timeout(value: Any, field: str = "timeout") -> float:
    """``timeout`` as seconds, refused unless finite, above 0 and at most :data:`MAX_WAIT_TIMEOUT`.

    Called by the operators' and the sensor's constructors, so a bad value fails when the DAG is
    parsed (or a mapped task is expanded), before any request: ``timedelta.max``, ``inf`` and
    ``nan`` used to be accepted and crash after the create was paid.
    """
    limit = MAX_WAIT_TIMEOUT.total_seconds()
    allowed = f"allowed: a timedelta or a number of seconds > 0 and <= {limit:g} ({MAX_WAIT_TIMEOUT.days} days)"
    if isinstance(value, bool):
        raise ValueError(f"{field}={value!r} is not a duration; {allowed}")
    try:
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{field}={value!r} is not a duration; {allowed}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= limit:
        raise ValueError(f"{field}={value!r} is out of range; {allowed}")
    return seconds


def wait_deadline(timeout_seconds: float, first_submitted_at: datetime | None = None) -> float:
    """Epoch seconds at which the wait ends: ``timeout`` after the first submission (or now)."""
    start = first_submitted_at.timestamp() if first_submitted_at is not None else time.time()
    return start + float(timeout_seconds)


def deferral_timeout(deadline: float, now: float | None = None) -> timedelta:
    """``defer(timeout=...)``: the time left until the trigger's deadline, plus :data:`DEFERRAL_GRACE`."""
    left = max(0.0, deadline - (time.time() if now is None else now))
    return timedelta(seconds=left) + DEFERRAL_GRACE


def isoformat_epoch(epoch: float) -> str:
    """An epoch time as an ISO 8601 UTC string, for log lines."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")
