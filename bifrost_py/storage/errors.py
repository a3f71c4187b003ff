"""What the shared stores raise when they cannot answer, the same for SQLite, PostgreSQL and Redis.

A store that is down, restarting, busy beyond its timeout or full is not a bug of the caller:
`StorageUnavailable` says so, with the driver's own error as its `__cause__`, so each plugin maps
it once to what it means there (the cache: a miss; governance: a 503; the cost log: retry the
batch later). The admin API answers it with a 503 by itself. Every other driver error (a
constraint, a value a column refuses, a syntax error) is raised unchanged.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of the errors the storage service raises itself."""


class StorageUnavailable(StorageError):
    """The store cannot answer now (down, restarting, busy, full, too slow); try again later."""


class StorageClosed(StorageUnavailable):
    """The store was closed (the gateway is stopping or stopped)."""
