"""Child process of test_store_crash.py: imports the same cohort (with a new `site` each time, so every import
writes new assessment versions) into one new meeting after another, until it is killed.

    python crash_writer.py DATABASE_URL COHORT_CSV
Prints "begin <meeting id>" before each import and "done <meeting id>" after it commits."""

import io
import sys

import pandas as pd

from watchwait.store import Store

url, path = sys.argv[1], sys.argv[2]
frame = pd.read_csv(path, dtype=str, keep_default_na=False)
store = Store(url)
loop = 0
while True:
    loop += 1
    frame["site"] = f"loop{loop}"
    data = frame.to_csv(index=False).encode()
    m = store.create_meeting("2026-12-01", f"import {loop}", "crash-test")
    print("begin", m.id, flush=True)
    report = store.import_cases(m.id, data, actor="crash-test", screen="Meeting")
    assert report.ok, report.issues
    print("done", m.id, flush=True)
