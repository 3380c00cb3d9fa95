"""``watchwait update`` under a population shift (issue 16, item 2): a model fitted on :mod:`watchwait.simulate`,
updated with a few hundred patients of :mod:`watchwait.simulate_alt` (a population unlike its own), against the model
as it is, each level of the updating hierarchy, and a refit on the site's patients alone.

Every row is measured on the same 5,000 fresh ``simulate_alt`` patients, whose true probability (the simulator's
oracle) is known: AUC as a share of the oracle's AUC, mean |p - true probability| ("gap") and the calibration slope.

    python benchmarks/bench_update.py [--sizes 300 600] [--base-n 20000] [--base DIR] [--seed 0]

``--base DIR`` updates a saved model instead of fitting one (e.g. the shipped model once it is in the data-only
format). Without it the base is ``watchwait train``'s fit with its fixed settings (no tuning) on ``--base-n``
``simulate`` patients (2 bootstrap members: the interval is not measured here). Prints a compact table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from watchwait import simulate_alt
from watchwait.artifacts import ModelBundle, columns_of
from watchwait.metrics import calibration_slope_intercept
from watchwait.model import FusedPredictor
from watchwait.simulate import simulate, to_csv_frame
from watchwait.training import MASKED_COPIES, known_outcomes
from watchwait.updating import LEVEL_NAMES, update
from watchwait.validation import validate_frame


def _frame(cohort):
    return validate_frame(to_csv_frame(cohort.frame))


def _base(n: int, seed: int) -> ModelBundle:
    frame, y, _ = known_outcomes(_frame(simulate(n, seed=seed, with_oracle=False)))
    P = FusedPredictor(n_members=2, masked_copies=MASKED_COPIES, seed=seed).fit(columns_of(frame), y)
    return ModelBundle(predictor=P, card={"model_version": f"bench-simulate-{n}", "created": "", "method": {}})


def _measure(bundle: ModelBundle, test, y: np.ndarray, oracle: np.ndarray, auc_oracle: float) -> dict:
    P = bundle.predictor
    p = P.predict_proba(P.matrix(columns_of(test)))
    slope, citl = calibration_slope_intercept(y, p)
    return {"auc_ratio": roc_auc_score(y, p) / auc_oracle, "gap": float(np.mean(np.abs(p - oracle))), "slope": slope, "citl": citl}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 600])
    ap.add_argument("--base-n", type=int, default=20_000)
    ap.add_argument("--base", default=None, help="a saved model folder to update instead of fitting a base")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-n", type=int, default=5000)
    args = ap.parse_args(argv)

    t0 = time.time()
    if args.base:
        from watchwait.artifacts import load_model

        base = load_model(args.base)
    else:
        base = _base(args.base_n, seed=100 + args.seed)
    print(f"base model {base.version}: {time.time() - t0:.0f} s")
    tc = simulate_alt.simulate(args.test_n, seed=900 + args.seed)
    test = _frame(tc)
    y = test["complete_response"].to_numpy(bool)
    oracle = tc.truth["p_oracle"].to_numpy(float)
    auc_oracle = roc_auc_score(y, oracle)
    print(f"test: {len(test)} fresh simulate_alt patients, prevalence {y.mean():.3f}, oracle AUC {auc_oracle:.4f}")

    rows = []
    for n in args.sizes:
        site = _frame(simulate_alt.simulate(n, seed=500 + n + args.seed, with_oracle=False))
        t = time.time()
        chosen = update(base, site, seed=args.seed)
        t_sel = time.time() - t
        u = chosen.card["update"]
        rows.append((n, "model as it is (level 0)", _measure(base, test, y, oracle, auc_oracle), ""))
        for lv in (1, 2, 3):
            b = update(base, site, seed=args.seed, level=lv)
            name = LEVEL_NAMES[lv] if lv != 3 else f"revision of {b.card['update']['parameters']['modality']}"
            rows.append((n, f"{name} (level {lv})", _measure(b, test, y, oracle, auc_oracle), ""))
        t = time.time()
        refit = update(base, site, seed=args.seed, level=4)
        rows.append((n, "refit on the site (level 4)", _measure(refit, test, y, oracle, auc_oracle), f"{time.time() - t:.0f} s"))
        rows.append((n, f"**update, as chosen: {u['method']}**", _measure(chosen, test, y, oracle, auc_oracle),
                     f"{t_sel:.0f} s"))
        print(f"n = {n}: {u['reason']}", flush=True)

    print()
    print("| site patients | model | AUC / oracle's | gap | calibration slope | calibration-in-the-large | time |")
    print("|---|---|---|---|---|---|---|")
    for n, name, m, tm in rows:
        print(f"| {n} | {name} | {m['auc_ratio']:.4f} | {m['gap']:.4f} | {m['slope']:.3f} | {m['citl']:+.3f} | {tm} |")
    print(f"\n(total {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
