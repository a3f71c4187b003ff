"""In which order the implementations of one hook are called.

pluggy's markers decide first, as pluggy documents them: ``@hookimpl(tryfirst=True)`` is called
before every unmarked implementation, ``@hookimpl(trylast=True)`` after them. Among
implementations with the same marker the configured order decides: the plugins named in
``plugins.order``, then plugins passed in code, then the ``plugins:`` entries as listed, then the
installed entry points by name. That is pluggy's own rule (the last registered, the most
specific, is called first) at the level of where a plugin comes from, while the config's list
keeps the order people read: so a third-party plugin's hook runs before a built-in's with the
same marker, and its ``tryfirst`` hook before every built-in one.

``bifrost_post_attempt``, ``bifrost_request_end`` and ``bifrost_shutdown`` unwind: among the same
marker they go in reverse configured order, and the markers keep their meaning (tryfirst is
still called first), so a plugin can say "see the ending before everyone" or "after everyone".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

REVERSED_HOOKS = frozenset({"bifrost_post_attempt", "bifrost_request_end", "bifrost_shutdown"})


@dataclass(slots=True)
class PluginInfo:
    name: str
    source: str           # "entry point <value> (<dist> <version>)", "config: <entry>", "registered in code"
    plugin: object
    hooks: list[str]      # the hooks pluggy registered for it (marked and validated), by name
    sections: tuple[str, ...] = field(default=())  # the config sections it declares


@dataclass(frozen=True, slots=True)
class HookCall:
    """One plugin's implementation of one hook, validated by pluggy."""

    hook: str
    plugin_name: str
    position: int                # the plugin's place in the configured order
    function: Any
    argnames: tuple[str, ...]    # the arguments it declared (pluggy allows a subset of the spec's)
    marker: str                  # "tryfirst", "trylast" or ""

    def call(self, **kwargs: Any) -> Any:
        """Call with the declared subset of the hook's arguments."""
        return self.function(**{name: kwargs[name] for name in self.argnames})


def marker_of(impl: pluggy.HookImpl) -> str:
    return "tryfirst" if impl.tryfirst else "trylast" if impl.trylast else ""


_CLASS = {"tryfirst": 0, "": 1, "trylast": 2}


def ordered_calls(pm: pluggy.PluginManager, hook: str, rank: Mapping[str, int]) -> list[HookCall]:
    """The implementations of `hook` that pluggy registered, in calling order (see the module)."""
    caller = getattr(pm.hook, hook, None)
    if caller is None:
        return []
    found = [
        HookCall(hook, impl.plugin_name, rank[impl.plugin_name], impl.function, tuple(impl.argnames),
                 marker_of(impl))
        for impl in caller.get_hookimpls()
        if impl.plugin_name in rank
    ]
    sign = -1 if hook in REVERSED_HOOKS else 1
    return sorted(found, key=lambda c: (_CLASS[c.marker], sign * c.position))
