"""The alert settings' admin API: channels added, changed, disabled and deleted at run time,
thresholds (global and per entity) and guards; the config file's entries read-only; every
mistake refused with the words the YAML reader uses for the same value in the file."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import orjson
import pytest
from bifrost_alerts.admin import shown_channel_body
from bifrost_alerts.runtime import SECRET_FIELDS, StoredChannel
from bifrost_alerts.settings import ChannelSettings
from bifrost_alerts.testing import running_webhook_receiver
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_alerts_settings import build, channels, reports, yaml_values

from bifrost_py import BudgetUsage
from bifrost_py.configschema import ConfigError
from bifrost_py.secrets import is_sealed
from bifrost_py.testing import running_gateway

TOKEN = "admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "hook-secret-0b7f41c2"


def config(tmp_path: Path, **alerts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"providers": {"mock": {"type": "mock"}}, "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
                           "admin": {"token": TOKEN}, "currency": {"code": "INR", "per_usd": 84.0}}
    if alerts:
        out["alerts"] = alerts
    return out


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path, **alerts: Any) -> AsyncIterator[Any]:
    async with running_gateway(config(tmp_path, **alerts), plugins=[bifrost_alerts], builtins=False) as gw:
        yield gw


async def call(gw: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, \
            session.request(method, gw.url + "/api" + path, json=body, headers=AUTH) as answer:
        return answer.status, orjson.loads(await answer.read())


def yaml_problems(section: dict[str, Any], report_section: dict[str, Any] | None = None) -> list[str]:
    try:
        build(section, report_section or None)
    except ConfigError as error:
        return error.problems
    return []


def plugin_of(gw: Any) -> Any:
    return next(i.plugin for i in gw.gateway.plugins.infos if isinstance(i.plugin, bifrost_alerts.AlertsBase))


@pytest.mark.parametrize("channel", [
    {"type": "webhook", "url": "ftp://example.com/x"},
    {"type": "pager", "url": "https://example.com"},
    {"type": "email", "smtp": "mail.example.com", "to": ["a@example.com"]},
    {"type": "webhook", "url": "https://example.com/x", "retries": -1, "colour": "red"},
    {"type": "folder"},
])
async def test_a_bad_channel_is_refused_with_the_files_words(tmp_path: Path, channel: dict[str, Any]) -> None:
    async with gateway(tmp_path) as gw:
        status, answer = await call(gw, "POST", "/alerts/channels", {"name": "c1", **channel})
    assert status == 400
    assert answer["error"]["problems"] == yaml_problems({"channels": {"c1": channel}})
    assert answer["error"]["problems"]


@pytest.mark.parametrize("change", [
    {"budget_thresholds": [0, 50]},
    {"budget_thresholds": "often"},
    {"thresholds_for": {"galaxy:x": [10]}},
    {"thresholds_for": {"team:backend": [5000]}},
    {"loop": {"repeats": 0}},
    {"spend_rate": {"multiple": 0.5, "baseline": "a while"}},
])
async def test_bad_thresholds_and_guards_are_refused_with_the_files_words(tmp_path: Path,
                                                                          change: dict[str, Any]) -> None:
    async with gateway(tmp_path) as gw:
        status, answer = await call(gw, "PATCH", "/alerts/settings", change)
    assert status == 400
    assert answer["error"]["problems"] == yaml_problems(change) and answer["error"]["problems"]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bifrost_py.config import config_from_dict
    from bifrost_py.gateway import Gateway

    gw = Gateway(config_from_dict(config(tmp_path_factory.mktemp("parity"))), plugins=[bifrost_alerts], builtins=False)
    return plugin_of(type("G", (), {"gateway": gw})).runtime


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels, st.fixed_dictionaries({}, optional={k: yaml_values for k in
                                                     ("budget_thresholds", "thresholds_for", "loop", "spend_rate")}),
       reports)
def test_the_api_reads_any_value_as_the_file_does(runtime: Any, channel_map: dict[str, Any],
                                                  rest: dict[str, Any], report_map: dict[str, Any]) -> None:
    """Whatever channels, reports and settings are sent, the API finds exactly the file's problems."""
    stored = {name: StoredChannel(c, True) for name, c in channel_map.items()}
    _, problems = runtime.read(stored, rest, report_map)
    assert problems == yaml_problems({**({"channels": channel_map} if channel_map else {}), **rest}, report_map)


