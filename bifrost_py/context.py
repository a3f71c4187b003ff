"""The objects a request is made of, handed to every hook.

A `Call` is one client request; each try of it against one `Target` is an `Attempt`, which ends
with an `Outcome`. Plugins keep their per-request state on `call.stash` / `attempt.stash` under
their own `StashKey`, never in a free-form dict, so two plugins cannot trample each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
from multidict import CIMultiDictProxy

from .errors import GatewayError

T = TypeVar("T")

ANTHROPIC = "anthropic"
OPENAI = "openai"
RESPONSES = "responses"  # the OpenAI Responses API (Codex CLI): a client dialect only

# Endpoints (what the client asked for), independent of dialect.
MESSAGES = "messages"          # Anthropic Messages / OpenAI Chat Completions
COUNT_TOKENS = "count_tokens"
EMBEDDINGS = "embeddings"
MODELS = "models"


class StashKey(Generic[T]):
    """A typed key for `Stash` (pytest's idea): `KEY = StashKey[int]()`."""

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class Stash:
    """Per-request storage for plugins, keyed by StashKey objects."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[StashKey[Any], Any] = {}

    def __getitem__(self, key: StashKey[T]) -> T:
        return self._items[key]  # type: ignore[no-any-return]

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._items[key] = value

    def __contains__(self, key: StashKey[Any]) -> bool:
        return key in self._items

    def get(self, key: StashKey[T], default: T | None = None) -> T | None:
        return self._items.get(key, default)  # type: ignore[no-any-return]

    def pop(self, key: StashKey[T], default: T | None = None) -> T | None:
        return self._items.pop(key, default)  # type: ignore[no-any-return]


@dataclass(slots=True)
class Usage:
    """Tokens of one answer. `input_tokens` excludes cache reads and writes (Anthropic's
    convention); OpenAI's cached prompt tokens are moved to `cache_read_tokens`."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total(self) -> int:
        return self.total_input + self.output_tokens


class ProviderWeight(NamedTuple):
    """One provider a caller's traffic is split over, and its share (relative to the others).
    A tuple: built per request by an authenticating plugin, it must cost next to nothing."""

    provider: str
    weight: float


@dataclass(slots=True)
class Caller:
    """Who is calling, as established by an authenticating plugin (governance, or yours).

    Besides who it is, the caller carries the per-key settings other plugins act on, typed:

    - `allowed_providers`: the providers its key may use (routing leaves out the others); None: all
    - `provider_weights`: how routing splits its traffic over providers; empty: routing's own rules
    - `fallbacks`: its own failover chain, "provider/model" or "provider" entries; empty: the config's
    - `cache`: the cache on or off for it; None: the cache's own `enabled`
    - `cache_ttl`: seconds its answers are cached; None: the cache's own `ttl`

    Facts of your own plugin belong on `call.stash` under a StashKey.
    """

    key_id: str
    key_name: str
    team: str | None = None
    customer: str | None = None
    allowed_providers: tuple[str, ...] | None = field(default=None, kw_only=True)
    provider_weights: tuple[ProviderWeight, ...] = field(default=(), kw_only=True)
    fallbacks: tuple[str, ...] = field(default=(), kw_only=True)
    cache: bool | None = field(default=None, kw_only=True)
    cache_ttl: float | None = field(default=None, kw_only=True)


@dataclass(slots=True, frozen=True)
class Target:
    """Where one attempt goes: a configured provider and the model name to send it.

    `model` is the gateway-level name (e.g. claude-sonnet-4-20250514); the provider adapter maps
    it to its own id (Bedrock, Azure). `key_name` pins one of the provider's API keys; `rule`
    says why this target was chosen (for logs and the x-bf-route header)."""

    provider: str
    model: str
    rule: str | None = None
    key_name: str | None = None

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(slots=True)
class Reply:
    """A complete answer produced without calling a provider (a cache hit, a plugin's canned
    answer). `message` is an Anthropic Messages response object; the server renders it in the
    caller's dialect, as a stream when the caller asked for one."""

    message: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    source: str = "plugin"


@dataclass(slots=True)
class Advice:
    """What a `should_fall_back` hook recommends after a failed attempt."""

    action: str                 # "retry" (same target again), "next" (next target), "stop"
    delay: float = 0.0          # seconds to wait before the next attempt
    reason: str = ""
    target: Target | None = None  # for "retry": the target to use instead (e.g. another key)

    RETRY = "retry"
    NEXT = "next"
    STOP = "stop"


@dataclass(slots=True)
class Outcome:
    """How an attempt ended. `error` is set for every non-2xx ending, the gateway's own refusals
    included; `usage` holds what was seen, partial when a stream was cut or abandoned."""

    status: int = 0
    usage: Usage = field(default_factory=Usage)
    error: GatewayError | None = None
    model: str | None = None            # the model that answered, as the upstream named it
    stop_reason: str | None = None
    streamed: bool = False
    first_byte_sent: bool = False       # bytes of this attempt reached the client
    client_disconnected: bool = False
    completed: bool = False             # a stream reached its natural end
    reply: Reply | None = None          # set when a plugin answered (e.g. cache hit)
    refused_by: str | None = None       # the plugin whose pre_attempt refused this attempt
    body: dict[str, Any] | None = None  # the non-stream answer as the client received it (parsed lazily)
    response_dialect: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300


@dataclass(slots=True)
class Call:
    """One client request, from the moment its body is read until its response ends."""

    request_id: str
    dialect: str                        # "anthropic", "openai" or "responses": the endpoint that was called
    endpoint: str                       # MESSAGES, COUNT_TOKENS, EMBEDDINGS, MODELS
    headers: CIMultiDictProxy[str]
    query_string: str = ""
    body: dict[str, Any] | None = None
    raw_body: bytes = b""
    model: str = ""                     # the model the client asked for
    stream: bool = False
    credential: str | None = None       # the key the client presented; never logged or forwarded
    caller: Caller | None = None
    session_id: str | None = None
    client_app: str | None = None       # from user-agent, e.g. "claude-cli/2.1.3"
    started: float = field(default_factory=time.perf_counter)
    started_at: float = field(default_factory=time.time)
    deadline: float | None = None       # perf_counter time after which no new attempt starts
    targets: list[Target] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    route_rule: str | None = None       # the routing decision, for the log and x-bf-route
    response_headers: dict[str, str] = field(default_factory=dict)
    error: GatewayError | None = None   # set when the request as a whole failed
    stash: Stash = field(default_factory=Stash)

    @property
    def include_usage(self) -> bool:
        """An OpenAI client asked for the usage chunk at the end of its stream."""
        options = self.body.get("stream_options") if self.body else None
        return isinstance(options, dict) and options.get("include_usage") is True

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def replace_body(self, body: dict[str, Any]) -> None:
        """For plugins that rewrite the request (redaction, prompt injection): the new body is
        what every attempt sends from now on (passthrough forwards `raw_body`)."""
        self.body = body
        self.raw_body = orjson.dumps(body)
        self.model = str(body.get("model", self.model))


@dataclass(slots=True)
class Attempt:
    """One try of a call against one target. `upstream_seconds` is the time spent waiting on the
    provider, so `gateway overhead = total - upstream_seconds`."""

    call: Call
    target: Target
    number: int
    started: float = field(default_factory=time.perf_counter)
    started_at: float = field(default_factory=time.time)
    first_byte: float | None = None     # perf_counter time of the first byte from upstream
    ended: float | None = None
    upstream_seconds: float = 0.0
    key_name: str | None = None         # which of the provider's API keys was used
    provider_type: str = ""
    upstream_dialect: str | None = None  # the dialect spoken to the provider (None: not called)
    upstream_model: str | None = None    # the provider's own id for target.model, as sent (None: not called)
    notes: list[str] = field(default_factory=list)  # what translation dropped, etc.
    outcome: Outcome = field(default_factory=Outcome)
    stash: Stash = field(default_factory=Stash)
    stream_observers: list[Any] = field(default_factory=list)
    upstream_headers: dict[str, str] = field(default_factory=dict)  # sent with this attempt's request (set in pre_attempt)

    @property
    def translated(self) -> bool:
        """The provider was spoken to in another dialect than the client's."""
        return self.upstream_dialect is not None and self.upstream_dialect != self.call.dialect

    @property
    def latency(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def ttft(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started

    def observe_stream(self, observer: Any) -> None:
        """Show this attempt's stream to `observer`: its `on_bytes(dialect, data)` gets the
        provider's complete events as bytes, once per chunk, or, without one, its
        `on_event(dialect, event_name, data)` each parsed event (see hookspecs, "Streams")."""
        self.stream_observers.append(observer)


@dataclass(slots=True)
class ModelInfo:
    """One entry of a model list."""

    id: str
    provider: str
    display_name: str = ""
    created: int = 0                 # Unix time of release; 0 when unknown
    context_window: int = 0          # tokens in and out; 0 when unknown
