"""Translation notes: what a request translator could not carry over to the other dialect.

A note is a short human-readable string naming something that has no equivalent on the other
side and was dropped or approximated ("dropped cache_control", "dropped thinking"). Every
request translator (Anthropic ⇄ OpenAI, Anthropic -> Gemini) returns its notes next to the
translated body, and the adapter logs them, so a lost setting is visible instead of silent.
Each note appears once, however often the thing it names was met.
"""

from __future__ import annotations

from typing import Any


def note(notes: list[str], text: str) -> None:
    """Add `text` to `notes` unless it is there already."""
    if text not in notes:
        notes.append(text)


def note_unhandled(body: dict[str, Any], handled: frozenset[str], notes: list[str]) -> None:
    """Name every top-level field we did not translate, so a lost setting is visible in logs."""
    for key, value in body.items():
        if key not in handled and value is not None:
            note(notes, f"dropped {key}")
