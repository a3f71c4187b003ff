"""Azure OpenAI: the mock's deployments endpoints, driven by the openai SDK's own AzureOpenAI
client, and the adapter (deployment in the path, `api-key`, `api-version`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from bifrost_py.config import ProviderConfig
from bifrost_py.errors import CredentialsRefused
from bifrost_py.providers import make_provider
from bifrost_py.providers.base import UpstreamRequest
from bifrost_py.providers.openai import AzureProvider

from .conftest import key

PROMPT = [{"role": "user", "content": "hello azure"}]


@pytest.fixture
async def azure_sdk(mock_upstream: Any) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    client = openai.AsyncAzureOpenAI(azure_endpoint=mock_upstream.url, api_key="az-key", api_version="2024-10-21", max_retries=0)
    yield client
    await client.close()


async def test_sdk_create_stream_and_embeddings(azure_sdk: openai.AsyncAzureOpenAI, mock_records: Any) -> None:
    completion = await azure_sdk.chat.completions.create(model="my-deployment", messages=PROMPT)
    assert completion.choices[0].message.content == "Mock answer to: hello azure"
    assert completion.model == "my-deployment"
    assert completion.prompt_filter_results[0]["content_filter_results"]["hate"]["filtered"] is False  # type: ignore[attr-defined]
    stream = await azure_sdk.chat.completions.create(model="my-deployment", messages=PROMPT, stream=True,
                                                     stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == [] and chunks[0].model == "", "Azure's prompt-filter chunk comes first"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Mock answer to: hello azure"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    vectors = await azure_sdk.embeddings.create(model="my-embedder", input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 64
    records = await mock_records()
    assert [r["path"] for r in records] == [
        "/openai/deployments/my-deployment/chat/completions",
        "/openai/deployments/my-deployment/chat/completions",
        "/openai/deployments/my-embedder/embeddings",
    ]
    assert all(r["query"] == "api-version=2024-10-21" and r["headers"]["api-key"] == "az-key" for r in records)


async def test_sdk_sees_azure_errors(azure_sdk: openai.AsyncAzureOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await azure_sdk.chat.completions.create(model="d", messages=[{"role": "user", "content": "x [[fail:429]] [[retry_after:2]]"}])
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body["code"] == "429"  # type: ignore[index]


@pytest.mark.parametrize(
    ("query", "headers", "status", "message"),
    [("", {"api-key": "k"}, 404, "Resource not found"),
     ("?api-version=2024-10-21", {}, 401, "Access denied due to invalid subscription key"),
     ("?api-version=2024-10-21", {"authorization": "Bearer entra-token"}, 200, None)],
)
async def test_gate(mock_upstream: Any, query: str, headers: dict[str, str], status: int, message: str | None) -> None:
    url = f"{mock_upstream.url}/openai/deployments/d/chat/completions{query}"
    async with aiohttp.ClientSession() as session, session.post(url, json={"messages": PROMPT}, headers=headers) as response:
        assert response.status == status
        body = await response.json()
    if message:
        assert body["error"]["code"] == str(status) and message in body["error"]["message"]
    else:
        assert body["model"] == "d", "the deployment answers whatever the body's model says"


def _request(endpoint: str = "messages") -> UpstreamRequest:
    body: dict[str, Any] = {"model": "my-gpt4o", "messages": PROMPT} if endpoint == "messages" else {"model": "my-gpt4o", "input": "x"}
    return UpstreamRequest(endpoint, "openai", orjson.dumps(body), body, False, "my-gpt4o")


@pytest.fixture
async def adapter(mock_upstream: Any) -> AsyncIterator[AzureProvider]:
    config = ProviderConfig(name="azure", type="azure", base_url=mock_upstream.url, keys=[key("az-key")],
                            api_version="2025-01-01-preview", model_map={"gpt-4o*": "my-gpt4o"}, models=["gpt-4o*"])
    provider = make_provider(config)
    assert isinstance(provider, AzureProvider)
    yield provider
    await provider.close()


async def test_adapter_puts_deployment_version_and_key_where_azure_wants_them(adapter: AzureProvider, mock_records: Any) -> None:
    assert adapter.upstream_model("gpt-4o-mini") == "my-gpt4o"
    response = await adapter.send(_request(), key("az-key"))
    assert response.status == 200
    assert orjson.loads(await response.read())["choices"][0]["message"]["content"] == "Mock answer to: hello azure"
    response = await adapter.send(_request("embeddings"), key("az-key"))
    assert len(orjson.loads(await response.read())["data"]) == 1
    records = await mock_records()
    assert [r["path"] for r in records] == ["/openai/deployments/my-gpt4o/chat/completions", "/openai/deployments/my-gpt4o/embeddings"]
    for record in records:
        assert record["query"] == "api-version=2025-01-01-preview"
        assert record["headers"]["api-key"] == "az-key" and "authorization" not in record["headers"]


async def test_adapter_needs_a_key(adapter: AzureProvider) -> None:
    with pytest.raises(CredentialsRefused):
        await adapter.send(_request(), None)


def test_config_takes_an_unquoted_api_version_as_written() -> None:
    from bifrost_py.config import parse_config

    text = ("providers:\n  azure:\n    type: azure\n    base_url: https://res.openai.azure.com\n"
            "    api_version: 2024-10-21\n    models: {gpt-4o: my-gpt4o}\n  az2: {type: azure, base_url: https://b}\n")
    providers = parse_config(text).providers
    assert providers["azure"].api_version == "2024-10-21" and providers["azure"].model_map == {"gpt-4o": "my-gpt4o"}
    assert providers["az2"].api_version == "2024-10-21", "the default"
