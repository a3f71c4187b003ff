"""Reasoning items <-> Anthropic thinking blocks, and whose `encrypted_content` is whose.

A Responses client (Codex) sends its reasoning items back on the next turn with the
`encrypted_content` it was given, and treats it as opaque. When the answer came from an Anthropic
model the gateway puts the thinking block there (its text and signature, or a redacted block's
data), marked with `ENCRYPTED_PREFIX`, so the block can be given back to Anthropic exactly as
it was signed. Content without the mark was made by OpenAI: it is passed only to OpenAI (by
passthrough) and dropped on the way to any other provider; ours is dropped on the way to OpenAI.
Anthropic's signatures are valid on every platform that serves Claude (Anthropic, Bedrock,
Vertex), so "the provider that produced it" means any Anthropic-dialect provider.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from .fields import REQUEST as F
from .fields import path

JSON = dict[str, Any]

ENCRYPTED_PREFIX = "bfanthropic."


def encrypted_content(block: JSON) -> str:
    """The encrypted_content of a reasoning item carrying an Anthropic thinking block."""
    if block.get("type") == "redacted_thinking":
        kept = {"r": block.get("data") or ""}
    else:
        kept = {"t": block.get("thinking") or "", "s": block.get("signature") or ""}
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode("ascii")


def thinking_block(item: JSON, where: str) -> JSON | None:
    """The Anthropic block a reasoning item carries, or None when it was not made from one (or
    lost its signature: Anthropic refuses unsigned thinking)."""
    encrypted = F.opt_str(item, "encrypted_content", where)
    if not encrypted or not encrypted.startswith(ENCRYPTED_PREFIX):
        return None
    try:
        kept = orjson.loads(base64.urlsafe_b64decode(encrypted[len(ENCRYPTED_PREFIX):]))
    except (binascii.Error, ValueError):
        raise F.fail(path(where, "encrypted_content"), "the content this gateway gave") from None
    if not isinstance(kept, dict):
        raise F.fail(path(where, "encrypted_content"), "the content this gateway gave")
    if isinstance(kept.get("r"), str):
        return {"type": "redacted_thinking", "data": kept["r"]}
    if isinstance(kept.get("t"), str) and isinstance(kept.get("s"), str) and kept["s"]:
        return {"type": "thinking", "thinking": kept["t"], "signature": kept["s"]}
    return None


def without_foreign_reasoning(body: JSON) -> JSON | None:
    """`body` for OpenAI without the reasoning items an Anthropic answer left in it (after a
    failover between dialects mid-conversation), or None when it has none."""
    items = body.get("input")
    if not isinstance(items, list):
        return None
    kept = [
        item for item in items
        if not (isinstance(item, dict) and item.get("type") == "reasoning"
                and str(item.get("encrypted_content") or "").startswith(ENCRYPTED_PREFIX))
    ]
    return {**body, "input": kept} if len(kept) != len(items) else None
