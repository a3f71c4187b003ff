"""The shipped replay set (tests/data/cache_replay.json) through a gateway with the default
semantic cache and the local embedder, from both SDKs, streamed and not.

Every request must end as labelled: repeats hit exactly, the rewordings the local embedder is
meant to catch hit semantically and get the original's answer, and no different question is
ever served another question's answer. The hit rate is printed (pytest -s) and checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import bifrost_cache
import openai

from bifrost_py.testing import provider_config

REPLAY = json.loads((Path(__file__).parents[1] / "data" / "cache_replay.json").read_text())
EXPECTED = {"miss": "miss", "distinct": "miss", "paraphrase": "miss", "exact": "exact", "semantic": "semantic"}


async def send(gw: Any, item: dict[str, Any]) -> tuple[str, str]:
    """(cache result: miss | exact | semantic, answer text)."""
    common = {"model": REPLAY["model"], "max_tokens": REPLAY["max_tokens"]}
    if item["dialect"] == "anthropic":
        client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-replay", max_retries=0)
        params = {**common, "system": REPLAY["system"], "messages": [{"role": "user", "content": item["prompt"]}],
                  "extra_body": {"temperature": REPLAY["temperature"]}}
        if item["stream"]:
            async with client.messages.stream(**params) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                headers = stream.response.headers
        else:
            raw = await client.messages.with_raw_response.create(**params)
            headers, text = raw.headers, (await raw.parse()).content[0].text
    else:
        oai = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-replay", max_retries=0)
        messages = [{"role": "system", "content": REPLAY["system"]}, {"role": "user", "content": item["prompt"]}]
        raw = await oai.chat.completions.with_raw_response.create(
            **common, temperature=REPLAY["temperature"], messages=messages, stream=item["stream"])
        headers = raw.headers
        if item["stream"]:
            text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
        else:
            text = raw.parse().choices[0].message.content
    result = headers["x-bf-cache"]
    return (headers["x-bf-cache-match"] if result == "hit" else result), text


async def test_replay_set_hits_as_labelled(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    cfg = {"storage": {"logs": f"sqlite:///{tmp_path}/replay.db"}, "providers": provider_config(mock_upstream.url),
           "cache": {"enabled": True}}
    gw = await start_gateway(cfg, plugins=[bifrost_cache], builtins=False)
    plugin = gw.gateway.plugins.pm.get_plugin("cache")
    answers: dict[str, str] = {}
    wrong = []
    for item in REPLAY["requests"]:
        result, text = await send(gw, item)
        await plugin.settled()
        if result != EXPECTED[item["expect"]]:
            wrong.append(f"#{item['id']} {item['prompt']!r}: {result}, labelled {item['expect']}")
        if item["expect"] == "miss":
            answers[item["prompt"]] = text
            assert item["prompt"][:30] in text, "the mock answers with (the start of) the question it was asked"
        elif result in ("exact", "semantic"):
            assert text == answers[item["same_as"]], f"#{item['id']} got another question's answer"
    assert not wrong, "\n".join(wrong)
    stats = plugin.cache.stats()
    total = len(REPLAY["requests"])
    hits = stats["hits_exact"] + stats["hits_semantic"]
    print(f"\nreplay: {total} requests, {stats['hits_exact']} exact + {stats['hits_semantic']} semantic hits "
          f"= hit rate {hits / total:.1%}; false hits 0 of "
          f"{sum(r['expect'] == 'distinct' for r in REPLAY['requests'])} look-alike questions")
    assert hits == sum(r["expect"] in ("exact", "semantic") for r in REPLAY["requests"])
    _, _, body = await mock_upstream.get("/_mock/stats")
    assert json.loads(body)["requests"] == total - hits
