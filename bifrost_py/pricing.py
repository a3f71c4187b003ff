"""Prices per model from the genai-prices catalogue, with the config's `pricing:` on top.

Looked up once per (model, provider type) and flattened to floats: the catalogue's own
calculation takes ~50 µs (Decimal arithmetic), ours ~1 µs, and it runs on every request
(governance reserves the worst case before the call, the cost log prices the answer after).
All amounts are USD; showing them in the configured currency is the caller's job.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from .context import Attempt, Usage

# genai-prices provider ids for our provider types.
_CATALOG_PROVIDER = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure",
    "bedrock": "aws",
    "gemini": "google",
    "mock": None,
}


MAX_CACHED_NAMES = 10_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. `input_tiers` / `output_tiers`: (threshold, price) pairs that
    apply to the whole request once its prompt exceeds the threshold (long-context pricing)."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    source: str = "catalog"          # "catalog" or "config"
    catalog_id: str = ""
    input_tiers: tuple[tuple[int, float], ...] = ()
    output_tiers: tuple[tuple[int, float], ...] = ()
    cache_read_tiers: tuple[tuple[int, float], ...] = ()
    cache_write_tiers: tuple[tuple[int, float], ...] = ()

    def cost(self, usage: Usage) -> float:
        """USD for `usage`. Every tiered rate is chosen by the whole prompt (cache reads and
        writes included), as the providers and the catalogue do."""
        prompt = usage.total_input
        if not (self.input_tiers or self.output_tiers or self.cache_read_tiers or self.cache_write_tiers):
            return (
                usage.input_tokens * self.input
                + usage.output_tokens * self.output
                + usage.cache_read_tokens * self.cache_read
                + usage.cache_write_tokens * self.cache_write
            ) / 1_000_000
        return (
            usage.input_tokens * _tiered(self.input, self.input_tiers, prompt)
            + usage.output_tokens * _tiered(self.output, self.output_tiers, prompt)
            + usage.cache_read_tokens * _tiered(self.cache_read, self.cache_read_tiers, prompt)
            + usage.cache_write_tokens * _tiered(self.cache_write, self.cache_write_tiers, prompt)
        ) / 1_000_000


def _tiered(base: float, tiers: tuple[tuple[int, float], ...], prompt_tokens: int) -> float:
    rate = base
    for threshold, price in tiers:
        if prompt_tokens > threshold:
            rate = price
    return rate


def _split(value: Any) -> tuple[float, tuple[tuple[int, float], ...]]:
    """A catalogue price (Decimal, TieredPrices or None) as (base, tiers)."""
    if value is None:
        return 0.0, ()
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return float(value.base), tuple((int(t.start), float(t.price)) for t in tiers)
    return float(value), ()


def _from_catalog(model: str, provider_type: str | None) -> Price | None:
    from genai_prices import Usage as CatalogUsage
    from genai_prices import calc_price

    provider_id = _CATALOG_PROVIDER.get(provider_type or "", None)
    for candidate in ((model, provider_id), (model, None)) if provider_id else ((model, None),):
        try:
            found = calc_price(CatalogUsage(input_tokens=1, output_tokens=1), candidate[0], provider_id=candidate[1])
        except LookupError:
            continue
        price = found.model_price
        input_rate, input_tiers = _split(getattr(price, "input_mtok", None))
        output_rate, output_tiers = _split(getattr(price, "output_mtok", None))
        # A model without a cache price bills cached tokens as plain input (OpenAI has no cache
        # writes; the catalogue counts them as input then). A listed price of 0 stays 0.
        read = getattr(price, "cache_read_mtok", None)
        write = getattr(price, "cache_write_mtok", None)
        cache_read, cache_read_tiers = _split(read) if read is not None else (input_rate, input_tiers)
        cache_write, cache_write_tiers = _split(write) if write is not None else (input_rate, input_tiers)
        return Price(
            input=input_rate,
            output=output_rate,
            cache_read=cache_read,
            cache_write=cache_write,
            catalog_id=f"{found.provider.id}/{found.model.id}",
            input_tiers=input_tiers,
            output_tiers=output_tiers,
            cache_read_tiers=cache_read_tiers,
            cache_write_tiers=cache_write_tiers,
        )
    return None


class PriceBook:
    """Model prices: `pricing:` entries (exact names or globs) first, then the catalogue."""

    def __init__(self, overrides: dict[str, dict[str, float]] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._cache: dict[tuple[str, str | None], Price | None] = {}

    def warm(self) -> None:
        """Load the catalogue now (0.3 to 2 s, once per process) rather than on the first priced
        request; the gateway calls this at start-up."""
        self.price("claude-sonnet-4-20250514", "anthropic")

    def price(self, model: str, provider_type: str | None = None) -> Price | None:
        """The price of `model` as served by a provider of `provider_type`, or None if unknown."""
        key = (model, provider_type)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._override(model) or _from_catalog(model, provider_type)
        if len(self._cache) < MAX_CACHED_NAMES:  # model names come from clients and upstreams
            self._cache[key] = found
        return found

    def _override(self, model: str) -> Price | None:
        entry = self._overrides.get(model)
        if entry is None:
            entry = next((v for k, v in self._overrides.items() if fnmatch.fnmatchcase(model, k)), None)
        if entry is None:
            return None
        base = _from_catalog(model, None)
        input_rate = entry.get("input", base.input if base else 0.0)
        return Price(
            input=input_rate,
            output=entry.get("output", base.output if base else 0.0),
            cache_read=entry.get("cache_read", base.cache_read if base else input_rate),
            cache_write=entry.get("cache_write", base.cache_write if base else input_rate),
            source="config",
        )

    def cost(self, model: str, provider_type: str | None, usage: Usage) -> float | None:
        """USD cost of `usage`, or None when the model has no known price (never silently 0)."""
        price = self.price(model, provider_type)
        return None if price is None else price.cost(usage)

    def served(self, attempt: Attempt) -> Price | None:
        """The price of what `attempt`'s provider serves: its own id for the model (a Bedrock or
        Azure mapping) when it maps the name, else the gateway's name; then the name in the
        answer (an Azure deployment's real model, a dated snapshot). A mapped request is never
        priced as the model the client named, which may be far dearer or cheaper than the one
        that answered; a `pricing:` entry for the gateway's name still applies."""
        provider_type = attempt.provider_type or None
        target = attempt.target.model
        served = attempt.upstream_model or target
        price = self.price(served, provider_type)
        if price is None:
            answered = attempt.outcome.model
            if answered and answered != served:
                price = self.price(answered, provider_type)
            if price is None and served != target:
                price = self._override(target)
        return price

    def served_cost(self, attempt: Attempt, usage: Usage) -> float | None:
        """USD cost of `usage` at the price of what `attempt` was served (see `served`)."""
        price = self.served(attempt)
        return None if price is None else price.cost(usage)

    def worst_case(self, model: str, provider_type: str | None, input_tokens: int, max_output: int) -> float | None:
        """The most a request can cost: every prompt token at the full input rate (cache writes
        can cost more than plain input, so the dearer of the two) and all of max_tokens out."""
        return _worst_case(self.price(model, provider_type), input_tokens, max_output)

    def served_worst_case(self, attempt: Attempt, input_tokens: int, max_output: int) -> float | None:
        """`worst_case` at the price of what `attempt`'s provider will serve (see `served`)."""
        return _worst_case(self.served(attempt), input_tokens, max_output)


def _worst_case(price: Price | None, input_tokens: int, max_output: int) -> float | None:
    """The most a request can cost at `price`: every prompt token at the full input rate (cache
    writes can cost more than plain input, so the dearer of the two) and all of max_tokens out."""
    if price is None:
        return None
    input_rate = max(
        _tiered(price.input, price.input_tiers, input_tokens),
        _tiered(price.cache_write, price.cache_write_tiers, input_tokens),
    )
    output_rate = _tiered(price.output, price.output_tiers, input_tokens)
    return (input_tokens * input_rate + max_output * output_rate) / 1_000_000
