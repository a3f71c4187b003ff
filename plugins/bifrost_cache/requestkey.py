"""What a request is, for the cache: one canonical form for every dialect, and the keys over it.

The same request sent as Anthropic Messages or as OpenAI Chat Completions must land on the same
entry, so OpenAI (Chat and Responses) and Gemini bodies are translated to the Anthropic shape first, then all are
normalised:
string content becomes text blocks, `cache_control` goes (it changes the bill, not the answer),
whole-number floats become ints (`temperature: 0.0` is `0`). Fields that do not change the answer
(stream, metadata, user...) are dropped; every other field stays, unknown ones included, so a
new API parameter can only split entries, never merge different answers.

Three things come out (`CacheRequest`):
    exact_key   a hash of the whole canonical request and its scope
    partition   a hash of everything that changes the answer *except* the text that semantic
                matching compares (entries are only compared within one partition)
    text        that text, or None when this request can only hit exactly
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from bifrost_py.context import ANTHROPIC, RESPONSES
from bifrost_py.dialects.anthropic_openai import TranslationError, openai_request_to_anthropic
from bifrost_py.dialects.gemini import GEMINI
from bifrost_py.dialects.gemini_inbound_request import gemini_request_to_anthropic
from bifrost_py.dialects.responses_request import responses_request_to_anthropic

# Fields that never change the answer: how it is delivered, who asked, billing hints.
NEUTRAL_ANTHROPIC = frozenset({"model", "stream", "metadata", "service_tier"})
NEUTRAL_OPENAI = frozenset({"model", "stream", "stream_options", "user", "store", "metadata", "service_tier"})
# Responses API fields that never change the answer: delivery, storage, who asked, Codex's session.
NEUTRAL_RESPONSES = frozenset({"model", "stream", "stream_options", "user", "safety_identifier", "store", "metadata",
                               "service_tier", "prompt_cache_key", "client_metadata", "include"})
# OpenAI asks whose answer a stored Anthropic-shaped message cannot reproduce.
_UNREPLAYABLE = ("logprobs", "top_logprobs", "audio", "prediction")
_STRIPPED = frozenset({"system", "messages", "tools"})
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")


class Uncacheable(Exception):
    """This request cannot be cached at all; the message says why (x-bf-cache-reason)."""


@dataclass(slots=True, frozen=True)
class CacheRequest:
    canonical: dict[str, Any]
    exact_key: str
    partition: str | None       # None: semantic matching does not apply to this request
    text: str | None
    sampled: bool               # asks for temperature > 0


def canonical_request(body: dict[str, Any], dialect: str, model: str, betas: str | None = None) -> dict[str, Any]:
    """The dialect-independent form of a Messages / Chat Completions request body."""
    if dialect == ANTHROPIC:
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise Uncacheable("messages are not all objects")  # the provider will say what is wrong
        canonical = {key: value for key, value in body.items() if key not in NEUTRAL_ANTHROPIC}
    elif dialect == GEMINI:
        canonical = _from_gemini(body)
    elif dialect == RESPONSES:
        canonical = _from_responses(body)
    else:
        canonical = _from_openai(body)
    # One walk: whole-number floats as ints everywhere, and cache_control dropped inside
    # system, messages and tools (it changes the bill, not the answer).
    canonical = {key: _clean(value, key in _STRIPPED) for key, value in canonical.items()}
    canonical["model"] = model
    if "system" in canonical:
        canonical["system"] = _blocks(canonical["system"])
        if not canonical["system"]:
            del canonical["system"]
    canonical["messages"] = [_message(m) for m in canonical.get("messages") or []]
    if betas:
        # anthropic-beta can switch model behaviour (output length, tool formats): part of the key.
        canonical["anthropic_beta"] = sorted({b.strip() for b in betas.split(",") if b.strip()})
    return canonical


def _from_openai(body: dict[str, Any]) -> dict[str, Any]:
    for name in _UNREPLAYABLE:
        if body.get(name):
            raise Uncacheable(f"an OpenAI request with '{name}' cannot be replayed from the cache")
    if body.get("n") not in (None, 1):
        raise Uncacheable("n > 1 asks for several answers; the cache keeps one")
    if isinstance(body.get("modalities"), list) and body["modalities"] != ["text"]:
        raise Uncacheable("only text answers are cached")
    plain = {key: value for key, value in body.items() if key not in NEUTRAL_OPENAI}
    try:
        translated, notes = openai_request_to_anthropic({**plain, "model": "m"})
    except TranslationError as exc:
        raise Uncacheable(f"request not understood: {exc}") from exc
    translated.pop("metadata", None)
    translated.pop("stream", None)
    if not any(key in body for key in ("max_tokens", "max_completion_tokens")):
        translated["max_tokens"] = None  # OpenAI's unlimited is not Anthropic's 4096
    if notes:
        # Something had no Anthropic equivalent (seed, response_format...): keep the raw body in
        # the key so the entry is exact for this dialect and cannot match a different request.
        translated["openai_only"] = plain
    return translated


def _from_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """A Gemini request in the Anthropic shape; what has no Anthropic equivalent keeps the raw
    body in the key, as for OpenAI."""
    try:
        translated, notes = gemini_request_to_anthropic(body, model="m")
    except TranslationError as exc:
        raise Uncacheable(f"request not understood: {exc}") from exc
    if notes:
        translated["gemini_only"] = body
    return translated


def _from_responses(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API request (Codex CLI) in the Anthropic shape; what has no Anthropic
    equivalent (server tools, reasoning's encrypted content...) keeps the raw body in the key."""
    if body.get("previous_response_id"):
        raise Uncacheable("previous_response_id refers to a conversation the cache cannot see")
    plain = {key: value for key, value in body.items() if key not in NEUTRAL_RESPONSES}
    try:
        translated, notes = responses_request_to_anthropic({**plain, "model": "m"})
    except TranslationError as exc:
        raise Uncacheable(f"request not understood: {exc}") from exc
    if "max_output_tokens" not in body:
        translated["max_tokens"] = None  # the translator's default is not the client's
    if notes or _has_reasoning(plain.get("input")):
        translated["responses_only"] = plain
    return translated


