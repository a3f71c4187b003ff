"""Browser tests of the web UI: a real `bifrost-py serve` process and a real headless Chromium.

The gateway runs as a subprocess (its own event loop, uvloop and all) because Playwright's sync
API runs a loop of its own in the test thread. Its providers are the built-in `mock` type, so
no upstream server is needed. Screenshots go to test-output/screenshots/ for review.

Chromium is Debian's (installed by .ci/run). When it is missing the tests fail, naming what to
install: a browser test that silently skips proves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
ADMIN_TOKEN = "ui-test-admin-token"
# Without the background-networking flags Chromium's own connections are refused in a sandbox
# with no network, and it can stall; the tests only ever talk to 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
YAML_KEY_SECRET = "vk-ui-yaml-dev"


# Visible controls without an accessible name (every page and form is checked with this).
CONTROLS_WITHOUT_NAMES = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
  .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
  .filter((el) => !((el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                   || (el.textContent || '').trim()))
  .map((el) => el.outerHTML.slice(0, 120))"""

# WCAG 2 contrast of every visible text against the first opaque background behind it.
LOW_CONTRAST = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || el.offsetParent === null || el.disabled) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el);
    const fg = lum(rgb(style.color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) bad.push(`${ratio.toFixed(2)} ${el.tagName} ${el.textContent.trim().slice(0, 40)}`);
  }
  return bad;
}"""


def chromium_executable() -> str:
    for candidate in (os.environ.get("BIFROST_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail("Chromium is not installed: the web UI tests need Debian's `chromium` package "
                "(.ci/run installs it; or set BIFROST_CHROMIUM to a Chromium binary).")




def gateway_config(port: int, database: Path) -> dict[str, Any]:
    """Mock providers, governance with YAML-defined entries, the cost log on SQLite."""
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "admin": {"token": ADMIN_TOKEN},
        "storage": {"logs": f"sqlite:///{database}"},
        "currency": {"code": "INR", "per_usd": 84.0},
        "providers": {
            "anthropic": {"type": "mock", "models": ["claude-sonnet-*", "claude-haiku-*", "claude-opus-*"],
                          "keys": [{"value": "sk-ant-ui-test-key-0001", "name": "primary"}]},
            "openai": {"type": "mock", "models": ["gpt-*"]},
            # Always answers 529: its requests fall back to anthropic (a two-attempt request).
            "flaky": {"type": "mock", "models": ["claude-flaky-*"], "mock": {"fail_rate": 1.0, "fail_status": 529}},
        },
        "governance": {
            "customers": {"acme": {"budget": {"limit": 5000, "reset": "monthly"}}},
            "teams": {"backend": {"customer": "acme", "budget": {"limit": 1000, "reset": "monthly"}}},
            "virtual_keys": {
                "yaml-dev": {"key": YAML_KEY_SECRET, "team": "backend",
                             "budget": {"limit": 100, "reset": "monthly"},
                             "rate_limit": {"requests": 1000, "window": "1m"}},
            },
        },
        "pricing": {"claude-flaky-1": {"input": 3.0, "output": 15.0}},
        "failover": {"retries": 0, "chains": {"claude-flaky-1": ["flaky", "anthropic/claude-sonnet-4-20250514"]}},
        "plugins": {"disable": ["cache", "routing"]},
    }


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):  # bounded: 30 s
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway did not become healthy:\n{log.read_text()}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it is still running 20 s later."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class PageErrors(list[str]):
    """JavaScript errors and failed requests seen by a page; every test asserts there are none."""


def counts_as_failure(request: Any) -> bool:
    """Aborted event streams (when a view closes its EventSource) are not failures."""
    return "/api/logs/stream" not in request.url


def sign_in(page: Any, token: str = ADMIN_TOKEN) -> None:
    page.goto("/")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#nav").wait_for(state="visible")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class Sent:
    status: int
    request_id: str
    text: str
    error_type: str = ""   # of a refusal, as the caller's dialect names it (rate_limit_error, ...)


def send(gateway: Gateway, key: str, prompt: str, model: str = "claude-sonnet-4-20250514", max_tokens: int = 64) -> Sent:
    """One request through the gateway with the official Anthropic SDK, as Claude Code sends it."""
    import anthropic

    client = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key=key, max_retries=0)
    try:
        raw = client.messages.with_raw_response.create(
            model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}])
    except anthropic.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return Sent(error.status_code, error.response.headers.get("x-bf-request-id", ""), error.message,
                    (body.get("error") or {}).get("type", ""))
    finally:
        client.close()
    message = raw.parse()
    return Sent(raw.status_code, raw.headers["x-bf-request-id"], message.content[0].text)


# People with a password (the accounts and roles tests).
PASSWORD = "a long enough password"  # of every person the browser tests add


def admin_api(gateway: Gateway, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(gateway.url + "/api" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def ensure_user(gateway: Gateway, username: str, role: str, **extra: Any) -> None:
    names = [u["username"] for u in admin_api(gateway, "GET", "/users")["users"]]
    if username not in names:
        admin_api(gateway, "POST", "/users", {"username": username, "password": PASSWORD, "role": role, **extra})


def sign_in_as(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#nav").wait_for(state="visible")
