"""`make fuzz`: the fuzz test's requests, for minutes instead of seconds, and every failure kept.

    python -m bench.fuzz [--seconds 300] [--show 3]

The same generators as tests/e2e/test_fuzz.py (tests/e2e/fuzzkit), against the same gateway (mock
upstream healthy, governance and the cost log on), through real sockets. Unlike the test, a
failure does not stop the run: each answer's problems are counted by class and endpoint, and
after the run the in-flight holds and the log rows of every model request are checked. Printed:
the status histogram per endpoint, the number of gateway 5xx, each failure class with examples
(the request, the answer), and the errors the gateway logged. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))  # fuzzkit lives with its test

from fuzzkit import run
from fuzzkit.cases import Case, cases

BATCH = 200  # examples per hypothesis run; runs repeat until the time is up


def fuzz(seconds: float, show: int) -> int:
    run.EXAMPLES_KEPT = show
    with tempfile.TemporaryDirectory(prefix="bifrost-fuzz-") as workdir, run.Session.open(Path(workdir)) as session:
        end = time.monotonic() + seconds
        last_note = time.monotonic()
        sent = 0

        @settings(max_examples=BATCH, phases=[Phase.generate], database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(cases(session.admin_routes))
        def batch(case: Case) -> None:
            nonlocal sent, last_note
            if time.monotonic() >= end:
                return  # hypothesis cannot be stopped early: the rest of the batch is skipped
            session.one(case)
            sent += 1
            if time.monotonic() - last_note > 10:
                last_note = time.monotonic()
                left = max(0, end - last_note)
                print(f"  {sent} requests, {sum(session.counts.values())} failures, {left:.0f}s left", flush=True)

        while time.monotonic() < end:
            batch()
        print("checking in-flight holds and log rows ...", flush=True)
        session.finish()
        print(session.report())
        return 1 if session.counts else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0, help="how long to send requests (default 300)")
    parser.add_argument("--show", type=int, default=3, help="examples shown per failure class (default 3)")
    args = parser.parse_args()
    sys.exit(fuzz(args.seconds, args.show))


if __name__ == "__main__":
    main()
