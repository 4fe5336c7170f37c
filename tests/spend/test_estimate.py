"""Estimate math, table-driven from seed 001's published price table (copied verbatim below).

The rows are parsed here, independently of :mod:`airflow_provider_videogen.spend.prices`, so a
typo in the package's table fails these tests.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from airflow_provider_videogen.models import GenerationRequest, RemixReference, RemixRequest
from airflow_provider_videogen.spend.estimate import estimate
from airflow_provider_videogen.spend.prices import PriceConfigError, PriceTable

#: Seed 001, "Pricing" (verbatim).
SEED_TABLE = """
| Veo 3.1 Fast | Video Generation | 720p/1080p | No | Popular $0.0800/ second(5.76 Credits) |
| Veo 3.1 Fast | Video Generation | 720p/1080p | Yes | $0.1200/ second(8.64 Credits) |
| Veo 3.1 Fast | Video Generation | 4K | No | $0.2400/ second(17.28 Credits) |
| Veo 3.1 Fast | Video Generation | 4K | Yes | $0.2808/ second(20.2176 Credits) |
"""
_ROW = re.compile(
    r"\|\s*(?P<q>[\w/]+)\s*\|\s*(?P<audio>Yes|No)\s*\|[^$]*\$(?P<usd>[\d.]+)/ second\((?P<credits>[\d.]+) Credits\)"
)


def seed_rows() -> list[tuple[str, bool, Decimal, Decimal]]:
    rows = []
    for match in _ROW.finditer(SEED_TABLE):
        for quality in match["q"].lower().split("/"):
            rows.append((quality, match["audio"] == "Yes", Decimal(match["usd"]), Decimal(match["credits"])))
    assert len(rows) == 6
    return rows


CASES = [
    (model, quality, audio, duration, n, usd, credits)
    for model in ("veo3.1-fast", "veo-3.1-fast-generate-preview")
    for quality, audio, usd, credits in seed_rows()
    if audio is False or model == "veo-3.1-fast-generate-preview"  # veo3.1-fast takes no generate_audio
    for duration, n in ((4, 1), (6, 1), (8, 1), (8, 2))
    if n == 1 or model == "veo-3.1-fast-generate-preview"  # only the preview model takes n
]


@pytest.mark.parametrize(("model", "quality", "audio", "duration", "n", "usd", "credits"), CASES)
def test_published_prices_per_second(
    model: str, quality: str, audio: bool, duration: int, n: int, usd: Decimal, credits: Decimal
) -> None:
    fields: dict[str, object] = {"model": model, "prompt": "a cat", "duration": duration, "quality": quality}
    if model == "veo-3.1-fast-generate-preview":
        fields |= {"generate_audio": audio, "n": n}
    result = estimate(GenerationRequest(**fields))  # type: ignore[arg-type]
    assert result.priced
    assert result.credits == credits * duration * n
    assert result.usd == usd * duration * n
    assert f"{duration} s x {credits.normalize()} credits/s" in result.basis
    assert ("with audio" in result.basis) is audio


def test_every_seed_row_converts_at_72_credits_per_usd() -> None:
    assert {credits / usd for _, _, usd, credits in seed_rows()} == {Decimal(72)}


@pytest.mark.parametrize(
    ("fields", "credits", "basis"),
    [
        # the model's documented default duration (veo3.1-fast 8 s; preview 4 s) and quality (720p)
        ({"model": "veo3.1-fast"}, Decimal("46.08"), "8 s x 5.76 credits/s (720p)"),
        # generate_audio defaults to true where the model takes it (seed 001)
        ({"model": "veo-3.1-fast-generate-preview"}, Decimal("34.56"), "4 s x 8.64 credits/s (720p, with audio)"),
        (
            {"model": "veo-3.1-fast-generate-preview", "quality": "4k", "duration": 8},
            Decimal("161.7408"),
            "8 s x 20.2176",
        ),
    ],
)
def test_documented_defaults(fields: dict[str, object], credits: Decimal, basis: str) -> None:
    result = estimate(GenerationRequest(prompt="a cat", **fields))  # type: ignore[arg-type]
    assert result.credits == credits
    assert basis in result.basis
    assert result.describe().startswith(f"{credits.normalize()} credits ($")


@pytest.mark.parametrize(
    "request_",
    [
        GenerationRequest(model="doubao-seedance-1.0-pro-fast", prompt="x", duration=5),
        GenerationRequest(model="veo3.1-pro", prompt="x"),
        GenerationRequest(model="some-new-model", prompt="x"),
        RemixRequest(model="veo_3_1-fast-remix", prompt="a", prompt_extend="b"),
    ],
)
def test_models_without_a_published_price_are_unpriced(request_: GenerationRequest | RemixRequest) -> None:
    result = estimate(request_)
    assert not result.priced
    assert result.usd is None
    assert "extra 'prices'" in result.basis
    assert request_.model in result.basis
    assert result.describe().startswith("unpriced (")


def test_connection_prices_add_and_override_models() -> None:
    prices = PriceTable.from_extra(
        {
            "prices": {
                "doubao-seedance-1.0-pro-fast": {"credits_per_second": 1.5},
                "veo_3_1-fast-fl-remix": {"credits_per_video": 60},
                "veo_3_1-fast-hd-remix": {"credits_per_second": {"720p": 4, "1080p": 6}},
                "veo3.1-fast": {"credits_per_second": {"720p": 5}},
            },
            "credits_per_usd": "100",
        }
    )
    seedance = estimate(GenerationRequest(model="doubao-seedance-1.0-pro-fast", prompt="x", duration=6), prices)
    assert (seedance.credits, seedance.usd) == (Decimal("9"), Decimal("0.09"))
    assert seedance.basis == "6 s x 1.5 credits/s (720p)"
    frame = RemixReference(kind="url", value="https://cdn.example.com/last.png")
    fl = estimate(
        RemixRequest(model="veo_3_1-fast-fl-remix", prompt="a", prompt_extend="b", input_references=[frame]), prices
    )
    assert (fl.credits, fl.basis) == (Decimal(60), "1 video x 60 credits (720p)")
    hd = estimate(RemixRequest(model="veo_3_1-fast-hd-remix", prompt="a", prompt_extend="b", size="1920x1080"), prices)
    assert (hd.credits, hd.basis) == (Decimal(90), "15 s x 6 credits/s (1080p)")
    # an override replaces the published tiers: 4k is now unpriced, not silently priced at 720p
    assert estimate(GenerationRequest(model="veo3.1-fast", prompt="x", duration=4), prices).credits == 20
    four_k = estimate(GenerationRequest(model="veo3.1-fast", prompt="x", quality="4k"), prices)
    assert not four_k.priced
    assert "no rate for 4k" in four_k.basis


def test_audio_is_never_priced_at_a_rate_without_audio() -> None:
    prices = PriceTable.from_extra({"prices": {"veo-3.1-fast-generate-preview": {"credits_per_second": {"720p": 5}}}})
    result = estimate(GenerationRequest(model="veo-3.1-fast-generate-preview", prompt="x"), prices)
    assert not result.priced
    assert "720p, with audio" in result.basis


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"prices": {"m": 5}}, "expected an object"),
        ({"prices": {"m": {"credits_per_second": -1}}}, "must be a number >= 0"),
        ({"prices": {"m": {"credits_per_second": "abc"}}}, "is not a number"),
        ({"prices": {"m": {"credits_per_second": 1, "credits_per_video": 2}}}, "exactly one of"),
        ({"prices": "{not json"}, "is not JSON"),
        ({"credits_per_usd": 0}, "must be > 0"),
    ],
)
def test_bad_price_configuration_is_a_clear_error(extra: dict[str, object], message: str) -> None:
    with pytest.raises(PriceConfigError, match=message):
        PriceTable.from_extra(extra)


def test_prices_from_a_uri_query_are_json_text() -> None:
    prices = PriceTable.from_extra({"prices": '{"veo3.1-pro": {"credits_per_second": 14.4}}'})
    assert estimate(GenerationRequest(model="veo3.1-pro", prompt="x", duration=4), prices).credits == Decimal("57.6")
