"""The cache's hooks: look up before each attempt, store after each successful one.

    pre_attempt   decide once per call (policy.plan_for); look up (exact, then semantic); on a
                  hit answer with a Reply (source "cache") that the core renders in the caller's
                  dialect, streamed if asked. On a miss watch the stream, if any, to assemble it.
    post_attempt  store the answer if the attempt ended well: 2xx, complete, client still there,
                  not a tool_use turn (unless cache.tool_use). Runs for every attempt, so the
                  answer of a fallback target is stored too.

Headers: x-bf-cache hit|miss|bypass; on a hit also x-bf-cache-match (exact|semantic),
x-bf-cache-similarity (semantic), x-bf-cache-age, x-bf-cache-usage: original (the body's usage
is the original answer's, which the cost log counts as saved, not spent); on a bypass of an
enabled cache, x-bf-cache-reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

import orjson

from bifrost_py import hookimpl
from bifrost_py.context import OPENAI, RESPONSES, Attempt, Reply, StashKey, Usage
from bifrost_py.dialects.anthropic_openai import TranslationError, openai_response_to_anthropic
from bifrost_py.dialects.gemini import GEMINI
from bifrost_py.dialects.gemini_response import gemini_response_to_anthropic
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.settings import load_settings

from .assemble import StreamAnswer
from .cache import Cache, Hit
from .embedders import make_embedder
from .metrics import CacheMetrics
from .policy import Plan, plan_for
from .responses_answer import responses_answer_to_anthropic
from .settings import SECTION, CacheSettings, read_settings
from .stores import make_store

if TYPE_CHECKING:
    from bifrost_py.admin import AdminRoute
    from bifrost_py.gateway import Gateway

PLAN = StashKey[Plan]("cache.plan")
ANSWER = StashKey[StreamAnswer]("cache.stream_answer")
STORING = StashKey[bool]("cache.storing")
SHUTDOWN_WAIT = 10.0
log = logging.getLogger("bifrost_py.cache")


class InFlight:
    """Attempts whose answer may still be stored: lets tests (and shutdown) wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self) -> None:
        self.count += 1
        self._idle.clear()

    def end(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def wait(self) -> None:
        await self._idle.wait()


class CachePlugin:
    name = "cache"

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = CacheSettings()
        self.cache: Cache | None = None
        self.inflight = InFlight()
        self._embedder_id = ""

    # ------------------------------------------------------------------ start-up

    @hookimpl
    def bifrost_configure(self, gateway: Gateway) -> None:
        self.settings = load_settings(gateway, SECTION, read_settings)

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        embedder = make_embedder(self.settings.embedder, gateway)
        self._embedder_id = embedder.id
        store = make_store(self.settings, gateway.storage, gateway.every, workers=gateway.config.workers)
        metrics = CacheMetrics(gateway.metrics)
        self.cache = Cache(self.settings, store, embedder, metrics, gateway.every)
        metrics.watch(lambda: len(self.cache.catalog) if self.cache else 0,
                      lambda: self.cache.index.nbytes if self.cache else 0)
        await self.cache.start()

    @hookimpl
    async def bifrost_shutdown(self, gateway: Gateway) -> None:
        if self.cache is not None:
            try:  # the core finished every request's hooks before this; do not hang regardless
                await asyncio.wait_for(self.inflight.wait(), SHUTDOWN_WAIT)
            except TimeoutError:
                log.warning("cache: %d answer(s) still unstored at shutdown", self.inflight.count)
            await self.cache.stop()

    @hookimpl
    def bifrost_admin_routes(self, gateway: Gateway) -> list[AdminRoute]:
        from .admin import admin_routes

        return admin_routes(self)

    async def settled(self) -> None:
        """Every answer that is going to be stored is stored and written (tests use this)."""
        await self.inflight.wait()
        if self.cache is not None:
            await self.cache.settle()

    # ------------------------------------------------------------------ per attempt

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> Reply | None:
        cache = self.cache
        if cache is None:
            return None
        call = attempt.call
        plan = call.stash.get(PLAN)
        if plan is None:
            plan = call.stash[PLAN] = plan_for(call, self.settings, self._embedder_id)
        if not plan.active:
            self._bypass(attempt, plan)
            return None
        if plan.lookup:
            hit = await cache.lookup(plan)
            if hit is not None:
                return self._reply(attempt, hit)
            cache.metrics.lookup("miss")
            call.response_headers["x-bf-cache"] = "miss"
        else:
            self._bypass(attempt, plan)
        if call.stream:
            answer = attempt.stash[ANSWER] = StreamAnswer(self.settings.max_answer_bytes)
            attempt.observe_stream(answer)
        attempt.stash[STORING] = True
        self.inflight.begin()
        return None

    def _bypass(self, attempt: Attempt, plan: Plan) -> None:
        call = attempt.call
        if plan.reason and plan.reason != "disabled" and attempt.number == 1:
            call.response_headers["x-bf-cache"] = "bypass"
            call.response_headers["x-bf-cache-reason"] = plan.reason
            assert self.cache is not None
            self.cache.metrics.lookup("bypass")

    def _reply(self, attempt: Attempt, hit: Hit) -> Reply:
        assert self.cache is not None
        message = hit.message
        message["id"] = "msg_bfc" + os.urandom(12).hex()
        headers = {
            "x-bf-cache": "hit",
            "x-bf-cache-match": "exact" if hit.similarity is None else "semantic",
            "x-bf-cache-usage": "original",
            "x-bf-cache-age": str(max(0, int(self.cache.clock() - hit.meta.created))),
        }
        if hit.similarity is not None:
            headers["x-bf-cache-similarity"] = f"{min(hit.similarity, 1.0):.4f}"
        attempt.call.response_headers.update(headers)
        self.cache.metrics.lookup("hit_exact" if hit.similarity is None else "hit_semantic")
        self._count_saving(hit)
        return Reply(message=message, headers=headers, source="cache")

    def _count_saving(self, hit: Hit) -> None:
        provider = self.gateway.providers.get(hit.meta.provider)
        usage = hit.message.get("usage") or {}
        cost = self.gateway.prices.cost(
            hit.meta.model or str(hit.message.get("model") or ""), provider.type if provider else None,
            Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0),
                  int(usage.get("cache_read_input_tokens") or 0), int(usage.get("cache_creation_input_tokens") or 0)),
        )
        if cost:
            assert self.cache is not None
            self.cache.metrics.saved(cost)

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        if not attempt.stash.get(STORING):
            return
        try:
            await self._store(attempt)
        finally:
            self.inflight.end()

    async def _store(self, attempt: Attempt) -> None:
        cache = self.cache
        plan = attempt.call.stash.get(PLAN)
        outcome = attempt.outcome
        if cache is None or plan is None or plan.request is None or outcome.reply is not None:
            return
        if outcome.client_disconnected or not (outcome.ok and outcome.completed):
            reason = "disconnected" if outcome.client_disconnected else "error" if not outcome.ok else "incomplete"
            cache.metrics.not_stored(reason)
            return
        message = self._answer(attempt)
        answer = attempt.stash.get(ANSWER)
        reason = "too_large" if answer is not None and answer.too_large else self._refusal(message)
        if reason:
            cache.metrics.not_stored(reason)
            return
        assert message is not None
        await cache.put(plan, message, provider=attempt.target.provider,
                        model=str(outcome.model or message.get("model") or attempt.target.model))

    def _answer(self, attempt: Attempt) -> dict[str, Any] | None:
        outcome = attempt.outcome
        if outcome.streamed:
            answer = attempt.stash.get(ANSWER)
            return answer.message() if answer is not None else None
        if not isinstance(outcome.body, dict):
            return None
        if outcome.response_dialect == OPENAI:
            try:
                return openai_response_to_anthropic(outcome.body)
            except TranslationError:
                return None
        if outcome.response_dialect == RESPONSES:
            try:
                return responses_answer_to_anthropic(outcome.body)
            except (orjson.JSONDecodeError, TypeError, AttributeError):
                return None
        if outcome.response_dialect == GEMINI:
            try:
                return gemini_response_to_anthropic(outcome.body, model=str(outcome.model or attempt.target.model))
            except MalformedAnswer:
                return None
        return outcome.body

    def _refusal(self, message: dict[str, Any] | None) -> str:
        """Why this answer must not be stored ('' when it may be)."""
        if message is None:
            return "unreadable"
        if not message.get("content"):
            return "empty"
        stop = message.get("stop_reason")
        if stop == "tool_use" and not self.settings.tool_use:
            return "tool_use"
        if stop == "pause_turn":  # the server paused a long turn: a part, not an answer
            return "incomplete"
        return ""
