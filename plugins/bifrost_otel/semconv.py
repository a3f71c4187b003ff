"""The names spans carry: the OpenTelemetry GenAI semantic conventions, then bifrost's own.

GenAI names as the conventions define them today (semantic-conventions-genai, status
"development"): `gen_ai.provider.name` replaced `gen_ai.system`; `gen_ai.usage.input_tokens`
counts every input token, cached ones included, and the cached part is told apart by
`gen_ai.usage.cache_read.input_tokens` / `gen_ai.usage.cache_creation.input_tokens`. Kept here
in one place so that a rename in a later revision is a change of one line. What the conventions
have no name for is under `bifrost.`.
"""

from __future__ import annotations

# GenAI semantic conventions
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"

# General conventions
HTTP_STATUS = "http.response.status_code"
ERROR_TYPE = "error.type"

# bifrost-py's own
REQUEST_ID = "bifrost.request_id"
STREAM = "bifrost.stream"
VIRTUAL_KEY = "bifrost.virtual_key"
VIRTUAL_KEY_ID = "bifrost.virtual_key.id"
TEAM = "bifrost.team"
CUSTOMER = "bifrost.customer"
ROUTE_RULE = "bifrost.route.rule"
ATTEMPTS = "bifrost.attempts"
ATTEMPT_NUMBER = "bifrost.attempt.number"
PROVIDER_CONFIGURED = "bifrost.provider"
PROVIDER_KEY = "bifrost.provider.key"
CACHE_HIT = "bifrost.cache.hit"
COST_USD = "bifrost.cost.usd"
REFUSED_BY = "bifrost.refused_by"

# gen_ai.operation.name per endpoint of the gateway (`Call.endpoint`). Counting tokens has no
# name in the conventions; they allow a system-specific value where none applies.
OPERATIONS = {"messages": "chat", "embeddings": "embeddings", "count_tokens": "count_tokens"}

# gen_ai.provider.name per provider type: the conventions' well-known values; another type
# (a third-party adapter, the mock) is named as it is.
PROVIDERS = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
}


def operation_name(endpoint: str) -> str:
    return OPERATIONS.get(endpoint, endpoint)


def provider_name(provider_type: str) -> str:
    return PROVIDERS.get(provider_type, provider_type)
