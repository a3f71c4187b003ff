"""Request translation, Anthropic Messages ⇄ OpenAI Chat Completions."""

from __future__ import annotations

import base64
import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.anthropic_openai import (
    TranslationError,
    anthropic_request_to_openai,
    openai_request_to_anthropic,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def a2o(body: dict, **kwargs: Any) -> tuple[dict, list[str]]:
    return anthropic_request_to_openai(body, **kwargs)


def o2a(body: dict, **kwargs: Any) -> tuple[dict, list[str]]:
    return openai_request_to_anthropic(body, **kwargs)


def anthropic_body(messages: list[dict], **fields: Any) -> dict:
    return {"model": "claude-sonnet-4-20250514", "max_tokens": 1024, "messages": messages} | fields


def openai_body(messages: list[dict], **fields: Any) -> dict:
    return {"model": "gpt-4o", "messages": messages} | fields


# ---------------------------------------------------------------- a Claude Code-shaped request

_CLAUDE_CODE_TOOLS = {
    "Task": {"description": "str", "prompt": "str", "subagent_type": "str"},
    "Bash": {"command": "str", "timeout": "num", "description": "str", "run_in_background": "bool"},
    "Glob": {"pattern": "str", "path": "str"},
    "Grep": {"pattern": "str", "path": "str", "glob": "str", "output_mode": "str", "-n": "bool"},
    "ExitPlanMode": {"plan": "str"},
    "Read": {"file_path": "str", "offset": "num", "limit": "num"},
    "Edit": {"file_path": "str", "old_string": "str", "new_string": "str", "replace_all": "bool"},
    "Write": {"file_path": "str", "content": "str"},
    "NotebookEdit": {"notebook_path": "str", "cell_id": "str", "new_source": "str"},
    "WebFetch": {"url": "str", "prompt": "str"},
    "TodoWrite": {"todos": "list"},
    "WebSearch": {"query": "str", "allowed_domains": "list", "blocked_domains": "list"},
    "BashOutput": {"bash_id": "str", "filter": "str"},
    "KillShell": {"shell_id": "str"},
    "SlashCommand": {"command": "str"},
    "Skill": {"command": "str"},
    "AskUserQuestion": {"questions": "list"},
    "EnterPlanMode": {},
    "ListMcpResourcesTool": {"server": "str"},
    "ReadMcpResourceTool": {"server": "str", "uri": "str"},
    "mcp__ide__getDiagnostics": {"uri": "str"},
    "mcp__ide__executeCode": {"code": "str"},
    "mcp__github__create_issue": {"owner": "str", "repo": "str", "title": "str", "body": "str"},
    "mcp__github__list_pull_requests": {"owner": "str", "repo": "str", "state": "str"},
}
_JSON_TYPES = {
    "str": {"type": "string"},
    "num": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
}


def _claude_code_tool(name: str, fields: dict[str, str]) -> dict:
    properties = {key: _JSON_TYPES[kind] | {"description": key} for key, kind in fields.items()}
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(fields)[:1],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }
    return {"name": name, "description": f"{name} tool.\n\nUsage notes...", "input_schema": schema}


def claude_code_request() -> dict:
    """Shaped after what Claude Code 2.x sends: cache_control everywhere, adaptive thinking,
    context_management, a mid-conversation system message, thinking blocks with signatures."""
    tools = [_claude_code_tool(name, fields) for name, fields in _CLAUDE_CODE_TOOLS.items()]
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    ephemeral = {"type": "ephemeral"}
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": True,
        "temperature": 1,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {
                "type": "text",
                "text": "You are an interactive CLI tool...",
                "cache_control": ephemeral,
            },
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nThis is a reminder\n</system-reminder>",
                    },
                    {"type": "text", "text": "fix the failing test", "cache_control": ephemeral},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "Look at tests first.",
                        "signature": "EqQBCkYIBxgCKkA",
                    },
                    {"type": "text", "text": "I'll look at the tests."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "Glob",
                        "input": {"pattern": "tests/**/*.py"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_01B",
                        "name": "Bash",
                        "input": {"command": "pytest -q", "timeout": 120000},
                    },
                ],
            },
            {"role": "system", "content": "The user switched to plan mode."},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": "tests/test_x.py",
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01B",
                        "is_error": True,
                        "content": [{"type": "text", "text": "1 failed"}],
                        "cache_control": ephemeral,
                    },
                    {
                        "type": "text",
                        "text": "<system-reminder>todo list is empty</system-reminder>",
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
                    {"type": "text", "text": "Found it."},
                ],
            },
            {"role": "system", "content": [{"type": "text", "text": "Remember the todo list."}]},
            {"role": "user", "content": "go on"},
        ],
        "tools": tools,
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {
            "user_id": "user_" + "a" * 64 + "_account__session_0b0e2b4c-5d1f-4b36-8f3c-0d2a1b9e8c7d"
        },
    }


