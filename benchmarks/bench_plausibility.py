"""Joint plausibility of the shipped model: whole patients at the edges, and how far each modality moves patients.

(a) The plausibility table (tests/clinical/plausibility.csv, read and judged by the same code as
    tests/clinical/test_plausibility.py): per profile, the expected range, the probability and its interval, whether
    ``FLAG-number-vs-picture`` fired, whether the probability is in range, and whether the row passes.
(b) Per modality, on simulated patients (``watchwait.sim.simulate(n, seed)``, predicted by the shipped model
    through the same steps as ``assess``: matrix, the outside-the-data blanking, ``FusedPredictor.explain``): the
    mean |contribution| in logit and in probability points, its 95th percentile, and the share of patients moved more
    than 20 points by that modality alone, beside the branch's held-out AUC alone from the model card
    (``metrics_held_out["<modality>_only"]``; its ``auc_with_data`` when the card has one, and the table says so).
    Probability points are counted two ways:
      - ``screen``: as ``assess`` shows them (p - p_base shared in proportion to the logit contributions);
      - ``leave-out``: p minus the probability with that modality's logit contribution removed, the rest kept
        (how far that modality alone moves this patient's number).
    A branch near chance must not move patients far.

    .venv/bin/python benchmarks/bench_plausibility.py [--n 5000] [--seed 20261207] [--label latest]

Writes the same figures as JSON to benchmarks/results/plausibility_<label>.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MOVE_PP = 20.0  # "moved more than 20 points"
NEAR_CHANCE_AUC = 0.60  # below this a branch alone is called near chance in the printout (a choice of this benchmark)


def _plausibility_module():
    spec = importlib.util.spec_from_file_location("test_plausibility", ROOT / "tests" / "clinical" / "test_plausibility.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def table(bundle) -> list[dict]:
    from watchwait.engine import assess

    tp = _plausibility_module()
    samples = tp.sample_records()
    out = []
    for row in tp.read_table():
        a = assess(tp.profile_record(row, samples), bundle)
        got = tp.judge(row, a)
        out.append(dict(id=row["id"], base=row["base"], notice=row["notice"], low=float(row["low"]), high=float(row["high"]),
                        category=got["category"], probability=got["p"],
                        interval=None if got["interval"] is None else list(got["interval"]),
                        fired=got["fired"], conditional=got["conditional"], in_range=got["in_range"],
                        passes=not got["problems"], problems=got["problems"], modalities=got["modalities"],
                        flags=got["flags"], description=row["description"]))
    return out


def modality_shares(bundle, n: int, seed: int) -> dict:
    from watchwait.artifacts import columns_of
    from watchwait.derive import derived_columns
    from watchwait.engine import _outside_data
    from watchwait.features import modalities_not_tested
    from watchwait.rules import first_match, load_rules
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import validate_frame

    t0 = time.perf_counter()
    frame = validate_frame(to_csv_frame(simulate(n, seed=seed, with_oracle=False).frame))
    rules = load_rules()
    cols = columns_of(frame)
    derived = derived_columns(cols, rules.thresholds)
    in_scope = first_match(rules.scope, {**cols, **derived}, rules.thresholds, len(frame)) < 0
    pred = bundle.predictor
    out = _outside_data(pred, pred.matrix(cols), cols, len(frame))  # as assess: radiomics unlike the training data blanked
    X = out.X[in_scope]
    tested = {m: ~np.asarray(v, bool)[in_scope] for m, v in modalities_not_tested(pred.features_, out.cols).items()}
    expl = pred.explain(X, pred._design(X))
    phi = expl.contributions_logit
    logit = expl.base_logit + phi.sum(axis=1)
    p = 1 / (1 + np.exp(-logit))
    p_base = 1 / (1 + np.exp(-expl.base_logit))
    total = phi.sum(axis=1)
    scale = np.divide(p - p_base, total, out=np.zeros_like(total), where=np.abs(total) > 1e-12)
    card = bundle.card.get("metrics_held_out", {})
    mods = {}
    for m in dict.fromkeys(f.modality for f in pred.features_):
        idx = [j for j, f in enumerate(pred.features_) if f.modality == m]
        lm = phi[:, idx].sum(axis=1)
        screen = np.abs(lm * scale) * 100
        leave = np.abs(p - 1 / (1 + np.exp(-(logit - lm)))) * 100
        has = tested.get(m, np.ones(len(X), bool))
        entry = card.get(f"{m}_only", {})
        auc_key = "auc_with_data" if "auc_with_data" in entry else "auc"
        mods[m] = dict(
            n_with_data=int(has.sum()),
            mean_abs_logit=float(np.abs(lm).mean()), p95_abs_logit=float(np.percentile(np.abs(lm), 95)),
            mean_abs_pp_screen=float(screen.mean()), p95_abs_pp_screen=float(np.percentile(screen, 95)),
            share_over_20pp_screen=float((screen > MOVE_PP).mean()),
            mean_abs_pp_leave_out=float(leave.mean()), p95_abs_pp_leave_out=float(np.percentile(leave, 95)),
            share_over_20pp_leave_out=float((leave > MOVE_PP).mean()),
            with_data_mean_abs_pp_leave_out=float(leave[has].mean()) if has.any() else None,
            with_data_p95_abs_pp_leave_out=float(np.percentile(leave[has], 95)) if has.any() else None,
            with_data_share_over_20pp_leave_out=float((leave[has] > MOVE_PP).mean()) if has.any() else None,
            auc_alone=entry.get(auc_key), auc_source=f'metrics_held_out["{m}_only"]["{auc_key}"]' if entry else None,
        )
    return dict(n=int(len(frame)), n_in_scope=int(in_scope.sum()), seed=seed, seconds=round(time.perf_counter() - t0, 1),
                mean_p=float(p.mean()), modalities=mods, radiomics_transplanted=_radiomics_transplanted(bundle, frame, in_scope))


def _radiomics_transplanted(bundle, frame, in_scope) -> list[dict]:
    """The simulator draws no radiomics, so (b) cannot see that branch move anyone. Here each sample patient's
    radiomics (the columns of those that carry them) are put onto every simulated patient, the rest of the record
    kept: how far do those radiomics alone move these patients (leave-out points, as in (b))?"""
    from watchwait.artifacts import columns_of
    from watchwait.engine import _outside_data
    from watchwait.schema import RADIOMICS_PREFIX

    tp = _plausibility_module()
    pred = bundle.predictor
    idx = [j for j, f in enumerate(pred.features_) if f.modality == "radiomics"]
    out = []
    for pid, rec in tp.sample_records().items():
        rad = {k: v for k, v in rec.items() if k.startswith(RADIOMICS_PREFIX) and v is not None}
        if not rad:
            continue
        f = frame[in_scope].copy()
        for k, v in rad.items():
            f[k] = float(v)
        cols = columns_of(f)
        o = _outside_data(pred, pred.matrix(cols), cols, len(f))
        used = ~np.array([bool(r) for r in o.radiomics_reason])
        expl = pred.explain(o.X, pred._design(o.X))
        phi = expl.contributions_logit
        logit = expl.base_logit + phi.sum(axis=1)
        lm = phi[:, idx].sum(axis=1)
        pp = (1 / (1 + np.exp(-logit)) - 1 / (1 + np.exp(-(logit - lm)))) * 100
        out.append(dict(sample=pid, n=int(len(f)), n_used=int(used.sum()), mean_logit=float(lm.mean()),
                        mean_pp=float(pp.mean()), mean_abs_pp=float(np.abs(pp).mean()),
                        p95_abs_pp=float(np.percentile(np.abs(pp), 95)), share_over_20pp=float((np.abs(pp) > MOVE_PP).mean())))
    return out


def _f(x, fmt="{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--label", default="latest", help="the JSON goes to benchmarks/results/plausibility_<label>.json")
    ap.add_argument("--note", default="", help="where the code measured comes from, printed and kept in the JSON")
    args = ap.parse_args()

    import watchwait
    from watchwait.training import load_model

    bundle = load_model()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    pkg = Path(watchwait.__file__).resolve().parent
    print(f"watchwait from {pkg}; model {bundle.version} ({bundle.path})")
    print(f"git HEAD of {ROOT}: {commit or '?'}" + ("" if pkg.parent == ROOT else " (not the code measured: the package above is "
                                                       "imported from elsewhere)"))
    if args.note:
        print(f"note: {args.note}")

    rows = table(bundle)
    print("\n(a) Plausibility table (tests/clinical/plausibility.csv; pass = in range, or FLAG-number-vs-picture with a "
          "conditional headline; notice must = it fires whatever the probability, no = it must not fire when in range)")
    print(f"{'id':4} {'base':7} {'category':11} {'range':11} {'p':>6} {'interval':13} {'notice':6} {'fired':5} "
          f"{'in range':8} {'pass':4}  top modalities (pp)")
    for r in rows:
        iv = "-" if r["interval"] is None else f"{r['interval'][0]:.2f}-{r['interval'][1]:.2f}"
        top = ", ".join(f"{m} {v:+.0f}" for m, v in sorted(r["modalities"].items(), key=lambda kv: -abs(kv[1]))[:3])
        print(f"{r['id']:4} {r['base']:7} {r['category']:11} {r['low']:.2f}-{r['high']:.2f}  {_f(r['probability']):>6} {iv:13} "
              f"{r['notice']:6} {'yes' if r['fired'] else 'no':5} {'yes' if r['in_range'] else 'no':8} "
              f"{'yes' if r['passes'] else 'NO':4}  {top}")
    failing = [r["id"] for r in rows if not r["passes"]]
    print(f"{len(rows) - len(failing)} of {len(rows)} profiles pass; failing: {', '.join(failing) or 'none'}")

    sh = modality_shares(bundle, args.n, args.seed)
    print(f"\n(b) Per-modality share of the logit on {sh['n']:,} simulated patients (simulate(seed={sh['seed']}); "
          f"{sh['n_in_scope']:,} in scope; mean p {sh['mean_p']:.3f}; {sh['seconds']} s)")
    print("    |logit| and |pp| over all in-scope patients; 'screen' = points as assess shows them, 'leave-out' = p minus p "
          "without that modality's contribution; >20 = share moved more than 20 points by that modality alone")
    print(f"{'modality':10} {'AUC alone':>9} {'mean|lg|':>8} {'p95|lg|':>8} {'mean|pp|':>8} {'p95|pp|':>8} {'>20 scr':>8} "
          f"{'mean|pp|':>8} {'p95|pp|':>8} {'>20 lo':>8} {'n data':>7} {'>20 lo|data':>11}")
    print(f"{'':10} {'':>9} {'':>8} {'':>8} {'screen':>8} {'screen':>8} {'':>8} {'leave':>8} {'leave':>8} {'':>8}")
    for m, v in sh["modalities"].items():
        print(f"{m:10} {_f(v['auc_alone']):>9} {v['mean_abs_logit']:8.3f} {v['p95_abs_logit']:8.3f} "
              f"{v['mean_abs_pp_screen']:8.2f} {v['p95_abs_pp_screen']:8.2f} {v['share_over_20pp_screen']:8.1%} "
              f"{v['mean_abs_pp_leave_out']:8.2f} {v['p95_abs_pp_leave_out']:8.2f} {v['share_over_20pp_leave_out']:8.1%} "
              f"{v['n_with_data']:7,} {_f(v['with_data_share_over_20pp_leave_out'], '{:.1%}'):>11}")
    srcs = sorted({v["auc_source"] for v in sh["modalities"].values() if v["auc_source"]})
    print("AUC alone from models/shipped/model_card.json: " + "; ".join(srcs) +
          ("" if any("auc_with_data" in s for s in srcs) else
           " (no auc_with_data key in this card: the AUC is over every held-out patient, blank inputs included)"))
    img = bundle.card.get("imaging_added") or {}
    if img:
        w, wo = img.get("with_radiomics", {}), img.get("without_radiomics", {})
        print(f"model card imaging_added: on {img.get('n_imaged_held_out')} held-out patients with MRI the fused model's AUC is "
              f"{_f(w.get('auc'))} with and {_f(wo.get('auc'))} without its radiomics branch (the card's only figure on patients "
              "with radiomics)")
    for m, v in sh["modalities"].items():
        if v["n_with_data"] == 0:
            print(f"NOTE: no simulated patient has {m} data (the simulator draws none): (b) cannot see that branch move "
                  "anyone; see (c)")
        elif v["auc_alone"] is not None and v["auc_alone"] < NEAR_CHANCE_AUC:
            print(f"NOTE: {m} alone is near chance (AUC {v['auc_alone']:.3f} < {NEAR_CHANCE_AUC}, a threshold of this "
                  f"benchmark) yet moves {v['share_over_20pp_leave_out']:.1%} of all patients and "
                  f"{_f(v['with_data_share_over_20pp_leave_out'], '{:.1%}')} of those with its data more than 20 points "
                  f"(95th percentile {v['with_data_p95_abs_pp_leave_out'] or 0:.1f} points among those with data)")

    print(f"\n(c) The radiomics of each sample patient that carries them, put onto the same {sh['n_in_scope']:,} simulated "
          "patients (the rest of each record kept): how far those radiomics alone move them (leave-out points)")
    print(f"{'sample':8} {'used':>6} {'mean lg':>8} {'mean pp':>8} {'mean|pp|':>8} {'p95|pp|':>8} {'>20 pp':>7}")
    for r in sh["radiomics_transplanted"]:
        print(f"{r['sample']:8} {r['n_used'] / r['n']:6.1%} {r['mean_logit']:+8.3f} {r['mean_pp']:+8.2f} {r['mean_abs_pp']:8.2f} "
              f"{r['p95_abs_pp']:8.2f} {r['share_over_20pp']:7.1%}")
    print("used = share of patients whose radiomics the support check let into the model (the others are blanked, as assess "
          f"does); radiomics alone: AUC {_f(sh['modalities'].get('radiomics', {}).get('auc_alone'))} (model card)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"plausibility_{args.label}.json"
    out.write_text(json.dumps(dict(model_version=bundle.version, git_head=commit, watchwait=str(pkg), note=args.note,
                                   table=rows, failing=failing, modality_shares=sh), indent=1, default=float) + "\n",
                   encoding="utf-8")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
