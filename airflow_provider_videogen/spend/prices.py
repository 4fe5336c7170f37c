"""What a second (or a video) of each model costs: the published table, plus the user's own prices.

**Published prices** (seed 001, the vendor's Veo 3.1 page), per second of video, by quality and
``generate_audio``:

| quality      | audio | USD/s  | credits/s |
|--------------|-------|--------|-----------|
| 720p / 1080p | no    | 0.0800 | 5.76      |
| 720p / 1080p | yes   | 0.1200 | 8.64      |
| 4k           | no    | 0.2400 | 17.28     |
| 4k           | yes   | 0.2808 | 20.2176   |

The table is titled "Veo 3.1 Fast"; the page documents the endpoint ``veo-3.1-fast-generate-
preview`` (with ``generate_audio``) and names ``veo3.1-fast`` as the Fast "Lite" endpoint, so
both get these rates. ``veo3.1-fast`` takes no ``generate_audio`` and is priced without audio.
Every row gives 72 credits per USD, which converts credits to USD for every model.

**Everything else is unpriced** until the user says otherwise: Seedance, the Pro and preview
Pro models, the 15 s remix models (the remix API answers in quota units, never in credits).
Prices go in the ``videogen`` connection's extra ``prices``, one entry per model, which also
overrides a published price::

    {"prices": {
        "doubao-seedance-1.0-pro-fast": {"credits_per_second": 1.0},
        "veo3.1-pro": {"credits_per_second": {"720p": 14.4, "1080p": 14.4, "4k": 28.8}},
        "veo_3_1-fast-fl-remix": {"credits_per_video": 60}},
     "credits_per_usd": 72}

A rate is a number (every quality) or a mapping by tier: ``"<quality>"``, ``"<quality>+audio"``,
or the wildcards ``"*"`` and ``"*+audio"``. A request with audio is never priced at a rate
without it: a missing audio tier makes the request unpriced, not cheaper.

Every rate is 0 or from 0.0001 to 1,000,000 credits, and ``credits_per_usd`` from 0.0001 to
1,000,000 (:mod:`.amounts` holds the bounds): a price of ``1e30`` or ``1e-30`` is refused
naming the setting, instead of passing here and overflowing (or silently zeroing) the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.amounts import CREDIT_QUANTUM, USD_QUANTUM, AmountError

__all__ = ["CREDIT_QUANTUM", "USD_QUANTUM", "ModelPrice", "PriceConfigError", "PriceTable", "to_decimal"]

#: Seed 001's rows: (qualities, generate_audio, USD per second, credits per second).
PUBLISHED_ROWS: tuple[tuple[tuple[str, ...], bool, Decimal, Decimal], ...] = (
    (("720p", "1080p"), False, Decimal("0.0800"), Decimal("5.76")),
    (("720p", "1080p"), True, Decimal("0.1200"), Decimal("8.64")),
    (("4k",), False, Decimal("0.2400"), Decimal("17.28")),
    (("4k",), True, Decimal("0.2808"), Decimal("20.2176")),
)
#: Credits per USD, from the same rows (every row agrees: 5.76 / 0.08 = 72).
PUBLISHED_CREDITS_PER_USD = Decimal("72")
#: The models the published table prices.
PUBLISHED_MODELS: tuple[str, ...] = ("veo3.1-fast", "veo-3.1-fast-generate-preview")
PUBLISHED_SOURCE = "published price (seed 001)"
OVERRIDE_SOURCE = "connection extra 'prices'"

AUDIO_SUFFIX = "+audio"
WILDCARD = "*"


class PriceConfigError(ValueError):
    """The connection extra ``prices`` cannot be read; names the model and the bad value."""


def to_decimal(value: Any, what: str) -> Decimal:
    """An amount of credits (a budget, a cap), checked by :func:`.amounts.amount`; the error names ``what``."""
    try:
        return amounts.amount(value, what)
    except AmountError as exc:
        raise PriceConfigError(str(exc)) from None


def _rate(value: Any, what: str) -> Decimal:
    """A price (credits per second or per video), at most :data:`.amounts.MAX_RATE`."""
    try:
        return amounts.rate(value, what)
    except AmountError as exc:
        raise PriceConfigError(str(exc)) from None


@dataclass(frozen=True)
class ModelPrice:
    """One model's price: credits per second of video or per video, by tier (``"720p"``, ``"4k+audio"``...)."""

    model: str
    unit: str  # "second" | "video"
    tiers: Mapping[str, Decimal]
    source: str

    def rate(self, quality: str, audio: bool) -> Decimal | None:
        """The rate for this quality and audio setting, or ``None`` when no tier matches."""
        keys = [f"{quality}{AUDIO_SUFFIX}", f"{WILDCARD}{AUDIO_SUFFIX}"] if audio else [quality, WILDCARD]
        for key in keys:
            if key in self.tiers:
                return self.tiers[key]
        return None

    @classmethod
    def from_config(cls, model: str, raw: Any) -> ModelPrice:
        """Parse one entry of the ``prices`` extra: ``{"credits_per_second" | "credits_per_video": rate}``."""
        if not isinstance(raw, Mapping):
            raise PriceConfigError(
                f"prices[{model!r}]={raw!r}; expected an object such as "
                '{"credits_per_second": 5.76} or {"credits_per_video": 60}'
            )
        units = {"credits_per_second": "second", "credits_per_video": "video"}
        given = [key for key in units if key in raw]
        unknown = sorted(set(raw) - set(units))
        if len(given) != 1 or unknown:
            raise PriceConfigError(
                f"prices[{model!r}] has keys {sorted(raw)}; "
                "give exactly one of 'credits_per_second', 'credits_per_video'"
            )
        key = given[0]
        value = raw[key]
        tiers: dict[str, Decimal]
        if isinstance(value, Mapping):
            if not value:
                raise PriceConfigError(f"prices[{model!r}][{key!r}] is empty")
            tiers = {
                str(tier).lower(): _rate(rate, f"prices[{model!r}][{key!r}][{tier!r}]") for tier, rate in value.items()
            }
        else:
            rate = _rate(value, f"prices[{model!r}][{key!r}]")
            tiers = {WILDCARD: rate, f"{WILDCARD}{AUDIO_SUFFIX}": rate}
        return cls(model=model, unit=units[key], tiers=tiers, source=OVERRIDE_SOURCE)


