"""What a request looks like, as rules ask about it: tokens, tools, thinking, images, web search.

Each fact is computed on first use and kept, so a request pays only for what its rules ask
(the token estimate walks the whole body: about 30 µs for a 78 KB Claude Code request). The
image test walks the content blocks, not the bytes: searching the raw body for `"image` costs
more than the walk, because `"` is everywhere in JSON. Both client dialects are understood:
Anthropic Messages and OpenAI Chat Completions.
"""

from __future__ import annotations

from typing import Any

from bifrost_py.context import Call
from bifrost_py.counting import call_estimate
from bifrost_py.dialects.tokens import estimate_input_tokens

IMAGE_TYPES = frozenset(("image", "image_url", "input_image"))
_UNSET: Any = object()


class RequestFacts:
    """Lazily computed facts of one request body."""

    __slots__ = ("_call", "_images", "_thinking", "_tokens", "_tools", "_web_search", "body")

    def __init__(self, body: dict[str, Any] | None, call: Call | None = None) -> None:
        """`call`: the call `body` is the body of; its token estimate is then the call's own,
        made once and shared with governance's hold (bifrost_py.counting.call_estimate)."""
        self.body = body or {}
        self._call = call if call is not None and call.body is body else None
        self._tokens: Any = _UNSET
        self._tools: Any = _UNSET
        self._thinking: Any = _UNSET
        self._images: Any = _UNSET
        self._web_search: Any = _UNSET

    @property
    def input_tokens(self) -> int:
        """The local estimate of the prompt's tokens (dialects/tokens.py): system, messages,
        tool definitions, tool calls and results, images."""
        if self._tokens is _UNSET:
            call = self._call
            self._tokens = estimate_input_tokens(self.body) if call is None else call_estimate(call)
        return int(self._tokens)

    @property
    def tools(self) -> bool:
        """The request offers the model tools (any kind, server tools included)."""
        if self._tools is _UNSET:
            self._tools = bool(self.body.get("tools") or self.body.get("functions"))
        return bool(self._tools)

    @property
    def thinking(self) -> bool:
        if self._thinking is _UNSET:
            self._thinking = thinking_enabled(self.body)
        return bool(self._thinking)

    @property
    def images(self) -> bool:
        if self._images is _UNSET:
            self._images = has_images(self.body)
        return bool(self._images)

    @property
    def web_search(self) -> bool:
        if self._web_search is _UNSET:
            self._web_search = wants_web_search(self.body)
        return bool(self._web_search)

    def as_dict(self) -> dict[str, Any]:
        """Every fact, computed now (for the admin API's explain)."""
        return {"input_tokens": self.input_tokens, "tools": self.tools, "thinking": self.thinking,
                "images": self.images, "web_search": self.web_search}


def thinking_enabled(body: dict[str, Any]) -> bool:
    """Anthropic `thinking` of any type but "disabled" (Claude Code sends "adaptive" or
    "enabled"); OpenAI `reasoning_effort` (or `reasoning.effort`) other than "none"."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        return thinking.get("type", "enabled") != "disabled"
    if thinking is True:
        return True
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(body.get("reasoning"), dict):
        effort = body["reasoning"].get("effort")
    return isinstance(effort, str) and effort != "none"


def has_images(body: dict[str, Any]) -> bool:
    """An image block anywhere in the messages, tool results included (both dialects)."""
    for message in body.get("messages") or ():
        if isinstance(message, dict) and _content_has_image(message.get("content")):
            return True
    return False


def _content_has_image(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") in IMAGE_TYPES:
            return True
        if block.get("type") == "tool_result" and _content_has_image(block.get("content")):
            return True
    return False


def wants_web_search(body: dict[str, Any]) -> bool:
    """A web-search tool is offered: Anthropic's server tool (`web_search_20250305`), OpenAI's
    `web_search`/`web_search_preview` tool types, or Chat Completions' `web_search_options`.

    A function tool that merely calls itself WebSearch (Claude Code's main loop always lists
    one) does not count: Claude Code runs its searches as a separate request with the server
    tool, and that is the request this fact finds."""
    if body.get("web_search_options") is not None:
        return True
    for tool in body.get("tools") or ():
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind and isinstance(kind, str) and kind.startswith("web_search"):
            return True
    return False
