"""A replaced provider (an edit in the admin API) keeps serving the responses it handed out and
closes its connections once the last one ended (Provider.retire), also for an attempt that took
it just before it was replaced."""

from __future__ import annotations

import asyncio

import orjson

from bifrost_py.config import provider_from_dict
from bifrost_py.context import MESSAGES
from bifrost_py.providers import make_provider
from bifrost_py.providers.base import Provider, UpstreamRequest
from bifrost_py.testing import RunningServer

BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "stream": True,
        "messages": [{"role": "user", "content": "count [[long:40]]"}]}


def request() -> UpstreamRequest:
    return UpstreamRequest(endpoint=MESSAGES, dialect="anthropic", body=orjson.dumps(BODY), json=BODY, stream=True,
                           model=BODY["model"])


def provider(upstream: RunningServer) -> Provider:
    return make_provider(provider_from_dict("claude", {"type": "anthropic", "base_url": upstream.url,
                                                       "keys": [{"value": "sk-test"}]}))


async def test_a_retired_provider_closes_only_after_its_stream_ended(mock_upstream: RunningServer) -> None:
    claude = provider(mock_upstream)
    response = await claude.send(request(), claude.keys.pick())
    retiring = asyncio.create_task(claude.retire())
    await asyncio.sleep(0)
    assert not retiring.done() and not claude.session.closed
    body = b"".join([chunk async for chunk in response.chunks()])
    response.release()
    await retiring
    assert b"message_stop" in body and claude._session is not None and claude._session.closed


async def test_an_attempt_that_took_it_late_still_gets_its_answer_and_the_session_closes(
        mock_upstream: RunningServer) -> None:
    claude = provider(mock_upstream)
    await claude.retire()  # nothing in flight: closed at once
    async with await claude.send(request(), claude.keys.pick()) as response:
        body = b"".join([chunk async for chunk in response.chunks()])
    assert response.status == 200 and b"message_stop" in body
    assert claude._closing is not None
    await claude._closing
    assert claude._session is not None and claude._session.closed
