"""What a dialect module provides, so the server and the in-process calls treat all alike.

A new provider dialect (Bedrock, Azure, Gemini) is one module with one object satisfying `Wire`,
plus its routes in server.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .answers import Answer, Prompt
from .pacing import Event


class BadRequest(Exception):
    """The request body is not one the real API accepts (a 400 in that API's format)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(slots=True)
class Reply:
    """Identity of one answer: ids, model echoed back, creation time."""

    model: str
    message_id: str
    request_id: str
    created: int


class Ids(Protocol):
    """Where ids come from (a MockState): reproducible per seed, unique per state."""

    def new_id(self, length: int) -> str: ...


class Wire(Protocol):
    name: str
    request_id_header: str
    stream_content_type: str

    def request_id(self, ids: Ids) -> str: ...

    def message_id(self, ids: Ids) -> str: ...

    def prompt(self, body: dict[str, Any]) -> Prompt:
        """The neutral view of a valid request; raises BadRequest for an invalid one."""
        ...

    def wants_stream(self, body: dict[str, Any]) -> bool: ...

    def message(self, answer: Answer, reply: Reply) -> bytes:
        """The full non-stream response body."""
        ...

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        """Every event of the stream, in order, as wire bytes."""
        ...

    def stream_error(self) -> Event:
        """The event an overloaded server sends in place of the rest of a stream."""
        ...

    def error(
        self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None
    ) -> bytes:
        """An error body for `status` (message None: the API's usual message for it)."""
        ...
