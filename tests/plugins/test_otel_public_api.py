"""The otel plugin is written only against the public plugin API: from `bifrost_py` it imports
nothing but the names the package exports (`bifrost_py.__all__`), in every module, also inside
functions and `if TYPE_CHECKING:` blocks. What else it needs of the gateway is typed as
protocols (bifrost_otel/host.py), after what docs/plugins.md documents."""

from __future__ import annotations

import ast
from pathlib import Path

import bifrost_otel

import bifrost_py

PACKAGE = Path(bifrost_otel.__file__).parent
PUBLIC = frozenset(bifrost_py.__all__)


def private_uses(source: str) -> list[str]:
    """Every use of bifrost_py beyond its exported names, as `line: what`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bifrost_py":
                found += [f"{node.lineno}: bifrost_py.{a.name}" for a in node.names if a.name not in PUBLIC]
            elif node.module.startswith("bifrost_py."):
                found.append(f"{node.lineno}: {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: {a.name}" for a in node.names if a.name.startswith("bifrost_py.")]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "bifrost_py" and node.attr not in PUBLIC):
            found.append(f"{node.lineno}: bifrost_py.{node.attr}")
    return found


def test_every_module_of_the_plugin_imports_only_public_names() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "plugin.py", "spans.py", "attributes.py", "host.py"}
    offenders = {m.name: uses for m in modules if (uses := private_uses(m.read_text()))}
    assert offenders == {}


def test_the_check_sees_each_way_of_reaching_inside() -> None:
    source = """
from typing import TYPE_CHECKING
from bifrost_py import Call, hookimpl
import bifrost_py
if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway
def f():
    from bifrost_py import errors
    import bifrost_py.pricing
    return bifrost_py.context.Call, bifrost_py.Usage
"""
    assert private_uses(source) == ["6: bifrost_py.gateway", "8: bifrost_py.errors", "9: bifrost_py.pricing",
                                    "10: bifrost_py.context"]
