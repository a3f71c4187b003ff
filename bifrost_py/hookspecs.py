"""The plugin hooks of bifrost-py: the reference documentation for plugin authors.

One request runs through the hooks in this order (see docs/plugins.md for a walk-through)::

    bifrost_request_start(call)                  every plugin, in order; may refuse or reply
    bifrost_route(call, targets)                 every plugin in order; each may rewrite the list
    for each target (an Attempt):
        bifrost_pre_attempt(attempt)             in order, stops at the first Reply or refusal
        ... the provider is called, the answer relayed to the client ...
        bifrost_post_attempt(attempt)            in REVERSE order, for exactly the plugins whose
                                                 pre_attempt ran (also after a refusal or a Reply)
        bifrost_should_fall_back(attempt)        only after a failed attempt; first non-None wins
    bifrost_request_end(call)                    every plugin, reverse order, always (errors too)

"In order" is pluggy's: implementations marked ``@hookimpl(tryfirst=True)`` first, unmarked ones,
then ``@hookimpl(trylast=True)``; among the same marker, the configured order (``plugins.order``,
then load order). The unwinding hooks (post_attempt, request_end, shutdown) take the configured
order in reverse, and tryfirst still means first. ``bifrost-py plugins`` shows the result.

pluggy registers and validates the implementations (an unmarked method is never called); the
gateway calls them itself, through ``PluginManager``: per-request hooks are ``async def`` and are
awaited one by one by a dispatcher frozen at start-up (pluggy has no async support; STYLE.md
explains the traps), start-up hooks by its typed methods (``configure``, ``startup``, ...).

Refusing: raise a ``bifrost_py.errors.GatewayError`` subclass from ``request_start`` or
``pre_attempt``. From ``pre_attempt`` an error with ``final=False`` only rules out this target
(the next target is tried); a final one ends the request.

Answering: return a ``bifrost_py.context.Reply`` (an Anthropic-shaped message) and the gateway
sends it in the caller's dialect, as a stream if one was asked for; no provider is called.

Streams: nothing per chunk goes through the dispatcher. A plugin that wants a stream calls
``attempt.observe_stream(observer)`` in ``pre_attempt``; the relay shows the observer the
stream as the PROVIDER sent it, before any translation (``dialect`` is the provider's:
``"anthropic"``, ``"openai"``, ``"responses"`` or ``"gemini"``), in one of two ways:

- ``observer.on_bytes(dialect, data)`` when the observer has it: once per relayed chunk,
  ``data`` the complete events (bytes, whole events only, each byte once, joined they are the
  upstream's stream). Nothing is parsed on the observer's behalf: while every observer takes
  bytes, a passed-through Anthropic stream keeps the relay's fast path. Parse what you keep
  once, after the stream (in ``post_attempt``), and bound what you keep.
- ``observer.on_event(dialect, event_name, data)`` otherwise: each event's parsed JSON, one
  call per event (``[DONE]`` and events without data are skipped). Simple, and it costs a
  parse and a call per event of every stream observed.

An observer that raises is dropped (it sees no more of this stream); the client's stream goes
on. The outcome reaches ``post_attempt`` as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .admin import AdminRoute
    from .budgets import BudgetUsage
    from .context import Advice, Attempt, Call, ModelInfo, Reply, Target
    from .gateway import Gateway

PROJECT = "bifrost_py"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Hooks awaited per request through the frozen dispatcher, in this order of the pipeline.
REQUEST_HOOKS = (
    "bifrost_request_start",
    "bifrost_route",
    "bifrost_pre_attempt",
    "bifrost_post_attempt",
    "bifrost_should_fall_back",
    "bifrost_request_end",
    "bifrost_list_models",
)


# ----------------------------------------------------------------------------- start-up


@hookspec
def bifrost_configure(gateway: Gateway) -> None:
    """Read and validate this plugin's config; called once when the Gateway is built, and by
    ``bifrost-py check``.

    Take your section with ``load_settings(gateway, "name", read_settings)``
    (``bifrost_py.settings``) or ``gateway.plugin_section("name")`` (a ``configschema.Section``):
    its getters record problems with the path in the file (in ``gateway.problems``), and unknown
    keys are reported. Reading a section claims it; a plugin that reads more than its own name
    declares them all in ``CONFIG_SECTIONS`` (module or class attribute), so that they are
    ignored, not errors, while it is disabled. Relative paths are relative to the config file's
    folder: ``gateway.config.resolve(path)``. Do no I/O here: ``check`` runs this without
    starting anything.
    """


@hookspec
async def bifrost_startup(gateway: Gateway) -> None:
    """Open what the plugin needs (databases, tasks, client sessions) before the first request.

    Awaited in order. Pair every resource with its release in ``bifrost_shutdown``.
    """


@hookspec
async def bifrost_shutdown(gateway: Gateway) -> None:
    """Flush and close; awaited in reverse order after the server stopped taking requests and
    the periodic tasks ran their final rounds. One plugin's failure is logged; the others still
    shut down."""


@hookspec
def bifrost_admin_routes(gateway: Gateway) -> list[AdminRoute]:
    """Admin API routes this plugin serves under ``/api/`` (Bearer admin token checked by the
    core before your handler runs). Each ``AdminRoute`` carries an OpenAPI summary so that
    ``/api/openapi.json`` describes it. Returns a list; results of all plugins are combined.
    """
    return []  # a specification: never called; a plugin with no routes returns this


@hookspec
async def bifrost_report(gateway: Gateway, since: float, by: str, fmt: str, top: int | None) -> str | None:
    """``bifrost-py report`` and scheduled reports: return the report text (table, csv or json)
    grouped `by` over the last `since` seconds, spend and savings, or None if this plugin does
    not keep the data. First non-None wins. `top` (None: all) keeps the groups that cost most
    and sums the rest into one line; an implementation may leave the argument out.

    ``bifrost-py report`` calls this on a gateway that is configured but NOT started (a report
    should start nothing it does not need): open what the report reads on ``gateway.storage``
    (the CLI closes it). In a running gateway the plugin's startup has run.
    """


@hookspec
async def bifrost_budget_update(gateway: Gateway, usages: list[BudgetUsage]) -> None:
    """The budgets one request was charged to, after the charge (``bifrost_py.budgets``).

    Called by the plugin that enforces budgets (the built-in governance) once it recorded a
    request's spend, off the client's path (the answer is already on its way), with one
    ``BudgetUsage`` per budget charged: customer, team, key, provider config, session. Every
    plugin is awaited in order; a plugin's error is logged and the others still run. Keep it
    quick: start slow work (deliveries) in a task your plugin owns. The built-in alerts plugin
    uses it for budget thresholds. To call it from your own budget plugin:
    ``await gateway.plugins.budget_update(gateway, usages)`` (free when no plugin listens).
    """


# ----------------------------------------------------------------------------- per request


@hookspec
async def bifrost_request_start(call: Call) -> Reply | None:
    """A request arrived and its body was parsed (``call.body``; ``call.model``; ``call.stream``;
    ``call.credential`` is the key the client presented).

    Identify the caller (set ``call.caller``), check what does not depend on the provider, or
    refuse by raising a GatewayError. Return a Reply to answer without any provider, or None.
    """


@hookspec
async def bifrost_route(call: Call, targets: list[Target]) -> list[Target] | None:
    """Decide where the request goes: ``targets`` is the list so far (first the core's default
    resolution from CONTRACT.md, then what earlier plugins made of it). Return a new list to
    replace it, or None to keep it. A routing plugin rewrites the first target; a failover plugin
    appends fallbacks. Record your decision in ``call.route_rule``. An empty list ends in 404.

    A ``route_rule`` already set means an earlier plugin decided: the built-in routing plugin
    then leaves the list alone, so a custom router ordered before it makes the decision by
    itself (examples/custom_router/).
    """


@hookspec
async def bifrost_pre_attempt(attempt: Attempt) -> Reply | None:
    """An attempt against ``attempt.target`` is about to start (``attempt.number`` counts from 1;
    ``attempt.call`` is its request).

    Check and reserve (budgets, rate limits), or answer from a cache by returning a Reply, or
    refuse by raising a GatewayError (``final=False``: try the next target instead). Stops at the
    first Reply or refusal; the plugins after it do not see this attempt.
    """


@hookspec
async def bifrost_post_attempt(attempt: Attempt) -> None:
    """The attempt ended: ``attempt.outcome`` says how (status, usage, error, streamed, partial).

    Runs in reverse order for exactly the plugins whose ``pre_attempt`` was entered (a plugin
    without a ``pre_attempt``: when every pre hook ran), whatever happened: refusals, replies, upstream errors, malformed answers, cut streams, client
    disconnects, and bugs (ours or a plugin's). ``outcome.status`` is always set (200, the
    error's status, or 499 when the client left a stream). A pre hook that was interrupted
    (cancelled, or raised) still gets its post hook: check what you stashed before using it.
    It runs to its end in a task of its own, so a client hanging up cannot cut it half-way. For
    a stream it runs after the last byte went to the client, so it costs the client nothing.
    """


@hookspec
async def bifrost_should_fall_back(attempt: Attempt) -> Advice | None:
    """A failed attempt (no byte reached the client yet): should the gateway try again?

    Return ``Advice("retry", delay=...)`` for the same target, ``Advice("next")`` for the next
    target, ``Advice("stop")`` to give up, or None for no opinion. First non-None wins. With no
    opinion anywhere, a non-final refusal moves to the next target and anything else stops.
    """


@hookspec
async def bifrost_request_end(call: Call) -> None:
    """The response is complete (or failed: ``call.error``). Every plugin, reverse order, once
    per call, after every attempt's ``post_attempt``; like it, never cut short by a disconnect."""


@hookspec
async def bifrost_list_models(call: Call, models: list[ModelInfo]) -> list[ModelInfo] | None:
    """A model list was asked for; return a filtered or extended list, or None to keep it."""

