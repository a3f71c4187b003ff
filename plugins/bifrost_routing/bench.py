"""What the routing plugin costs per request: `python -m bifrost_routing.bench [N]`.

Times `bifrost_route` plus `bifrost_post_attempt` (one successful attempt) in-process, without
sockets, for the cases that matter: nothing configured; a Claude Code main-loop request (about
78 KB, 24 tools) through the Claude Code recipe of docs/routing.md, whose long-context rule
needs the token estimate; a Claude Code background (Haiku) request; a session under a 50/50
split. The real body is read from tests/data when present, else a synthetic one of that size.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import ANTHROPIC, MESSAGES, Attempt, Call, Outcome
from bifrost_py.gateway import Gateway

RECIPE = {
    "rules": [
        {"name": "long-context", "when": {"min_input_tokens": 60000}, "to": "anthropic/claude-sonnet-4-6"},
        {"name": "background", "when": {"model": "claude-*haiku*"}, "to": "openai/gpt-4o-mini"},
        {"name": "web-search", "when": {"web_search": True}, "to": "openai/gpt-4o-search-preview"},
        {"name": "thinking", "when": {"thinking": True}, "to": "anthropic/claude-opus-4-8"},
        {"name": "images", "when": {"images": True}, "to": "openai/gpt-4o"},
    ],
}
SPLIT = {"weights": {"claude-opus-4-8": [{"to": "anthropic", "weight": 1}, {"to": "second", "weight": 1}]}}


def _providers() -> dict[str, Any]:
    keys = [{"value": f"sk-{i}", "name": f"k{i}"} for i in range(3)]
    return {
        "anthropic": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "keys": keys},
        "second": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "models": ["claude-opus-*"], "keys": keys},
        "openai": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "keys": keys},
    }


def _claude_code_body() -> bytes:
    recorded = Path(__file__).resolve().parents[2] / "tests" / "data" / "claude_code_request.body.json"
    if recorded.is_file():
        return recorded.read_bytes()
    tools = [{"name": f"Tool{i}", "description": "d" * 1500, "input_schema": {"type": "object"}} for i in range(24)]
    body = {"model": "claude-opus-4-8", "max_tokens": 32000, "system": [{"type": "text", "text": "s" * 30000}],
            "tools": tools, "thinking": {"type": "adaptive"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 8000}]}]}
    return orjson.dumps(body)


def _call(raw: bytes, session: str | None, model: str | None = None) -> Call:
    body = orjson.loads(raw)
    if model is not None:
        body["model"] = model
        raw = orjson.dumps(body)
    call = Call(request_id="req_bench", dialect=ANTHROPIC, endpoint=MESSAGES, headers=CIMultiDictProxy(CIMultiDict()),
                body=body, raw_body=raw, model=body["model"])
    call.session_id = session
    return call


async def _time(gateway: Gateway, raw: bytes, session: str | None, model: str | None, n: int,
                fresh: bool = True) -> list[float]:
    """Per-request seconds. `fresh`: each call gets a body parsed just before it, as the server
    does (the parse leaves the CPU caches holding the body, not the plugin); otherwise every
    call shares one body object (the best case: everything warm)."""
    from bifrost_routing.plugin import RoutingPlugin

    plugin = next(i.plugin for i in gateway.plugins.infos if isinstance(i.plugin, RoutingPlugin))
    resolved = gateway.resolve(_call(raw, session, model).model)  # the core's work, not the plugin's
    took = []
    gc.collect()
    gc.disable()  # the bench's own garbage (n parsed bodies) is not the plugin's cost
    shared = _call(raw, session, model)
    for _ in range(n):
        call = _call(raw, session, model) if fresh else _shared_call(shared)
        start = time.perf_counter()
        targets = await plugin.bifrost_route(call, list(resolved)) or resolved
        attempt = Attempt(call=call, target=targets[0], number=1,
                          outcome=Outcome(status=200, completed=True, first_byte_sent=True))
        attempt.key_name = targets[0].key_name  # as the pipeline records the key it used
        await plugin.bifrost_post_attempt(attempt)
        took.append(time.perf_counter() - start)
        if len(took) % 200 == 0:
            gc.collect()
    gc.enable()
    return took


def _shared_call(template: Call) -> Call:
    call = Call(request_id="req_bench", dialect=ANTHROPIC, endpoint=MESSAGES, headers=template.headers,
                body=template.body, raw_body=template.raw_body, model=template.model)
    call.session_id = template.session_id
    return call


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    raw = _claude_code_body()
    cases = [
        ("nothing configured, no session", {}, None, None),
        ("nothing configured, session (key pinning only)", {}, "s-1", None),
        ("Claude Code main loop (78 KB), recipe rules, session", RECIPE, "s-1", None),
        ("Claude Code background (Haiku), recipe rules, session", RECIPE, "s-1", "claude-haiku-4-5-20251001"),
        ("50/50 split, session, no rules", SPLIT, "s-1", None),
        ("50/50 split, no session, no rules", SPLIT, None, None),
    ]
    print(f"routing plugin, route + post_attempt per request, {n} requests each, "
          f"body {len(raw) / 1000:.0f} KB:")
    for name, routing, session, model in cases:
        gateway = Gateway(config_from_dict({"providers": _providers(), "routing": routing}), builtins=False,
                          plugins=[__import__("bifrost_routing")])
        asyncio.run(_time(gateway, raw, session, model, 200))  # warm up
        fresh = sorted(t * 1e6 for t in asyncio.run(_time(gateway, raw, session, model, n)))
        warm = sorted(t * 1e6 for t in asyncio.run(_time(gateway, raw, session, model, n, fresh=False)))
        print(f"  {name:55s} median {statistics.median(fresh):6.1f} µs fresh body, "
              f"{statistics.median(warm):6.1f} µs warm   (p90 {fresh[int(len(fresh) * 0.9)]:6.1f} µs)")


if __name__ == "__main__":
    main()
