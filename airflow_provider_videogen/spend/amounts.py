"""Every amount of money the package reads, checked in one place: finite, >= 0 and within a sane bound.

Amounts come from three places nobody here controls: the gateway (``usage.credits_reserved``),
the connection extras (``prices``, ``credits_per_usd``, ``budget.credits``, ``max_credits``) and
the ledger document in S3 (anyone with the bucket can edit it). One bad number there once turned
a budget into an unlimited one (a negative entry) or crashed settling a paid create on every
retry (``1e30`` overflowed the 28-digit decimal context). So every amount goes through
:func:`amount` before it is counted, and the error names where it came from.

**The bounds** (one source of truth; the README and SECURITY.md quote them):

* :data:`MAX_CREDITS`: no single amount above 10^9 credits (about USD 14 million at the
  published 72 credits/USD) is believed: a budget, a cap, a ledger entry, an estimate, what the
  gateway says it reserved. A video costs tens to hundreds of credits; 10^9 leaves room for any
  real budget, while every sum of such amounts stays exact in Decimal's default 28 digits.
* :data:`MAX_RATE`: a price (credits per second, or per video) of at most 10^6 credits, so that
  any real request's estimate (<= 15 s x 4 videos) stays far below :data:`MAX_CREDITS`.
* :data:`CREDIT_QUANTUM`: amounts are counted to 0.0001 credit (seed 001 quotes 20.2176/s); an
  amount above 0 but below it would silently count as 0 (a price of 1e-30 makes a paid model
  free), so it is refused instead.
* ``credits_per_usd`` between :data:`MIN_CREDITS_PER_USD` and :data:`MAX_CREDITS_PER_USD`.

This module imports nothing from the package, so the response models can use it too.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

#: Credits are quoted with 4 decimals (20.2176 credits/s); every counted amount is rounded to this.
CREDIT_QUANTUM = Decimal("0.0001")
USD_QUANTUM = Decimal("0.0001")
#: The largest single amount of credits believed (budget, cap, ledger entry, estimate, gateway figure).
MAX_CREDITS = Decimal(10) ** 9
#: The largest price (credits per second of video, or per video).
MAX_RATE = Decimal(10) ** 6
#: The range of ``credits_per_usd`` (the published rate is 72).
MIN_CREDITS_PER_USD = Decimal("0.0001")
MAX_CREDITS_PER_USD = Decimal(10) ** 6


class AmountError(ValueError):
    """An amount that is not a finite number >= 0 within its bound; the text names where it came from."""


def amount(value: Any, where: str, *, maximum: Decimal = MAX_CREDITS, minimum: Decimal | None = None) -> Decimal:
    """``value`` as a :class:`~decimal.Decimal`, or :class:`AmountError` naming ``where`` and the range.

    Floats go through ``str`` (5.76, not 5.7599...). ``minimum`` (default: 0, or the quantum for
    anything above 0) is the smallest amount accepted.
    """
    shown = _shown(value)
    allowed = f"allowed: {_range(minimum, maximum)}"
    if isinstance(value, bool) or value is None:
        raise AmountError(f"{where}={shown} is not a number; {allowed}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise AmountError(f"{where}={shown} is not a number; {allowed}") from None
    if not number.is_finite():
        raise AmountError(f"{where}={shown} is not a finite number; {allowed}")
    if number < 0:
        raise AmountError(f"{where}={shown} must be a number >= 0; {allowed}")
    if number > maximum:
        raise AmountError(f"{where}={shown} is above the largest amount believed; {allowed}")
    floor = minimum if minimum is not None else CREDIT_QUANTUM
    if number < floor and (minimum is not None or number != 0):
        too_small = "must be > 0" if number == 0 else "is too small to count"
        raise AmountError(f"{where}={shown} {too_small}; {allowed}")
    return number


def credits(value: Any, where: str) -> Decimal:
    """An amount of credits (budget, cap, ledger entry, gateway figure), rounded to :data:`CREDIT_QUANTUM`."""
    return quantize(amount(value, where))


def rate(value: Any, where: str) -> Decimal:
    """A price: credits per second or per video, at most :data:`MAX_RATE`."""
    return amount(value, where, maximum=MAX_RATE)


def credits_per_usd(value: Any, where: str = "credits_per_usd") -> Decimal:
    return amount(value, where, minimum=MIN_CREDITS_PER_USD, maximum=MAX_CREDITS_PER_USD)


def quantize(value: Decimal, quantum: Decimal = CREDIT_QUANTUM) -> Decimal:
    """Round to ``quantum`` without ever raising :class:`~decimal.InvalidOperation` for a large value."""
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + 10)
        return value.quantize(quantum)


def product(*factors: Decimal | int) -> Decimal:
    """The exact product of bounded factors (an estimate: rate x seconds x videos), whatever their size."""
    with localcontext() as ctx:
        ctx.prec = 200
        total = Decimal(1)
        for factor in factors:
            total *= Decimal(factor)
        return total


def _range(minimum: Decimal | None, maximum: Decimal) -> str:
    low = "0" if minimum is None else format(minimum, "f")
    above = "" if minimum is not None else f" (0, or at least {format(CREDIT_QUANTUM, 'f')})"
    return f"a finite number from {low} to {format(maximum, 'f')}{above}"


def _shown(value: Any) -> str:
    """The value as the user wrote it, cut short: an error must not echo a megabyte of junk."""
    try:
        text = repr(value) if not isinstance(value, (int, float, Decimal)) or isinstance(value, bool) else str(value)
    except ValueError:  # an int of more than 4300 digits has no str()
        text = f"<{type(value).__name__} too long to show>"
    return text if len(text) <= 40 else text[:37] + "..."
