"""The price of a whole run, from its plan, checked against the run's ``max_credits`` before the first create.

A plan (see :func:`airflow_provider_videogen.pipelines.prompts.plan_variants`) lists, per variant, the
clip's operator keyword arguments (``generation``) and the remix's (``remix``, or ``None``).
:func:`estimate_plan` prices every video of it; :func:`check_run_cap` fails the planning task
when the total is over the cap (or a video is unpriced, unless allowed), naming each video's
price, so nothing is submitted; :func:`annotate` stores each video's estimate in the plan, where
the manifest finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from airflow_provider_videogen.models import GenerationRequest, RemixRequest
from airflow_provider_videogen.spend.estimate import Estimate, estimate, fmt
from airflow_provider_videogen.spend.prices import PriceTable

Kind = Literal["clip", "remix"]
#: The plan key under which :func:`annotate` stores each variant's estimates.
ESTIMATE_KEY = "estimate"


@dataclass(frozen=True)
class PlannedVideo:
    index: int
    kind: Kind
    estimate: Estimate


@dataclass(frozen=True)
class PlanEstimate:
    """Every video of a run with its estimate; totals count priced videos only (``unpriced`` lists the rest)."""

    videos: tuple[PlannedVideo, ...]
    prices: PriceTable

    @property
    def credits(self) -> Decimal:
        return sum((v.estimate.credits for v in self.videos if v.estimate.credits is not None), Decimal(0))

    @property
    def usd(self) -> Decimal:
        return self.prices.to_usd(self.credits)

    @property
    def unpriced(self) -> list[PlannedVideo]:
        return [v for v in self.videos if not v.estimate.priced]

    def count(self, kind: Kind) -> int:
        return sum(1 for v in self.videos if v.kind == kind)

    def describe(self) -> str:
        """``3 clips and 3 remixes: 138.24 credits ($1.92) (3 unpriced)``."""
        parts = [f"{self.count('clip')} clip(s)"] + (
            [f"{self.count('remix')} remix(es)"] if self.count("remix") else []
        )
        unpriced = f" + {len(self.unpriced)} unpriced video(s)" if self.unpriced else ""
        return f"{' and '.join(parts)}: {fmt(self.credits)} credits (${fmt(self.usd)}){unpriced}"

    def lines(self) -> list[str]:
        return [f"variant {v.index} {v.kind}: {v.estimate.describe()}" for v in self.videos]

    def to_json(self) -> dict[str, Any]:
        return {
            "credits": float(self.credits),
            "usd": float(self.usd),
            "videos": len(self.videos),
            "unpriced": len(self.unpriced),
            "items": [{"index": v.index, "kind": v.kind, **v.estimate.to_json()} for v in self.videos],
        }


def _generation_request(kwargs: dict[str, Any]) -> GenerationRequest:
    fields = {k: v for k, v in kwargs.items() if k in GenerationRequest.model_fields}
    return GenerationRequest(**fields)


def _remix_request(kwargs: dict[str, Any]) -> RemixRequest:
    # The plan was validated when it was made; the last frame does not exist yet and does not change the price.
    fields = {k: v for k, v in kwargs.items() if k in RemixRequest.model_fields and k != "input_references"}
    return RemixRequest.model_construct(**fields)


def estimate_plan(plan: list[dict[str, Any]], prices: PriceTable | None = None) -> PlanEstimate:
    """Price every clip and remix of ``plan``."""
    prices = prices or PriceTable()
    videos: list[PlannedVideo] = []
    for variant in plan:
        videos.append(
            PlannedVideo(variant["index"], "clip", estimate(_generation_request(variant["generation"]), prices))
        )
        if variant.get("remix"):
            videos.append(PlannedVideo(variant["index"], "remix", estimate(_remix_request(variant["remix"]), prices)))
    return PlanEstimate(tuple(videos), prices)


def check_run_cap(cost: PlanEstimate, max_credits: Any, *, allow_unpriced: bool = False) -> None:
    """Fail the planning task (nothing submitted) when the run is over ``max_credits``; no-op without a cap."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_videogen.spend.guard import check_max_credits

    cap = check_max_credits(max_credits)
    if cap is None:
        return
    detail = "; ".join(cost.lines())
    if cost.unpriced and not allow_unpriced:
        raise AirflowFailException(
            f"Not submitting the run: {len(cost.unpriced)} video(s) have no price, so max_credits={fmt(cap)} cannot "
            f"be enforced ({detail}). Add their models under the videogen connection's extra 'prices', or set the "
            "param allow_unpriced. Nothing was sent."
        )
    if cost.credits > cap:
        raise AirflowFailException(
            f"Not submitting the run: {cost.describe()}, more than max_credits={fmt(cap)} ({detail}). Nothing was sent."
        )


def annotate(plan: list[dict[str, Any]], cost: PlanEstimate) -> list[dict[str, Any]]:
    """``plan`` with each variant's estimates under ``estimate`` (``{"clip": {...}, "remix": {...}}``)."""
    by_variant: dict[int, dict[str, Any]] = {}
    for video in cost.videos:
        by_variant.setdefault(video.index, {})[video.kind] = video.estimate.to_json()
    return [{**variant, ESTIMATE_KEY: by_variant.get(variant["index"], {})} for variant in plan]


def prices_or_published(conn_id: str, log: Any = None) -> PriceTable:
    """The connection's price table; the published one when the connection does not exist (yet)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_videogen.spend.prices import prices_for_connection

    try:
        return prices_for_connection(conn_id)
    except AirflowNotFoundException:
        if log is not None:
            log.warning("Connection %r not found: estimating with the published prices only", conn_id)
        return PriceTable()
