"""Email alerts over STARTTLS: a server that requires it gets the mail when the channel asks
for it (its certificate checked against the configured CA), and a recorded failure otherwise."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import bifrost_alerts
import orjson
from bifrost_alerts.testing import running_smtp_server
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bifrost_py import BudgetUsage
from bifrost_py.testing import running_gateway

AUTH = {"Authorization": "Bearer t"}


def certificate(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (its PEM file for the client, the server's context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


def settings(tmp_path: Path, port: int, **mail: Any) -> dict[str, Any]:
    return {"providers": {"mock": {"type": "mock"}}, "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
            "admin": {"token": "t"},
            "alerts": {"channels": {"mail": {"type": "email", "smtp": f"smtp://127.0.0.1:{port}", "from": "gw@example.com",
                                             "to": ["finance@example.com"], "backoff": "10ms", "retries": 1, **mail}}}}


async def test_starttls_with_the_servers_ca_delivers_text_and_html(tmp_path: Path) -> None:
    ca_file, server_tls = certificate(tmp_path)
    with running_smtp_server(starttls=server_tls) as smtp:
        async with running_gateway(settings(tmp_path, smtp.port, starttls=True, ca_file=str(ca_file)),
                                   plugins=[bifrost_alerts], builtins=False) as gw:
            status, _, body = await gw.post("/api/alerts/test", json={}, headers=AUTH)
        assert status == 200, body
        [mail] = await smtp.wait_for(1)
        assert mail["Subject"].strip() == "Test alert from bifrost-py"
        assert "alerts reach this channel" in mail.get_body(("plain",)).get_content()
        assert "<h2>Test alert from bifrost-py</h2>" in mail.get_body(("html",)).get_content()


async def test_a_server_that_requires_starttls_refuses_a_plain_channel_and_the_failure_is_recorded(
        tmp_path: Path) -> None:
    _, server_tls = certificate(tmp_path)
    with running_smtp_server(starttls=server_tls) as smtp:
        async with running_gateway(settings(tmp_path, smtp.port, starttls=False), plugins=[bifrost_alerts],
                                   builtins=False) as gw:
            status, _, body = await gw.post("/api/alerts/test", json={"channel": "mail"}, headers=AUTH)
            assert status == 502
            [delivery] = orjson.loads(body)["deliveries"]
            assert delivery["ok"] is False and "530" in delivery["error"]
            status, _, body = await gw.get("/api/alerts/deliveries?failed=true", headers=AUTH)
            assert [d["channel"] for d in orjson.loads(body)["deliveries"]] == ["mail"]
        assert smtp.messages == []


async def test_a_budget_alert_by_mail_names_the_entity_and_the_amounts(tmp_path: Path) -> None:
    with running_smtp_server() as smtp:
        config = {**settings(tmp_path, smtp.port), "currency": {"code": "INR", "per_usd": 84.0}}
        async with running_gateway(config, plugins=[bifrost_alerts], builtins=False) as gw:
            usage = BudgetUsage("key", "dev-pranay", spent=20_012.4, limit=25_000.0, currency="INR", period="monthly")
            await gw.gateway.plugins.budget_update(gw.gateway, [usage])
        mails = await smtp.wait_for(2)
    subjects = sorted(m["Subject"].strip() for m in mails)
    assert subjects[1] == "Budget 80% reached: virtual key 'dev-pranay' spent ₹20,012.40 of ₹25,000.00"
