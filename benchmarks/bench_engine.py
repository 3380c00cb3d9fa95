"""Speed of the engine: assess() with SHAP for one patient, and `watchwait predict` on 100,000 rows.

Each figure comes with a same-process reference so the ratio is meaningful on a noisy machine:
assess() against one plain LightGBM `predict` call (the model's trees alone) on the same row, and predict
against reading the same CSV with pandas.

    .venv/bin/python benchmarks/bench_engine.py [--rows 100000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from watchwait.engine import assess
from watchwait.training import load_model
from watchwait.validation import frame_to_records, read_cohort

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    bundle = load_model()
    records = [r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv")) if r["mmr_status"] == "pMMR"]
    for r in records:  # warm: model loaded, libraries imported
        assess(r, bundle)
    times = []
    for _ in range(30):
        for r in records:
            t = time.perf_counter()
            assess(r, bundle)
            times.append((time.perf_counter() - t) * 1000)
    P = bundle.predictor
    X1 = P.matrix(_cols(records[0]))
    ref = _median_ms(lambda: P.model_.booster.predict(X1, raw_score=True, num_threads=1), 200)

    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort.csv"
        subprocess.run([sys.executable, "-m", "watchwait", "simulate", "--n", str(args.rows), "--seed", "77", "--out", str(cohort)],
                       check=True, capture_output=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "watchwait", "predict", "--cohort", str(cohort), "--out", str(Path(tmp) / "p.csv")],
                       check=True, capture_output=True)
        t_cli = time.perf_counter() - t
        t = time.perf_counter()
        pd.read_csv(cohort, dtype=str, keep_default_na=False)
        t_read = time.perf_counter() - t
    print(f"# Engine speed ({os.cpu_count()} cores)\n")
    print("| figure | value | same-process reference | target |\n|---|---|---|---|")
    print(f"| assess() with explanations and interval, one patient, warm: median | {statistics.median(times):.2f} ms (p90 {sorted(times)[int(0.9 * len(times))]:.2f} ms, n={len(times)}) "
          f"| one LightGBM predict call (the trees alone) on the same row: {ref:.2f} ms (ratio {statistics.median(times) / ref:.1f}x) | <= 20 ms |")
    print(f"| `watchwait predict` on {args.rows:,} rows, end to end (new process: imports, model load, validation, write) "
          f"| {args.rows / t_cli:,.0f} rows/s ({t_cli:.1f} s) | pandas read_csv of the same file: {t_read:.2f} s | >= 20,000 rows/s |")


def _cols(record):
    import numpy as np

    from watchwait.derive import columns_from_record

    return columns_from_record(record)


if __name__ == "__main__":
    main()
