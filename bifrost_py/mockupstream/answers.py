"""Deterministic answers and usage, computed from a dialect-neutral view of the request.

Each wire module turns its request body into a `Prompt`; `build_answer` turns a prompt and the
request's `Directives` into an `Answer` (content blocks already split into stream pieces, plus
usage); the wire module renders that answer in its own format, streamed or not. So every dialect
answers the same question with the same words and the same token counts.

Token estimate: ceil(N / 4), N = bytes of the compact JSON of system + messages + tools.
Output tokens: the number of pieces streamed (text deltas, thinking deltas, tool-input fragments).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

from .faults import Directives, strip_markers

if TYPE_CHECKING:
    from .wire import Ids

SNIPPET_CHARS = 40
FRAGMENT_CHARS = 8  # tool-input JSON is streamed in fragments of this many characters
_WORDS = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "ut",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
)
_PIECE = re.compile(r"\s*\S+")
_SPACES = re.compile(r"\s+")

Stop = Literal["end", "tool", "length"]


@dataclass(slots=True, frozen=True)
class ToolSpec:
    name: str
    schema: dict[str, Any]


@dataclass(slots=True)
class Prompt:
    """What the mock needs from a request, whatever its dialect."""

    model: str
    text: str  # text of the last user (or tool-result) turn; markers live here
    focus: str = (
        ""  # its last text block, which the answer echoes (Claude Code puts reminders first)
    )
    tools: Sequence[ToolSpec] = ()
    tool_choice: str | None = None  # None: auto; "": any tool; "none": no tool; else a name
    max_tokens: int | None = None
    thinking: bool = False
    input_tokens: int = 0  # the whole estimate, cached part included
    cache_blocks: Sequence[bytes] = ()  # JSON of each cacheable block, in prefix order
    cache_upto: int = -1  # index of the last block carrying cache_control, -1: no caching
    json_schema: dict[str, Any] | None = None  # the answer must be JSON fitting it (Gemini's JSON mode)


@dataclass(slots=True)
class Block:
    kind: Literal["text", "thinking", "tool_use"]
    pieces: list[str]
    name: str = ""  # tool_use: tool name
    ident: str = ""  # tool_use: id body, each dialect adds its prefix
    signature: str = ""  # thinking: signature

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0  # not counting the cached parts (Anthropic's meaning)
    cache_creation: int = 0
    cache_read: int = 0
    output_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """All input tokens, cached ones included (OpenAI's meaning)."""
        return self.input_tokens + self.cache_creation + self.cache_read


@dataclass(slots=True)
class Answer:
    blocks: list[Block]
    stop: Stop
    usage: Usage = field(default_factory=Usage)


def estimate_tokens(*parts: bytes) -> int:
    return (sum(len(p) for p in parts) + 3) // 4


def json_bytes(value: Any) -> bytes:
    return b"" if value is None else orjson.dumps(value)


def cache_usage(prompt: Prompt, seen: set[bytes]) -> tuple[int, int]:
    """(creation, read) tokens: a prefix up to the last cache_control is written once, then read."""
    if prompt.cache_upto < 0:
        return 0, 0
    digest = hashlib.blake2b(prompt.model.encode(), digest_size=16)
    size = 0
    for block in prompt.cache_blocks[: prompt.cache_upto + 1]:
        digest.update(block)
        size += len(block)
    tokens = min(prompt.input_tokens, (size + 3) // 4)
    key = digest.digest()
    if key in seen:
        return 0, tokens
    seen.add(key)
    return tokens, 0


def cache_blocks(body: dict[str, Any]) -> tuple[list[bytes], int]:
    """Cacheable blocks in prefix order (tools, system, messages) and the last breakpoint."""
    items: list[Any] = []
    for key in ("tools", "system", "messages"):
        value = body.get(key)
        if key == "messages" and isinstance(value, list):
            for message in value:
                content = message.get("content") if isinstance(message, dict) else message
                items.extend(content if isinstance(content, list) else [content])
        elif isinstance(value, list):
            items.extend(value)
        elif value is not None:
            items.append(value)
    marked = [
        i for i, item in enumerate(items) if isinstance(item, dict) and "cache_control" in item
    ]
    last = len(items) - 1 if "cache_control" in body else (marked[-1] if marked else -1)
    return [orjson.dumps(item) for item in items], last


def build_answer(prompt: Prompt, asked: Directives, ids: Ids, seen: set[bytes]) -> Answer:
    """The answer to `prompt`; `ids.new_id(n)` makes tool ids, `seen` holds cached prefixes."""
    blocks: list[Block] = []
    if prompt.thinking or asked.thinking:
        blocks.append(_thinking(prompt, ids))
    tools = _chosen_tools(prompt, asked)
    if tools:
        blocks.extend(_tool_use(tool, ids) for tool in tools)
    else:
        blocks.append(Block("text", _text_pieces(prompt, asked)))
    stop: Stop = "tool" if tools else "end"
    if asked.max_tokens or _truncate(blocks, prompt.max_tokens):
        stop = "length"
    creation, read = cache_usage(prompt, seen)
    usage = Usage(
        input_tokens=max(0, prompt.input_tokens - creation - read),
        cache_creation=creation,
        cache_read=read,
        output_tokens=sum(len(b.pieces) for b in blocks),
    )
    return Answer(blocks, stop, usage)


def split_pieces(text: str) -> list[str]:
    """Word-sized stream pieces with the leading space attached, like real tokens."""
    return _PIECE.findall(text) or ([text] if text else [])


def snippet(text: str) -> str:
    return _SPACES.sub(" ", strip_markers(text)).strip()[:SNIPPET_CHARS]


def _topic(prompt: Prompt) -> str:
    return snippet(prompt.focus) or snippet(prompt.text)


def _text_pieces(prompt: Prompt, asked: Directives) -> list[str]:
    if asked.text is not None:
        return split_pieces(asked.text)
    if prompt.json_schema is not None:
        value = _sample_value(prompt.json_schema, 0) if prompt.json_schema else {"answer": f"Mock answer to: {_topic(prompt)}"}
        return split_pieces(orjson.dumps(value).decode())
    if asked.long is not None:
        words = [_WORDS[i % len(_WORDS)] for i in range(asked.long)]
        return [w if i == 0 else " " + w for i, w in enumerate(words)]
    return split_pieces(f"Mock answer to: {_topic(prompt)}".rstrip())


def _thinking(prompt: Prompt, ids: Ids) -> Block:
    pieces = split_pieces(f"Thinking about: {_topic(prompt)}".rstrip())
    return Block("thinking", pieces, signature="EqMock" + ids.new_id(40))


def _chosen_tools(prompt: Prompt, asked: Directives) -> list[ToolSpec]:
    if not prompt.tools or prompt.tool_choice == "none":
        return []
    count = asked.tools or (1 if prompt.tool_choice is not None else 0)
    if prompt.tool_choice:
        named = [t for t in prompt.tools if t.name == prompt.tool_choice]
        return named * count
    return [prompt.tools[i % len(prompt.tools)] for i in range(count)]


def _tool_use(tool: ToolSpec, ids: Ids) -> Block:
    arguments = orjson.dumps(sample_input(tool.schema)).decode()
    pieces = [arguments[i : i + FRAGMENT_CHARS] for i in range(0, len(arguments), FRAGMENT_CHARS)]
    return Block("tool_use", pieces, name=tool.name, ident=ids.new_id(24))


def _truncate(blocks: list[Block], limit: int | None) -> bool:
    """Cut text and thinking pieces beyond `limit` output tokens; True when something was cut."""
    if limit is None or limit <= 0:
        return False
    left, cut = limit, False
    for block in blocks:
        if block.kind != "tool_use" and len(block.pieces) > left:
            del block.pieces[left:]
            cut = True
        left -= len(block.pieces)
    blocks[1:] = [b for b in blocks[1:] if b.pieces]  # a block the limit left empty never starts
    return cut


def sample_input(schema: Any, depth: int = 0) -> dict[str, Any]:
    """A tool input that fits the JSON schema's properties (every property, typed values)."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return {}
    return {name: _sample_value(sub, depth + 1) for name, sub in props.items()}


def _sample_value(schema: Any, depth: int) -> Any:
    if not isinstance(schema, dict):
        return "mock"
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        return sample_input(schema, depth) if depth < 5 else {}
    if kind == "array":
        items = schema.get("items")
        return [_sample_value(items, depth + 1)] if isinstance(items, dict) and depth < 5 else []
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "mock")
