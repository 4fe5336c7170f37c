"""Why a ledger operation failed: the errors :mod:`.ledger` raises, apart so the callers can name them.

Every one of them means nothing was sent (budget exhausted) or nothing was changed (conflict,
unreadable ledger): a caller never has to undo half an update.
"""

from __future__ import annotations

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.estimate import fmt


class LedgerError(VideoGenError):
    """The ledger could not be read or written (S3 unreachable, contention beyond the deadline)."""


class LedgerCorruptError(LedgerError):
    """The ledger object holds something that is not a ledger (a bad amount, a broken entry): nothing is sent.

    The budget cannot be enforced from a document whose amounts cannot be trusted, so every
    submission against it stops until a human fixes or removes the named entry.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"The ledger {where} is not a ledger document a budget can be enforced from: {problem}. No request "
            "is submitted against this budget until a human fixes it: correct or remove that entry (amounts "
            f"are finite numbers from 0 to {fmt(amounts.MAX_CREDITS)} credits), or move the object away."
        )


class BudgetExhaustedError(VideoGenError):
    """The shared budget cannot hold this request's estimate; nothing was sent."""


class ReservationConflictError(LedgerError):
    """A reservation would be adopted or settled for another request or remote task; nothing was changed.

    ``counted_under`` names the entry that already counts the remote task, when that is the conflict.
    """

    def __init__(self, message: str, *, counted_under: str | None = None) -> None:
        super().__init__(message)
        self.counted_under = counted_under
