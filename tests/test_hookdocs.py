"""docs/plugins.md's hook reference is generated from hookspecs.py, and the three places that
name hooks agree: the specs, the page, and what the gateway calls."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from bifrost_py import hookdocs, hookspecs
from bifrost_py.dispatcher import Dispatcher
from bifrost_py.pluginmanager import PluginManager

PAGE = Path(__file__).parents[1] / "docs" / "plugins.md"


def test_the_page_is_what_the_generator_writes() -> None:
    page = PAGE.read_text()
    assert hookdocs.replace_region(page, hookdocs.render()) == page, \
        "docs/plugins.md is stale: run `make docs` (python -m bifrost_py.hookdocs --write docs/plugins.md)"


def test_check_fails_on_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "plugins.md"
    stale.write_text(PAGE.read_text().replace("Awaited in order.", "Awaited in configured order."))
    assert hookdocs.main(["--check", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert hookdocs.main(["--write", str(stale)]) == 0
    assert hookdocs.main(["--check", str(stale)]) == 0 and stale.read_text() == PAGE.read_text()


@pytest.mark.parametrize("hook", hookdocs.hooks())
def test_every_spec_is_documented_with_its_docstring(hook: str) -> None:
    region = PAGE.read_text().split(hookdocs.START)[1].split(hookdocs.END)[0]
    spec = getattr(hookspecs, hook)
    assert f"### `{hook}(" in region
    assert inspect.getdoc(spec).splitlines()[0] in region  # type: ignore[union-attr]


def _coroutines(cls: type) -> set[str]:
    return {name for name, fn in vars(cls).items() if not name.startswith("_") and inspect.iscoroutinefunction(fn)}


def test_every_per_request_spec_is_dispatched_and_nothing_else() -> None:
    dispatched = {f"bifrost_{name}" for name in _coroutines(Dispatcher)}
    assert dispatched == set(hookspecs.REQUEST_HOOKS)
    assert set(hookspecs.REQUEST_HOOKS) <= set(hookdocs.hooks())


def test_every_start_up_spec_has_a_typed_caller() -> None:
    start_up = set(hookdocs.hooks()) - set(hookspecs.REQUEST_HOOKS)
    callers = {f"bifrost_{name}" for name, fn in vars(PluginManager).items() if callable(fn)}
    assert start_up <= callers, start_up - callers
    for hook in start_up:
        caller = getattr(PluginManager, hook.removeprefix("bifrost_"))
        assert inspect.iscoroutinefunction(caller) == inspect.iscoroutinefunction(getattr(hookspecs, hook))
