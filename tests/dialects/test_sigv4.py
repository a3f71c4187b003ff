"""SigV4: what botocore signs, our spec-written verifier accepts, and nothing tampered passes.

Two independent implementations agreeing is the point: the canonical requests are compared
byte for byte, and a real aiohttp client/server pair shows which URL handling keeps the
signature valid on the wire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import yarl
from aiohttp import ClientSession, web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.dialects.sigv4 import (
    canonical_request,
    canonical_uri,
    check_signature,
    sign_request,
    verify_signature,
)

NOW = datetime(2025, 5, 14, 12, 30, 45, tzinfo=UTC)
MODEL_PATH = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke"
URL = "https://bedrock-runtime.us-east-1.amazonaws.com" + MODEL_PATH
BODY = b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}'
BASE_HEADERS = {"content-type": "application/json", "accept": "application/json"}
KEYS = {"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def signed(**overrides: object) -> dict[str, str]:
    args: dict = {"region": "us-east-1", "now": NOW, **KEYS, **overrides}
    return sign_request("POST", URL, BASE_HEADERS, BODY, **args)


def verify(headers: dict[str, str], url: str = URL, body: bytes = BODY, **kw: object) -> bool:
    args: dict = {"secret_key": KEYS["secret_key"], "region": "us-east-1", **kw}
    return verify_signature("POST", url, headers, body, **args)


def test_botocore_signature_verifies() -> None:
    headers = signed()
    assert headers["X-Amz-Date"] == "20250514T123045Z"
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250514/us-east-1/bedrock/aws4_request, "
    )
    assert verify(headers)
    assert verify(headers, access_key="AKIDEXAMPLE", service="bedrock")


def test_real_clock_path_verifies() -> None:
    """Without `now`, botocore's own add_auth runs unmodified."""
    headers = signed(now=None)
    assert verify(headers, now=datetime.now(UTC), max_skew=timedelta(minutes=5))


def test_session_token_is_sent_and_signed() -> None:
    headers = signed(session_token="FQoGZXIvYXdzE-token")
    assert headers["X-Amz-Security-Token"] == "FQoGZXIvYXdzE-token"
    assert "x-amz-security-token" in headers["Authorization"]
    assert verify(headers)
    assert not verify({**headers, "X-Amz-Security-Token": "other"})


def test_model_id_colon_is_double_encoded_in_the_canonical_request() -> None:
    assert canonical_uri(MODEL_PATH) == (
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%253A0/invoke"
    )
    request = AWSRequest(method="POST", url=URL, headers=dict(signed()), data=BODY)
    signer = SigV4Auth(Credentials(**KEYS), "bedrock", "us-east-1")
    assert signer.canonical_request(request).split("\n")[1] == canonical_uri(MODEL_PATH)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("body", b'{"max_tokens":11}'),
        ("url", URL.replace("v1%3A0", "v2%3A0")),
        ("url", URL.replace("%3A", ":")),  # signed one path, sent another
        ("content-type", "text/plain"),
        ("X-Amz-Date", "20250514T123046Z"),
        ("secret_key", "wrong"),
        ("region", "us-west-2"),
        ("service", "s3"),
        ("access_key", "AKIDOTHER"),
    ],
)
def test_tampering_is_rejected(change: str, value: object) -> None:
    headers = signed()
    if change in ("body", "url") or change in ("secret_key", "region", "service", "access_key"):
        assert not verify(headers, **{change: value})
    else:
        assert not verify({**headers, change: value})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "Bearer x"}, "unsupported algorithm"),
        ({"Authorization": "AWS4-HMAC-SHA256 Credential=a/b"}, "lacks SignedHeaders"),
    ],
)
def test_unusable_authorization_is_explained(headers: dict, reason: str) -> None:
    result = check_signature("POST", URL, headers, BODY, secret_key="s", region="us-east-1")
    assert result is not None and reason in result


def test_missing_signed_header_and_stale_signature() -> None:
    headers = signed()
    without = {k: v for k, v in headers.items() if k != "accept"}
    result = check_signature(
        "POST", URL, without, BODY, secret_key=KEYS["secret_key"], region="us-east-1"
    )
    assert result is not None and "'accept'" in result
    late = NOW + timedelta(minutes=16)
    assert not verify(headers, now=late, max_skew=timedelta(minutes=15))
    assert verify(headers, now=late, max_skew=timedelta(minutes=20))


