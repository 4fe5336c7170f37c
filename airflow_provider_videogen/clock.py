"""The one way this package reads the time of day: an aware datetime in UTC.

Every stored or compared time (task state store records, link expiry, XCom ``completed_at``)
is timezone-aware UTC, so comparisons never mix naive and aware values. Code that decides from
the time takes ``now=`` as a parameter where tests need to pin it, and falls back to this.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, as an aware ``datetime`` in UTC."""
    return datetime.now(tz=timezone.utc)
