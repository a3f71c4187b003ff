"""Which client app sent a request, by name: `claude-code`, `codex`, `gemini-cli`, an SDK.

The call keeps the first word of the user agent (`call.client_app`, e.g. `codex_exec/0.171.0`,
`GeminiCLI-tui/0.61.0/gemini-2.5-pro`, `claude-cli/2.1.3`), which changes with every release and
differs between a CLI's modes. Routing rules (`when: {client: codex}`) and reports (`--by
client`) want the app, not the release: `client_name` maps the word to one stable name, and
`client_sql` is the same mapping as SQL, so a report groups rows already written.
"""

from __future__ import annotations

# (prefix of the user agent's first word, lower-cased; the client's name), first match wins.
KNOWN_CLIENTS: tuple[tuple[str, str], ...] = (
    ("claude-cli", "claude-code"),
    ("claude-code", "claude-code"),
    ("codex", "codex"),              # codex_exec, codex_cli_rs, codex_vscode...
    ("geminicli", "gemini-cli"),     # GeminiCLI, GeminiCLI-tui
    ("gemini-cli", "gemini-cli"),
    ("anthropic/", "anthropic-sdk"),  # Anthropic/Python, Anthropic/JS
    ("asyncanthropic/", "anthropic-sdk"),
    ("openai/", "openai-sdk"),       # OpenAI/Python, OpenAI/JS
    ("asyncopenai/", "openai-sdk"),
    ("google-genai-sdk", "google-genai-sdk"),
    ("aider", "aider"),
    ("cursor", "cursor"),
    ("continue", "continue"),
)
_MEMO_SIZE = 1024
_memo: dict[str, str] = {}


def client_name(client_app: str | None) -> str:
    """The app's stable name; an unknown app is its whole first word, lower-cased (as
    `client_sql` groups it); no user agent is ''."""
    if not client_app:
        return ""
    found = _memo.get(client_app)
    if found is None:
        lowered = client_app.lower()
        found = next((name for prefix, name in KNOWN_CLIENTS if lowered.startswith(prefix)), lowered)
        if len(_memo) < _MEMO_SIZE:  # user agents come from clients: keep the memo bounded
            _memo[client_app] = found
    return found


def client_sql(column: str = "client_app") -> str:
    """`client_name` as an SQL expression over `column`, for SQLite and PostgreSQL alike."""
    lowered = f"lower({column})"
    cases = " ".join(f"WHEN {lowered} LIKE '{prefix}%' THEN '{name}'" for prefix, name in KNOWN_CLIENTS)
    return f"CASE {cases} ELSE coalesce({lowered}, '') END"
