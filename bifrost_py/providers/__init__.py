"""Provider adapters, one per provider type."""

from __future__ import annotations

from ..config import ProviderConfig
from .anthropic import AnthropicProvider
from .base import Provider
from .bedrock import BedrockProvider
from .gemini import GeminiProvider
from .openai import AzureProvider, OpenAIProvider


def provider_classes() -> dict[str, type[Provider]]:
    from .mock import MockProvider

    classes: dict[str, type[Provider]] = {
        "anthropic": AnthropicProvider,
        "openai": OpenAIProvider,
        "azure": AzureProvider,
        "bedrock": BedrockProvider,
        "gemini": GeminiProvider,
        "mock": MockProvider,
    }
    return classes


def make_provider(config: ProviderConfig) -> Provider:
    classes = provider_classes()
    if config.type not in classes:
        from ..configschema import ConfigError

        raise ConfigError([f"providers.{config.name}.type: provider type '{config.type}' is not available"])
    return classes[config.type](config)
