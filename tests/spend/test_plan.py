"""The estimate of a whole plan, the run cap, and the manifest's estimate per video and in total."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.pipelines.manifest import build_manifest
from airflow_provider_videogen.pipelines.prompts import plan_variants
from airflow_provider_videogen.spend.plan import annotate, check_run_cap, estimate_plan
from airflow_provider_videogen.spend.prices import PriceTable

REMIX_PRICED = PriceTable.from_extra({"prices": {"veo_3_1-fast-fl-remix": {"credits_per_video": 60}}})


def plan(remix: bool = True) -> list[dict]:  # type: ignore[type-arg]
    return plan_variants(
        ["a boat", "a kite"],
        model="veo3.1-fast",
        duration=8,
        remix_model="veo_3_1-fast-fl-remix" if remix else None,
    )


def test_a_plan_is_priced_clip_by_clip_and_remix_by_remix() -> None:
    cost = estimate_plan(plan(), REMIX_PRICED)
    assert [(v.index, v.kind, v.estimate.credits) for v in cost.videos] == [
        (0, "clip", Decimal("46.08")),
        (0, "remix", Decimal(60)),
        (1, "clip", Decimal("46.08")),
        (1, "remix", Decimal(60)),
    ]
    assert cost.credits == Decimal("212.16")
    assert cost.usd == Decimal("2.9467")
    assert cost.describe() == "2 clip(s) and 2 remix(es): 212.16 credits ($2.9467)"
    assert json.loads(json.dumps(cost.to_json()))["credits"] == 212.16


@pytest.mark.parametrize(
    ("max_credits", "allow_unpriced", "prices", "message"),
    [
        (212.15, False, REMIX_PRICED, "more than max_credits=212.15"),
        (1000, False, PriceTable(), "2 video\\(s\\) have no price"),
    ],
)
def test_the_run_cap_refuses(max_credits: float, allow_unpriced: bool, prices: PriceTable, message: str) -> None:
    with pytest.raises(AirflowFailException, match=message):
        check_run_cap(estimate_plan(plan(), prices), max_credits, allow_unpriced=allow_unpriced)


@pytest.mark.parametrize(
    ("max_credits", "allow_unpriced", "prices"),
    [(None, False, PriceTable()), (212.16, False, REMIX_PRICED), (92.16, True, PriceTable())],
)
def test_the_run_cap_passes(max_credits: float | None, allow_unpriced: bool, prices: PriceTable) -> None:
    check_run_cap(estimate_plan(plan(), prices), max_credits, allow_unpriced=allow_unpriced)


def test_the_manifest_records_estimated_and_reserved_credits_per_video_and_in_total() -> None:
    annotated = annotate(plan(), estimate_plan(plan(), REMIX_PRICED))
    clips = [
        {"index": i, "kind": "clip", "variant": v, "result": {"id": f"c{i}", "credits_reserved": 46.08}}
        for i, v in enumerate(annotated)
    ]
    remixes = [
        {"index": i, "kind": "remix", "variant": v, "result": {"id": f"r{i}", "credits_reserved": None}}
        for i, v in enumerate(annotated)
    ]
    manifest = build_manifest(
        dag_id="d", run_id="r", logical_date=None, brief="b", prompt_source="template", plan_id="p",
        plan=annotated, clips=clips, remixes=remixes,
    )  # fmt: skip
    data = json.loads(manifest.to_json())
    assert [(v["clip"]["estimated_credits"], v["remix"]["estimated_credits"]) for v in data["variants"]] == [
        (46.08, 60.0),
        (46.08, 60.0),
    ]
    assert data["totals"]["estimated_credits"] == 212.16
    assert data["totals"]["credits_reserved"] == 92.16
