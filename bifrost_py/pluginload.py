"""Finding plugins and checking them before they are registered.

Plugins come from three places, in this load order: the ``bifrost_py`` entry-point group (by
name), the ``plugins:`` entries of the config (import paths, or files and folders relative to the
config file), and objects passed in code. Every problem is one line naming the plugin and the
hook (``bifrost-py check``, ``serve`` and ``plugins`` print them as they are).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import types
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "bifrost_py"
LOCAL_PACKAGE = "bifrost_py_local"  # parent of the modules loaded from files and folders
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("bifrost_") and inspect.isfunction(fn)}


@dataclass(slots=True)
class Found:
    """A plugin before it is registered: a module, class or object, and where it came from."""

    name: str
    source: str
    obj: object


def from_entry_points(problems: list[str], skip: set[str]) -> list[Found]:
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if ep.name in skip:
            continue
        try:
            found.append(Found(ep.name, _entry_point_source(ep), ep.load()))
        except ImportError as exc:
            problems.append(f"plugins: cannot load plugin {ep.name!r} ({ep.value}): {exc}")
    return found


def declared_sections(name: str) -> tuple[str, ...]:
    """The config sections the entry-point plugin `name` declares (`CONFIG_SECTIONS`, default its
    name), without registering it: how a disabled plugin's sections are recognised."""
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            return sections_of(ep.load(), name)
        except ImportError:
            break
    return (name,)


def sections_of(obj: object, name: str) -> tuple[str, ...]:
    return tuple(getattr(obj, "CONFIG_SECTIONS", None) or (name,))


def _entry_point_source(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"entry point {ep.value} ({dist.name} {dist.version})" if dist else f"entry point {ep.value}"


def is_file_entry(entry: str) -> bool:
    """`./plugins/guard.py`, `plugins/guard/`, `/opt/x.py`: a file or folder, not an import path."""
    return "/" in entry or "\\" in entry or entry.endswith(".py") or entry.startswith(".")


def from_config_entry(entry: str, base_dir: Path, problems: list[str]) -> Found | None:
    if is_file_entry(entry):
        module = _import_file(entry, base_dir, problems)
        source = f"config: {entry} (file {base_dir / entry})" if module is not None else ""
    else:
        try:
            module = importlib.import_module(entry)
        except ImportError as exc:
            problems.append(f"plugins: cannot import {entry!r}: {exc}")
            return None
        source = f"config: {entry}"
    if module is None:
        return None
    default = Path(entry.rstrip("/\\")).stem if is_file_entry(entry) else entry.rsplit(".", 1)[-1]
    return Found(str(getattr(module, "PLUGIN_NAME", default)), source, module)


def local_module_name(path: Path) -> str:
    """A stable module name for a plugin file or folder: its name and a digest of its full path,
    under `bifrost_py_local`, so two `guard.py` in different folders never collide."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"{LOCAL_PACKAGE}.{stem}_{digest}"


def _import_file(entry: str, base_dir: Path, problems: list[str]) -> types.ModuleType | None:
    path = (base_dir / entry).resolve()
    init = path / "__init__.py" if path.is_dir() else path
    if not init.is_file():
        problems.append(f"plugins: {entry!r}: no such file ({init})")
        return None
    name = local_module_name(path)
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    if LOCAL_PACKAGE not in sys.modules:
        parent = types.ModuleType(LOCAL_PACKAGE, "Plugins loaded from files named in configs.")
        parent.__path__ = []
        sys.modules[LOCAL_PACKAGE] = parent
    search = [str(path)] if path.is_dir() else None
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        problems.append(f"plugins: {entry!r}: cannot be imported as a Python module")
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever a plugin file raises is one line of the report
        del sys.modules[name]
        problems.append(f"plugins: {entry!r}: importing it failed: {type(exc).__name__}: {exc}")
        return None
    return module


def check_plugin(pm: pluggy.PluginManager, plugin: object, name: str) -> list[str]:
    """What pluggy would refuse, and what it would let through but the gateway cannot call, as
    one line each: an unknown hook, an argument the hook does not have, async/sync mismatch."""
    problems = []
    for attr in dir(plugin):
        if attr.startswith("__") or pm.parse_hookimpl_opts(plugin, attr) is None:
            continue
        where = f"plugin {name!r}: {attr}"
        spec = HOOKS.get(attr)
        if spec is None:
            close = difflib.get_close_matches(attr, HOOKS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{where}: no such hook{hint}; hooks are listed in docs/plugins.md")
            continue
        problems.extend(f"{where}: {p}" for p in _check_impl(getattr(plugin, attr), spec, pm.parse_hookimpl_opts(plugin, attr) or {}))
    return problems


def _check_impl(fn: object, spec: object, opts: pluggy.HookimplOpts | dict[str, object]) -> list[str]:
    if opts.get("hookwrapper") or opts.get("wrapper"):
        return ["hook wrappers are not supported; use tryfirst/trylast to choose the order"]
    if not callable(fn):
        return ["is marked @hookimpl but is not a function"]
    problems = []
    spec_args = list(inspect.signature(spec).parameters)  # type: ignore[arg-type]
    for arg in inspect.signature(fn).parameters.values():
        if arg.kind in (arg.VAR_POSITIONAL, arg.VAR_KEYWORD):
            continue
        if arg.name not in spec_args:
            problems.append(f"argument {arg.name!r} is not one of the hook's ({', '.join(spec_args)})")
    if inspect.iscoroutinefunction(spec) and not inspect.iscoroutinefunction(fn):
        problems.append("must be `async def` (the gateway awaits it)")
    elif not inspect.iscoroutinefunction(spec) and inspect.iscoroutinefunction(fn):
        problems.append("must be a plain `def`, not `async def` (the gateway calls it without awaiting)")
    return problems


def unmarked_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Methods named like a hook but not marked @hookimpl: pluggy ignores them, and so does the
    gateway; worth a warning, since that is almost always a forgotten decorator."""
    return [attr for attr in dir(plugin)
            if attr in HOOKS and pm.parse_hookimpl_opts(plugin, attr) is None and callable(getattr(plugin, attr))]
