"""AWS Signature Version 4: signing our Bedrock requests, and verifying them in the mock upstream.

Signing goes through botocore's `SigV4Auth`, the signer AWS maintains, so we never own the subtle
parts (header canonicalisation, payload hashing, URI escaping). Verification is written again from
the published SigV4 specification with hashlib/hmac only: a second, independent implementation, so
a test where one signs and the other checks catches a mistake in either.

The canonical URI is the path *as sent on the wire*, URI-encoded once more. A Bedrock model id
``us.anthropic.claude-sonnet-4-20250514-v1:0`` goes out as ``...-v1%3A0`` (botocore's escaping) and
is signed as ``...-v1%253A0``. So the bytes of the path you sign must be the bytes you send: with
aiohttp pass ``yarl.URL(url, encoded=True)``, otherwise yarl rewrites ``%3A`` to ``:`` and AWS
answers 403 InvalidSignatureException.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = [
    "ALGORITHM",
    "MissingSignedHeader",
    "canonical_request",
    "check_signature",
    "sign_request",
    "verify_signature",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class MissingSignedHeader(ValueError):
    """A header named in SignedHeaders is not in the request, so no canonical request exists."""


# --------------------------------------------------------------------------- signing (botocore)


class _ClockedSigV4Auth(SigV4Auth):
    """botocore's signer with the clock supplied by the caller (tests, replays). The steps are
    those of `SigV4Auth.add_auth`; only the timestamp source differs."""

    def __init__(self, credentials: Credentials, service: str, region: str, now: datetime) -> None:
        super().__init__(credentials, service, region)
        self._timestamp = now.astimezone(UTC).strftime(TIMESTAMP_FORMAT)

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._timestamp
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    service: str = "bedrock",
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return every header to send: the given ones plus ``X-Amz-Date``, ``Authorization`` and,
    with temporary credentials, ``X-Amz-Security-Token``.

    All given headers are signed (except those botocore never signs, such as user-agent), so send
    exactly these, unchanged; headers the HTTP client adds later (content-length, host) are not
    signed and may be added freely. ``url`` must carry the path exactly as it goes on the wire.
    """
    credentials = Credentials(access_key, secret_key, session_token)
    signer = (
        SigV4Auth(credentials, service, region)
        if now is None
        else _ClockedSigV4Auth(credentials, service, region, now)
    )
    request = AWSRequest(method=method.upper(), url=url, headers=dict(headers), data=body)
    signer.add_auth(request)
    return {name: value for name, value in request.headers.items()}


# --------------------------------------------------------------------------- verifying (spec)


def verify_signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_key: str,
    region: str,
    service: str = "bedrock",
    access_key: str | None = None,
    now: datetime | None = None,
    max_skew: timedelta | None = None,
) -> bool:
    """True when the request carries a valid SigV4 signature for this secret, region, service."""
    return (
        check_signature(
            method,
            url,
            headers,
            body,
            secret_key=secret_key,
            region=region,
            service=service,
            access_key=access_key,
            now=now,
            max_skew=max_skew,
        )
        is None
    )


def check_signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_key: str,
    region: str,
    service: str = "bedrock",
    access_key: str | None = None,
    now: datetime | None = None,
    max_skew: timedelta | None = None,
) -> str | None:
    """None when the signature is valid, else the reason it is not (for the mock's 403 message).

    ``url`` is a full URL or just the request target (path and query) as received; ``headers``
    may be any mapping, a multidict's repeated headers included. ``max_skew`` rejects requests
    whose timestamp is further than that from ``now`` (AWS allows 15 minutes).
    """
    lowered = _lower_headers(headers)
    auth = _parse_authorization(lowered.get("authorization", [""])[0])
    if isinstance(auth, str):
        return auth
    credential, signed_headers, signature = auth
    timestamp = _request_timestamp(lowered)
    if timestamp is None:
        return "missing or malformed X-Amz-Date"
    problem = _check_scope(credential, timestamp, region, service, access_key)
    problem = problem or _check_skew(timestamp, now, max_skew)
    problem = problem or _check_payload_header(lowered, body)
    if problem:
        return problem
    try:
        canonical = canonical_request(method, url, lowered, signed_headers, body)
    except MissingSignedHeader as exc:
        return str(exc)
    scope = "/".join(credential.split("/")[1:])
    expected = _signature(secret_key, timestamp, scope, canonical)
    if not hmac.compare_digest(expected, signature):
        return "the request signature we calculated does not match the signature you provided"
    return None


