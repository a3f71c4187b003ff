"""`bifrost-py`: serve, demo, check, report, rotate-secret-key, plugins, new-plugin, mock-upstream
(CONTRACT.md).

Every problem with the config or a plugin (a ConfigError) is printed one per line, exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from .configschema import ConfigError, parse_duration

# Connections the kernel queues for the gateway to accept (listen(2)'s backlog; capped by
# net.core.somaxconn). aiohttp's default of 128 overflows when hundreds of clients connect at
# once (a restart with hundreds of Claude Code sessions, the bench's 500 streams): each
# connection past it waits for a retransmission, a second or more before its first byte.
LISTEN_BACKLOG = 2048


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("BIFROST_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bifrost-py", description="An LLM gateway for Anthropic- and OpenAI-speaking tools.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway (from a YAML config, or with none: data in a folder)")
    serve.add_argument("-c", "--config", help="YAML config; without it: SQLite and keys in BIFROST_DATA_DIR "
                                              "(default ~/.local/share/bifrost-py), set up in the web UI")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(run=_serve)

    demo = sub.add_parser("demo", help="run on the built-in demo config (mock provider, no keys needed)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--data-dir", default=".bifrost-demo")
    demo.add_argument("--no-traffic", action="store_true", help="do not send sample requests")
    demo.set_defaults(run=_demo)

    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("-c", "--config", required=True)
    check.set_defaults(run=_check)

    report = sub.add_parser("report", help="cost report from the log store")
    report.add_argument("-c", "--config", required=True)
    report.add_argument("--since", default="7d")
    report.add_argument("--by", default="team", choices=("team", "key", "customer", "model", "provider", "day", "hour", "session", "client"))
    report.add_argument("--format", default="table", choices=("table", "csv", "json"))
    report.add_argument("--top", type=_positive, metavar="N", help="the N groups that cost most; the rest as one line")
    report.set_defaults(run=_report)

    rotate = sub.add_parser("rotate-secret-key", help="re-encrypt the stored provider secrets under a new master key")
    rotate.add_argument("-c", "--config", help="the gateway's config (default: the no-file data folder)")
    rotate.set_defaults(run=_rotate_secret_key)

    plugins = sub.add_parser("plugins", help="list loaded plugins and their hooks")
    plugins.add_argument("-c", "--config")
    plugins.set_defaults(run=_plugins)

    new = sub.add_parser("new-plugin", help="scaffold a plugin package (entry point, one hook, a test)")
    new.add_argument("name", help="the plugin's name, e.g. team_tag")
    new.add_argument("--dir", default=".", help="where to create the package's folder")
    new.set_defaults(run=_new_plugin)

    mock = sub.add_parser("mock-upstream", help="a wire-faithful fake provider for demos and tests")
    mock.add_argument("--port", type=int, default=8090)
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--latency", default="0ms")
    mock.add_argument("--tokens-per-second", type=float, default=0.0)
    mock.add_argument("--fail-rate", type=float, default=0.0)
    mock.add_argument("--fail-status", type=int, default=529)
    mock.add_argument("--retry-after", type=float)
    mock.set_defaults(run=_mock_upstream)
    return parser


def _load(path: str) -> Any:
    from .config import load_config

    return load_config(path)


def _gateway(config: Any) -> Any:
    from .gateway import Gateway

    return Gateway(config)


def _serve(args: argparse.Namespace) -> int:
    from .firststart import first_start_banner, first_start_config

    config = _load(args.config) if args.config else first_start_config()
    if args.host:
        config.host = args.host
    if args.port is not None:
        config.port = args.port
    if args.workers:
        config.workers = args.workers
    run_server(config, banner="" if args.config else first_start_banner(config))
    return 0


def _rotate_secret_key(args: argparse.Namespace) -> int:
    from .firststart import first_start_config, rotate_secret_key

    print(rotate_secret_key(_load(args.config) if args.config else first_start_config()))
    return 0


def run_server(config: Any, *, banner: str = "", traffic: bool = False) -> None:
    """Serve `config`; with workers > 1, that many processes share the port (SO_REUSEPORT)."""
    workers = max(1, int(config.workers))
    if workers == 1:
        _serve_one(config, banner, reuse_port=False, traffic=traffic)
        return
    sys.exit(_supervise(config, banner, workers))


def _supervise(config: Any, banner: str, workers: int) -> int:
    """`workers` processes serving `config` on one port; the first prints the banner. Each stops
    as a single gateway does (requests in flight finish, journals and log rows are written)."""
    return fork_workers(workers, lambda index: _serve_one(config, banner if index == 0 else "", reuse_port=True,
                                                          worker=index))


def fork_workers(workers: int, serve: Callable[[int], None]) -> int:
    """Fork `workers` processes, each running `serve(index)`, wait for them; the exit code.

    SIGTERM or SIGINT to this process is passed on to every worker. Workers are in a process
    group of their own, so Ctrl-C in a terminal reaches them once, through here, and they get
    SIGTERM should this process die (Linux). A worker that exits on its own stops the others:
    the exit code is then 1, for the service manager to restart the whole set. (bench/floor.py
    runs its bare relays with this too.)"""
    import signal

    children: dict[int, int] = {}
    for index in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.setpgid(0, 0)
                _die_with_parent(signal.SIGTERM)
                serve(index)
            except ConfigError as exc:
                if index == 0:
                    print("\n".join(exc.problems), file=sys.stderr, flush=True)
                code = 2
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # a worker reports and exits, never returns into the parent's code
                logging.getLogger("bifrost_py.cli").exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = index
    stopping = False

    def stop_all(signum: int, _frame: Any = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    failed = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)  # -N: killed by signal N
        if not stopping:
            logging.getLogger("bifrost_py.cli").error("worker %d (pid %d) exited with %d; stopping the others",
                                                      index, pid, code)
            failed = failed or (code if code > 0 else 1)
            stop_all(signal.SIGTERM)
        elif code != 0:
            failed = failed or (code if code > 0 else 1)
    return failed


def _die_with_parent(signum: int) -> None:
    """Ask Linux to send `signum` to this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signum)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        pass


