"""Routing rules added and edited at run time (the web UI's Routing page, `/api/routing/rules`).

The rules in force are the config file's `routing.rules`, in their order and read-only, then the
rules added here, in the order set here: the first rule that matches decides, so a rule added
here is reached only by a request no file rule matched. Every change is checked by reading the
whole `routing:` section, file rules and added rules together, with `read_settings` (the
function that reads the file), then put in service for the next request in one step: a request
already routed keeps the decision it got. Stored on the gateway's database; other instances
follow within a few seconds (bifrost_py/configstore.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bifrost_py.configstore import EditableSection, Entry, Shape

from .settings import SECTION, RoutingSettings, read_settings

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

ORDER = ("the config file's rules first, in their order (read-only), then the rules added here in "
         "their order; the first rule whose `when` holds decides")


def _from_yaml(raw: dict[str, Any]) -> list[Entry]:
    rules = raw.get("rules")
    if not isinstance(rules, list):
        return []
    return [(str(rule.get("name", f"rule-{i + 1}")), {k: v for k, v in rule.items() if k != "name"})
            for i, rule in enumerate(rules) if isinstance(rule, dict)]


def _combine(raw: dict[str, Any], entries: list[Entry]) -> dict[str, Any]:
    return {**raw, "rules": [{"name": name, **data} for name, data in entries]}


SHAPE = Shape(section=SECTION, kind="rules", name_field="name", from_yaml=_from_yaml, combine=_combine)


def editable_rules(gateway: Gateway, apply: Callable[[RoutingSettings], None]) -> EditableSection[RoutingSettings]:
    return EditableSection(gateway, SHAPE, read_settings, apply)
