"""Issue 21 point 6: a remix is priced at the tier the gateway renders, and the simulator bills the same.

``-hd`` in the model name means 1080p (seed 003) whatever ``size`` says; a 1920 ``size`` is
priced at 1080p too (an estimate must not come out below the bill).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import REMIX_MODELS, REMIX_SIZES, RemixReference, RemixRequest
from airflow_provider_videogen.spend.estimate import estimate
from airflow_provider_videogen.spend.prices import PriceTable

#: NewAPI quota of one remix, by tier, in thousands: seed 003's 425000 for veo_3_1-fast-remix
#: (720p); 1080p costs 1.5x and the non-fast models 2x (the simulator's stand-in figures).
KILO = 1000
FAST_QUOTA = {"720p": 425, "1080p": 637.5}
QUOTA = {"720p": 850, "1080p": 1275}
FRAME = RemixReference(kind="url", value="https://images.example.com/first.png")


def request(model: str, size: str | None) -> RemixRequest:
    refs = [FRAME] if "-fl-" in model else []
    return RemixRequest(model=model, prompt="a lighthouse", prompt_extend="the sea", size=size, input_references=refs)


def quota_prices() -> PriceTable:
    """Every remix model priced per video in thousands of quota units, by tier."""
    return PriceTable.from_extra(
        {"prices": {m: {"credits_per_video": FAST_QUOTA if "-fast" in m else QUOTA} for m in REMIX_MODELS}}
    )


def test_an_hd_remix_at_1280x720_is_estimated_at_the_1080p_rate() -> None:
    prices = PriceTable.from_extra(
        {"prices": {"veo_3_1-fast-hd-remix": {"credits_per_second": {"720p": 4, "1080p": 6}}}}
    )
    hd = estimate(request("veo_3_1-fast-hd-remix", "1280x720"), prices)
    assert (hd.credits, hd.basis) == (Decimal(90), "15 s x 6 credits/s (1080p)")


@pytest.mark.parametrize("size", [None, *REMIX_SIZES])
def test_the_estimate_equals_what_the_simulator_bills_for_every_model_and_size(
    videogen_conn: str, size: str | None
) -> None:
    prices = quota_prices()
    hook = VideoGenHook(videogen_conn)
    got = {}
    for model in REMIX_MODELS:
        task = hook.submit_remix(request(model, size))
        got[model] = (estimate(request(model, size), prices).credits, Decimal(task.raw["quota"]) / KILO)
    assert {m: est for m, (est, _) in got.items()} == {m: billed for m, (_, billed) in got.items()}
