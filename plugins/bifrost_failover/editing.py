"""Failover chains added and edited at run time (the web UI's Routing page,
`/api/failover/chains`).

The chains in force are the config file's `failover.chains`, read-only, then the chains added
here, in the order set here; a request's model takes the chain of its exact name first, then of
the first glob that matches, in that order. A model the file has a chain for cannot get a second
one here. Every change is checked by reading the whole `failover:` section, file chains and
added chains together, with `read_settings` (the function that reads the file), then put in
service for the next request in one step. Stored on the gateway's database; other instances
follow within a few seconds (bifrost_py/configstore.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bifrost_py.configstore import EditableSection, Entry, Shape

from .settings import SECTION, FailoverSettings, read_settings

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

ORDER = ("a model's own chain first (its exact name), else the first chain whose glob matches it: "
         "the config file's chains (read-only), then the chains added here in their order")


def _from_yaml(raw: dict[str, Any]) -> list[Entry]:
    chains = raw.get("chains")
    if not isinstance(chains, dict):
        return []
    return [(str(model), {"chain": entries}) for model, entries in chains.items()]


def _combine(raw: dict[str, Any], entries: list[Entry]) -> dict[str, Any]:
    """`chains:` written as the file writes it (model: [entries]); an entry with other fields
    than `chain` is written as the mapping it is, so the reader refuses it as it would the file."""
    return {**raw, "chains": {model: data["chain"] if set(data) == {"chain"} else data for model, data in entries}}


SHAPE = Shape(section=SECTION, kind="chains", name_field="model", from_yaml=_from_yaml, combine=_combine)


def editable_chains(gateway: Gateway, apply: Callable[[FailoverSettings], None]) -> EditableSection[FailoverSettings]:
    return EditableSection(gateway, SHAPE, read_settings, apply)