def _serve_one(config: Any, banner: str, *, reuse_port: bool, traffic: bool = False,
               worker: int | None = None) -> None:
    """One gateway process; `worker` is its index among `serve --workers N` (each answer then
    says which one served it in `x-bf-worker`, and only worker 0 prints the banner)."""
    from aiohttp import web

    from .server import build_app

    gateway = _gateway(config)
    app = build_app(gateway)
    if traffic:
        from .demo.traffic import traffic_context

        app.cleanup_ctx.append(traffic_context(f"http://{config.host}:{config.port}"))
    app.on_startup.append(_freeze_startup_objects)  # after the gateway's own start-up
    if worker is not None:
        app.on_response_prepare.append(_worker_header(str(worker)))
    loop = _new_loop()
    text = banner or f"bifrost-py listening on http://{config.host}:{config.port}"
    web.run_app(
        app, host=config.host, port=config.port, loop=loop, reuse_port=reuse_port or None,
        handler_cancellation=True, print=None if worker else lambda _: print(text, flush=True), access_log=None,
        shutdown_timeout=30, backlog=LISTEN_BACKLOG,
    )


def _worker_header(index: str) -> Any:
    async def add(request: Any, response: Any) -> None:
        response.headers["x-bf-worker"] = index

    return add


async def _freeze_startup_objects(app: Any) -> None:
    """What start-up built (configs, plugins, the price catalogue) lives as long as the process:
    keep it out of the garbage collector's full passes, which otherwise walk all of it again as
    requests allocate (gc.freeze, as Instagram does for its servers). Measured with callgrind:
    about 7% fewer instructions per request with every plugin on. Only the server does this:
    a test process builds many gateways and must be able to collect them."""
    gc.collect()
    gc.freeze()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _demo(args: argparse.Namespace) -> int:
    from .config import parse_config

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    text = (resources.files("bifrost_py") / "demo" / "demo.yaml").read_text()
    env = {**os.environ, "BIFROST_DEMO_DB": str(data_dir / "bifrost.db")}
    config = parse_config(text, environ=env, source="built-in demo config")
    config.host, config.port = args.host, args.port
    base = f"http://{args.host}:{args.port}"
    banner = "\n".join([
        f"bifrost-py demo listening on {base}  (provider: built-in mock; data in {data_dir})",
        f"web UI: {base}/  (admin token: {config.admin_token})",
        "Point Claude Code at it:",
        f"  export ANTHROPIC_BASE_URL={base}/anthropic",
        "  export ANTHROPIC_API_KEY=vk-demo-alice",
    ])
    run_server(config, banner=banner, traffic=not args.no_traffic)
    return 0


def _check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    gateway = _gateway(config)
    print(f"{args.config}: ok ({len(gateway.providers)} providers, plugins: {', '.join(gateway.dispatcher.names) or 'none'})")
    from .shadowing import shadow_warnings

    for _, warning in shadow_warnings(config.providers):
        print(f"warning: {warning}")
    for name, owner in gateway.ignored_sections.items():
        print(f"{name}: ignored (plugin {owner!r} is disabled)")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _report(args: argparse.Namespace) -> int:
    if "BIFROST_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)  # the report is the output: no INFO lines around it
    config = _load(args.config)
    gateway = _gateway(config)
    since = parse_duration(args.since)

    async def produce() -> str | None:
        # A report starts nothing it does not need: no plugin's startup (no writer, Redis,
        # periodic task); the plugin opens what it reads on gateway.storage, closed here.
        try:
            return await gateway.plugins.report(gateway, since, args.by, args.format, args.top)  # type: ignore[no-any-return]
        finally:
            await gateway.storage.close()

    text = asyncio.run(produce())
    if text is None:
        print("no loaded plugin keeps a request log (is the costlog plugin disabled?)", file=sys.stderr)
        return 1
    print(text)
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from .config import Config

    config = _load(args.config) if args.config else Config()
    gateway = _gateway(config)
    print(format_plugins(gateway.plugins.describe()))
    return 0


def format_plugins(described: list[dict[str, Any]]) -> str:
    """What `bifrost-py plugins` prints: the same facts as `/api/plugins`, as text."""
    lines = []
    for plugin in described:
        lines.append(f"{plugin['order']}. {plugin['name']}  ({plugin['source']})")
        for hook in plugin["hooks"]:
            marker = f"  {hook['marker']}" if hook["marker"] else ""
            lines.append(f"     {hook['name']:<26} called {hook['call']} of {hook['of']}{marker}")
    return "\n".join(lines) if lines else "no plugins loaded"


def _new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import scaffold

    folder = scaffold(args.name, Path(args.dir))
    print(f"created {folder}: `pip install -e {folder}` and run `pytest {folder}`")
    return 0


def _mock_upstream(args: argparse.Namespace) -> int:
    from .mockupstream import MockOptions, run

    options = MockOptions(
        latency=parse_duration(args.latency), tokens_per_second=args.tokens_per_second,
        fail_rate=args.fail_rate, fail_status=args.fail_status, retry_after=args.retry_after,
    )
    run(args.host, args.port, options)
    return 0