def test_content_sha256_header_must_match_body() -> None:
    import hashlib

    extra = {**BASE_HEADERS, "x-amz-content-sha256": hashlib.sha256(BODY).hexdigest()}
    headers = sign_request("POST", URL, extra, BODY, region="us-east-1", now=NOW, **KEYS)
    assert verify(headers)
    forged = {**extra, "x-amz-content-sha256": "0" * 64}
    headers = sign_request("POST", URL, forged, BODY, region="us-east-1", now=NOW, **KEYS)
    assert not verify(headers)


def test_date_header_instead_of_x_amz_date() -> None:
    """botocore keeps an existing Date header and signs with it; the spec allows that."""
    with_date = {**BASE_HEADERS, "Date": "Wed, 14 May 2025 12:30:45 GMT"}
    headers = sign_request("POST", URL, with_date, BODY, region="us-east-1", now=NOW, **KEYS)
    assert "X-Amz-Date" not in headers
    assert verify(headers)


def test_multidict_headers_and_path_only_url() -> None:
    """The mock passes aiohttp's request.headers and raw_path straight in."""
    from multidict import CIMultiDict

    headers = signed()
    wire = CIMultiDict(headers)
    wire["Host"] = "bedrock-runtime.us-east-1.amazonaws.com"
    assert verify(wire, url=MODEL_PATH)


# ------------------------------------------------------------------ property-based agreement

segment_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12
)
header_name = st.from_regex(r"x-[a-z0-9-]{1,10}", fullmatch=True)
header_value = st.from_regex(r"[ -~]{0,20}", fullmatch=True).map(lambda v: v.strip() or "v")


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    segments=st.lists(segment_text, min_size=1, max_size=4),
    query=st.lists(st.tuples(segment_text, st.text(max_size=6)), max_size=3),
    headers=st.dictionaries(header_name, header_value, max_size=4),
    body=st.binary(max_size=200),
    region=st.sampled_from(["us-east-1", "eu-west-3", "ap-south-1"]),
    secret=st.text(min_size=1, max_size=40),
    token=st.none() | st.text(alphabet="abcdefXYZ0123456789", min_size=1, max_size=20),
)
def test_verifier_agrees_with_botocore(
    method: str,
    segments: list[str],
    query: list,
    headers: dict,
    body: bytes,
    region: str,
    secret: str,
    token: str | None,
) -> None:
    path = "/" + "/".join(quote(segment, safe="") for segment in segments)
    qs = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    url = f"https://bedrock-runtime.{region}.amazonaws.com{path}" + (f"?{qs}" if qs else "")
    signed_headers = sign_request(
        method,
        url,
        headers,
        body,
        region=region,
        access_key="AK",
        secret_key=secret,
        session_token=token,
        now=NOW,
    )
    assert verify_signature(method, url, signed_headers, body, secret_key=secret, region=region)
    assert not verify_signature(
        method, url, signed_headers, body + b"x", secret_key=secret, region=region
    )

    sent = {k: v for k, v in signed_headers.items() if k != "Authorization"}
    request = AWSRequest(method=method, url=url, headers=sent, data=body)
    request.context["timestamp"] = signed_headers["X-Amz-Date"]
    theirs = SigV4Auth(Credentials("AK", secret, token), "bedrock", region).canonical_request(
        request
    )
    lowered: dict[str, list[str]] = {}
    for name, value in signed_headers.items():
        lowered.setdefault(name.lower(), []).append(value)
    signed_names = signed_headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    ours = canonical_request(method, url, lowered, signed_names.split(";"), body)
    assert ours == theirs


# ------------------------------------------------------------------ on a real socket


async def test_on_the_wire_the_signed_path_must_be_sent_verbatim() -> None:
    """yarl re-quotes `%3A` to `:` unless told the URL is already encoded; AWS (and our mock)
    then see a different path than the one signed."""
    results: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(
            request.method,
            request.raw_path,
            request.headers,
            body,
            secret_key=KEYS["secret_key"],
            region="us-east-1",
        )
        results.append(ok)
        return web.json_response({"ok": ok})

    app = web.Application()
    app.router.add_post("/model/{model_id}/invoke", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}{MODEL_PATH}"
    try:
        async with ClientSession() as session:
            headers = sign_request("POST", url, BASE_HEADERS, BODY, region="us-east-1", **KEYS)
            async with session.post(yarl.URL(url, encoded=True), data=BODY, headers=headers):
                pass
            async with session.post(url, data=BODY, headers=headers):
                pass
    finally:
        await runner.cleanup()
    assert results == [True, False]
