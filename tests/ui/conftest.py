"""Fixtures of the browser tests (see ui_harness.py for what they start and why)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from ui_harness import (
    CHROMIUM_ARGS,
    Gateway,
    PageErrors,
    chromium_executable,
    counts_as_failure,
    gateway_config,
    screenshot,
    sign_in,
    stop_process,
    wait_healthy,
)

from bifrost_py.testing import free_port


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """`python -m bifrost_py serve` on a free loopback port, stopped with SIGTERM at the end.
    A test module may define `configure(config: dict)` to change the config first."""
    workdir = tmp_path_factory.mktemp("ui-gateway")
    port = free_port()
    settings = gateway_config(port, workdir / "bifrost.db")
    configure = getattr(request.module, "configure", None)
    if configure is not None:
        configure(settings)
    config = workdir / "bifrost.yaml"
    config.write_text(yaml.safe_dump(settings))
    log = workdir / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bifrost_py", "serve", "-c", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield Gateway(url, process, log)
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a test dependency
        pytest.fail("Playwright for Python is not installed (pip install -e '.[test]')")
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, gateway: Gateway, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (own sessionStorage) on the gateway; fails on JS errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                  base_url=gateway.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}") if counts_as_failure(request) else None)
    page.errors = errors
    try:
        yield page
        if request.node.stash.get(FAILED, False):
            screenshot(page, f"FAILED-{request.node.name}")
    finally:
        context.close()


@pytest.fixture
def signed_in(page: Any) -> Any:
    sign_in(page)
    return page
