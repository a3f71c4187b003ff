"""`bifrost-py new-plugin NAME`: a plugin package that works and passes its own test at once.

    NAME/
      pyproject.toml              the `bifrost_py` entry point, so installing it loads it
      README.md
      conftest.py                 puts src/ on the import path: the test runs before installing
      src/bifrost_NAME/__init__.py  PLUGIN_NAME, one hook, the `bifrost_plugin` factory
      tests/test_NAME.py          a gateway and a mock provider on loopback (bifrost_py.testing)

The files are in templates.py, with `{name}` and `{package}` filled in.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..configschema import ConfigError
from .templates import FILES

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def scaffold(name: str, where: Path) -> Path:
    """Write the package for plugin `name` into `where/name`; the folder it created."""
    if not NAME.match(name):
        raise ConfigError([f"new-plugin: {name!r}: use lower case letters, digits and _ (a Python name)"])
    folder = where / name
    if folder.exists():
        raise ConfigError([f"new-plugin: {folder} already exists"])
    package = f"bifrost_{name}"
    for target, text in FILES.items():
        path = folder / target.format(name=name, package=package)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name).replace("{package}", package))
    return folder
