"""The cache plugin end to end: real sockets, the mock upstream, the official SDKs as clients.

Each test starts its own gateway with only the cache plugin (and, where a test needs one, a
small stand-in for governance that names the caller), so nothing here depends on the other
plugins. Time is moved through `cache.clock` instead of waiting.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import bifrost_cache
import openai
import orjson
import pytest
from bifrost_cache.assemble import StreamAnswer

from bifrost_py import Advice, Caller, Target, hookimpl
from bifrost_py.dialects.sse import SSEDecoder
from bifrost_py.testing import provider_config

MODEL = "claude-sonnet-4-20250514"
DATA = Path(__file__).parents[1] / "data"


def question(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


class Callers:
    """Stands in for governance: the presented key names the caller (`x-api-key: vk-a`)."""

    name = "test_callers"

    def __init__(self, callers: dict[str, dict[str, Any]]) -> None:
        self.callers = callers

    @hookimpl
    async def bifrost_request_start(self, call: Any) -> None:
        spec = self.callers.get(call.credential or "")
        if spec is not None:
            call.caller = Caller(**spec)


class Fallback:
    """Puts a dead provider first and always advises the next target."""

    name = "test_fallback"

    @hookimpl
    async def bifrost_route(self, call: Any, targets: list[Target]) -> list[Target]:
        return [Target("dead", call.model), *targets]

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Any) -> Advice:
        return Advice(Advice.NEXT)


def config(upstream: Any, tmp_path: Path, *, providers: dict[str, Any] | None = None, **cache: Any) -> dict[str, Any]:
    return {
        "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"},
        "providers": {**provider_config(upstream.url), **(providers or {})},
        "cache": {"enabled": True, **cache},
    }


async def start(start_gateway: Any, cfg: dict[str, Any], *extra: Any) -> Any:
    gw = await start_gateway(cfg, plugins=[bifrost_cache, *extra], builtins=False)
    gw.cache = gw.gateway.plugins.pm.get_plugin("cache")
    return gw


def claude(gw: Any, key: str = "vk-a") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0)


def gpt(gw: Any, key: str = "vk-a") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


async def ask(gw: Any, text: str, *, key: str = "vk-a", headers: dict[str, str] | None = None, **kw: Any) -> tuple[Any, Any]:
    """One non-stream Anthropic request; returns (headers, message) once any store is done."""
    params = {"model": MODEL, "max_tokens": 300, "messages": question(text), **kw}
    raw = await claude(gw, key).messages.with_raw_response.create(**params, extra_headers=headers or {})
    message = await raw.parse()
    await gw.cache.settled()
    return raw.headers, message


async def upstream_requests(upstream: Any) -> int:
    _, _, body = await upstream.get("/_mock/stats")
    return int(orjson.loads(body)["requests"])


# ---------------------------------------------------------------- exact hits and replay


async def test_exact_hit_is_replayed_whole_and_as_a_stream(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path, mode="exact"))
    first_headers, first = await ask(gw, "Tell me about caches [[long:150]]")
    assert first_headers["x-bf-cache"] == "miss"
    headers, again = await ask(gw, "Tell me about caches [[long:150]]")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "exact"
    assert headers["x-bf-cache-usage"] == "original" and "x-bf-cache-similarity" not in headers
    assert again.content[0].text == first.content[0].text
    assert again.usage.output_tokens == first.usage.output_tokens and again.id != first.id
    async with claude(gw).messages.stream(model=MODEL, max_tokens=300,
                                          messages=question("Tell me about caches [[long:150]]")) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1, "a hit is replayed as a real stream of several deltas"
    assert "".join(pieces) == first.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == first.usage.output_tokens
    assert await upstream_requests(mock_upstream) == 1


async def test_cross_dialect_exact_hit_and_openai_stream_replay(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a mutex?"}]
    raw = await gpt(gw).chat.completions.with_raw_response.create(model=MODEL, max_tokens=200, temperature=0, messages=messages)
    original = raw.parse()
    assert raw.headers["x-bf-cache"] == "miss"
    await gw.cache.settled()
    again = await claude(gw).messages.with_raw_response.create(
        model=MODEL, max_tokens=200, system="Be brief.", messages=question("What is a mutex?"),
        extra_body={"temperature": 0})
    assert again.headers["x-bf-cache"] == "hit" and again.headers["x-bf-cache-match"] == "exact"
    assert (await again.parse()).content[0].text == original.choices[0].message.content
    stream = await gpt(gw).chat.completions.create(model=MODEL, max_tokens=200, temperature=0, messages=messages,
                                                   stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == original.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == original.usage.completion_tokens
    assert await upstream_requests(mock_upstream) == 1


async def test_streamed_answers_are_stored_from_either_provider_dialect(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path))
    for model in (MODEL, "gpt-4o"):  # an anthropic-type and an openai-type provider behind one client
        async with claude(gw).messages.stream(model=model, max_tokens=300,
                                              messages=question("Explain streams [[long:60]]")) as stream:
            first = await stream.get_final_message()
        await gw.cache.settled()
        raw = await claude(gw).messages.with_raw_response.create(model=model, max_tokens=300,
                                                                 messages=question("Explain streams [[long:60]]"))
        assert raw.headers["x-bf-cache"] == "hit", model
        hit = await raw.parse()
        assert hit.content[0].text == first.content[0].text and hit.stop_reason == "end_turn"
        assert hit.usage.output_tokens == first.usage.output_tokens


async def test_claude_code_request_replays_as_a_well_formed_stream(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    """A real Claude Code body (24 tools, adaptive thinking, betas, no temperature) is stored
    from its stream and replayed event for event, as Claude Code parses it."""
    body = json.loads((DATA / "claude_code_request.body.json").read_text())
    body["model"] = MODEL
    meta = json.loads((DATA / "claude_code_request.meta.json").read_text())
    headers = {k: v for k, v in (meta.get("headers") or {}).items()
               if k.lower() in ("anthropic-version", "anthropic-beta", "user-agent", "x-app")}
    headers["x-api-key"] = "vk-a"

    async def send() -> tuple[dict[str, str], list[tuple[str | None, dict[str, Any]]]]:
        url = gw.url + "/anthropic/v1/messages?beta=true"
        async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
            assert response.status == 200
            raw = await response.read()
            events = [(e.event, orjson.loads(e.data)) for e in SSEDecoder().feed(raw) if e.data]
            await gw.cache.settled()
            return {k.lower(): v for k, v in response.headers.items()}, events

    gw = await start(start_gateway, config(mock_upstream, tmp_path, mode="exact"))
    miss_headers, original = await send()
    hit_headers, replay = await send()
    assert (miss_headers["x-bf-cache"], hit_headers["x-bf-cache"]) == ("miss", "hit")
    assert hit_headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in replay]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assembled = []
    for events in (original, replay):
        answer = StreamAnswer()
        for name, data in events:
            answer.on_event("anthropic", name, data)
        message = answer.message()
        assert message is not None
        assembled.append([{k: v for k, v in b.items() if k != "id"} for b in message["content"]])
    assert assembled[0] == assembled[1]


# ---------------------------------------------------------------- semantic


async def test_semantic_hits_paraphrases_and_misses_different_questions(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path))
    _, original = await ask(gw, "How do I undo the last git commit?")
    headers, hit = await ask(gw, "Hey, can you tell me how to undo the last Git commit?")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "semantic"
    assert float(headers["x-bf-cache-similarity"]) >= 0.9
    assert hit.content[0].text == original.content[0].text
    for different in ("How do I undo the last git push?", "How do I amend the last git commit?"):
        headers, answer = await ask(gw, different)
        assert headers["x-bf-cache"] == "miss", different
        assert different in answer.content[0].text
    headers, _ = await ask(gw, "how can I undo the last git commit", system="Answer in French.")
    assert headers["x-bf-cache"] == "miss", "a different system prompt is a different partition"


async def test_exact_mode_never_matches_paraphrases(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path, mode="exact"))
    await ask(gw, "How do I exit vim?")
    headers, _ = await ask(gw, "how do I exit vim")
    assert headers["x-bf-cache"] == "miss"


async def test_provider_embedder_through_the_provider_layer(start_gateway: Any, mock_upstream: Any, tmp_path: Path,
                                                            aiohttp_server: Any) -> None:
    """A stand-in embeddings server whose vectors ignore case: two texts that differ only in
    case are the same point, so they must hit; a 500 from it leaves exact matching working."""
    from aiohttp import web

    seen: list[dict[str, Any]] = []
    failing = {"on": False}

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"auth": request.headers.get("authorization"), **body})
        if failing["on"]:
            return web.json_response({"error": {"message": "down"}}, status=500)
        from bifrost_py.mockupstream.openai_wire import unit_vector

        vector = unit_vector(body["input"].lower(), 32)
        return web.json_response({"object": "list", "model": body["model"], "usage": {"prompt_tokens": 3, "total_tokens": 3},
                                  "data": [{"object": "embedding", "index": 0, "embedding": vector}]})

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    server = await aiohttp_server(app)
    providers = {"embedder": {"type": "openai", "base_url": str(server.make_url("/v1")), "keys": [{"value": "sk-emb"}],
                              "models": ["text-embedding-3-small"]}}
    gw = await start(start_gateway, config(mock_upstream, tmp_path, providers=providers,
                                           embedder={"type": "provider", "provider": "embedder"}))
    await ask(gw, "What Is A Monad?")
    headers, _ = await ask(gw, "what is a monad?")
    assert headers["x-bf-cache-match"] == "semantic" and float(headers["x-bf-cache-similarity"]) > 0.999
    assert seen[0]["auth"] == "Bearer sk-emb" and seen[0]["model"] == "text-embedding-3-small"
    headers, _ = await ask(gw, "What is a functor?")
    assert headers["x-bf-cache"] == "miss"
    failing["on"] = True
    headers, _ = await ask(gw, "WHAT IS A MONAD?")
    assert headers["x-bf-cache"] == "miss"
    headers, _ = await ask(gw, "What Is A Monad?")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "exact"
    assert gw.cache.cache.stats()["embed_errors"] >= 1


# ---------------------------------------------------------------- TTL and request headers


async def test_ttl_expiry_per_config_per_key_and_per_request(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    callers = Callers({"vk-short": {"key_id": "short", "key_name": "short", "cache_ttl": 60.0}})
    gw = await start(start_gateway, config(mock_upstream, tmp_path, ttl="1h"), callers)
    cache = gw.cache.cache
    real = cache.clock
    await ask(gw, "What is a queue?")
    await ask(gw, "What is a queue?", key="vk-short")
    await ask(gw, "What is a stack?", headers={"x-bf-cache-ttl": "5m"})
    cache.clock = lambda: real() + 120
    assert (await ask(gw, "What is a queue?"))[0]["x-bf-cache"] == "hit"
    assert (await ask(gw, "What is a queue?", key="vk-short"))[0]["x-bf-cache"] == "miss", "the key's 60s TTL"
    assert (await ask(gw, "What is a queue?", headers={"x-bf-cache-ttl": "1m"}))[0]["x-bf-cache"] == "miss", \
        "x-bf-cache-ttl also caps the age a request accepts"
    cache.clock = lambda: real() + 400
    assert (await ask(gw, "What is a stack?"))[0]["x-bf-cache"] == "miss", "stored with a 5m TTL"
    cache.clock = lambda: real() + 3700
    assert (await ask(gw, "What is a queue?", key="vk-none"))[0]["x-bf-cache"] == "miss", "the 1h TTL of the config"
    assert await cache.expire(cache.clock()) >= 1


async def test_no_cache_and_no_store(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path))
    headers, _ = await ask(gw, "What is DNS?", headers={"x-bf-cache": "no-store"})
    assert headers["x-bf-cache"] == "bypass" and headers["x-bf-cache-reason"] == "no-store"
    assert (await ask(gw, "What is DNS?"))[0]["x-bf-cache"] == "miss", "no-store stored nothing"
    headers, _ = await ask(gw, "What is DNS?", headers={"x-bf-cache": "no-cache"})
    assert headers["x-bf-cache"] == "bypass", "no-cache skips the lookup"
    assert (await ask(gw, "What is DNS?"))[0]["x-bf-cache"] == "hit"
    with pytest.raises(anthropic.BadRequestError, match="x-bf-cache-ttl"):
        await ask(gw, "What is DNS?", headers={"x-bf-cache-ttl": "soon"})
    with pytest.raises(anthropic.BadRequestError, match="x-bf-cache"):
        await ask(gw, "What is DNS?", headers={"x-bf-cache": "please"})


# ---------------------------------------------------------------- safe by default


async def test_scopes_between_keys_teams_and_shared(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    callers = Callers({
        "vk-a": {"key_id": "a", "key_name": "a", "team": "backend"},
        "vk-b": {"key_id": "b", "key_name": "b", "team": "backend"},
        "vk-c": {"key_id": "c", "key_name": "c", "team": "frontend"},
    })
    gw = await start(start_gateway, config(mock_upstream, tmp_path), callers)
    await ask(gw, "What is our deploy process?", key="vk-a")
    assert (await ask(gw, "What is our deploy process?", key="vk-a"))[0]["x-bf-cache"] == "hit"
    assert (await ask(gw, "What is our deploy process?", key="vk-b"))[0]["x-bf-cache"] == "miss"
    assert (await ask(gw, "what is our deploy process", key="vk-c"))[0]["x-bf-cache"] == "miss"

    team = await start(start_gateway, config(mock_upstream, tmp_path / "team", scope="team"), callers)
    await ask(team, "What is our deploy process?", key="vk-a")
    assert (await ask(team, "What is our deploy process?", key="vk-b"))[0]["x-bf-cache"] == "hit"
    assert (await ask(team, "What is our deploy process?", key="vk-c"))[0]["x-bf-cache"] == "miss"

    shared = await start(start_gateway, config(mock_upstream, tmp_path / "shared", shared=True), callers)
    await ask(shared, "What is our deploy process?", key="vk-a")
    assert (await ask(shared, "What is our deploy process?", key="vk-c"))[0]["x-bf-cache"] == "hit"
    assert (await ask(shared, "What is our deploy process?", key="anyone"))[0]["x-bf-cache"] == "hit"


async def test_enabled_per_virtual_key(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    callers = Callers({"vk-on": {"key_id": "on", "key_name": "on", "cache": True},
                       "vk-off": {"key_id": "off", "key_name": "off", "cache": False}})
    off = await start(start_gateway, config(mock_upstream, tmp_path, enabled=False), callers)
    for _ in range(2):
        headers, _ = await ask(off, "What is TLS?", key="vk-plain")
        assert headers["x-bf-cache"] == "bypass" and "x-bf-cache-reason" not in headers
    await ask(off, "What is TLS?", key="vk-on")
    assert (await ask(off, "What is TLS?", key="vk-on"))[0]["x-bf-cache"] == "hit"
    on = await start(start_gateway, config(mock_upstream, tmp_path / "on", enabled=True), callers)
    await ask(on, "What is TLS?", key="vk-off")
    assert (await ask(on, "What is TLS?", key="vk-off"))[0]["x-bf-cache"] == "bypass"


async def test_errors_partials_tool_use_and_sampling_are_not_cached(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path))
    with pytest.raises(anthropic.APIStatusError) as failed:
        await ask(gw, "Answer this [[fail:529]]")
    assert failed.value.status_code == 529
    for marker in ("[[cut:3]]", "[[stream_error]]"):
        with pytest.raises(anthropic.APIError):
            async with claude(gw).messages.stream(model=MODEL, max_tokens=300,
                                                  messages=question(f"Long answer {marker} [[long:40]]")) as stream:
                async for _ in stream.text_stream:
                    pass
        await gw.cache.settled()
    weather = [{"name": "weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    await ask(gw, "Weather in Paris? [[tool]]", tools=weather)
    headers, _ = await ask(gw, "Weather in Paris? [[tool]]", tools=weather)
    assert headers["x-bf-cache"] == "miss", "tool_use turns are not stored by default"
    headers, _ = await ask(gw, "Pick a number", extra_body={"temperature": 0.7})
    assert headers["x-bf-cache"] == "bypass" and "temperature" in headers["x-bf-cache-reason"]
    stats = gw.cache.cache.stats()
    assert stats["entries"] == 0 and stats["stored"] == 0
    assert stats["not_stored"] == {"error": 3, "tool_use": 2}
    stats_before = await upstream_requests(mock_upstream)
    with pytest.raises(anthropic.APIStatusError):
        await ask(gw, "Answer this [[fail:529]]")
    assert await upstream_requests(mock_upstream) == stats_before + 1, "the error was not served from the cache"

    opted = await start(start_gateway, config(mock_upstream, tmp_path / "opted", tool_use=True, sampled=True))
    await ask(opted, "Weather in Paris? [[tool]]", tools=weather)
    headers, message = await ask(opted, "Weather in Paris? [[tool]]", tools=weather)
    assert headers["x-bf-cache"] == "hit" and message.stop_reason == "tool_use"
    await ask(opted, "Pick a number", extra_body={"temperature": 0.7})
    assert (await ask(opted, "Pick a number", extra_body={"temperature": 0.7}))[0]["x-bf-cache"] == "hit"


async def test_client_disconnect_mid_stream_is_not_stored(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path))
    body = {"model": MODEL, "max_tokens": 300, "temperature": 0, "stream": True,
            "messages": question("Slow answer [[long:200]] [[stall:0.5s]]")}
    async with aiohttp.ClientSession() as session, session.post(gw.url + "/anthropic/v1/messages", json=body) as response:
        await response.content.readany()  # the first event, then hang up
    tally = gw.cache.cache.metrics.tally
    for _ in range(300):  # bounded: the gateway notices the hang-up asynchronously
        await gw.cache.settled()
        if tally["not_stored:disconnected"]:
            break
        await asyncio.sleep(0.01)
    assert tally["not_stored:disconnected"] == 1
    assert gw.cache.cache.stats()["entries"] == 0


async def test_an_answer_over_max_answer_bytes_is_not_stored(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    """A long answer passes to the client whole, streamed or not, and is not kept past the bound."""
    gw = await start(start_gateway, config(mock_upstream, tmp_path, max_answer_bytes=1500))
    async with claude(gw).messages.stream(model=MODEL, max_tokens=300,
                                          messages=question("Long answer [[long:300]]")) as stream:
        streamed = await stream.get_final_message()
    await gw.cache.settled()
    headers, whole = await ask(gw, "Another long answer [[long:300]]")
    assert len(streamed.content[0].text) > 1500 and len(whole.content[0].text) > 1500
    assert headers["x-bf-cache"] == "miss"
    stats = gw.cache.cache.stats()
    assert stats["entries"] == 0 and stats["not_stored"] == {"too_large": 2}
    await ask(gw, "Short one")
    assert (await ask(gw, "Short one"))[0]["x-bf-cache"] == "hit"


# ---------------------------------------------------------------- bounds, fallbacks, restarts


async def test_eviction_under_the_memory_bound(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start(start_gateway, config(mock_upstream, tmp_path, max_entries=3))
    for topic in ("alpha", "beta", "gamma"):
        await ask(gw, f"Explain {topic} testing")
    await ask(gw, "Explain alpha testing")  # used again: now the most recent
    await ask(gw, "Explain delta testing")  # pushes out beta, the least recently used
    cache = gw.cache.cache
    assert len(cache.catalog) == 3 and cache.stats()["evicted"] == {"size": 1}
    assert (await ask(gw, "Explain alpha testing"))[0]["x-bf-cache"] == "hit"
    assert (await ask(gw, "Explain beta testing"))[0]["x-bf-cache"] == "miss"
    await cache.settle()
    rows = await _sqlite_count(tmp_path / "gateway.db")
    assert rows == 3, "evicted entries leave the store too"
    assert sum(p.count for p in cache.index.partitions.values()) == 3


async def _sqlite_count(path: Path) -> int:
    import aiosqlite

    async with aiosqlite.connect(path) as db, db.execute("SELECT COUNT(*) FROM cache_entries") as cursor:
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


async def test_a_fallback_answer_is_stored(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    dead = {"dead": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "keys": [{"value": "x"}]}}
    gw = await start(start_gateway, config(mock_upstream, tmp_path, providers=dead), Fallback())
    headers, first = await ask(gw, "What is a circuit breaker?")
    assert headers["x-bf-attempts"] == "2" and headers["x-bf-provider"] == "anthropic"
    headers, again = await ask(gw, "What is a circuit breaker?")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-attempts"] == "1"
    assert again.content[0].text == first.content[0].text


async def test_sqlite_index_is_rebuilt_on_restart(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    from bifrost_py.testing import running_gateway

    cfg = config(mock_upstream, tmp_path)
    async with running_gateway(cfg, plugins=[bifrost_cache], builtins=False) as first:
        first.cache = first.gateway.plugins.pm.get_plugin("cache")
        await ask(first, "What is a B-tree?")
    gw = await start(start_gateway, cfg)
    assert len(gw.cache.cache.catalog) == 1
    headers, _ = await ask(gw, "what is a b-tree")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "semantic"
    assert await upstream_requests(mock_upstream) == 1


async def test_redis_backend_is_shared_by_two_instances(start_gateway: Any, mock_upstream: Any, tmp_path: Path,
                                                        redis_url: str) -> None:
    import uuid

    prefix = f"test:{uuid.uuid4().hex}:"
    cfg = config(mock_upstream, tmp_path, redis_prefix=prefix, max_entries=50)
    cfg["storage"]["redis"] = redis_url
    one = await start(start_gateway, cfg)
    two = await start(start_gateway, cfg)
    assert one.cache.cache.store.name == "redis"
    await ask(one, "What is consistent hashing?")
    headers, _ = await ask(two, "What is consistent hashing?")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "exact"
    for _ in range(300):  # bounded wait for the feed to reach instance two
        if two.cache.cache.index.partitions:
            break
        await asyncio.sleep(0.01)
    headers, _ = await ask(two, "what's consistent hashing")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "semantic"
    assert await upstream_requests(mock_upstream) == 1
    deleted = await one.cache.cache.clear(None)
    assert deleted >= 1
    assert (await ask(two, "What is consistent hashing?"))[0]["x-bf-cache"] == "miss"


async def test_redis_bound_holds_across_instances(start_gateway: Any, mock_upstream: Any, tmp_path: Path, redis_url: str) -> None:
    import uuid

    import redis.asyncio as redis

    prefix = f"test:{uuid.uuid4().hex}:"
    cfg = config(mock_upstream, tmp_path, redis_prefix=prefix, max_entries=2, mode="exact")
    cfg["storage"]["redis"] = redis_url
    one = await start(start_gateway, cfg)
    two = await start(start_gateway, cfg)
    for i, gw in enumerate((one, two, one, two)):
        await ask(gw, f"Question number {i}")
    client = redis.from_url(redis_url)
    try:
        assert await client.zcard(prefix + "lru") == 2
        assert len([k async for k in client.scan_iter(match=prefix + "e:*")]) == 2
    finally:
        await client.aclose()
    assert (await ask(one, "Question number 0"))[0]["x-bf-cache"] == "miss"
    assert (await ask(one, "Question number 3"))[0]["x-bf-cache"] == "hit"


# ---------------------------------------------------------------- admin and metrics


async def test_admin_routes_and_metrics(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    cfg = {**config(mock_upstream, tmp_path), "admin": {"token": "admin-secret"}}
    gw = await start(start_gateway, cfg)
    await ask(gw, "What is a heap?")
    await ask(gw, "What is a heap?")
    auth = {"authorization": "Bearer admin-secret"}
    status, _, body = await gw.get("/api/cache", headers=auth)
    data = orjson.loads(body)
    assert status == 200 and data["stats"]["hits_exact"] == 1 and data["stats"]["hit_rate"] == 0.5
    assert data["settings"]["scope"] == "key" and data["backend"] == "sqlite"
    status, _, body = await gw.get("/api/cache/entries", headers=auth)
    entries = orjson.loads(body)["entries"]
    assert status == 200 and len(entries) == 1 and entries[0]["hits"] == 1 and entries[0]["scope"] == "anonymous"
    assert (await gw.get("/api/cache", headers={"authorization": "Bearer wrong"}))[0] == 401
    _, _, metrics = await gw.get("/metrics")
    assert b'bifrost_cache_lookups_total{result="hit_exact"} 1.0' in metrics
    one = gw.url + f"/api/cache/entries/{entries[0]['key']}"
    async with aiohttp.ClientSession() as session, session.delete(one, headers=auth) as response:
        assert (await response.json()) == {"deleted": 1}
    assert (await ask(gw, "What is a heap?"))[0]["x-bf-cache"] == "miss"
    scope = gw.url + "/api/cache?scope=anonymous"
    async with aiohttp.ClientSession() as session, session.delete(scope, headers=auth) as response:
        assert (await response.json())["deleted"] == 1
    assert (await ask(gw, "What is a heap?"))[0]["x-bf-cache"] == "miss"


async def test_bad_config_is_reported_with_paths(tmp_path: Path) -> None:
    from bifrost_py.config import config_from_dict
    from bifrost_py.configschema import ConfigError
    from bifrost_py.gateway import Gateway

    cfg = config_from_dict({"providers": {"mock": {"type": "mock"}}, "cache": {
        "enabled": "yes", "mode": "fuzzy", "threshold": 1.5, "colour": "blue", "backend": "redis",
        "embedder": {"type": "provider", "provider": "nope"}}})
    with pytest.raises(ConfigError) as error:
        Gateway(cfg, plugins=[bifrost_cache], builtins=False)
    text = "\n".join(error.value.problems)
    for path in ("cache.enabled", "cache.mode", "cache.threshold", "cache.colour", "cache.backend", "cache.embedder.provider"):
        assert path in text
