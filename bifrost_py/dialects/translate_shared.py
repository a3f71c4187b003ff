"""What the Anthropic ⇄ OpenAI translators share: the target model, the `type` of a block, the
tools of an OpenAI-family request set on an Anthropic one, and the two conversions from an OpenAI
tool call to an Anthropic tool_use (its id, its input).

Both request directions read the model and block types the same way; the id and input
conversions are made by the OpenAI -> Anthropic request, response and stream translators alike,
and must agree so that a tool_use and its tool_result still pair up whichever made them. Every
read is type-checked (`fields.REQUEST`): a wrong type raises `TranslationError` naming the field.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .fields import REQUEST as F
from .translate_errors import TranslationError

JSON = dict[str, Any]

_TOOL_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def target_model(body: JSON, model: str | None) -> str:
    """The model the translated request names: the one the gateway chose for this attempt, else
    the request's own."""
    target = model or F.opt_str(body, "model")
    if not target:
        raise TranslationError("model is required")
    return target


def type_of(block: JSON, where: str) -> str | None:
    """The `type` of a content block, part or tool."""
    return F.opt_str(block, "type", where)


def set_anthropic_tools(out: JSON, tools: list[JSON], choice: JSON | None, parallel: bool | None) -> None:
    """`tools` and the translated `choice` on the Anthropic request `out` (nothing when no tool
    survived translation); OpenAI's `parallel_tool_calls: false` is Anthropic's
    `disable_parallel_tool_use` on the choice (an explicit "auto" when there was none)."""
    if not tools:
        return
    out["tools"] = tools
    if parallel is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def anthropic_tool_id(raw: object, where: str) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$; other providers' ids are made to fit, the same
    way every time so a tool_use and its tool_result still pair up."""
    if not isinstance(raw, str) or not raw:
        raise TranslationError(f"{where}: needs a non-empty id")
    return _TOOL_ID_UNSAFE.sub("_", raw)


def parse_arguments(raw: object, where: str) -> JSON:
    """OpenAI carries tool input as a JSON string; Anthropic needs the object itself."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError as exc:
        raise TranslationError(f"{where}: is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where}: must be a JSON object")
    return value
