"""Users, browser sessions and API tokens in the gateway's database (`storage.logs`, opened
through `gateway.storage`, so SQLite and PostgreSQL alike). Tables are prefixed `accounts_`.

Nothing secret is stored as given: passwords as Argon2 hashes, session ids and API tokens as
SHA-256 hashes (they are long random strings: a fast hash is enough, and lets a request be
checked with one indexed lookup). Only the caller ever holds the raw values.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..storage import Database, Row

TOKEN_PREFIX = "bfp_"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS accounts_users (
        username TEXT PRIMARY KEY, password_hash TEXT, role TEXT NOT NULL, teams TEXT NOT NULL,
        source TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS accounts_sessions (
        id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL, via TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS accounts_tokens (
        id TEXT PRIMARY KEY, username TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, last_used DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS accounts_tokens_user ON accounts_tokens (username)",
    "CREATE INDEX IF NOT EXISTS accounts_sessions_user ON accounts_sessions (username)",
)
USED_EVERY = 60.0  # a token's last_used is written at most this often: a read must not write each time


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    teams: tuple[str, ...]
    source: str                 # "local" (a password) or "sso"
    password_hash: str | None
    created_at: float
    updated_at: float

    def describe(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "teams": list(self.teams), "source": self.source,
                "created_at": self.created_at, "updated_at": self.updated_at}


@dataclass(frozen=True, slots=True)
class SessionRow:
    username: str
    csrf: str
    via: str
    expires_at: float


def _user(row: Row) -> User:
    return User(row["username"], row["role"], tuple(json.loads(row["teams"])), row["source"],
                row["password_hash"], float(row["created_at"]), float(row["updated_at"]))


async def create_tables(db: Database, statements: tuple[str, ...]) -> None:
    """Run `CREATE ... IF NOT EXISTS` statements in one transaction (every instance does, at once)."""

    async def create(tx: Any) -> None:
        for statement in statements:
            await tx.execute(statement)

    await db.write(create)


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_schema(self) -> None:
        await create_tables(self.db, SCHEMA)

    # ------------------------------------------------------------------ users

    async def count_users(self) -> int:
        return int(await self.db.fetchval("SELECT COUNT(*) FROM accounts_users") or 0)

    async def user(self, username: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM accounts_users WHERE username = ?", username)
        return None if row is None else _user(row)

    async def users(self) -> list[User]:
        return [_user(r) for r in await self.db.fetch("SELECT * FROM accounts_users ORDER BY username")]

    async def add_user(self, username: str, role: str, teams: tuple[str, ...], password_hash: str | None,
                       source: str = "local", *, only_if_none: bool = False) -> bool:
        """Insert a user; False when the name is taken (or, `only_if_none`, when any user exists:
        the set-up link creates the first account only, even if two browsers race)."""
        now = time.time()

        async def insert(tx: Any) -> bool:
            if only_if_none and await tx.fetchone("SELECT 1 FROM accounts_users LIMIT 1") is not None:
                return False
            if await tx.fetchone("SELECT 1 FROM accounts_users WHERE username = ?", username) is not None:
                return False
            await tx.execute("INSERT INTO accounts_users VALUES (?, ?, ?, ?, ?, ?, ?)",
                             username, password_hash, role, json.dumps(list(teams)), source, now, now)
            return True

        return bool(await self.db.write(insert))

    async def update_user(self, username: str, *, role: str | None = None, teams: tuple[str, ...] | None = None,
                          password_hash: str | None = None) -> None:
        user = await self.user(username)
        if user is None:
            return
        await self.db.execute(
            "UPDATE accounts_users SET role = ?, teams = ?, password_hash = ?, updated_at = ? WHERE username = ?",
            role or user.role, json.dumps(list(user.teams if teams is None else teams)),
            password_hash or user.password_hash, time.time(), username)

    async def delete_user(self, username: str) -> bool:
        async def delete(tx: Any) -> bool:
            await tx.execute("DELETE FROM accounts_sessions WHERE username = ?", username)
            await tx.execute("DELETE FROM accounts_tokens WHERE username = ?", username)
            return await tx.execute("DELETE FROM accounts_users WHERE username = ?", username) > 0

        return bool(await self.db.write(delete))

    async def end_sessions(self, username: str, *, keep: str = "") -> None:
        """Sign `username` out everywhere (a new password, a new role), except session `keep`."""
        await self.db.execute("DELETE FROM accounts_sessions WHERE username = ? AND id_hash <> ?", username, keep)

    # ------------------------------------------------------------------ sessions

    async def new_session(self, username: str, via: str, ttl: float) -> tuple[str, str]:
        """A new session of `username`: (the cookie's session id, its CSRF token)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = time.time()
        await self.db.execute("DELETE FROM accounts_sessions WHERE expires_at < ?", now)
        await self.db.execute("INSERT INTO accounts_sessions VALUES (?, ?, ?, ?, ?, ?)",
                              digest(session_id), username, csrf, via, now, now + ttl)
        return session_id, csrf

    async def session(self, session_id: str) -> tuple[SessionRow, User] | None:
        row = await self.db.fetchone(
            "SELECT s.username AS s_user, s.csrf, s.via, s.expires_at, u.* FROM accounts_sessions s "
            "JOIN accounts_users u ON u.username = s.username WHERE s.id_hash = ?", digest(session_id))
        if row is None or float(row["expires_at"]) < time.time():
            return None
        return SessionRow(row["s_user"], row["csrf"], row["via"], float(row["expires_at"])), _user(row)

    async def end_session(self, session_id: str) -> None:
        await self.db.execute("DELETE FROM accounts_sessions WHERE id_hash = ?", digest(session_id))

    # ------------------------------------------------------------------ API tokens

    async def new_token(self, username: str, name: str) -> tuple[str, dict[str, Any]] | None:
        """A new API token: (its value, shown once; its description), or None if `name` is taken."""
        value = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id, now = secrets.token_hex(8), time.time()

        async def insert(tx: Any) -> bool:
            if await tx.fetchone("SELECT 1 FROM accounts_tokens WHERE username = ? AND name = ?",
                                 username, name) is not None:
                return False
            await tx.execute("INSERT INTO accounts_tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                             token_id, username, name, digest(value), value[-4:], now, None)
            return True

        if not await self.db.write(insert):
            return None
        return value, {"id": token_id, "name": name, "username": username, "hint": "…" + value[-4:],
                       "created_at": now, "last_used": None}

    async def tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, username, name, hint, created_at, last_used FROM accounts_tokens"
        rows = await (self.db.fetch(sql + " WHERE username = ? ORDER BY created_at", username) if username
                      else self.db.fetch(sql + " ORDER BY username, created_at"))
        return [{**dict(r), "hint": "…" + r["hint"]} for r in rows]

    async def token_owner(self, token_id: str) -> str | None:
        return await self.db.fetchval("SELECT username FROM accounts_tokens WHERE id = ?", token_id)

    async def revoke_token(self, token_id: str) -> bool:
        return await self.db.execute("DELETE FROM accounts_tokens WHERE id = ?", token_id) > 0

    async def token_user(self, value: str) -> User | None:
        row = await self.db.fetchone(
            "SELECT t.id AS token_id, t.last_used, u.* FROM accounts_tokens t "
            "JOIN accounts_users u ON u.username = t.username WHERE t.token_hash = ?", digest(value))
        if row is None:
            return None
        now = time.time()
        if row["last_used"] is None or now - float(row["last_used"]) > USED_EVERY:
            await self.db.execute("UPDATE accounts_tokens SET last_used = ? WHERE id = ?", now, row["token_id"])
        return _user(row)
