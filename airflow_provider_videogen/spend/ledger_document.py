"""The ledger document of one budget period and its entries, validated whoever wrote them.

The document holds one entry per reservation, keyed by the reservation id
(``dag_id/run_id/task_id/map_index#n.<nonce>``, see :mod:`.guard`), in one of three states:

* ``reserved``: the estimate is held; the create is about to be (or may have been) sent;
* ``settled``: the gateway answered; what counts is its ``credits_reserved``;
* ``released``: the create provably failed (the gateway refused it): nothing is held.

How the document is read and written atomically is :mod:`.ledger`'s business.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.estimate import fmt
from airflow_provider_videogen.spend.ledger_errors import LedgerCorruptError

EntryState = Literal["reserved", "settled", "released"]


def _describe_errors(exc: ValidationError) -> str:
    """``entry 'dag/run/t/-1#1': estimate=-100 must be a number >= 0; ...`` (at most three)."""
    parts = []
    for error in exc.errors()[:3]:
        loc = list(error.get("loc", ()))
        if len(loc) >= 2 and loc[0] == "entries":
            where = f"entry {str(loc[1])[:200]!r}" + (f" field {'.'.join(map(str, loc[2:]))!r}" if loc[2:] else "")
        else:
            where = f"field {'.'.join(map(str, loc))!r}" if loc else "the document"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message[:300]}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _checked_credits(value: Any, where: str) -> Any:
    """A ledger amount through :func:`.amounts.amount`: a negative entry would enlarge the budget.

    Values already parsed (a :class:`~decimal.Decimal` the package wrote) are checked the same way.
    """
    if value is None:
        return None
    return amounts.amount(value, where)


class LedgerEntry(BaseModel):
    """One reservation. ``credits`` is what the gateway reserved, once settled.

    Both amounts are finite, >= 0 and within :data:`.amounts.MAX_CREDITS`, whoever wrote the
    document (a hand edit, another client): one negative entry would make the budget unlimited.
    """

    state: EntryState
    estimate: Decimal
    credits: Decimal | None = None
    remote_id: str | None = None
    #: The fingerprint of the request this reservation was taken for (``None``: written by an older version).
    fingerprint: str | None = None
    reserved_at: str
    updated_at: str
    note: str | None = None

    @field_validator("estimate", "credits", mode="before")
    @classmethod
    def _amount(cls, value: Any, info: Any) -> Any:
        return _checked_credits(value, str(info.field_name))

    @property
    def held(self) -> Decimal:
        if self.state == "reserved":
            return self.estimate
        if self.state == "settled":
            return self.credits if self.credits is not None else self.estimate
        return Decimal(0)


class LedgerDocument(BaseModel):
    """The ledger object of one budget period."""

    budget: str
    period: str
    limit: Decimal
    entries: dict[str, LedgerEntry] = Field(default_factory=dict)

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> Any:
        return _checked_credits(value, "limit")

    @classmethod
    def parse(cls, body: bytes, where: str) -> LedgerDocument:
        """The document in ``body``, or :class:`LedgerCorruptError` naming ``where`` and the bad entry."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise LedgerCorruptError(where, _describe_errors(exc)) from None
        except ValueError as exc:  # not JSON at all
            raise LedgerCorruptError(where, str(exc)[:300]) from None

    def held(self) -> Decimal:
        return sum((entry.held for entry in self.entries.values()), Decimal(0))

    def count(self, state: EntryState) -> int:
        return sum(1 for entry in self.entries.values() if entry.state == state)

    def summary(self) -> str:
        return f"{fmt(self.held())} credits held ({self.count('reserved')} reserved, {self.count('settled')} settled)"