def assert_openai_tool_pairing(messages: list[dict]) -> None:
    """What OpenAI enforces: every tool_calls message is followed at once by one `tool` message
    per call, and every `tool` message answers a call of the assistant message before it."""
    pending: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending
            pending.remove(message["tool_call_id"])
            continue
        assert not pending, f"{message['role']} message between tool_calls and their results"
        pending = {call["id"] for call in message.get("tool_calls") or ()}
    assert not pending


def test_claude_code_request_translates() -> None:
    body = claude_code_request()
    out, notes = a2o(body, model="gpt-4.1")
    assert out["model"] == "gpt-4.1"
    assert len(out["tools"]) == 24
    assert all(tool["type"] == "function" for tool in out["tools"])
    assert out["tools"][1]["function"]["parameters"] == body["tools"][1]["input_schema"]
    assert out["stream_options"] == {"include_usage": True}
    assert out["max_tokens"] == 32000 and out["tool_choice"] == "auto"
    assert out["user"] == body["metadata"]["user_id"][:64]
    roles = [message["role"] for message in out["messages"]]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "system",
        "user",
        "assistant",
        "system",
        "user",
    ]
    assert out["messages"][0]["content"].startswith("You are Claude Code")
    assert out["messages"][3]["content"] == "tests/test_x.py"
    assert out["messages"][4]["content"] == "Error: 1 failed"
    assert out["messages"][5]["content"] == "The user switched to plan mode."
    assert out["messages"][8]["content"] == "Remember the todo list."
    assert_openai_tool_pairing(out["messages"])
    assert orjson.loads(out["messages"][2]["tool_calls"][1]["function"]["arguments"]) == {
        "command": "pytest -q",
        "timeout": 120000,
    }
    for expected in ("dropped cache_control", "dropped thinking", "dropped thinking blocks"):
        assert expected in notes
    assert "dropped context_management" in notes and "dropped output_config" in notes
    assert len(notes) == len(set(notes))
    orjson.dumps(out)  # plain JSON all the way down


def test_claude_code_request_survives_the_way_back() -> None:
    out, _ = a2o(claude_code_request(), model="gpt-4.1")
    back, notes = o2a(out, model="claude-sonnet-4-5-20250929")
    assert len(back["tools"]) == 24
    assert [turn["role"] for turn in back["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert back["messages"][2]["content"][0]["type"] == "tool_result"
    assert any("folded" in note for note in notes)


def test_claude_code_request_is_not_modified() -> None:
    body = claude_code_request()
    before = copy.deepcopy(body)
    a2o(body)
    assert body == before


# ---------------------------------------------------------------- Anthropic -> OpenAI


def test_system_blocks_are_joined_and_cache_control_noted() -> None:
    system = [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": {}}]
    out, notes = a2o(anthropic_body([{"role": "user", "content": "hi"}], system=system))
    assert out["messages"][0] == {"role": "system", "content": "a\n\nb"}
    assert notes == ["dropped cache_control"]


def test_images_become_image_url_parts() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
        {"type": "text", "text": "what is this?"},
    ]
    out, _ = a2o(anthropic_body([{"role": "user", "content": content}]))
    assert out["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
        {"type": "text", "text": "what is this?"},
    ]


def test_tool_result_images_follow_the_tool_messages() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    messages = [
        {"role": "user", "content": "screenshot please"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [image]}],
        },
    ]
    out, notes = a2o(anthropic_body(messages))
    tool, user = out["messages"][2:]
    assert tool["role"] == "tool" and tool["content"]
    assert user["role"] == "user" and user["content"][0]["type"] == "image_url"
    assert "moved tool_result images into a user message" in notes


def test_assistant_tool_use_becomes_tool_calls() -> None:
    content = [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}}]
    out, _ = a2o(
        anthropic_body(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": content}]
        )
    )
    assistant = out["messages"][1]
    assert assistant["content"] is None
    assert assistant["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "Read", "arguments": '{"file_path":"/a"}'},
        }
    ]


