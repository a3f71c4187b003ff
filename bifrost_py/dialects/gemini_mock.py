"""Gemini answers as Google writes them, built from plain text: what the mock upstream sends and
what tests feed the translators. Nothing here reads an answer; that is `gemini_response.py` and
`gemini_stream.py`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import orjson


def gemini_request_text(body: Mapping[str, Any]) -> str:
    """The text of the last user turn of a Gemini request: what the mock answers to."""
    for content in reversed(body.get("contents") or []):
        if content.get("role", "user") == "user":
            texts = [part["text"] for part in content.get("parts") or [] if "text" in part]
            if texts:
                return "".join(texts)
    return ""


def _usage_metadata(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": input_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": input_tokens + output_tokens,
    }


def gemini_response(
    text: str, *, input_tokens: int, output_tokens: int, model: str
) -> dict[str, Any]:
    """A complete generateContent answer carrying ``text``."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage_metadata(input_tokens, output_tokens),
        "modelVersion": model,
        "responseId": secrets.token_urlsafe(16),
    }


def gemini_stream_chunks(
    pieces: Iterable[str], *, input_tokens: int = 0, output_tokens: int = 0, model: str = "gemini"
) -> list[dict[str, Any]]:
    """The streamGenerateContent chunks for ``pieces`` of text, as Google sends them: every
    chunk has the prompt count, the last one the finish reason and the full usage."""
    response_id = secrets.token_urlsafe(16)
    pieces = list(pieces) or [""]
    chunks = []
    for position, piece in enumerate(pieces):
        last = position == len(pieces) - 1
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": piece}], "role": "model"},
            "index": 0,
        }
        usage: dict[str, int] = {"promptTokenCount": input_tokens, "totalTokenCount": input_tokens}
        if last:
            candidate["finishReason"] = "STOP"
            usage = _usage_metadata(input_tokens, output_tokens)
        chunks.append(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    return chunks


def encode_gemini_sse(chunk: Mapping[str, Any]) -> bytes:
    """One SSE event as Gemini frames it (``data:`` only, CRLF line ends)."""
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"
