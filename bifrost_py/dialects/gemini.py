"""Google Gemini generateContent / streamGenerateContent, translated from and to the Anthropic
Messages shape (the core reaches OpenAI clients through Anthropic): where requests go, and the
decisions the gemini_* modules share.

Paths: ``/v1beta/models/{model}:generateContent`` and
``/v1beta/models/{model}:streamGenerateContent?alt=sse``; the key goes in ``x-goog-api-key``. A
stream is SSE whose every ``data:`` is a whole GenerateContentResponse holding the new parts.

Things with no exact equivalent, decided once here:

* Tool-call ids: Gemini has none, so we make ``toolu_gemini_<hex>`` ids, and a later
  ``tool_result`` finds its function name through the ``tool_use`` with that id.
* Thought signatures: Gemini 3 rejects a history whose function calls lack the opaque
  ``thoughtSignature`` it returned. Anthropic clients echo only what Anthropic defines, so the
  signature rides inside the tool_use id (``..._sig_<base64url>``) and is put back on the way
  out; a call without one (made by another model) gets Google's documented bypass value.
* Gemini says STOP also when a stop sequence matched, so ``stop_sequence`` is never reported.
* Thinking is requested through ``thinkingBudget``; thought summaries are not returned.

Translation never fails on a field it does not know: it drops it and says so in the notes,
which the adapter logs. The pieces, one job each:

    gemini_request    Anthropic request -> Gemini request (a wrongly typed field is a
                      `TranslationError`), with gemini_schema (tool schemas cut to what Gemini
                      accepts) and gemini_tool_ids (the ids and the signatures inside them)
    gemini_response   a generateContent answer -> Anthropic message, and the reading of answers
    gemini_stream     streamGenerateContent chunks -> Anthropic events
    gemini_errors     Gemini's ``error`` objects and their Anthropic error types
    gemini_mock       answers built from text, as Google writes them: for the mock and tests

An answer that is not Gemini's success shape (an ``error`` object sent with 200, a field of the
wrong type, usage that is not a token count) raises `MalformedAnswer`, and an ``error`` chunk
inside a stream raises `GeminiError`, which the adapter relays as an Anthropic ``error`` event.
Nothing else escapes.
"""

from __future__ import annotations

GEMINI = "gemini"  # the dialect: a client dialect (Gemini CLI, google-genai) and the gemini provider's own
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
GEMINI_API_KEY_HEADER = "x-goog-api-key"


def gemini_path(model: str, stream: bool) -> str:
    """The request path (and query, for streams) of a model."""
    model = model.removeprefix("models/")
    if stream:
        return f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
    return f"/v1beta/models/{model}:generateContent"