def published_prices() -> dict[str, ModelPrice]:
    """The seed's table, as :class:`ModelPrice` entries of the models it covers."""
    tiers: dict[str, Decimal] = {}
    for qualities, audio, _usd, credits in PUBLISHED_ROWS:
        for quality in qualities:
            tiers[f"{quality}{AUDIO_SUFFIX}" if audio else quality] = credits
    return {model: ModelPrice(model, "second", dict(tiers), PUBLISHED_SOURCE) for model in PUBLISHED_MODELS}


@dataclass(frozen=True)
class PriceTable:
    """Prices by model and the credits-per-USD rate; :meth:`from_extra` merges a connection's overrides."""

    models: Mapping[str, ModelPrice] = field(default_factory=published_prices)
    credits_per_usd: Decimal = PUBLISHED_CREDITS_PER_USD

    def get(self, model: str) -> ModelPrice | None:
        return self.models.get(model)

    def to_usd(self, credits: Decimal) -> Decimal:
        return amounts.quantize(credits / self.credits_per_usd, USD_QUANTUM)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None) -> PriceTable:
        """The published table with the extra's ``prices`` (and ``credits_per_usd``) applied on top."""
        extra = extra or {}
        models = published_prices()
        raw = extra.get("prices") or {}
        if isinstance(raw, str):  # a URI query or a form field carries JSON as text
            import json

            try:
                raw = json.loads(raw)
            except ValueError:
                raise PriceConfigError(f"connection extra 'prices' is not JSON: {raw[:200]!r}") from None
        if not isinstance(raw, Mapping):
            raise PriceConfigError(f"connection extra 'prices' must be an object by model name, not {raw!r}")
        for model, entry in raw.items():
            models[str(model)] = ModelPrice.from_config(str(model), entry)
        rate = extra.get("credits_per_usd")
        try:
            credits_per_usd = PUBLISHED_CREDITS_PER_USD if rate in (None, "") else amounts.credits_per_usd(rate)
        except AmountError as exc:
            raise PriceConfigError(f"connection extra {exc}") from None
        return cls(models=models, credits_per_usd=credits_per_usd)


def prices_for_connection(conn_id: str) -> PriceTable:
    """The price table of a ``videogen`` connection (published prices plus its ``prices`` extra)."""
    from airflow.sdk import BaseHook

    return PriceTable.from_extra(BaseHook.get_connection(conn_id).extra_dejson)
