"""Benchmark: how much the synthetic MR images know about complete response, and how fast they are made.

    .venv/bin/python benchmarks/bench_imaging_signal.py [--n 2000] [--share 0.3] [--jobs 2] [--seed 11]

Simulates ``--n`` patients (watchwait.sim), writes synthetic baseline + restaging T2 series
with a DICOM SEG each for ``--share`` of them (write_cohort_images), extracts the radiomics model
columns through the full DICOM path (radiomics_columns, watchwait_mr_v1.yaml), and prints:

* the time to write and to extract, per imaged patient and for the whole cohort;
* the AUC for complete response (latent score > 0) of every model column on its own
  (direction-free: max(AUC, 1 - AUC), with the direction that wins);
* the AUC of a logistic regression (standardised, L2, C = 1) on all 15 columns, 5-fold
  cross-validated, and on the 5 restaging columns only.

Target (calibration.md section 2, radiomics pooled validation AUC 0.846, 38 studies): best single
column and logistic in about 0.78-0.87. Nothing is asserted here; tests/imaging/test_model_features.py
holds the band test.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchwait.imaging.cohort_images import IMAGING_NOISE_SD, LATENT_PER_SYNTH_UNIT, write_cohort_images  # noqa: E402
from watchwait.imaging.model_features import MODEL_COLUMNS, radiomics_columns  # noqa: E402
from watchwait.sim import simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--share", type=float, default=0.3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sim = simulate(args.n, seed=args.seed, with_oracle=False)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        paths = write_cohort_images(sim.truth, base / "imaging", args.share, args.seed, base, n_jobs=args.jobs)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        cols = radiomics_columns(paths, base, n_jobs=args.jobs)
        t_extract = time.perf_counter() - t0

    imaged = (paths["mri_baseline_dir"] != "").to_numpy()
    y = (sim.truth["latent_score"].to_numpy() > 0)[imaged]
    table = cols[imaged]
    k = int(imaged.sum())
    print(f"# Imaging signal and speed ({args.n} simulated patients, share {args.share}: {k} imaged, "
          f"{int(y.sum())} complete responders; {args.jobs} worker(s), {os.cpu_count()} cores)\n")
    print(f"imaging noise SD {IMAGING_NOISE_SD} (latent units), latent per synth unit {LATENT_PER_SYNTH_UNIT}\n")
    print("| step | total s | s per imaged patient | 1,500 patients x 0.3 (450 imaged), s |")
    print("|---|---|---|---|")
    for name, t in (("write series + SEGs", t_write), ("extract model columns", t_extract)):
        print(f"| {name} | {t:.1f} | {t / k:.3f} | {t / k * 450:.0f} |")

    print("\n| column | AUC | direction |\n|---|---|---|")
    aucs = {}
    for c in MODEL_COLUMNS:
        a = roc_auc_score(y, table[c])
        aucs[c] = (max(a, 1 - a), "higher = CR" if a >= 0.5 else "lower = CR")
    for c, (a, d) in sorted(aucs.items(), key=lambda kv: -kv[1][0]):
        print(f"| {c} | {a:.3f} | {d} |")

    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    for label, names in (("all 15 columns", list(MODEL_COLUMNS)),
                         ("5 restaging columns", [c for c in MODEL_COLUMNS if "_restaging_" in c])):
        p = cross_val_predict(model, table[names].to_numpy(), y, cv=cv, method="predict_proba")[:, 1]
        print(f"\nlogistic regression, {label}, 5-fold CV AUC: {roc_auc_score(y, p):.3f}")
    best = max(aucs.items(), key=lambda kv: kv[1][0])
    print(f"best single column: {best[0]} AUC {best[1][0]:.3f} (target ~0.78-0.87; calibration.md s.2: 0.846)")


if __name__ == "__main__":
    main()