def _lower_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    lowered: dict[str, list[str]] = {}
    for name, value in headers.items():
        lowered.setdefault(name.lower().strip(), []).append(value)
    return lowered


def _parse_authorization(value: str) -> tuple[str, list[str], str] | str:
    """(credential, signed header names, signature) or the reason the header is unusable."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return (
            "missing Authorization header" if not value else f"unsupported algorithm {algorithm!r}"
        )
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, _, val = item.strip().partition("=")
        fields[key] = val
    try:
        return fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError as exc:
        return f"Authorization header lacks {exc.args[0]}"


def _request_timestamp(headers: dict[str, list[str]]) -> str | None:
    """The signing time: X-Amz-Date, or an HTTP Date header, which the spec also allows."""
    if "x-amz-date" in headers:
        value = headers["x-amz-date"][0].strip()
        try:
            datetime.strptime(value, TIMESTAMP_FORMAT)
        except ValueError:
            return None
        return value
    if "date" in headers:
        try:
            parsed = parsedate_to_datetime(headers["date"][0])
        except (TypeError, ValueError):
            return None
        return parsed.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    return None


def _check_scope(
    credential: str, timestamp: str, region: str, service: str, access_key: str | None
) -> str | None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return f"malformed credential scope {credential!r}"
    key, date, cred_region, cred_service, _ = parts
    if access_key is not None and not hmac.compare_digest(key, access_key):
        return "the security token included in the request is invalid (unknown access key)"
    if date != timestamp[:8]:
        return f"credential date {date} does not match request date {timestamp[:8]}"
    if cred_region != region or cred_service != service:
        return f"credential scope {cred_region}/{cred_service} is not {region}/{service}"
    return None


def _check_skew(timestamp: str, now: datetime | None, max_skew: timedelta | None) -> str | None:
    if max_skew is None:
        return None
    signed_at = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    if abs(current - signed_at) > max_skew:
        return f"signature expired: signed at {timestamp}, now {current:%Y%m%dT%H%M%SZ}"
    return None


def _check_payload_header(headers: dict[str, list[str]], body: bytes) -> str | None:
    """A declared body hash must be the real one; an unsigned payload is not accepted, since
    Bedrock requests always sign their body."""
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        return None
    if declared[0].strip() != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 does not match the body"
    return None


def canonical_request(
    method: str,
    url: str,
    headers: dict[str, list[str]],
    signed_headers: list[str],
    body: bytes,
) -> str:
    """The SigV4 canonical request, from headers already lower-cased into lists of values."""
    parts = urlsplit(url)
    canonical_headers = []
    for name in signed_headers:
        values = headers.get(name)
        if values is None and name == "host" and parts.netloc:
            values = [parts.netloc]
        if values is None:
            raise MissingSignedHeader(f"signed header {name!r} is missing from the request")
        canonical_headers.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query(parts.query),
            "".join(canonical_headers),
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def canonical_uri(raw_path: str) -> str:
    """Normalise the path (RFC 3986 dot segments; AWS also drops empty segments) and URI-encode
    the *raw* path once more, so ``%3A`` becomes ``%253A`` (the spec's "encode twice")."""
    return quote(_remove_dot_segments(raw_path or "/"), safe="/~")


def _remove_dot_segments(path: str) -> str:
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and kept else ""
    return lead + "/".join(kept) + trail


def canonical_query(query: str) -> str:
    """Sorted ``key=value`` pairs, each side URI-encoded with only unreserved characters left."""
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        pairs.append((_uri_encode(unquote(key)), _uri_encode(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _signature(secret_key: str, timestamp: str, scope: str, canonical: str) -> str:
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    date, region, service, terminator = scope.split("/")
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
