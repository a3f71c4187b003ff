"""Fixtures shared by the whole suite: real servers on OS-chosen loopback ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# The machines that run this suite are small and shared: no per-example deadlines, and no
# failing because generating inputs was slow on a loaded core (CI runs on 2 cores).
settings.register_profile(
    "bifrost", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("bifrost")

from bifrost_py.testing import (
    RedisServer,
    RunningGateway,
    RunningServer,
    free_port,
    running_gateway,
    running_mock_upstream,
)


@pytest.fixture
async def mock_upstream() -> AsyncIterator[RunningServer]:
    """The mock provider over HTTP (script it with POST /_mock/script)."""
    async with running_mock_upstream() as upstream:
        yield upstream


@pytest.fixture
async def start_gateway() -> AsyncIterator[Callable[..., Any]]:
    """`gw = await start_gateway(config_dict, plugins=[...], builtins=False)`; all stopped at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: Any, **kwargs: Any) -> RunningGateway:
            return await stack.enter_async_context(running_gateway(config, **kwargs))

        yield start


# --------------------------------------------------------------------------- real servers
# Redis and PostgreSQL are real servers, started here on free loopback ports in temporary
# directories (.ci/run installs the Debian packages). Session-scoped: started once per run.

import getpass
import glob
import os
import shutil
import subprocess
import tempfile


@pytest.fixture(scope="session")
def redis_url() -> Any:
    """redis://127.0.0.1:PORT/0 of a redis-server started for this test run."""
    server = _redis_server()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_server() -> Any:
    """A redis-server of this test's own, to stop and start again (it comes back empty)."""
    server = _redis_server()
    try:
        yield server
    finally:
        server.close()


def _redis_server() -> RedisServer:
    try:
        server = RedisServer()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    """postgresql://... of a PostgreSQL cluster created for this test run (trust auth, loopback)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    bindir = os.path.dirname(found[-1])
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bifrost-pg-")
    datadir = os.path.join(workdir, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres user
        shutil.chown(workdir, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    user = "postgres" if as_user else getpass.getuser()
    subprocess.run(as_user + [f"{bindir}/initdb", "-D", datadir, "-A", "trust", "-U", user, "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL)
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", datadir, "-o", options, "-w", "-l", f"{workdir}/log", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        subprocess.run(as_user + [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, "bifrost"],
                       check=True)
        yield f"postgresql://{user}@127.0.0.1:{port}/bifrost"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


async def fresh_postgres(postgres_url: str) -> str:
    """A new empty database on the test cluster, so every test starts clean."""
    import asyncpg

    name = "test_" + os.urandom(6).hex()
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
async def logs_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """`storage.logs` for a test that must hold on SQLite and on a real PostgreSQL alike."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/logs.db"
    return await fresh_postgres(request.getfixturevalue("postgres_url"))