def test_a_system_message_between_tool_calls_and_results_moves_after_the_results() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
        },
        {"role": "system", "content": "note"},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                {"type": "text", "text": "and?"},
            ],
        },
    ]
    out, _ = a2o(anthropic_body(messages))
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "tool", "system", "user"]
    assert_openai_tool_pairing(out["messages"])


def test_server_tools_are_dropped_with_a_note() -> None:
    tools = [
        {"name": "get_weather", "description": "w", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    ]
    out, notes = a2o(anthropic_body([{"role": "user", "content": "x"}], tools=tools))
    assert [tool["function"]["name"] for tool in out["tools"]] == ["get_weather"]
    assert "dropped server tool 'web_search' (web_search_20250305)" in notes


def test_only_server_tools_leaves_no_tools_and_no_tool_choice() -> None:
    tools = [{"type": "web_search_20250305", "name": "web_search"}]
    body = anthropic_body(
        [{"role": "user", "content": "x"}], tools=tools, tool_choice={"type": "any"}
    )
    out, notes = a2o(body)
    assert "tools" not in out and "tool_choice" not in out
    assert "dropped tool_choice (no function tools left)" in notes


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "f"}, {"type": "function", "function": {"name": "f"}}),
    ],
)
def test_tool_choice(choice: dict, expected: object) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    out, _ = a2o(
        anthropic_body([{"role": "user", "content": "x"}], tools=tools, tool_choice=choice)
    )
    assert out["tool_choice"] == expected


def test_disable_parallel_tool_use() -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    out, _ = a2o(
        anthropic_body([{"role": "user", "content": "x"}], tools=tools, tool_choice=choice)
    )
    assert out["parallel_tool_calls"] is False


def test_sampling_and_stop_sequences() -> None:
    body = anthropic_body(
        [{"role": "user", "content": "x"}],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop_sequences=["a", "b", "c", "d", "e"],
    )
    out, notes = a2o(body)
    assert (out["temperature"], out["top_p"], out["max_tokens"]) == (0.2, 0.9, 1024)
    assert out["stop"] == ["a", "b", "c", "d"]
    assert "dropped top_k" in notes and "kept the first 4 stop_sequences of 5" in notes
    assert "stream" not in out and "stream_options" not in out


def test_o_series_models_get_reasoning_parameters() -> None:
    body = anthropic_body(
        [{"role": "user", "content": "x"}],
        temperature=0.5,
        thinking={"type": "enabled", "budget_tokens": 30000},
    )
    out, notes = a2o(body, model="o3-mini")
    assert out["max_completion_tokens"] == 1024 and "max_tokens" not in out
    assert out["reasoning_effort"] == "high" and "temperature" not in out
    assert "dropped temperature (not supported by o3-mini)" in notes


def test_unknown_roles_fields_and_blocks_become_notes() -> None:
    messages = [
        {"role": "critic", "content": [{"type": "hologram"}, {"type": "text", "text": "hi"}]}
    ]
    out, notes = a2o(anthropic_body(messages, container="abc", service_tier="auto"))
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert notes == [
        "treated message role 'critic' as user",
        "dropped hologram block",
        "dropped container",
        "dropped service_tier",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body: must be an object"),
        ({"messages": []}, "model is required"),
        ({"model": "m", "messages": "hi"}, "messages: must be a list"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        (
            {
                "model": "m",
                "messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}],
            },
            "needs an id",
        ),
    ],
)
def test_untranslatable_anthropic_requests(body: Any, message: str) -> None:
    with pytest.raises(TranslationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        a2o(body)


# ---------------------------------------------------------------- OpenAI -> Anthropic


def test_system_and_developer_messages() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "text", "text": "use tools"}]},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "now be verbose"},
        {"role": "user", "content": "again"},
    ]
    out, notes = o2a(openai_body(messages))
    assert out["system"] == "be brief\n\nuse tools"
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "System: now be verbose"},
            {"type": "text", "text": "again"},
        ],
    }
    assert notes == ["folded a mid-conversation system message into the user turn"]


def test_tool_calls_and_tool_messages() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"city":"Paris"}'},
                },
                {"id": "call.2", "type": "function", "function": {"name": "w", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call.2", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "thanks"},
    ]
    out, _ = o2a(openai_body(messages))
    assert out["max_tokens"] == 4096
    assert [turn["role"] for turn in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "w", "input": {}},
    ]
    assert out["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "rain"},
        {"type": "text", "text": "thanks"},
    ]


