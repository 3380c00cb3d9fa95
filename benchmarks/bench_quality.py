"""Quality of the fused predictor against generic peers, on two generators, in one run (issue 8).

For each generator (watchwait.sim and watchwait.sim.alt): a training file and 5,000 fresh
test patients from other seeds. ``watchwait.training.train`` fits the fused model on 80% of the training
file (the other 20% calibrates the conformal interval and gives the model card's figures), and fits the
peers on the same 80%: logistic regression with missing-value indicators and HistGradientBoosting on the
raw columns (watchwait.peers), and InterpretML's EBM on the raw columns (``pip install -e ".[bench]"``).
Every model is then scored on the test patients against the simulator's true probability ("oracle"):

* AUC / the oracle's AUC, mean |p - oracle| ("gap"), calibration slope, ECE (10 bins);
* wrong-way moves: every direction of watchwait.directions applied to every test patient it applies
  to; a move is wrong when the probability falls (by more than 1e-12);
* interval coverage of the oracle, as recorded and per masking scenario: the scenario's inputs are
  blanked, the oracle is recomputed for the blanked record, and the interval comes from the blanked record.

Speed (same run): ``assess()`` with explanations per sample patient (median ms), ``predict_frame``
rows/s on 20,000 patients, ``train`` on 5,000 patients (s).

    .venv/bin/python benchmarks/bench_quality.py [--n-train 20000] [--n-test 5000] [--generators simulate,alt]
        [--no-ebm] [--cache DIR] [--compare-spread] [--no-quality]

RESULTS: see the README ("Model quality" table), which quotes this script's output.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_cache import cached_cohort
from watchwait import sim as sim_main
from watchwait.sim import alt as sim_alt
from watchwait.artifacts import columns_of
from watchwait.directions import pairs
from watchwait.metrics import classification_metrics
from watchwait.model import missing_groups
from watchwait.peers import raw_columns
from watchwait.sim import to_csv_frame
from watchwait.training import outcome, train
from watchwait.validation import validate_frame

GENERATORS = {"simulate": sim_main, "alt": sim_alt}
MASK_SCENARIOS: dict[str, tuple[str, ...]] = {
    "ctDNA not tested": ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml"),
    "ctDNA at assessment pending": ("ctdna_post_treatment_mtm_ml",),
    "PD-L1 not tested": ("pdl1_cps", "pdl1_tps_pct"),
    "CEA at assessment pending": ("cea_post_ng_ml",),
    "restaging MRI pending": ("mr_trg", "dwi_restriction", "ymr_n_stage", "ymr_emvi", "residual_lesion_mm"),
    "endoscopy and DRE pending": ("endoscopy", "dre"),
    "ctDNA and PD-L1 not tested": ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml", "pdl1_cps",
                                   "pdl1_tps_pct"),
    "baseline only (no restaging, no blood)": ("mr_trg", "dwi_restriction", "ymr_n_stage", "ymr_emvi", "residual_lesion_mm",
                                               "restaging_biopsy", "endoscopy", "dre", "cea_post_ng_ml", "ctdna_baseline_mtm_ml",
                                               "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml"),
}
TOL = 1e-12


def cohort(gen: str, n: int, seed: int, cache: str | None):
    return cached_cohort(cache, f"q_{gen}_{n}_{seed}", lambda: GENERATORS[gen].simulate(n, seed=seed))


def oracle_of(gen: str, frame: pd.DataFrame, regimen: np.ndarray) -> np.ndarray:
    o = GENERATORS[gen].oracle(frame, regimen)
    return o[0] if isinstance(o, tuple) else o


def records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v) for k, v in r.items()}
            for r in frame.astype(object).to_dict("records")]


def wrong_moves(predict, frame: pd.DataFrame) -> tuple[int, int]:
    recs = records(frame)
    changes = pairs(recs)
    before = predict(frame)
    after = predict(pd.DataFrame([b for _, _, b in changes], columns=frame.columns))
    idx = np.array([i for _, i, _ in changes])
    return int((after < before[idx] - TOL).sum()), len(changes)


def ebm_peer(frame_tr: pd.DataFrame, y_tr: np.ndarray):
    from interpret.glassbox import ExplainableBoostingClassifier

    m = ExplainableBoostingClassifier(interactions="3x", outer_bags=8, max_bins=1024, n_jobs=2, random_state=0)
    m.fit(raw_columns(frame_tr), y_tr)
    return lambda fr: m.predict_proba(raw_columns(fr))[:, 1]


def scenario_coverage(gen: str, bundle, frame: pd.DataFrame, truth: pd.DataFrame) -> dict[str, tuple[int, float, float]]:
    P = bundle.predictor
    regimen = truth["regimen"].to_numpy()
    out = {}
    cols = columns_of(frame)
    lo, hi = P.interval(P.matrix(cols), groups=missing_groups(cols))
    o = truth["p_oracle"].to_numpy(float)
    out["as recorded"] = (len(frame), float(np.mean((o >= lo) & (o <= hi))), float(np.median(hi - lo)))
    for name, blank in MASK_SCENARIOS.items():
        has = frame[list(blank)].notna().any(axis=1).to_numpy()
        sub = frame[has].reset_index(drop=True).copy()
        for c in blank:
            sub[c] = None if sub[c].dtype == object else np.nan
        o = oracle_of(gen, sub, regimen[has])
        cols = columns_of(sub)
        lo, hi = P.interval(P.matrix(cols), groups=missing_groups(cols))
        out[name] = (len(sub), float(np.mean((o >= lo) & (o <= hi))), float(np.median(hi - lo)))
    return out


def speed(bundle, gen: str, cache: str | None) -> dict[str, float]:
    from watchwait.engine import assess, predict_frame
    from watchwait.validation import frame_to_records, read_cohort

    root = Path(__file__).resolve().parents[1]
    samples = [r for r in frame_to_records(read_cohort(root / "sample_data" / "sample_patients.csv")) if r["mmr_status"] == "pMMR"]
    for r in samples:
        assess(r, model=bundle)  # warm
    ms = []
    for _ in range(5):
        for r in samples:
            t = time.perf_counter()
            assess(r, model=bundle)
            ms.append(1000 * (time.perf_counter() - t))
    big, _ = cohort(gen, 20000, 4242, cache)
    t = time.perf_counter()
    predict_frame(big, bundle)
    rows_s = len(big) / (time.perf_counter() - t)
    f5, t5 = cohort(gen, 5000, 4343, cache)
    t = time.perf_counter()
    train(f5, seed=0, truth=t5, data_description={"synthetic": True})
    return {"assess_ms": statistics.median(ms), "assess_ms_p90": float(np.percentile(ms, 90)), "predict_rows_s": rows_s,
            "train_5000_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=25000)
    ap.add_argument("--n-test", type=int, default=5000)
    ap.add_argument("--generators", default="simulate,alt")
    ap.add_argument("--no-ebm", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--compare-spread", action="store_true",
                    help="also train with spread='refits' (the 8 refits evaluated per patient) and print its interval "
                         "beside the learnt spread's, and its predict_frame speed beside the default's")
    ap.add_argument("--no-quality", action="store_true", help="skip the peers' table (the interval and speed only)")
    args = ap.parse_args()
    print(f"# bench_quality: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"train {args.n_train} (80% fitted, 20% calibrates the interval), test {args.n_test} fresh patients\n")
    from sklearn.model_selection import train_test_split

    for gen in args.generators.split(","):
        frame, truth = cohort(gen, args.n_train, 100, args.cache)
        test, ttruth = cohort(gen, args.n_test, 200, args.cache)
        t = time.perf_counter()
        bundle = train(frame, seed=0, truth=truth, data_description={"synthetic": True, "generator": gen})
        fit_s = time.perf_counter() - t
        y = outcome(frame)
        idx_tr, _ = train_test_split(np.arange(len(frame)), test_size=0.2, stratify=y, random_state=0)  # train()'s own split
        P = bundle.predictor
        models = {"fused (watchwait)": lambda fr, P=P: P.predict_proba(P.matrix(columns_of(fr))),
                  "logistic + missing indicators (raw)": bundle.baselines["peer_logistic"],
                  "HistGradientBoosting (raw)": bundle.baselines["peer_hgb"]}
        if not args.no_ebm and not args.no_quality:
            t0 = time.perf_counter()
            models["EBM, pairs 3x (raw)"] = ebm_peer(frame.iloc[idx_tr].reset_index(drop=True), y[idx_tr])
            print(f"(EBM fitted in {time.perf_counter() - t0:.0f} s)")
        yt = outcome(test)
        o = ttruth["p_oracle"].to_numpy(float)
        auc_o = classification_metrics(yt, o)["auc"]
        print(f"\n## {gen}: oracle AUC {auc_o:.4f}, prevalence {yt.mean():.3f}; fused train() {fit_s:.0f} s\n")
        print("| model | AUC / oracle | mean abs(p - oracle) | calibration slope | ECE | wrong-way moves |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, predict in ({} if args.no_quality else models).items():
            p = predict(test)
            m = classification_metrics(yt, p)
            wrong, n = wrong_moves(predict, test)
            print(f"| {name} | {m['auc'] / auc_o:.4f} | {np.mean(np.abs(p - o)):.4f} | {m['calibration_slope']:.3f} | {m['ece']:.4f} "
                  f"| {wrong} of {n} |", flush=True)
        # the same training file without its true probabilities, as a hospital has it: parametric-bootstrap calibration
        blind = train(frame, seed=0, truth=None, data_description={"synthetic": True, "generator": gen})
        refits = train(frame, seed=0, truth=truth, spread="refits") if args.compare_spread else None
        print("\n| interval: scenario | patients | oracle inside the 90% interval (median width): calibrated on true probabilities "
              "| the same, calibrated without them (parametric bootstrap) |" + (" the first, spread='refits' |" if refits else ""))
        print("| --- | --- | --- | --- |" + (" --- |" if refits else ""))
        blind_cov = scenario_coverage(gen, blind, test, ttruth)
        refits_cov = scenario_coverage(gen, refits, test, ttruth) if refits is not None else {}
        if refits is not None:
            print(f"(learnt spread: {P.interval_method_}; the last column: the same model with spread='refits')")
        for name, (n, cov, width) in scenario_coverage(gen, bundle, test, ttruth).items():
            _, bcov, bwidth = blind_cov[name]
            extra = f" {refits_cov[name][1]:.1%} ({refits_cov[name][2]:.3f}) |" if refits is not None else ""
            print(f"| {name} | {n} | {cov:.1%} ({width:.3f}) | {bcov:.1%} ({bwidth:.3f}) |{extra}", flush=True)
        if not args.no_speed and gen == args.generators.split(",")[0]:
            s = speed(bundle, gen, args.cache)
            print(f"\nspeed: assess() with explanations median {s['assess_ms']:.1f} ms (p90 {s['assess_ms_p90']:.1f}); "
                  f"predict_frame {s['predict_rows_s']:,.0f} rows/s on 20,000 patients; train() on 5,000 patients {s['train_5000_s']:.1f} s")
            if refits is not None:
                r = speed(refits, gen, args.cache)
                print(f"same, spread='refits' (measured after, same process): assess() median {r['assess_ms']:.1f} ms; "
                      f"predict_frame {r['predict_rows_s']:,.0f} rows/s; ratio {s['predict_rows_s'] / r['predict_rows_s']:.2f}x")


if __name__ == "__main__":
    main()
