"""``watchwait update`` under a population shift (issue 16, item 2): a model fitted on :mod:`watchwait.sim`,
updated with a few hundred patients of :mod:`watchwait.sim.alt` (a population unlike its own), against the model
as it is, each level of the updating hierarchy, and a refit on the site's patients alone.

Every row is measured on the same 5,000 fresh ``simulate_alt`` patients, whose true probability (the simulator's
oracle) is known: AUC as a share of the oracle's AUC, mean |p - true probability| ("gap") and the calibration slope.

    python benchmarks/bench_update.py [--sizes 300 600] [--site-seeds 3] [--base-n 20000] [--base DIR] [--seed 0]

``--reverse`` swaps the generators (base from ``simulate_alt``; site and test patients from ``simulate``).
``--base DIR`` updates a saved model instead of fitting one (e.g. the shipped model once it is in the data-only
format). Without it the base is ``watchwait train``'s fit with its fixed settings (no tuning) on ``--base-n``
``simulate`` patients (2 bootstrap members: the interval is not measured here). Prints a compact table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from watchwait.sim import alt as simulate_alt
from watchwait.artifacts import ModelBundle, columns_of
from watchwait.metrics import calibration_slope_intercept
from watchwait.model import FusedPredictor
from watchwait.sim import simulate, to_csv_frame
from watchwait.training import MASKED_COPIES, known_outcomes
from watchwait.updating import LEVEL_NAMES, update
from watchwait.validation import validate_frame


def _frame(cohort):
    return validate_frame(to_csv_frame(cohort.frame))


def _base(n: int, seed: int, generator) -> ModelBundle:
    frame, y, _ = known_outcomes(_frame(generator(n, seed=seed, with_oracle=False)))
    P = FusedPredictor(n_members=2, masked_copies=MASKED_COPIES, seed=seed).fit(columns_of(frame), y)
    return ModelBundle(predictor=P, card={"model_version": f"bench-{generator.__module__.split('.')[-1]}-{n}", "created": "",
                                          "method": {}})


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
    ap.add_argument("--site-seeds", type=int, default=3, help="site cohorts per size (each its own seed)")
    ap.add_argument("--reverse", action="store_true", help="the base from simulate_alt, the site and test patients from simulate")
    args = ap.parse_args(argv)

    t0 = time.time()
    if args.base:
        from watchwait.artifacts import load_model

        base = load_model(args.base)
    else:
        base = _base(args.base_n, seed=100 + args.seed, generator=simulate_alt.simulate if args.reverse else simulate)
    site_gen = simulate if args.reverse else simulate_alt.simulate
    site_name = site_gen.__module__.split(".")[-1]
    print(f"base model {base.version}: {time.time() - t0:.0f} s")
    tc = site_gen(args.test_n, seed=900 + args.seed)
    test = _frame(tc)
    y = test["complete_response"].to_numpy(bool)
    oracle = tc.truth["p_oracle"].to_numpy(float)
    auc_oracle = roc_auc_score(y, oracle)
    print(f"test: {len(test)} fresh {site_name} patients, prevalence {y.mean():.3f}, oracle AUC {auc_oracle:.4f}")

    names = ["model as it is (level 0)", "recalibration-in-the-large (level 1)", "logistic recalibration (level 2)",
             "revision of a branch (level 3; the branch cross-validation picks)", "refit on the site (level 4)", "**update, as chosen**"]
    table: dict[int, dict[str, list[dict]]] = {}
    chosen_words: dict[int, list[str]] = {}
    for n in args.sizes:
        table[n] = {k: [] for k in names}
        chosen_words[n] = []
        for r in range(args.site_seeds):
            site = _frame(site_gen(n, seed=500 + n + 37 * r + args.seed, with_oracle=False))
            t = time.time()
            chosen = update(base, site, seed=args.seed + r)
            u = chosen.card["update"]
            fits = [base] + [update(base, site, seed=args.seed + r, level=lv) for lv in (1, 2, 3, 4)] + [chosen]
            for name, b in zip(names, fits):
                table[n][name].append(_measure(b, test, y, oracle, auc_oracle))
            chosen_words[n].append(f"{u['method']} (level 3 would revise {fits[3].card['update']['parameters']['modality']})")
            print(f"n = {n}, site {r + 1}: chose {u['method']} ({time.time() - t:.0f} s for the selection and every level). "
                  f"{u['reason']}", flush=True)

    print()
    print(f"Mean over {args.site_seeds} site cohorts per size (each from its own seed), measured on the same "
          f"{len(test)} fresh {site_name} patients; in brackets the range over the sites.")
    print()
    print("| site patients | model | AUC / oracle's | gap to the true probability | calibration slope | calibration-in-the-large |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        for name in names:
            ms = table[n][name]

            def cell(key, fmt):
                v = np.array([m[key] for m in ms])
                return f"{v.mean():{fmt}} ({v.min():{fmt}} to {v.max():{fmt}})" if len(v) > 1 else f"{v.mean():{fmt}}"

            print(f"| {n} | {name} | {cell('auc_ratio', '.4f')} | {cell('gap', '.4f')} | {cell('slope', '.3f')} | "
                  f"{cell('citl', '+.3f')} |")
    for n in args.sizes:
        print(f"chosen at {n}: " + "; ".join(chosen_words[n]))
    print(f"\n(total {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
