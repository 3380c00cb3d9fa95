"""The ``watchwait`` command (also ``python -m watchwait``).

Exit codes: 0 success; 2 bad input (a plain message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from watchwait.errors import WatchwaitError


def _cmd_simulate(args) -> int:
    from watchwait.simulate import simulate, to_csv_frame

    cohort = simulate(args.n, seed=args.seed, with_oracle=args.truth is not None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = cohort.frame
    if args.imaging_share > 0:
        from watchwait.imaging.cohort_images import write_cohort_images

        images = Path(args.images_dir) if args.images_dir else out.parent / f"{out.stem}_imaging"
        paths = write_cohort_images(cohort.truth[["patient_id", "latent_score"]], images, share=args.imaging_share,
                                    seed=args.seed, base_dir=out.parent, n_jobs=args.jobs)
        frame = frame.drop(columns=[c for c in paths.columns if c != "patient_id" and c in frame.columns]).merge(paths, on="patient_id", how="left")
        print(f"wrote synthetic MRI for {int((paths['mri_baseline_dir'] != '').sum())} patients under {images}")
    to_csv_frame(frame).to_csv(out, index=False)
    if args.truth:
        cohort.truth.to_csv(args.truth, index=False)
    print(f"wrote {len(cohort.frame)} simulated patients to {args.out}" + (f" and the oracle to {args.truth}" if args.truth else ""))
    return 0


def _cmd_train(args) -> int:
    import pandas as pd

    from watchwait.cohort import read_model_cohort
    from watchwait.training import save_model, train

    frame = read_model_cohort(args.cohort, n_jobs=args.jobs)
    truth = pd.read_csv(args.truth) if args.truth else None
    synthetic = bool(args.synthetic or (frame["site"].astype(str) == "synthetic").all())
    desc = {"synthetic": synthetic, "source_file": Path(args.cohort).name}
    if synthetic:
        desc["generator"] = "watchwait.simulate (calibrated to ../shared/clinical/calibration.md)"
    bundle = train(frame, seed=args.seed, truth=truth, data_description=desc)
    out = save_model(bundle, args.out)
    m = bundle.card["metrics_held_out"]["fused"]
    cov = bundle.card["interval_coverage_held_out"]
    print(f"model {bundle.version} written to {out}: held-out AUC {m['auc']:.3f}, Brier {m['brier']:.3f}, "
          f"calibration slope {m['calibration_slope']:.2f}, ECE {m['ece']:.3f}, interval coverage {cov['coverage']:.1%} (nominal {cov['nominal']:.0%})")
    return 0


def _cmd_predict(args) -> int:
    from watchwait.cohort import read_model_cohort
    from watchwait.engine import predict_frame

    frame = read_model_cohort(args.cohort, n_jobs=args.jobs)
    out = predict_frame(frame, args.model)
    write_csv(out, args.out)
    print(f"wrote predictions for {len(out)} patients to {args.out}")
    return 0


def _cmd_evaluate(args) -> int:
    import pandas as pd

    from watchwait.metrics import classification_metrics
    from watchwait.training import load_model, masked_coverage, outcome
    from watchwait.cohort import read_model_cohort
    from watchwait.engine import predict_frame

    frame = read_model_cohort(args.cohort, n_jobs=args.jobs)
    bundle = load_model(args.model)
    y = outcome(frame)
    pred = predict_frame(frame, bundle)
    ok = pred["p_complete_response"].notna().to_numpy()
    result = {"model_version": bundle.version, "n_in_scope": int(ok.sum()), "n_out_of_scope": int((~ok).sum()),
              "fused": classification_metrics(y[ok], pred["p_complete_response"].to_numpy()[ok])}
    oracle = None
    if args.truth:
        o = pd.read_csv(args.truth).set_index("patient_id")["p_oracle"].reindex(frame["patient_id"]).to_numpy(float)
        result["oracle"] = classification_metrics(y[ok], o[ok])
        result["fused"]["auc_ratio_to_oracle"] = round(result["fused"]["auc"] / result["oracle"]["auc"], 4)
        oracle = o[ok]
    result["interval_coverage"] = masked_coverage(bundle.predictor, frame[ok].reset_index(drop=True), oracle=oracle)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_explain(args) -> int:
    from watchwait.cohort import add_radiomics
    from watchwait.engine import assess
    from watchwait.validation import frame_to_records, read_cohort

    frame = read_cohort(args.cohort)
    rows = frame[frame["patient_id"] == args.patient]
    if rows.empty:
        raise WatchwaitError(f"patient {args.patient!r} is not in {Path(args.cohort).name}; patient_id must be one of the file's ids.")
    rows = add_radiomics(rows.reset_index(drop=True), base_dir=Path(args.cohort).resolve().parent)
    result = assess(frame_to_records(rows)[0], model=args.model)
    if args.json:
        print(result.to_json())
        return 0
    print(format_assessment(result))
    return 0


def write_csv(frame, path) -> None:
    """CSV via Arrow's writer (several times faster than pandas' for 100,000 rows); blanks for NaN.
    Written to a temporary file first, so a failure never leaves a half-written file."""
    import os

    import pyarrow as pa
    import pyarrow.csv as pacsv

    tmp = f"{path}.tmp"
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp,
                    pacsv.WriteOptions(quoting_style="needed"))
    os.replace(tmp, path)


def format_assessment(a) -> str:
    lines = [f"patient {a.patient_id}   model {a.model_version}   rules {a.ruleset_version}"]
    for n in a.scope_notices:
        lines += [f"SCOPE [{n.rule_id}] {n.title}", f"  {n.rationale}", f"  source: {n.source}"]
    if a.probability is not None:
        lo, hi = a.interval
        lines.append(f"P(complete response) = {a.probability:.1%}  ({a.interval_level:.0%} interval {lo:.1%} to {hi:.1%})"
                     + ("   [synthetic training data]" if a.synthetic_training else ""))
    lines.append(f"category: {a.category_label}")
    s = a.suggestion
    lines += [f"suggested: {s.label}  [{s.rule_id}]", f"  {s.rationale}", f"  source: {s.source}"]
    for f in s.flags:
        lines += [f"FLAG [{f.rule_id}] {f.message}", f"  source: {f.source}"]
    if a.missing_modalities:
        lines.append("not available: " + ", ".join(a.missing_modalities))
    if a.contributions:
        lines.append("contributions (probability points, largest first; base " + f"{a.base_probability:.1%}):")
        for c in a.contributions:
            if abs(c.shap_pp) >= 0.05:
                lines.append(f"  {c.shap_pp:+6.1f}  {c.modality:<10} {c.label:<40} {c.value}")
        lines.append("by modality: " + ", ".join(f"{m} {v['shap_pp']:+.1f}" for m, v in a.modality_contributions.items()))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchwait", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="write a simulated cohort file (and, separately, the oracle)")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--truth", help="also write the oracle P(CR | observed inputs) and latent truth here")
    s.add_argument("--imaging-share", type=float, default=0.0,
                   help="share of patients who also get synthetic baseline + restaging MRI with a SEG (default 0)")
    s.add_argument("--images-dir", help="folder for the synthetic MRI (default: <out>_imaging next to the cohort file)")
    s.add_argument("--jobs", type=int, default=1, help="parallel workers for writing MRI")
    s.set_defaults(func=_cmd_simulate)
    t = sub.add_parser("train", help="train a model artifact folder from a cohort file")
    t.add_argument("--cohort", required=True)
    t.add_argument("--out", required=True, help="artifact folder (model.joblib + model card)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--truth", help="oracle file from `simulate --truth`, to compare with the best possible")
    t.add_argument("--synthetic", action="store_true", help="mark the training data as synthetic in the model card")
    t.add_argument("--jobs", type=int, default=1, help="parallel workers for radiomics when the cohort references MRI")
    t.set_defaults(func=_cmd_train)
    for name, func, helptext in (("predict", _cmd_predict, "predict every patient of a cohort file"),
                                 ("evaluate", _cmd_evaluate, "metrics on a cohort with outcomes, as JSON"),
                                 ("explain", _cmd_explain, "one patient's assessment with SHAP contributions")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("--model", default=None, help="artifact folder (default: the shipped model)")
        c.add_argument("--cohort", required=True)
        if name != "explain":
            c.add_argument("--jobs", type=int, default=1, help="parallel workers for radiomics when the cohort references MRI")
        if name == "predict":
            c.add_argument("--out", required=True)
        if name == "evaluate":
            c.add_argument("--truth", help="oracle file, to compare with the best possible")
        if name == "explain":
            c.add_argument("--patient", required=True)
            c.add_argument("--json", action="store_true")
        c.set_defaults(func=func)
    try:
        from watchwait.imaging.cli import register

        register(sub)
    except ImportError:  # imaging extras missing: the rest of the CLI still works
        pass
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    np.seterr(all="ignore")
    try:
        return int(args.func(args) or 0)
    except WatchwaitError as exc:
        print(f"watchwait {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