async def test_channels_are_added_changed_disabled_and_deleted(tmp_path: Path) -> None:
    async with running_webhook_receiver() as hook, gateway(tmp_path) as gw:
        status, made = await call(gw, "POST", "/alerts/channels",
                                  {"name": "ops", "type": "webhook", "url": hook.url, "secret": SECRET})
        assert status == 201 and made["signed"] and made["source"] == "ui" and not made["read_only"]
        assert (await call(gw, "POST", "/alerts/channels", {"name": "ops", "type": "slack", "url": hook.url}))[0] == 409
        status, answer = await call(gw, "POST", "/alerts/channels", {"name": "a/b", "type": "webhook"})
        assert status == 400 and answer["error"]["message"].startswith("name:")

        # a change that leaves the secret out keeps it: the test alert is still signed with it
        status, changed = await call(gw, "PATCH", "/alerts/channels/ops", {"retries": 1, "url": hook.url + "/v2"})
        assert status == 200 and changed["signed"] and changed["url"].endswith("/hook/…")
        status, tested = await call(gw, "POST", "/alerts/test", {"channel": "ops"})
        assert status == 200 and tested["deliveries"][0]["ok"]
        from bifrost_alerts.channels.webhook import signature
        assert hook.received[-1].headers["X-Bifrost-Signature"] == signature(SECRET, hook.received[-1].body)
        assert (await call(gw, "PATCH", "/alerts/channels/ops", {"type": "slack"}))[0] == 400
        assert (await call(gw, "PATCH", "/alerts/channels/ops", {"enabled": "no"}))[0] == 400

        status, off = await call(gw, "PATCH", "/alerts/channels/ops", {"enabled": False})
        assert status == 200 and off["enabled"] is False
        status, shown = await call(gw, "GET", "/alerts/config")
        assert shown["send_to"] == [] and [c["name"] for c in shown["channels"]] == ["ops"]
        assert (await call(gw, "POST", "/alerts/test", {"channel": "ops"}))[0] == 404  # disabled: not in service
        assert (await call(gw, "PATCH", "/alerts/channels/ops", {"enabled": True}))[0] == 200
        assert (await call(gw, "GET", "/alerts/config"))[1]["send_to"] == ["ops"]

        assert (await call(gw, "DELETE", "/alerts/channels/ops"))[0] == 200
        assert (await call(gw, "DELETE", "/alerts/channels/ops"))[0] == 404
        assert (await call(gw, "GET", "/alerts/channels/ops"))[0] == 404
        assert (await call(gw, "GET", "/alerts/config"))[1]["channels"] == []
        for status, answer in [await call(gw, "GET", "/alerts/config"), await call(gw, "GET", "/audit")]:
            assert SECRET not in str(answer)


async def test_the_files_channels_and_settings_are_read_only(tmp_path: Path) -> None:
    async with gateway(tmp_path, channels={"file-hook": {"type": "webhook", "url": "http://127.0.0.1:9/x"}},
                       budget_thresholds=[50, 100], thresholds_for={"team:backend": [80]}) as gw:
        status, answer = await call(gw, "PATCH", "/alerts/channels/file-hook", {"retries": 1})
        assert status == 409 and "config file" in answer["error"]["message"]
        assert (await call(gw, "DELETE", "/alerts/channels/file-hook"))[0] == 409
        assert (await call(gw, "POST", "/alerts/channels", {"name": "file-hook", "type": "webhook"}))[0] == 409
        assert (await call(gw, "PATCH", "/alerts/settings", {"budget_thresholds": [10]}))[0] == 409
        assert (await call(gw, "PATCH", "/alerts/settings", {"thresholds_for": {"team:backend": [10]}}))[0] == 409
        assert (await call(gw, "PATCH", "/alerts/settings", {"colour": 1}))[0] == 400
        status, shown = await call(gw, "PATCH", "/alerts/settings", {"thresholds_for": {"key:ci": [25]}})
        assert status == 200
        assert shown["thresholds_for"] == {"team:backend": [80], "key:ci": [25]}
        assert shown["thresholds_for_sources"] == {"team:backend": "config", "key:ci": "ui"}
        assert shown["sources"]["budget_thresholds"] == "config" and shown["sources"]["loop"] == "default"
        status, shown = await call(gw, "PATCH", "/alerts/settings", {"thresholds_for": {"key:ci": None}})
        assert shown["thresholds_for"] == {"team:backend": [80]}


