"""Quality and training time of the fused predictor on fresh simulated patients.

Trains on 5,000 simulated patients (seed 1) exactly as `watchwait train` does, then evaluates on
5,000 *fresh* patients (seed 2) against the oracle (the best possible prediction from what is
recorded) and the baselines trained the same way. Prints a markdown table.

    .venv/bin/python benchmarks/bench_quality.py [--n-train 5000] [--n-test 5000]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from watchwait.metrics import classification_metrics
from watchwait.model_card import metric_rows
from watchwait.simulate import simulate, to_csv_frame
from watchwait.training import masked_coverage, outcome, train
from watchwait.validation import validate_frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=5000)
    args = ap.parse_args()
    tr = simulate(args.n_train, seed=1)
    frame = validate_frame(to_csv_frame(tr.frame))
    t0 = time.perf_counter()
    bundle = train(frame, seed=1, truth=tr.truth, data_description={"synthetic": True})
    t_train = time.perf_counter() - t0
    te = simulate(args.n_test, seed=2)
    test = validate_frame(to_csv_frame(te.frame))
    y = outcome(test)
    oracle = te.truth["p_oracle"].to_numpy()
    P = bundle.predictor
    p = P.predict_proba(P.matrix({c: test[c].to_numpy() for c in test.columns}))
    metrics = {"fused": classification_metrics(y, p), "oracle": classification_metrics(y, oracle)}
    for name, fn in bundle.baselines.items():
        metrics[name] = classification_metrics(y, fn(test))
    cov = masked_coverage(P, test, seed=5, oracle=oracle)
    ratio = metrics["fused"]["auc"] / metrics["oracle"]["auc"]
    print(f"# Quality on {args.n_test} fresh simulated patients (trained on {args.n_train}; {os.cpu_count()} cores)\n")
    print("| model | AUC | Brier | calibration slope | calibration intercept | ECE |\n|---|---|---|---|---|---|")
    for label, m in metric_rows(metrics):
        print(f"| {label} | {m['auc']:.3f} | {m['brier']:.3f} | {m['calibration_slope']:.2f} | {m['calibration_intercept']:+.2f} | {m['ece']:.3f} |")
    others = {k: v["auc"] for k, v in metrics.items() if k not in ("fused", "oracle")}
    print("\n| figure | value | target |\n|---|---|---|")
    print(f"| train on {args.n_train} patients (wall clock) | {t_train:.1f} s | <= 60 s on 2 cores |")
    print(f"| AUC fused / oracle | {ratio:.3f} | >= 0.98 |")
    print(f"| calibration slope | {metrics['fused']['calibration_slope']:.2f} | 0.9-1.1 |")
    print(f"| ECE | {metrics['fused']['ece']:.3f} | <= 0.03 |")
    print(f"| interval coverage (masked inputs, vs probability once known) | {cov['coverage']:.1%} (n={cov['n']}) | 90% +- 2 points |")
    print(f"| interval coverage vs oracle probability once known | {cov['oracle_coverage']:.1%} | reported, no target |")
    print(f"| fused AUC - best baseline AUC | {metrics['fused']['auc'] - max(others.values()):+.3f} ({max(others, key=others.get)}) | > 0 |")
    print("\n| masking scenario | n | coverage | vs oracle | median width |\n|---|---|---|---|---|")
    for k, v in cov["by_scenario"].items():
        print(f"| {k} | {v['n']} | {v['coverage']:.1%} | {v['oracle_coverage']:.1%} | {v['median_width']:.2f} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
