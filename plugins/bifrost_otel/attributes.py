"""What each span says, computed from the context objects the hooks receive.

Plain functions from a Call or an Attempt to a dict of attributes (no OpenTelemetry here), so
that each rule is tested on its own. Attributes with nothing to say are left out rather than
sent empty: every attribute costs the SDK about a microsecond to check and the collector a
column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bifrost_py import Attempt, Call, Outcome

from . import semconv as sc
from .host import Prices

AttributeValue = str | bool | int | float | Sequence[str]
Attributes = dict[str, AttributeValue]

CLIENT_CLOSED = 499  # nginx's status for a client that hung up, as the gateway reports it


def call_opening(call: Call) -> Attributes:
    """What is known when the request arrives."""
    attributes: Attributes = {
        sc.OPERATION: sc.operation_name(call.endpoint),
        sc.REQUEST_ID: call.request_id,
        sc.STREAM: call.stream,
    }
    if call.model:
        attributes[sc.REQUEST_MODEL] = call.model
    max_tokens = call.body.get("max_tokens") if call.body else None
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attributes[sc.REQUEST_MAX_TOKENS] = max_tokens
    return attributes


def call_closing(call: Call, cost: float | None) -> Attributes:
    """Who called, how it was routed and how it ended, with the answering attempt's provider and
    model. Token usage is on the attempt spans only: tools that add up `gen_ai.usage.*` over a
    trace's spans would count it twice."""
    attributes: Attributes = {sc.ATTEMPTS: len(call.attempts), sc.HTTP_STATUS: call_status(call)}
    caller = call.caller
    if caller is not None:
        attributes[sc.VIRTUAL_KEY] = caller.key_name
        attributes[sc.VIRTUAL_KEY_ID] = caller.key_id
        if caller.team:
            attributes[sc.TEAM] = caller.team
        if caller.customer:
            attributes[sc.CUSTOMER] = caller.customer
    if call.route_rule:
        attributes[sc.ROUTE_RULE] = call.route_rule
    if call.error is not None:
        attributes[sc.ERROR_TYPE] = error_type(call.error, call.error.status)
    answering = answering_attempt(call)
    if answering is not None:
        if answering.provider_type:
            attributes[sc.PROVIDER] = sc.provider_name(answering.provider_type)
        attributes.update(answer(answering.outcome, with_usage=False))
    attributes[sc.CACHE_HIT] = any(cache_hit(attempt.outcome) for attempt in call.attempts)
    if cost is not None:
        attributes[sc.COST_USD] = cost
    return attributes


def attempt_opening(attempt: Attempt) -> Attributes:
    """Where this attempt goes, and why: the attempt number counts the fallbacks (1 = first try)."""
    target = attempt.target
    attributes: Attributes = {
        sc.OPERATION: sc.operation_name(attempt.call.endpoint),
        sc.REQUEST_MODEL: target.model,
        sc.PROVIDER_CONFIGURED: target.provider,
        sc.ATTEMPT_NUMBER: attempt.number,
    }
    if attempt.provider_type:
        attributes[sc.PROVIDER] = sc.provider_name(attempt.provider_type)
    rule = target.rule or attempt.call.route_rule
    if rule:
        attributes[sc.ROUTE_RULE] = rule
    return attributes


def attempt_closing(attempt: Attempt, cost: float | None) -> Attributes:
    """How the attempt ended: status, error, the answer's model and usage, cost, cache hit."""
    outcome = attempt.outcome
    attributes: Attributes = {sc.HTTP_STATUS: outcome.status, sc.CACHE_HIT: cache_hit(outcome)}
    attributes.update(answer(outcome))
    if outcome.error is not None:
        attributes[sc.ERROR_TYPE] = error_type(outcome.error, outcome.status)
    if outcome.refused_by:
        attributes[sc.REFUSED_BY] = outcome.refused_by
    if attempt.key_name:
        attributes[sc.PROVIDER_KEY] = attempt.key_name
    if cost is not None:
        attributes[sc.COST_USD] = cost
    return attributes


def answer(outcome: Outcome, *, with_usage: bool = True) -> Attributes:
    """The answer's model, finish reason and token usage. A plugin's reply (a cache hit)
    consumed no provider tokens: its usage is the original answer's, so it is left out here, as
    the cost log records 0 for it."""
    attributes: Attributes = {}
    if outcome.model:
        attributes[sc.RESPONSE_MODEL] = outcome.model
    if outcome.stop_reason:
        attributes[sc.FINISH_REASONS] = (outcome.stop_reason,)
    usage = outcome.usage
    if with_usage and outcome.reply is None and usage.total:
        attributes[sc.INPUT_TOKENS] = usage.total_input
        attributes[sc.OUTPUT_TOKENS] = usage.output_tokens
        if usage.cache_read_tokens:
            attributes[sc.CACHE_READ_TOKENS] = usage.cache_read_tokens
        if usage.cache_write_tokens:
            attributes[sc.CACHE_CREATION_TOKENS] = usage.cache_write_tokens
    return attributes


def attempt_cost(prices: Prices, attempt: Attempt) -> float | None:
    """USD for what this attempt consumed: priced by the targeted model's name, then by the name
    the answer gave (a Bedrock or Azure id, a dated snapshot). 0 when nothing was consumed (a
    refusal, a failure before any token, a cache hit); None when the model has no known price."""
    outcome = attempt.outcome
    usage = outcome.usage
    if outcome.reply is not None or not usage.total:
        return 0.0
    provider_type = attempt.provider_type or None
    cost = prices.cost(attempt.target.model, provider_type, usage)
    if cost is None and outcome.model and outcome.model != attempt.target.model:
        cost = prices.cost(outcome.model, provider_type, usage)
    return cost


def total_cost(costs: Sequence[float | None]) -> float | None:
    """The call's cost: its attempts' known costs added up; None when none is known."""
    known = [cost for cost in costs if cost is not None]
    return sum(known) if known else None


def call_status(call: Call) -> int:
    """The status the client got: the call's error, else its last attempt's ending, else 200 (a
    plugin answered in request_start, or tokens were counted)."""
    if call.error is not None:
        return int(call.error.status)
    last = call.last_attempt
    return last.outcome.status if last is not None else 200


def answering_attempt(call: Call) -> Attempt | None:
    """The attempt whose answer the client got (the last successful one), else the last one."""
    for attempt in reversed(call.attempts):
        if attempt.outcome.ok:
            return attempt
    return call.last_attempt


def cache_hit(outcome: Outcome) -> bool:
    return outcome.reply is not None and outcome.reply.source == "cache"


def error_type(error: Any, status: int) -> str:
    """A low-cardinality name for `error.type`: the gateway's error type (overloaded_error,
    rate_limit_error, ...), or client_closed for a client that hung up."""
    if status == CLIENT_CLOSED:
        return "client_closed"
    kind = getattr(error, "type", None)
    return kind if isinstance(kind, str) and kind else type(error).__name__