async def test_a_threshold_and_a_guard_changed_here_apply_to_the_next_check(tmp_path: Path) -> None:
    async with running_webhook_receiver() as hook, gateway(tmp_path) as gw:
        await call(gw, "POST", "/alerts/channels", {"name": "ops", "type": "webhook", "url": hook.url})
        assert (await call(gw, "PATCH", "/alerts/settings", {"thresholds_for": {"team:backend": [30]}}))[0] == 200
        usage = BudgetUsage("team", "backend", spent=3.5, limit=10.0, currency="INR", period="monthly",
                            window_start=0.0, window_end=4e9)
        await gw.gateway.plugins.budget_update(gw.gateway, [usage])
        [alert] = await hook.wait_for(1)
        assert alert.json()["threshold"] == 30
        status, _ = await call(gw, "PATCH", "/alerts/settings", {"loop": {"repeats": 3, "within": "5m", "refuse": True}})
        assert status == 200
        plugin = plugin_of(gw)
        assert plugin.loops is not None and plugin.settings.loop.repeats == 3 and plugin.settings.loop.refuse
        assert (await call(gw, "PATCH", "/alerts/settings", {"loop": None}))[0] == 200
        assert plugin.loops is None


async def test_a_threshold_crossed_before_any_channel_fires_once_one_is_added(tmp_path: Path) -> None:
    usage = BudgetUsage("team", "backend", spent=6.0, limit=10.0, currency="INR", period="monthly",
                        window_start=0.0, window_end=4e9)
    async with running_webhook_receiver() as hook, gateway(tmp_path) as gw:
        await gw.gateway.plugins.budget_update(gw.gateway, [usage])
        assert (await call(gw, "GET", "/alerts"))[1]["alerts"] == []  # nobody to tell: nothing sent, nothing marked
        await call(gw, "POST", "/alerts/channels", {"name": "ops", "type": "webhook", "url": hook.url})
        await gw.gateway.plugins.budget_update(gw.gateway, [usage])
        [alert] = await hook.wait_for(1)
    assert alert.json()["threshold"] == 50


