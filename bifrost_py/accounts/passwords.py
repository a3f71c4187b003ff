"""Passwords hashed with Argon2id (argon2-cffi: the OWASP-recommended KDF, salted and tuned by
RFC 9106's low-memory profile). Hashing costs tens of milliseconds of CPU on purpose, so it runs
in a worker thread, never on the event loop that relays streams."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()
MIN_LENGTH = 8
MAX_LENGTH = 1024  # Argon2 takes any length; a megabyte password is only a way to burn our CPU


@functools.cache
def _dummy() -> str:
    """Checked when the user does not exist, so an unknown name costs what a wrong password
    costs. Made on first use: hashing at import cost every `bifrost-py` command (report, check)
    a tenth of a second or more."""
    return HASHER.hash("not a password of anyone")


def password_problem(password: object) -> str | None:
    """Why `password` cannot be used, or None."""
    if not isinstance(password, str):
        return "password: must be a string"
    if len(password) < MIN_LENGTH:
        return f"password: at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password: at most {MAX_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """`password` matches the stored hash (False for a user without one: single sign-on only)."""
    return await asyncio.to_thread(_verify, stored, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
