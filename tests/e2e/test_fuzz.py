"""The gateway under any input: random requests through real sockets, and the money path after.

One gateway for the module (governance with a budgeted, rate-limited key, its team and customer;
the cost log on SQLite; anthropic- and openai-type providers on a healthy mock upstream), and
hypothesis sending it requests from tests/e2e/fuzzkit (cases.py says what they are: random bodies
and field types, header bytes that are not UTF-8 or are control characters, every public
endpoint, unknown paths, the admin API with and without its token, odd query strings, valid and
invalid keys, streaming and not; control characters in headers and a Content-Encoding the body
does not have are each a test of their own, so that what the HTTP layer does with them hides
nothing else). For every answer (fuzzkit/verdict.py): no 5xx (the upstream is
healthy, so a 5xx is the gateway's), the message ends, and the body is JSON in the dialect of the
path. After each test: no in-flight hold on any entity, and exactly one log row per attempt of
every model request that got an `x-bf-request-id`, the final one with the status the client saw.

`make fuzz` (bench/fuzz.py) runs the same generators for minutes and lists every failure.
Examples are derandomized (each test's examples are fixed by its name) and no example database
is kept, so a CI run does not depend on what an earlier run found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzzkit.cases import (
    Case,
    admin_case,
    control_case,
    encoding_case,
    model_case,
    other_case,
    unknown_case,
)
from fuzzkit.run import Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with Session.open(Path(tmp_path_factory.mktemp("fuzz"))) as opened:
        yield opened


def _then_the_books_balance(session: Session) -> None:
    problems = session.finish()
    assert problems == [], "\n".join(problems[:20])


def test_model_endpoints(session: Session) -> None:
    """Model requests: budgets are held and settled, the log written, for any body and header."""

    @settings(FUZZ, max_examples=1500)
    @given(model_case())
    def check(case: Case) -> None:
        assert session.one(case) == [], case.describe()

    check()
    _then_the_books_balance(session)


def test_other_public_endpoints_and_unknown_paths(session: Session) -> None:
    @settings(FUZZ, max_examples=500)
    @given(st.one_of(other_case(), unknown_case()))
    def check(case: Case) -> None:
        assert session.one(case) == [], case.describe()

    check()
    _then_the_books_balance(session)


def test_admin_api(session: Session) -> None:
    """Every admin route of /api/openapi.json, with and without the token, odd parameters."""

    @settings(FUZZ, max_examples=700)
    @given(admin_case(session.admin_routes))
    def check(case: Case) -> None:
        assert session.one(case) == [], case.describe()

    check()
    _then_the_books_balance(session)


def test_control_characters_in_headers(session: Session) -> None:
    """HTTP forbids control characters in header values (RFC 9110 5.5): such a request is refused
    or its header dropped, and the answer is JSON like any other, not the HTTP parser's text."""

    @settings(FUZZ, max_examples=200)
    @given(control_case(session.admin_routes))
    def check(case: Case) -> None:
        assert session.one(case) == [], case.describe()

    check()
    _then_the_books_balance(session)


def test_content_encoding_the_body_does_not_have(session: Session) -> None:
    """`Content-Encoding: gzip` (or br, zstd, x-bogus) on a body that is not: decoding it fails
    in the HTTP layer, and the answer must still be a 4xx in the dialect of the path."""

    @settings(FUZZ, max_examples=200)
    @given(encoding_case(session.admin_routes))
    def check(case: Case) -> None:
        assert session.one(case) == [], case.describe()

    check()
    _then_the_books_balance(session)