async def test_other_roles_read_the_settings_but_cannot_change_them(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        for username, role in (("vera", "viewer"), ("fin", "finance")):
            assert (await call(gw, "POST", "/users", {"username": username, "password": "correct horse",
                                                      "role": role}))[0] == 201
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as person:
                async with person.post(gw.url + "/api/login", json={"username": username,
                                                                    "password": "correct horse"}) as answer:
                    csrf = {"x-csrf-token": (await answer.json())["csrf"]}
                async with person.get(gw.url + "/api/alerts/config") as answer:
                    assert answer.status == 200
                for method, path, body in (("POST", "/alerts/channels", {"name": "x", "type": "webhook",
                                                                          "url": "http://127.0.0.1:9/x"}),
                                           ("PATCH", "/alerts/settings", {"budget_thresholds": [10]})):
                    async with person.request(method, gw.url + "/api" + path, json=body, headers=csrf) as answer:
                        assert answer.status == 403, (username, path)
        assert (await call(gw, "GET", "/alerts/config"))[1]["channels"] == []


class MemoryItems:
    """configstore.ItemStore's interface in memory: the runtime's reading and writing without a database."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.bumps = 0

    async def version(self) -> int:
        return self.bumps

    async def load(self) -> tuple[int, list[Any]]:
        from bifrost_py.configstore import StoredItem
        return self.bumps, [StoredItem(name, data, 0.0, 0.0) for name, data in self.items.items()]

    async def put(self, name: str, data: dict[str, Any]) -> None:
        self.items[name] = orjson.loads(orjson.dumps(data))
        self.bumps += 1

    async def delete(self, name: str) -> bool:
        self.bumps += 1
        return self.items.pop(name, None) is not None


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)
channel_bodies = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["c1", "c2", "bad/name", ""]) | json_values,
    "type": st.sampled_from(["webhook", "slack", "email", "folder"]) | json_values,
    "url": st.sampled_from(["http://127.0.0.1:9/x", "https://h.example/a/b/c"]) | json_values,
    "secret": json_values, "password": json_values, "enabled": json_values, "to": json_values,
    "smtp": st.sampled_from(["smtp://h:25"]) | json_values, "retries": json_values})
report_bodies = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["r1", "r2"]) | json_values,
    "schedule": st.sampled_from(["0 9 * * MON", "61 * * * *"]) | json_values,
    "timezone": st.sampled_from(["Asia/Kolkata", "Mars/Olympus"]) | json_values, "since": json_values,
    "by": st.sampled_from(["team", "planet"]) | json_values, "format": json_values,
    "send_to": st.sampled_from([["c1"], ["c2"], []]) | json_values})
settings_bodies = st.dictionaries(st.sampled_from(["budget_thresholds", "thresholds_for", "loop", "spend_rate", "x"]),
                                  json_values | st.lists(st.integers(0, 2000), max_size=3), max_size=3)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example([("create", {"name": "c1", "type": "webhook", "url": "http://127.0.0.1:9/x", "secret": SECRET}),
          ("change", {"retries": 2, "enabled": False}), ("settings", {"budget_thresholds": [10]}),
          ("create", {"name": "c2", "type": "email", "smtp": "smtp://h:25", "to": ["a@b.c"], "password": "pw"}),
          ("report", {"name": "r1", "schedule": "0 9 * * MON", "send_to": ["c1"]}), ("delete", {"name": "c1"}),
          ("change report", {"send_to": ["c2"]}), ("delete", {"name": "c1"})])
@given(st.lists(st.tuples(st.sampled_from(["create", "change", "delete", "settings", "report", "change report",
                                           "delete report"]),
                          channel_bodies | settings_bodies | report_bodies), min_size=1, max_size=5))
def test_any_body_is_applied_or_refused_with_a_status(runtime: Any, steps: list[tuple[str, dict[str, Any]]]) -> None:
    """Whatever JSON object is sent, a change is made or refused with 400/404/409, never an
    error; what is stored always reads back without problems."""
    import asyncio

    from bifrost_py.configstore import ChangeRefused

    runtime.follower.store = MemoryItems()
    runtime.channels, runtime.overrides, runtime.broken = {}, {}, {}
    runtime.reports, runtime.broken_reports = {}, {}

    async def run() -> None:
        for action, body in steps:
            name = body.get("name") if isinstance(body.get("name"), str) else "c1"
            try:
                if action == "create":
                    await runtime.create_channel(body)
                elif action == "change":
                    await runtime.change_channel(name, body)
                elif action == "delete":
                    await runtime.delete_channel(name)
                elif action == "report":
                    await runtime.create_report(body)
                elif action == "change report":
                    await runtime.change_report(body.get("name") if isinstance(body.get("name"), str) else "r1", body)
                elif action == "delete report":
                    await runtime.delete_report(body.get("name") if isinstance(body.get("name"), str) else "r1")
                else:
                    await runtime.change_settings(body)
            except ChangeRefused as refused:
                assert refused.status in (400, 404, 409) and str(refused)
        assert runtime.broken == {} and runtime.broken_reports == {}
        for key, item in runtime.follower.store.items.items():  # every stored secret is sealed
            fields = SECRET_FIELDS.get(str(item["settings"].get("type")), ()) if key.startswith("channel:") else ()
            assert all(is_sealed(item["settings"][f]) for f in fields if item["settings"].get(f))

    asyncio.run(run())


async def test_an_email_channel_added_here_sends_the_test_alert_and_keeps_its_password_sealed(tmp_path: Path) -> None:
    from bifrost_alerts.testing import running_smtp_server

    with running_smtp_server() as smtp:
        async with gateway(tmp_path) as gw:
            status, made = await call(gw, "POST", "/alerts/channels", {
                "name": "finance-mail", "type": "email", "smtp": f"smtp://127.0.0.1:{smtp.port}", "starttls": False,
                "from": "gateway@example.com", "to": ["finance@example.com"], "password": "smtp-pw-51c0"})
            assert status == 201 and made["to"] == ["finance@example.com"] and "password" not in made
            status, tested = await call(gw, "POST", "/alerts/test", {"channel": "finance-mail"})
            assert status == 200 and tested["deliveries"][0]["ok"], tested
            [mail] = await smtp.wait_for(1)
            assert mail["To"] == "finance@example.com" and "Test alert" in mail["Subject"]
    assert list(tmp_path.glob("logs.db*"))
    assert all(b"smtp-pw-51c0" not in file.read_bytes() for file in tmp_path.glob("logs.db*"))


@given(scheme=st.sampled_from(["http", "https"]), host=st.from_regex(r"[a-z]{1,12}\.[a-z]{2,5}", fullmatch=True),
       parts=st.lists(st.text(st.characters(codec="ascii", exclude_characters="/?#", min_codepoint=33),
                              min_size=4, max_size=20), min_size=2, max_size=5),
       kind=st.sampled_from(["webhook", "slack", "email", "folder", None]))
def test_the_audit_copy_of_a_channel_body_shows_no_more_of_its_url_than_the_channel_does(
        scheme: str, host: str, parts: list[str], kind: str | None) -> None:
    url = f"{scheme}://{host}/" + "/".join(parts)
    body = {"name": "c", "url": url, "secret": "s" * 20, "password": "p" * 20, "retries": 2}
    if kind is not None:
        body["type"] = kind
    shown = shown_channel_body(body)
    assert shown["url"] == ChannelSettings("c", kind or "webhook", url=url).shown()["url"]  # as the GET shows it
    assert shown["url"] == f"{scheme}://{host}/{parts[0]}/…" and url not in str(shown)
    assert shown["secret"] == shown["password"] == "••••" and shown["retries"] == 2