def test_images() -> None:
    content = [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/b.png", "detail": "high"}},
    ]
    out, notes = o2a(openai_body([{"role": "user", "content": content}]))
    assert out["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/b.png"}},
    ]
    assert notes == ["dropped image detail"]


def test_consecutive_same_role_messages_are_merged() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d  "},
    ]
    out, _ = o2a(openai_body(messages))
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}],
        },
    ]


def test_openai_parameters() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
        }
    ]
    body = openai_body(
        [{"role": "user", "content": "x"}],
        max_tokens=10,
        max_completion_tokens=20,
        temperature=1.5,
        top_p=0.5,
        stop="END",
        stream=True,
        stream_options={"include_usage": True},
        tools=tools,
        tool_choice="required",
        parallel_tool_calls=False,
        user="u-1",
        response_format={"type": "json_object"},
        seed=7,
    )
    out, notes = o2a(body, model="claude-haiku-4-5")
    assert out["model"] == "claude-haiku-4-5" and out["max_tokens"] == 20
    assert (out["temperature"], out["top_p"], out["stop_sequences"]) == (1, 0.5, ["END"])
    assert out["stream"] is True and out["metadata"] == {"user_id": "u-1"}
    assert out["tools"] == [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert notes == [
        "lowered temperature 1.5 to 1 (Anthropic's maximum)",
        "dropped response_format (json_object)",
        "dropped seed",
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_openai_tool_choice(choice: object, expected: dict) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    out, _ = o2a(openai_body([{"role": "user", "content": "x"}], tools=tools, tool_choice=choice))
    assert out["tool_choice"] == expected
    assert out["tools"][0]["input_schema"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (openai_body([{"role": "user", "content": "x"}], n=2), "n > 1"),
        (
            openai_body(
                [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ]
            ),
            "not valid JSON",
        ),
        (
            openai_body(
                [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            ),
            "must be a JSON object",
        ),
        (openai_body([{"role": "tool", "content": "x"}]), "needs a non-empty id"),
        (openai_body([{"role": "function", "name": "f", "content": "x"}]), "legacy role"),
        (openai_body([{"role": "wizard", "content": "x"}]), "unknown role"),
        (
            openai_body(
                [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                    }
                ]
            ),
            "data URL",
        ),
    ],
)
def test_untranslatable_openai_requests(body: dict, message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        o2a(body)


# ---------------------------------------------------------------- round trip, generated

_texts = st.text(min_size=1, max_size=20)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
_tool_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,20}", fullmatch=True)


@st.composite
def images(draw: st.DrawFn) -> dict:
    if draw(st.booleans()):
        return {
            "type": "image",
            "source": {"type": "url", "url": f"https://img.test/{draw(st.integers(0, 99))}.png"},
        }
    data = base64.b64encode(draw(st.binary(min_size=1, max_size=12))).decode()
    media_type = draw(st.sampled_from(["image/png", "image/jpeg", "image/webp"]))
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


text_blocks = st.builds(lambda text: {"type": "text", "text": text}, _texts)
user_blocks = text_blocks | images()


@st.composite
def tool_results(draw: st.DrawFn, tool_use_id: str) -> dict:
    block: dict = {"type": "tool_result", "tool_use_id": tool_use_id}
    content = draw(st.none() | _texts | st.lists(text_blocks | images(), min_size=1, max_size=3))
    if content is not None:
        block["content"] = content
    if draw(st.booleans()):
        block["is_error"] = True
    return block


@st.composite
def conversations(draw: st.DrawFn) -> dict:
    """Anthropic requests as clients send them: alternating turns, tool calls answered in the next
    user turn (results first), thinking in the history, system messages between turns."""
    ids = iter(range(1000))
    messages: list[dict] = []
    pending: list[str] = []
    for turn in range(draw(st.integers(1, 4))):
        if turn and not pending and draw(st.booleans()):
            messages.append(
                {
                    "role": "system",
                    "content": draw(_texts | st.lists(text_blocks, min_size=1, max_size=2)),
                }
            )
        content = [draw(tool_results(tool_id)) for tool_id in pending]
        content += draw(st.lists(user_blocks, min_size=0 if pending else 1, max_size=3))
        if len(content) == 1 and content[0]["type"] == "text" and draw(st.booleans()):
            content = content[0]["text"]
        messages.append({"role": "user", "content": content})
        if turn == 3 or not draw(st.booleans()) and turn:
            break
        assistant: list[dict] = []
        if draw(st.booleans()):
            assistant.append({"type": "thinking", "thinking": draw(_texts), "signature": "sig"})
        calls = draw(st.integers(0, 3))
        if not calls or draw(st.booleans()):
            assistant.append({"type": "text", "text": draw(_texts)})
        pending = [f"toolu_{next(ids)}" for _ in range(calls)]
        assistant += [
            {
                "type": "tool_use",
                "id": tool_id,
                "name": draw(_tool_names),
                "input": draw(json_objects),
            }
            for tool_id in pending
        ]
        messages.append({"role": "assistant", "content": assistant})
    if messages[-1]["role"] == "assistant":
        results = [draw(tool_results(tool_id)) for tool_id in pending]
        messages.append({"role": "user", "content": results or "go on"})
    body: dict = {
        "model": "claude-x",
        "max_tokens": draw(st.integers(1, 64000)),
        "messages": messages,
    }
    if draw(st.booleans()):
        body["system"] = draw(_texts | st.lists(text_blocks, min_size=1, max_size=3))
    tools = draw(
        st.lists(
            st.builds(
                lambda name, schema: {"name": name, "description": "d", "input_schema": schema},
                _tool_names,
                st.just({"type": "object", "properties": {"a": {"type": "string"}}}),
            ),
            max_size=3,
            unique_by=lambda t: t["name"],
        )
    )
    if tools:
        body["tools"] = tools
        body["tool_choice"] = draw(
            st.sampled_from(
                [
                    {"type": "auto"},
                    {"type": "any"},
                    {"type": "none"},
                    {"type": "tool", "name": tools[0]["name"]},
                ]
            )
        )
    if draw(st.booleans()):
        body["stop_sequences"] = draw(st.lists(_texts, min_size=1, max_size=4))
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        body["stream"] = True
    return body


def _meaning(body: dict) -> dict:
    """What a request means, in a form both directions must agree on: the system text, turns of
    alternating roles (mid-conversation system text folded into the user turn, as Anthropic needs),
    tool results first, their images after them, thinking gone."""
    system = body.get("system") or ""
    if isinstance(system, list):
        system = "\n\n".join(block["text"] for block in system)
    turns: list[tuple[str, list]] = []
    for message in body["messages"]:
        role, blocks = _message_meaning(message)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        elif blocks:
            turns.append((role, blocks))
    for role, blocks in turns:
        if role == "user":
            blocks.sort(key=lambda block: block[0] != "tool_result")
    fields = ("max_tokens", "stop_sequences", "temperature", "tools", "tool_choice")
    return (
        {"system": system, "turns": turns}
        | {key: body.get(key) for key in fields}
        | {"stream": bool(body.get("stream"))}
    )


def _message_meaning(message: dict) -> tuple[str, list]:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if message["role"] == "system":
        return "user", [("text", "System: " + "\n\n".join(block["text"] for block in blocks))]
    out: list = []
    for block in blocks:
        out.extend(_block_meaning(block))
    return message["role"], out


def _block_meaning(block: dict) -> list:
    kind = block["type"]
    if kind == "text":
        return [("text", block["text"])]
    if kind == "image":
        return [("image", tuple(sorted(block["source"].items())))]
    if kind == "tool_use":
        return [("tool_use", block["id"], block["name"], block["input"])]
    if kind == "tool_result":
        return _tool_result_meaning(block)
    return []  # thinking


def _tool_result_meaning(block: dict) -> list:
    content = block.get("content") or []
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    text = "\n".join(part["text"] for part in parts if part["type"] == "text")
    images = [
        meaning for part in parts if part["type"] == "image" for meaning in _block_meaning(part)
    ]
    if images and not text:
        text = "(the result is the image that follows)"
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return [("tool_result", block["tool_use_id"], text), *images]


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_anthropic_round_trip_keeps_meaning(body: dict) -> None:
    openai, _ = a2o(body, model="gpt-4o")
    assert_openai_tool_pairing(openai["messages"])
    back, _ = o2a(orjson.loads(orjson.dumps(openai)), model="claude-x")
    assert _meaning(back) == _meaning(body)


@settings(max_examples=100, deadline=None)
@given(conversations())
def test_openai_round_trip_is_stable(body: dict) -> None:
    """Once translated, translating there and back again changes nothing more (a fixed point)."""
    openai, _ = a2o(body, model="gpt-4o")
    anthropic, _ = o2a(openai)
    again, _ = a2o(anthropic)
    assert _meaning(o2a(again)[0]) == _meaning(anthropic)
