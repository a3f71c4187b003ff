"""Anthropic thinking blocks carried through a Gemini client inside a ``thoughtSignature``.

Anthropic refuses a tool-use turn with thinking enabled unless the assistant turn that called
the tools is sent back starting with its thinking block, signature included. Gemini clients keep
exactly one opaque thing of a model turn: the ``thoughtSignature`` of a ``functionCall`` part
(Gemini 3 requires it). So an answer translated for a Gemini client carries that turn's thinking
blocks there, and the next request gets them back. The value is standard base64 of a marker and
the blocks' JSON, because the SDKs treat the signature as bytes (Python decodes and re-encodes it).
A signature without the marker (Gemini's own) carries nothing for Anthropic.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

_MARK = b"bf-thinking-1:"
_KINDS = ("thinking", "redacted_thinking")


def thought_signature(blocks: list[dict[str, Any]]) -> str | None:
    """The signature carrying the thinking blocks among `blocks`, or None when there are none."""
    thinking = [block for block in blocks if block.get("type") in _KINDS]
    if not thinking:
        return None
    return base64.b64encode(_MARK + orjson.dumps(thinking)).decode()


def thinking_blocks(signature: object) -> list[dict[str, Any]]:
    """The thinking blocks a signature of ours carries; [] for any other value."""
    if not isinstance(signature, str) or not signature:
        return []
    try:
        raw = base64.b64decode(signature + "=" * (-len(signature) % 4), altchars=b"-_" if "-" in signature or "_" in signature else None)
    except (binascii.Error, ValueError):
        return []
    if not raw.startswith(_MARK):
        return []
    try:
        blocks = orjson.loads(raw[len(_MARK):])
    except orjson.JSONDecodeError:
        return []
    if not isinstance(blocks, list):
        return []
    return [b for b in blocks if isinstance(b, dict) and b.get("type") in _KINDS and _well_formed(b)]


def _well_formed(block: dict[str, Any]) -> bool:
    if block["type"] == "thinking":
        return isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str)
    return isinstance(block.get("data"), str)
