"""Model lists a picker can use, through the official SDKs' `models.list()`: providers serving
globs (or nothing: the model family) list the catalogue's models under them with their display
names, and a key restricted by governance's `models:` sees only what it may use, in each
dialect's own shape (Anthropic, OpenAI, Gemini)."""

from __future__ import annotations

from typing import Any

import anthropic
import bifrost_governance
import openai
import pytest
from google import genai
from google.genai import types

from bifrost_py.modellist import created_from_name
from bifrost_py.testing import provider_config


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> Any:
    providers = {**provider_config(mock_upstream.url),
                 "gemini": {"type": "gemini", "base_url": mock_upstream.url, "keys": [{"value": "g-key"}]}}
    providers["anthropic"]["models"] = ["claude-*", "claude-sonnet-4-20250514"]
    providers["openai"]["models"] = ["gpt-4o*"]
    # the gemini provider lists no models: it serves its family, gemini-*
    settings = {"providers": providers, "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
                "governance": {"virtual_keys": {
                    "all": {"key": "vk-all-secret"},
                    "sonnets": {"key": "vk-sonnets-secret", "models": ["claude-sonnet-*", "gemini-2.5-*"]},
                }}}
    return await start_gateway(settings, plugins=[bifrost_governance], builtins=False)


def claude(gw: Any, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0)


def gpt(gw: Any, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def gemini(gw: Any, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url + "/gemini"))


async def test_globs_and_families_are_listed_with_catalogue_names(gw: Any) -> None:
    page = await claude(gw, "vk-all-secret").models.list()
    names = {m.id: m.display_name for m in page.data}
    assert names["claude-sonnet-4-5"] == "Claude Sonnet 4.5"          # from the glob claude-*
    assert names["claude-sonnet-4-20250514"] == "Claude Sonnet 4"     # an exact name, described
    assert "gpt-4o-mini" in names and "gpt-4.1" not in names          # gpt-4o* only
    assert "gemini-2.5-pro" in names                                  # the gemini family
    assert all(m.type == "model" for m in page.data)
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id and page.has_more is False
    dated = next(m for m in page.data if m.id == "claude-sonnet-4-20250514")
    assert (dated.created_at.year, dated.created_at.month, dated.created_at.day) == (2025, 5, 14)

    listed = (await gpt(gw, "vk-all-secret").models.list()).data
    owners = {m.id: m.owned_by for m in listed}
    assert owners["claude-opus-4-1"] == "anthropic" and owners["gpt-4o"] == "openai"
    assert owners["gemini-2.5-flash"] == "gemini"
    assert all(m.object == "model" for m in listed) and len(owners) == len(listed)   # each model once


async def test_a_restricted_key_sees_only_its_models_in_every_dialect(gw: Any) -> None:
    anthropic_ids = {m.id for m in (await claude(gw, "vk-sonnets-secret").models.list()).data}
    openai_ids = {m.id for m in (await gpt(gw, "vk-sonnets-secret").models.list()).data}
    assert anthropic_ids == openai_ids
    assert {"claude-sonnet-4-5", "claude-sonnet-4-20250514", "gemini-2.5-pro", "gemini-2.5-flash"} <= anthropic_ids
    assert all(m.startswith(("claude-sonnet-", "gemini-2.5-")) for m in anthropic_ids)

    models = [m async for m in await gemini(gw, "vk-sonnets-secret").aio.models.list()]
    assert {m.name for m in models} == {f"models/{m}" for m in anthropic_ids}
    flash = next(m for m in models if m.name == "models/gemini-2.5-flash")
    assert flash.display_name == "Gemini 2.5 Flash" and flash.input_token_limit == 1048576
    assert "generateContent" in (flash.supported_actions or [])
    pro = next(m for m in models if m.name == "models/gemini-2.5-pro")   # the catalogue knows no window
    assert pro.display_name == "Gemini 2.5 Pro" and pro.input_token_limit is None


async def test_an_unknown_key_gets_no_list(gw: Any) -> None:
    with pytest.raises(openai.AuthenticationError):
        await gpt(gw, "vk-nobody").models.list()


def test_release_dates_come_from_dated_names() -> None:
    assert created_from_name("gpt-4o-2024-08-06") == 1722902400
    assert created_from_name("claude-sonnet-4-20250514") == 1747180800
    assert created_from_name("gpt-4o") == 0
    assert created_from_name("model-99999999") == 0     # not a date


async def test_one_model_is_retrieved_in_every_dialect_and_others_are_404(gw: Any) -> None:
    one = await claude(gw, "vk-sonnets-secret").models.retrieve("claude-sonnet-4-5")
    assert (one.id, one.display_name, one.type) == ("claude-sonnet-4-5", "Claude Sonnet 4.5", "model")
    with pytest.raises(anthropic.NotFoundError) as refused:
        await claude(gw, "vk-sonnets-secret").models.retrieve("claude-opus-4-1")   # not this key's
    assert refused.value.body["error"]["type"] == "not_found_error"               # type: ignore[index]

    got = await gpt(gw, "vk-all-secret").models.retrieve("gpt-4o")
    assert (got.id, got.object, got.owned_by) == ("gpt-4o", "model", "openai")
    with pytest.raises(openai.NotFoundError):
        await gpt(gw, "vk-all-secret").models.retrieve("gpt-4.1")                 # gpt-4o* only

    flash = await gemini(gw, "vk-sonnets-secret").aio.models.get(model="gemini-2.5-flash")
    assert (flash.name, flash.display_name) == ("models/gemini-2.5-flash", "Gemini 2.5 Flash")
    with pytest.raises(genai.errors.ClientError) as missing:
        await gemini(gw, "vk-sonnets-secret").aio.models.get(model="gemini-1.5-pro")
    assert missing.value.code == 404


async def test_retrieving_a_model_needs_a_valid_key(gw: Any) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        await claude(gw, "vk-wrong").models.retrieve("claude-sonnet-4-5")
