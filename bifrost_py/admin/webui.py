"""The web UI: static files shipped inside the package (no CDN, works offline).

Every answer here carries headers that forbid framing (clickjacking a signed-in admin into
deleting keys) and MIME sniffing. They are set per response of these two routes, not by a
hook, so that nothing runs on the model endpoints' responses.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from .errors import admin_error
from .probes import probe_ok

# The same policy as index.html's <meta>, plus frame-ancestors, which a <meta> cannot set.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
FRAMING = {"x-frame-options": "DENY", "content-security-policy": POLICY, "x-content-type-options": "nosniff"}
# The UI's files have no version in their names: browsers must ask again (a cheap 304) rather
# than run yesterday's JavaScript against today's gateway after an upgrade.
REVALIDATE = {"cache-control": "no-cache", **FRAMING}


def add_web_ui(app: web.Application) -> None:
    root = Path(str(resources.files("bifrost_py") / "web")).resolve()
    if not root.is_dir():
        app.router.add_get("/", probe_ok)
        return
    index = root / "index.html"

    async def serve_index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(index, headers=REVALIDATE)

    async def serve_file(request: web.Request) -> web.StreamResponse:
        path = ui_file(root, request.match_info["path"])
        if path is None:
            return admin_error(404, "no such file of the web UI", headers=FRAMING)
        return web.FileResponse(path, headers=REVALIDATE)

    app.router.add_get("/", serve_index)
    app.router.add_get("/ui/setup", serve_index)  # the one-time set-up link: the UI's account creation
    app.router.add_get(r"/ui/{path:[\s\S]+}", serve_file)  # every name reaches ui_file, %0A included


def ui_file(root: Path, name: str) -> Path | None:
    """The file `name` below `root`, or None. A decoded path can hold anything a URL can
    encode: NUL (`%00`), other control characters, `..` segments (`..%2f..`), names longer
    than the OS allows; each is simply not a UI file."""
    if not name.isprintable():
        return None
    try:
        path = (root / name).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None
    except (OSError, ValueError):
        return None
