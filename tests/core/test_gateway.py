"""The Gateway object: default routing (CONTRACT.md: a `provider/model` prefix, then a
provider's `models:` globs, then the model family), its bounded memo, and the background work
that must finish even when the request that started it is cancelled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bifrost_py.config import config_from_dict
from bifrost_py.context import Target
from bifrost_py.gateway import RESOLVE_MEMO_CHARS, Gateway


def gateway_with(**providers: dict[str, Any]) -> Gateway:
    return Gateway(config_from_dict({"providers": providers}), builtins=False)


ROUTED = gateway_with(
    azure={"type": "azure", "base_url": "https://r.openai.azure.com", "keys": ["k"],
           "models": {"gpt-4o": "my-deployment", "gpt-4.1*": "d41"}},
    local={"type": "openai", "base_url": "http://127.0.0.1:1/v1", "models": ["llama-*", "qwen?-7b"]},
    anthropic={"type": "anthropic", "keys": ["k"]},
    openai={"type": "openai", "keys": ["k"]},
    gemini={"type": "gemini", "keys": ["k"]},
)


@pytest.mark.parametrize(("model", "expected"), [
    ("anthropic/claude-x", [Target("anthropic", "claude-x")]),        # a prefix names the provider
    ("local/anything/with/slashes", [Target("local", "anything/with/slashes")]),
    ("gpt-4o", [Target("azure", "gpt-4o")]),                           # listed beats family
    ("gpt-4.1-mini", [Target("azure", "gpt-4.1-mini")]),               # a glob of a models: map
    ("llama-3-70b", [Target("local", "llama-3-70b")]),
    ("qwen2-7b", [Target("local", "qwen2-7b")]),
    ("claude-sonnet-4", [Target("anthropic", "claude-sonnet-4")]),     # the family's provider type
    ("o3-mini", [Target("openai", "o3-mini")]),                        # not azure: it lists models
    ("text-embedding-3-small", [Target("openai", "text-embedding-3-small")]),
    ("gemini-2.5-pro", [Target("gemini", "gemini-2.5-pro")]),
    ("nobody/claude-x", []),                                           # unknown prefix: the whole name
    ("mistral-large", []),
    ("qwen10-7b", []),
])
def test_resolve_follows_the_contracts_order(model: str, expected: list[Target]) -> None:
    assert ROUTED.resolve(model) == expected


def test_a_family_with_no_provider_of_its_types_resolves_to_nothing() -> None:
    only_openai = gateway_with(openai={"type": "openai", "keys": ["k"]})
    assert only_openai.resolve("claude-sonnet-4") == []
    assert only_openai.resolve("gpt-4o") == [Target("openai", "gpt-4o")]


def test_the_mock_type_serves_every_family() -> None:
    mock = gateway_with(mock={"type": "mock"})
    assert [mock.resolve(m)[0].provider for m in ("claude-x", "gpt-4o", "gemini-x")] == ["mock"] * 3


def test_a_resolved_list_is_the_callers_to_change() -> None:
    found = ROUTED.resolve("claude-sonnet-4")
    found.append(Target("openai", "gpt-4o"))
    assert ROUTED.resolve("claude-sonnet-4") == [Target("anthropic", "claude-sonnet-4")]


def test_the_memo_is_bounded_in_characters_and_answers_stay_right_past_it() -> None:
    gateway = gateway_with(anthropic={"type": "anthropic", "keys": ["k"]})
    name = "claude-" + "x" * 249
    for i in range(RESOLVE_MEMO_CHARS // len(name) + 50):
        assert gateway.resolve(f"{i:06d}{name}")[:1] == []
    assert gateway._resolved_chars <= RESOLVE_MEMO_CHARS
    assert sum(len(k) for k in gateway._resolved) == gateway._resolved_chars
    assert gateway.resolve(name) == [Target("anthropic", name)]


async def test_finish_runs_its_work_to_the_end_when_the_awaiting_task_is_cancelled() -> None:
    gateway = gateway_with(mock={"type": "mock"})
    started, release, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def settle() -> None:
        started.set()
        await release.wait()
        done.set()

    async def request() -> None:
        await gateway.finish(settle())

    task = asyncio.create_task(request())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not done.is_set()
    release.set()
    await gateway.stop()  # waits for background work
    assert done.is_set()


async def test_finish_returns_once_its_work_is_done() -> None:
    gateway = gateway_with(mock={"type": "mock"})
    order: list[str] = []

    async def settle() -> None:
        await asyncio.sleep(0)
        order.append("settled")

    await gateway.finish(settle())
    order.append("after")
    assert order == ["settled", "after"]


async def test_spawned_work_that_fails_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    gateway = gateway_with(mock={"type": "mock"})

    async def broken() -> None:
        raise ValueError("background bug")

    with caplog.at_level(logging.ERROR, logger="bifrost_py"):
        task = gateway.spawn(broken())
        await gateway.stop()
    assert task.done() and isinstance(task.exception(), ValueError)
    assert any("background task failed" in r.message for r in caplog.records)
    assert gateway._tasks == set()
