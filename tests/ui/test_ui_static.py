"""The UI's files as the gateway serves them (no browser): from the package, offline, with the
right types and caching, behind a Content-Security-Policy that forbids fetching from elsewhere."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

WEB = Path(str(resources.files("bifrost_py") / "web"))
ALLOWED_URLS = {
    "http://www.w3.org/2000/svg",  # an XML namespace name, never fetched
    # the provider form's default base URLs: text put in a field and sent to the gateway, which
    # calls them; the page itself cannot (connect-src 'self')
    "https://api.anthropic.com", "https://api.openai.com/v1", "https://generativelanguage.googleapis.com",
    "https://RESOURCE.openai.azure.com",
}


async def get(gw: Any, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = await gw.get(path, **kwargs)
    return status, {name.lower(): value for name, value in headers.items()}, body


async def test_index_and_modules_are_served_from_the_package(start_gateway: Any) -> None:
    gw = await start_gateway({"admin": {"token": "t"}}, builtins=False)
    status, headers, body = await get(gw, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = body.decode()
    assert "default-src 'self'" in html and "connect-src 'self'" in html
    for path in re.findall(r'(?:src|href)="(/ui/[^"]+)"', html):
        status, headers, _ = await get(gw, path)
        assert status == 200, path
        assert headers["cache-control"] == "no-cache", "UI files are revalidated after an upgrade"
    status, headers, body = await get(gw, "/ui/js/main.js")
    assert "javascript" in headers["content-type"]
    status, headers, _ = await get(gw, "/ui/js/main.js", headers={"if-modified-since": headers["last-modified"]})
    assert status == 304


def test_no_file_names_an_outside_url() -> None:
    files = [p for p in WEB.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".html", ".css", ".js"}
    for path in files:
        for url in re.findall(r"https?://[^\s\"'`)]+", path.read_text()):
            assert url in ALLOWED_URLS or "gateway-host" in url, f"{path.name} names {url}"


def test_every_module_is_imported_by_the_app() -> None:
    """No dead files: each JS module is reachable from main.js by static imports."""
    seen: set[Path] = set()
    todo = [WEB / "js" / "main.js"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', module.read_text()):
            todo.append((module.parent / target).resolve())
    assert seen == {p.resolve() for p in WEB.rglob("*.js")}
