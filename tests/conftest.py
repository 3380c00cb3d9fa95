from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _frame_to_json(frame) -> dict:
    """A DataFrame as plain JSON: its columns, dtypes and cells (None, bool, int, float, str each kept as it is)."""
    import pandas as pd

    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        raise TypeError("built_once stores frames with the default index 0..n-1 only")
    return {"columns": list(frame.columns), "dtypes": [str(t) for t in frame.dtypes],
            "cells": [frame[c].tolist() for c in frame.columns]}


def _frame_from_json(d: dict):
    import pandas as pd

    return pd.DataFrame({c: pd.Series(v, dtype=t) for c, t, v in zip(d["columns"], d["dtypes"], d["cells"])},
                        columns=d["columns"])


def _same_frame(a, b) -> bool:
    """Exactly the same frame: columns, dtypes, values (NaN where NaN), and in object columns each cell's type
    (True is not 1, 1 is not 1.0, None is not NaN)."""
    import math

    import pandas as pd

    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError:
        return False
    for c in a.columns:
        if a[c].dtype == object:
            for x, y in zip(a[c].tolist(), b[c].tolist()):
                if type(x) is not type(y) or not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
                    return False
    return True


def built_once(tmp_path_factory, name: str, build) -> dict:
    """build() run once per test run, not once per xdist worker: the first worker to get here builds the result and
    writes it under the run's temporary folder (pytest-N, shared by the workers of one run; a run without xdist uses
    its own basetemp), holding an exclusive lock (fcntl.flock) meanwhile; the others wait for the lock and read it.
    build(folder) returns a dict of pandas DataFrames (default index); it is stored as plain JSON (no pickle: the
    project never loads one), columns with their dtypes and cells as Python values, and the writer checks that what
    it wrote reads back as the very same frames (dtypes, values, and each cell's type in object columns: Python
    bool/int/float/None) before any worker uses it. build(folder) may also write files into folder that every worker
    then shares."""
    import fcntl
    import json
    import os

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / f"built-once-{name}"
    with open(root / f"built-once-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = folder / "frames.json"
            if done.exists():
                return {k: _frame_from_json(v) for k, v in json.loads(done.read_text()).items()}
            folder.mkdir(exist_ok=True)
            frames = build(folder)
            text = json.dumps({k: _frame_to_json(v) for k, v in frames.items()})
            back = {k: _frame_from_json(v) for k, v in json.loads(text).items()}
            bad = [k for k in frames if not _same_frame(back[k], frames[k])]
            if bad:
                raise TypeError(f"built_once: {bad} would not read back as the same frames from JSON")
            tmp = folder / "frames.json.tmp"
            tmp.write_text(text)
            tmp.replace(done)
            return back  # what every other worker reads: the same frames in every worker
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def sim20k(tmp_path_factory):
    """20,000 simulated patients (no oracle): for calibration-target tests. Built once per run (built_once)."""
    from watchwait.sim import Cohort, simulate

    def build(folder):
        c = simulate(20_000, seed=11, with_oracle=False)
        return {"frame": c.frame, "truth": c.truth}

    return Cohort(**built_once(tmp_path_factory, "sim20k", build))


@pytest.fixture(scope="session")
def sample_records():
    from watchwait.validation import frame_to_records, read_cohort

    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A model trained here, in the test session, on 1,500 simulated patients with the oracle.
    Only tests/unit/test_model.py uses it, so with --dist loadfile one worker builds it: not shared (built_once
    stores frames only, and load_model's bundle would not be the trained object)."""
    from watchwait.sim import simulate
    from watchwait.training import save_model, train
    from watchwait.validation import validate_frame
    from watchwait.sim import to_csv_frame

    c = simulate(1500, seed=21)
    frame = validate_frame(to_csv_frame(c.frame))
    bundle = train(frame, seed=3, truth=c.truth, data_description={"synthetic": True})
    out = save_model(bundle, tmp_path_factory.mktemp("model"))
    return out, bundle


class CliResult:
    """What a `watchwait ...` run left behind, in the shape of subprocess.CompletedProcess."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr


def run_cli(*args, cwd=None) -> CliResult:
    """`watchwait *args` run in this process (watchwait.cli.main) instead of a new Python: what a process would
    show is kept — stdout, stderr, the exit code (argparse's SystemExit code; 1 and the traceback on stderr for an
    uncaught exception), and warnings printed to stderr under Python's default filters. The working folder, numpy's
    error settings (main sets them) and the warning filters are put back afterwards."""
    import contextlib
    import io
    import os
    import traceback
    import warnings

    import numpy as np

    from watchwait.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_np = os.getcwd(), np.geterr()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.resetwarnings()  # Python's own default filters, as in `python -m watchwait`
            warnings.simplefilter("default")
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: usage errors exit 2, --help 0
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=sys.stderr)
            except Exception:  # as the interpreter would: traceback on stderr, exit 1
                traceback.print_exc()
                code = 1
        for w in caught:
            err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line))
    finally:
        os.chdir(old_cwd)
        np.seterr(**old_np)
    return CliResult(["watchwait", *map(str, args)], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def cli():
    """run_cli: the command line in process (see run_cli); tests that need a real process use subprocess."""
    return run_cli
