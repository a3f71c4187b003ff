"""`bifrost-py serve` with no config file, and `bifrost-py rotate-secret-key`.

With no `-c`, the gateway keeps everything in a data folder (BIFROST_DATA_DIR, else
`$XDG_DATA_HOME/bifrost-py`, i.e. `~/.local/share/bifrost-py`): the SQLite database, the
master key of the stored secrets (`secret.key`) and the admin API token (`admin-token`), both
created on first start with mode 0600. It prints the URL and a one-time set-up link
(`/ui/setup?token=...`, the token in BIFROST_SETUP_TOKEN, where the accounts code reads it);
providers and virtual keys are then added in the web UI.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from .config import Config
from .configschema import ConfigError
from .providerregistry import DATA_DIR_ENV, data_dir
from .providerstore import ProviderStore
from .secrets import (
    ENV_KEY,
    KEY_FILE,
    SecretBox,
    key_from_text,
    master_box,
    new_key_text,
    write_key_file,
)
from .storage import Storage

ADMIN_TOKEN_FILE = "admin-token"
ADMIN_TOKEN_ENV = "BIFROST_ADMIN_TOKEN"
SETUP_ENV = "BIFROST_SETUP_TOKEN"
NEW_KEY_ENV = "BIFROST_NEW_SECRET_KEY"


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser().resolve()
    base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return (base / "bifrost-py").resolve()


def first_start_config(environ: Mapping[str, str] | None = None) -> Config:
    """The config of a gateway started with no file: SQLite and keys in the data folder."""
    env = os.environ if environ is None else environ
    folder = default_data_dir(env)
    config = Config(source=f"no config file (data in {folder})", base_dir=folder)
    config.logs_url = f"sqlite:///{folder / 'bifrost.db'}"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        config.admin_token = env.get(ADMIN_TOKEN_ENV) or _private_token(folder / ADMIN_TOKEN_FILE)
        master_box(folder, dict(env))  # the key file exists from the first start on
    except OSError as exc:
        problem = (f"{folder}: cannot use it as the data folder ({exc.strerror}); "
                   f"set {DATA_DIR_ENV} to a folder this user can write, or start with -c FILE")
        raise ConfigError([problem]) from exc
    return config


def _private_token(path: Path) -> str:
    """The token in `path`, made (random, mode 0600) when the file does not exist."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def setup_link(base: str) -> str:
    """The one-time set-up link; its token is put where the accounts code reads it."""
    token = os.environ.get(SETUP_ENV) or secrets.token_urlsafe(24)
    os.environ[SETUP_ENV] = token
    return f"{base}/ui/setup?token={token}"


def first_start_banner(config: Config) -> str:
    base = f"http://{config.host}:{config.port}"
    folder = config.base_dir
    return "\n".join([
        f"bifrost-py listening on {base}  (no config file: data in {folder})",
        f"set up in the browser (one-time link): {setup_link(base)}",
        f"admin API token (automation): {folder / ADMIN_TOKEN_FILE}",
        "then add a provider and its API key under Providers, and create virtual keys under Access.",
    ])


def rotate_secret_key(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """Re-encrypt every stored provider secret under a new master key; what to tell the user."""
    env = dict(os.environ if environ is None else environ)
    folder = data_dir(config, env)
    old = master_box(folder, env)
    if env.get(ENV_KEY, "").strip():
        new_text = env.get(NEW_KEY_ENV, "").strip()
        if not new_text:
            raise SystemExit(f"{ENV_KEY} is set: put the new key in {NEW_KEY_ENV} (e.g. `openssl rand -base64 32`), "
                             f"run this again, then start the gateway with {ENV_KEY} set to it")
        count = asyncio.run(_reseal(config, old, SecretBox(key_from_text(new_text))))
        return f"re-encrypted the secrets of {count} providers; now set {ENV_KEY} to the value of {NEW_KEY_ENV}"
    new_text = new_key_text()
    pending = folder / (KEY_FILE + ".pending")
    write_key_file(pending, new_text)  # a crash after the re-encryption still leaves the new key here
    count = asyncio.run(_reseal(config, old, SecretBox(key_from_text(new_text))))
    os.replace(pending, folder / KEY_FILE)
    return (f"re-encrypted the secrets of {count} providers under a new key in {folder / KEY_FILE}; "
            "running gateways read it at their next change check")


async def _reseal(config: Config, old: SecretBox, new: SecretBox) -> int:
    storage = Storage(config.base_dir)
    try:
        store = ProviderStore(await storage.sql(config.logs_url), lambda: old)
        await store.create_tables()
        return await store.reseal(new)
    finally:
        await storage.close()
