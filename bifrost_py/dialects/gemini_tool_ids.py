"""Tool-call ids for Gemini, and the thought signatures that ride inside them.

Gemini gives a function call no id, so the answer side makes ``toolu_gemini_<hex>`` ids, and the
request side finds a ``tool_result``'s function name through the ``tool_use`` with that id.
Gemini 3 rejects a history whose function calls lack the opaque ``thoughtSignature`` it
returned; Anthropic clients echo only what Anthropic defines, so the signature travels inside the
tool_use id (``..._sig_<base64url>``) and is taken out again on the way back
(`gemini_response.py` makes the ids, `gemini_request.py` reads them).
"""

from __future__ import annotations

import re
import secrets

# Google's documented value for a function call that has no signature (made by another model).
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
_ID_PREFIX = "toolu_gemini_"
_SIG_MARK = "_sig_"


def tool_use_id(signature: str | None = None) -> str:
    """A new tool_use id; Gemini 3's thought signature rides inside it (url-safe base64)."""
    tool_id = _ID_PREFIX + secrets.token_hex(12)
    if signature:
        url_safe = signature.replace("+", "-").replace("/", "_").rstrip("=")
        tool_id += _SIG_MARK + url_safe
    return tool_id


def signature_from_id(tool_id: str) -> str | None:
    """The thought signature a tool_use id of ours carries (standard base64), or None."""
    if not tool_id.startswith(_ID_PREFIX):
        return None
    _, mark, url_safe = tool_id.partition(_SIG_MARK)
    if not mark or not url_safe:
        return None
    standard = url_safe.replace("-", "+").replace("_", "/")
    return standard + "=" * (-len(standard) % 4)


def needs_signature(model: str | None) -> bool:
    """Gemini 3 and later validate thought signatures; 1.x/2.x do not, so leave them alone."""
    match = re.search(r"gemini-(\d+)", model or "")
    return match is None or int(match.group(1)) >= 3
