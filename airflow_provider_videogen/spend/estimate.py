"""The price of one request before it is sent: credits, USD and how the figure was reached.

``estimate(request)`` reads the request model (the one built from the user's input, with its
documented defaults: ``duration`` from the model's spec, ``quality`` 720p, ``generate_audio``
true where the model takes it) and the price table. It never guesses: a model without a price,
or a request whose length is unknown, is "unpriced", and says what is missing.

Run as a module, it prints what a backfill would cost (see :mod:`.backfill`)::

    python -m airflow_provider_videogen.spend.estimate videogen_daily --from 2026-03-01 --to 2026-03-31
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_videogen.models import REMIX_SEGMENT_SECONDS, GenerationRequest, RemixRequest
from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.amounts import AmountError
from airflow_provider_videogen.spend.prices import PriceTable

#: The quality a unified-API request gets when it names none (seed 001: ``quality`` default 720p).
DEFAULT_QUALITY = "720p"
#: Seconds of one 15 s remix (8 s + 7 s extension), what a per-second price multiplies.
REMIX_SECONDS = sum(REMIX_SEGMENT_SECONDS)


@dataclass(frozen=True)
class Estimate:
    """What one request will cost; ``credits`` is ``None`` when it is unpriced (``basis`` says why)."""

    model: str
    credits: Decimal | None
    usd: Decimal | None
    basis: str

    @property
    def priced(self) -> bool:
        return self.credits is not None

    def describe(self) -> str:
        """``46.08 credits ($0.64: 8 s x 5.76 credits/s)`` or ``unpriced (...)``."""
        if self.credits is None:
            return f"unpriced ({self.basis})"
        return f"{fmt(self.credits)} credits (${fmt(self.usd or Decimal(0))}: {self.basis})"

    def to_json(self) -> dict[str, Any]:
        """JSON-able (XCom, manifest): amounts as numbers, ``None`` when unpriced."""
        return {
            "model": self.model,
            "credits": float(self.credits) if self.credits is not None else None,
            "usd": float(self.usd) if self.usd is not None else None,
            "basis": self.basis,
        }


def fmt(amount: Decimal) -> str:
    """An amount without trailing zeros: ``46.08``, ``20.2176``, ``100``."""
    text = format(amount.normalize(), "f")
    return text


def unpriced(model: str, reason: str) -> Estimate:
    return Estimate(model=model, credits=None, usd=None, basis=reason)


def estimate(request: GenerationRequest | RemixRequest, prices: PriceTable | None = None) -> Estimate:
    """Credits and USD that ``request`` will cost, with the basis, or an unpriced estimate saying why."""
    prices = prices or PriceTable()
    if isinstance(request, RemixRequest):
        return _estimate_remix(request, prices)
    return _estimate_generation(request, prices)


def _priced(model: str, credits: Decimal, basis: str, prices: PriceTable) -> Estimate:
    """The estimate, or :class:`~.amounts.AmountError` when it is beyond any amount the guard counts.

    Prices are bounded (:mod:`.amounts`), but an unknown model takes any duration: ``10**30 s``
    must be refused clearly, not overflow the decimal context.
    """
    if credits > amounts.MAX_CREDITS:
        raise AmountError(
            f"the estimate of {model!r} is {credits:.4E} credits ({basis}), above "
            f"{fmt(amounts.MAX_CREDITS)} credits, the largest amount the spend guard counts: check duration, n "
            "and the connection extra 'prices'. Nothing was sent."
        )
    credits = amounts.quantize(credits)
    return Estimate(model=model, credits=credits, usd=prices.to_usd(credits), basis=basis)


def _no_price(model: str) -> Estimate:
    return unpriced(
        model,
        f"no published price for {model!r}; add one under the videogen connection's extra 'prices'",
    )


def _estimate_generation(request: GenerationRequest, prices: PriceTable) -> Estimate:
    price = prices.get(request.model)
    if price is None:
        return _no_price(request.model)
    spec = request.spec
    quality = (request.quality or DEFAULT_QUALITY).lower()
    audio = request.generate_audio
    if audio is None:  # the documented default: on where the model takes the parameter (seed 001)
        audio = spec is not None and "generate_audio" in spec.features
    count = request.n or 1
    rate = price.rate(quality, audio)
    tier = f"{quality}{', with audio' if audio else ''}"
    if rate is None:
        return unpriced(request.model, f"{price.source} for {request.model!r} has no rate for {tier}")
    videos = f"{count} videos x " if count > 1 else ""
    if price.unit == "video":
        basis = f"{count} video x {fmt(rate)} credits ({tier})"
        return _priced(request.model, amounts.product(rate, count), basis, prices)
    duration = request.duration or (spec.default_duration if spec else None)
    if duration is None:
        return unpriced(request.model, f"{request.model!r} is priced per second but the request names no duration")
    basis = f"{videos}{duration} s x {fmt(rate)} credits/s ({tier})"
    return _priced(request.model, amounts.product(rate, duration, count), basis, prices)


def remix_quality(request: RemixRequest) -> str:
    """The tier the gateway renders a remix at: see :func:`remix_tier`."""
    return remix_tier(request.model, request.size)


def remix_tier(model: str, size: str | None) -> str:
    """``"1080p"`` or ``"720p"``: what the gateway renders, so what it bills (the simulator bills by this too).

    ``-hd`` in the model name means 1080p (seed 003), whatever ``size`` says: a ``-hd`` model
    asked for 1280x720 still renders, and bills, 1080p. A 1920-wide (or tall) ``size`` on a
    model without ``-hd`` is priced at 1080p as well: which one the gateway honours is not
    documented, and an estimate must never come out below the bill.
    """
    if "-hd" in model:
        return "1080p"
    if size:
        width, _, height = size.partition("x")
        if width.isdigit() and height.isdigit() and max(int(width), int(height)) >= 1920:
            return "1080p"
    return "720p"


def _estimate_remix(request: RemixRequest, prices: PriceTable) -> Estimate:
    price = prices.get(request.model)
    if price is None:
        return _no_price(request.model)
    quality = remix_quality(request)
    rate = price.rate(quality, False)
    if rate is None:
        return unpriced(request.model, f"{price.source} for {request.model!r} has no rate for {quality}")
    if price.unit == "video":
        return _priced(request.model, rate, f"1 video x {fmt(rate)} credits ({quality})", prices)
    basis = f"{REMIX_SECONDS} s x {fmt(rate)} credits/s ({quality})"
    return _priced(request.model, amounts.product(rate, REMIX_SECONDS), basis, prices)


if __name__ == "__main__":  # pragma: no cover - the command's code and tests live in .backfill
    import sys

    from airflow_provider_videogen.spend.backfill import main

    sys.exit(main())
