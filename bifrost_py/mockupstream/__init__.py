"""A wire-faithful fake LLM provider (Anthropic and OpenAI dialects) for demos and tests.

In-process: `anthropic_response`, `anthropic_stream`, `openai_response`, `openai_stream`
(plus `open_anthropic_stream`/`open_openai_stream`, `embeddings_response`, `count_tokens_response`).
Over HTTP: `build_app` (tests) and `run` (`bifrost-py mock-upstream`). See docs/mock-upstream.md.
"""

from .calls import (
    anthropic_response,
    anthropic_stream,
    count_tokens_response,
    embeddings_response,
    open_anthropic_stream,
    open_openai_stream,
    openai_response,
    openai_stream,
)
from .endpoints import STATE
from .faults import MockConnectionReset, MockHTTPError, MockStreamCut, parse_duration
from .server import build_app, run
from .state import MockOptions, MockState

__all__ = [
    "STATE",
    "MockConnectionReset",
    "MockHTTPError",
    "MockOptions",
    "MockState",
    "MockStreamCut",
    "anthropic_response",
    "anthropic_stream",
    "build_app",
    "count_tokens_response",
    "embeddings_response",
    "open_anthropic_stream",
    "open_openai_stream",
    "openai_response",
    "openai_stream",
    "parse_duration",
    "run",
]
