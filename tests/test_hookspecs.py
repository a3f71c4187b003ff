"""The plugin contract is enforced mechanically: every hook is documented and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from bifrost_py import hookspecs

ROOT = Path(__file__).parents[1]
HOOKS = [name for name, value in vars(hookspecs).items() if name.startswith("bifrost_") and inspect.isfunction(value)]


def test_there_are_hooks() -> None:
    assert {"bifrost_route", "bifrost_pre_attempt", "bifrost_post_attempt", "bifrost_should_fall_back"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring(hook: str) -> None:
    assert len(inspect.getdoc(getattr(hookspecs, hook)) or "") > 40


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_in_the_plugin_guide(hook: str) -> None:
    assert f"`{hook}(" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_implemented_by_something_under_test(hook: str) -> None:
    """Each hook has an implementation exercised by the suite: in a built-in plugin, an
    example, or a test plugin."""
    sources = [*ROOT.glob("tests/**/*.py"), *ROOT.glob("plugins/**/*.py"), *ROOT.glob("examples/**/*.py")]
    assert any(f"def {hook}(" in path.read_text() for path in sources if path.name != "test_hookspecs.py")


@pytest.mark.parametrize("hook", [h for h in HOOKS if h in hookspecs.REQUEST_HOOKS])
def test_request_hooks_are_async(hook: str) -> None:
    assert inspect.iscoroutinefunction(getattr(hookspecs, hook))
