"""Cost arithmetic of bifrost_py.pricing against the genai-prices catalogue's own calculation,
for Anthropic, OpenAI, Bedrock and Azure names, with and without cache tokens."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from genai_prices import Usage as CatalogUsage
from genai_prices import calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.context import Usage
from bifrost_py.pricing import PriceBook

# (model as the gateway sees it, our provider type, catalogue provider id)
MODELS = [
    ("claude-sonnet-4-20250514", "anthropic", "anthropic"),
    ("claude-haiku-4-5-20251001", "anthropic", "anthropic"),
    ("claude-opus-4-1-20250805", "anthropic", "anthropic"),
    ("claude-sonnet-4-5", "anthropic", "anthropic"),            # long-context tiers
    ("gpt-4o", "openai", "openai"),
    ("gpt-4o-mini", "openai", "openai"),
    ("o3-mini", "openai", "openai"),
    ("gpt-4o", "azure", "azure"),
    ("gpt-4o-2024-08-06", "azure", "azure"),                    # what Azure answers with
    ("claude-sonnet-4-20250514", "bedrock", "aws"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock", "aws"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock", "aws"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", "aws"),
    ("gemini-2.5-pro", "gemini", "google"),                     # tiers above 200k
]

BOOK = PriceBook()
tokens = st.integers(min_value=0, max_value=400_000)


def catalogue_cost(model: str, provider_id: str, usage: Usage) -> Decimal:
    """The catalogue's own (Decimal) price: its input_tokens include cache reads and writes."""
    found = calc_price(
        CatalogUsage(
            input_tokens=usage.total_input,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        ),
        model,
        provider_id=provider_id,
    )
    return found.total_price


@pytest.mark.parametrize(("model", "provider_type", "provider_id"), MODELS)
@settings(max_examples=40, deadline=None)
@given(input_tokens=tokens, output_tokens=tokens, cache_read=tokens, cache_write=tokens)
def test_cost_matches_catalogue(
    model: str, provider_type: str, provider_id: str, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int
) -> None:
    usage = Usage(input_tokens, output_tokens, cache_read, cache_write)
    ours = BOOK.cost(model, provider_type, usage)
    assert ours is not None
    assert math.isclose(ours, float(catalogue_cost(model, provider_id, usage)), rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize(("model", "provider_type", "provider_id"), MODELS)
@settings(max_examples=25, deadline=None)
@given(input_tokens=tokens, output_tokens=tokens)
def test_cost_without_cache_tokens(model: str, provider_type: str, provider_id: str, input_tokens: int, output_tokens: int) -> None:
    usage = Usage(input_tokens, output_tokens)
    ours = BOOK.cost(model, provider_type, usage)
    assert ours is not None
    assert math.isclose(ours, float(catalogue_cost(model, provider_id, usage)), rel_tol=1e-9, abs_tol=1e-12)


def test_known_numbers() -> None:
    """Spot values worked out by hand from the published prices (USD per 1M tokens)."""
    # Sonnet 4: $3 in, $15 out, $0.30 cache read, $3.75 cache write.
    usage = Usage(input_tokens=1_000, output_tokens=500, cache_read_tokens=10_000, cache_write_tokens=2_000)
    assert BOOK.cost("claude-sonnet-4-20250514", "anthropic", usage) == pytest.approx(
        (1_000 * 3 + 500 * 15 + 10_000 * 0.30 + 2_000 * 3.75) / 1e6
    )
    # The same model on Bedrock, by gateway name and by inference-profile id.
    assert BOOK.cost("claude-sonnet-4-20250514", "bedrock", usage) == pytest.approx(0.021)
    assert BOOK.cost("us.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock", usage) == pytest.approx(0.021)
    # gpt-4o: $2.50 in, $10 out, cached prompt tokens $1.25.
    assert BOOK.cost("gpt-4o", "openai", Usage(800, 100, 200, 0)) == pytest.approx((800 * 2.5 + 100 * 10 + 200 * 1.25) / 1e6)


def test_long_context_tier_applies_to_every_rate() -> None:
    price = BOOK.price("claude-sonnet-4-5", "anthropic")
    assert price is not None and price.input_tiers and price.cache_read_tiers
    small = Usage(input_tokens=100_000, output_tokens=1_000, cache_read_tokens=50_000)
    large = Usage(input_tokens=150_001, output_tokens=1_000, cache_read_tokens=50_000)  # prompt > 200k
    assert BOOK.cost("claude-sonnet-4-5", "anthropic", small) == pytest.approx((100_000 * 3 + 1_000 * 15 + 50_000 * 0.3) / 1e6)
    assert BOOK.cost("claude-sonnet-4-5", "anthropic", large) == pytest.approx((150_001 * 6 + 1_000 * 22.5 + 50_000 * 0.6) / 1e6)


def test_unknown_model_has_no_price() -> None:
    assert BOOK.price("my-private-finetune", "openai") is None
    assert BOOK.cost("my-private-finetune", "openai", Usage(10, 10)) is None


def test_config_overrides_and_additions() -> None:
    book = PriceBook({"my-finetune": {"input": 1.0, "output": 4.0, "cache_read": 0.1, "cache_write": 1.25},
                      "gpt-4o": {"output": 20.0}, "acme-*": {"input": 2.0, "output": 2.0}})
    assert book.cost("my-finetune", "openai", Usage(1_000_000, 1_000_000, 1_000_000, 1_000_000)) == pytest.approx(6.35)
    gpt = book.price("gpt-4o", "openai")
    assert gpt is not None and gpt.source == "config"
    assert (gpt.input, gpt.output, gpt.cache_read) == (2.5, 20.0, 1.25)   # the rest from the catalogue
    assert book.cost("acme-large-2", None, Usage(500_000, 500_000)) == pytest.approx(2.0)


def test_no_cache_price_bills_cached_tokens_as_input() -> None:
    """A model without cache-write pricing (OpenAI) bills cache writes as plain input."""
    price = BOOK.price("gpt-4o", "openai")
    assert price is not None
    assert price.cache_write == price.input


def test_worst_case_is_never_below_the_real_cost() -> None:
    for model, provider_type, _ in MODELS:
        worst = BOOK.worst_case(model, provider_type, 250_000, 4_000)
        for split in (Usage(250_000, 4_000), Usage(0, 4_000, 250_000, 0), Usage(0, 4_000, 0, 250_000)):
            real = BOOK.cost(model, provider_type, split)
            assert worst is not None and real is not None
            assert worst >= real - 1e-12, (model, split)


def test_lookups_are_remembered() -> None:
    book = PriceBook()
    first = book.price("gpt-4o", "openai")
    assert book.price("gpt-4o", "openai") is first