def _has_reasoning(items: Any) -> bool:
    """Reasoning items carry encrypted content the Anthropic form drops: keep them in the key."""
    return isinstance(items, list) and any(isinstance(i, dict) and i.get("type") == "reasoning" for i in items)


def _clean(value: Any, strip: bool) -> Any:
    """Whole-number floats as ints, recursively (0.0 and 0 mean the same in JSON); every
    `cache_control` key dropped too when `strip`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if strip:
            return {key: _clean(item, True) for key, item in value.items() if key != "cache_control"}
        return {key: _clean(item, False) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item, strip) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _blocks(content: Any) -> Any:
    """String content as a list of one text block; empty text blocks dropped."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b for b in content if not (isinstance(b, dict) and b.get("type") == "text" and not b.get("text"))]
    return content


def _message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    return {**message, "content": _blocks(message.get("content"))}


def is_sampled(canonical: dict[str, Any]) -> bool:
    """The request explicitly asks for temperature > 0, i.e. for varied answers.

    An unset temperature is not counted: current Anthropic SDKs cannot even send one (newer
    models take no sampling parameters), so "unset" means "the provider's default", not "give me
    variety"; the cache then returns the first answer it got (docs/cache.md says so)."""
    temperature = canonical.get("temperature")
    if temperature is None:
        return False
    return not isinstance(temperature, (int, float)) or temperature > 0


def digest(value: Any) -> str:
    """A stable hash of a JSON value: object key order never matters."""
    raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def exact_key(canonical: dict[str, Any], scope: str) -> str:
    return digest({"scope": scope, "request": canonical})


def semantic_split(canonical: dict[str, Any], on: str, max_chars: int) -> tuple[dict[str, Any], str] | None:
    """(the rest of the request, the text compared by similarity), or None when this request
    can only hit exactly: the compared part holds something besides text (images, tool results,
    documents: a text embedding would not see them), or is longer than `max_chars`."""
    messages = canonical.get("messages") or []
    if not messages:
        return None
    compared = messages[-1:] if on == "last_message" else messages
    if on == "last_message" and messages[-1].get("role") != "user":
        return None
    texts = []
    for message in compared:
        text = _plain_text(message.get("content"))
        if text is None:
            return None
        texts.append(text if on == "last_message" else f"{message.get('role')}: {text}")
    text = "\n".join(texts)
    if not text.strip() or len(text) > max_chars:
        return None
    rest = {key: value for key, value in canonical.items() if key != "messages"}
    if on == "last_message":
        rest["history"] = messages[:-1]
    # Embeddings are notoriously blind to numbers ("HTTP 429" vs "HTTP 503"): the numbers of
    # the text must match exactly, so they are part of the partition.
    rest["numbers"] = _NUMBER.findall(text)
    return rest, text


def _plain_text(content: Any) -> str | None:
    if not isinstance(content, list) or not all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return None
    return "\n".join(str(b.get("text") or "") for b in content)


def cache_request(
    body: dict[str, Any], dialect: str, model: str, scope: str, *, betas: str | None = None,
    semantic: bool, semantic_on: str = "last_message", max_chars: int = 2000, embedder_id: str = "",
) -> CacheRequest:
    """Everything the cache needs to know about one request (raises Uncacheable)."""
    try:
        canonical = canonical_request(body, dialect, model, betas)
        key = exact_key(canonical, scope)
        partition = text = None
        if semantic:
            split = semantic_split(canonical, semantic_on, max_chars)
            if split is not None:
                rest, text = split
                partition = digest({"scope": scope, "embedder": embedder_id, "on": semantic_on, "rest": rest})
    except (RecursionError, orjson.JSONEncodeError) as exc:
        # JSON that orjson read but cannot write (nested past 254 levels, an integer past 64
        # bits) has no stable key: such a request is simply not cached.
        raise Uncacheable(f"the request cannot be keyed ({exc})") from exc
    return CacheRequest(canonical, key, partition, text, is_sampled(canonical))
