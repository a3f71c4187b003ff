"""Warnings for a `models:` list that silently takes a model family from another provider.

A provider whose `models:` names a model is chosen before the model family is (CONTRACT.md), so
a Bedrock provider listing `claude-*` takes every Claude request from the Anthropic provider
that serves the family by default. That is sometimes wanted and often a surprise:
`bifrost-py check`, the admin API and the Providers page say so, as a warning.

Two globs cannot be compared in general; a pattern is taken to cover a family when it matches
the family's own glob (`claude-*`, `*`) or one of today's model names of that family.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping

from .config import ProviderConfig

# The family globs and provider types of gateway.FAMILIES, with names to probe patterns with.
FAMILY_PROBES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("claude-*", ("anthropic", "bedrock"),
     ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001",
      "claude-sonnet-4-20250514", "claude-3-5-haiku-20241022")),
    ("gpt-*", ("openai", "azure"), ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "gpt-5-mini")),
    ("gemini-*", ("gemini",), ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash")),
)


def shadow_warnings(providers: Mapping[str, ProviderConfig]) -> Iterator[tuple[str, str]]:
    """(provider name, warning) for each provider whose `models:` takes requests of a family
    that another provider, with no `models:` of its own, would serve."""
    for name, config in providers.items():
        for family, types, probes in FAMILY_PROBES:
            victims = [other for other, oc in providers.items()
                       if other != name and oc.type in types and not oc.models]
            if not victims:
                continue
            for pattern in config.models:
                taken = [p for p in (family, *probes) if fnmatch.fnmatchcase(p, pattern)]
                if taken:
                    yield name, (f"providers.{name}.models: {pattern!r} takes {family} requests "
                                 f"(e.g. {taken[-1]}) from provider {', '.join(map(repr, victims))}, which "
                                 "serves that family by default; narrow the pattern, or give the other "
                                 "provider a `models:` list, if that is not what you want")
                    break
