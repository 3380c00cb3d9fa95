"""Fuzzers of what parses untrusted input. Each is bounded (``WATCHWAIT_FUZZ_EXAMPLES`` cases per
fuzzer, default small enough for CI) and prints its case count; raise the variable for a campaign:

    WATCHWAIT_FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz -q -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))  # imaging_testdata

EXAMPLES = int(os.environ.get("WATCHWAIT_FUZZ_EXAMPLES", "150"))

import functools  # noqa: E402
import inspect  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402

SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
MIN_CASES = min(EXAMPLES, 50)


def fuzz(*strategies):
    """A fuzz test that checks its own case count: ``@fuzz(st.data())`` over ``def test_x(fixture, data)`` runs the
    Hypothesis cases (the last ``len(strategies)`` arguments are drawn, the others are pytest fixtures), prints how
    many ran, and fails if fewer than ``MIN_CASES`` did, whatever else runs and in whatever order."""
    def wrap(body):
        params = list(inspect.signature(body).parameters.values())
        fixtures = params[:len(params) - len(strategies)]

        def test(**given_fixtures):
            count = 0

            def run(*drawn):
                nonlocal count
                count += 1
                body(**given_fixtures, **{p.name: v for p, v in zip(params[len(fixtures):], drawn)})

            # Hypothesis wants a plain signature: one function per number of drawn arguments
            case = {1: lambda a: run(a), 2: lambda a, b: run(a, b), 3: lambda a, b, c: run(a, b, c)}[len(strategies)]
            SETTINGS(given(*strategies)(case))()
            print(f"\n{body.__name__}: {count} cases")
            assert count >= MIN_CASES, f"{body.__name__} ran {count} cases, fewer than {MIN_CASES}"

        test.__name__, test.__qualname__, test.__doc__ = body.__name__, body.__qualname__, body.__doc__
        test.__module__ = body.__module__
        test.__signature__ = inspect.Signature(fixtures)
        return test
    return wrap
