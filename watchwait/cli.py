"""The ``watchwait`` command (also ``python -m watchwait``).

Exit codes: 0 success; 2 bad input (a plain message on stderr, never a traceback).

Every output file is written atomically (:mod:`watchwait.atomic`): a unique temporary file next to
it, then a rename, so a failed or interrupted run leaves nothing behind and concurrent runs writing
the same ``--out`` leave one run's complete file (the last to finish), never a mix. ``--out`` is
refused, before any work, when it is a folder, lies in a folder that does not exist, or is one of
the run's input files (also through another path, a symbolic or a hard link). Text cells of CSV
outputs that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return, e.g. the valid pseudonym ``-A1``) are written with a leading ``'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from watchwait.atomic import atomic_path, check_output_path
from watchwait.errors import WatchwaitError, quoted
from watchwait.csvfiles import escape_formulas, read_truth, write_csv  # noqa: F401  (the command line's files)


def _cmd_simulate(args) -> int:
    from watchwait.sim import simulate, to_csv_frame

    if args.n < 1:
        raise WatchwaitError(f"--n must be at least 1 (patients to simulate); got {args.n}.")
    if not 0 <= args.imaging_share <= 1:
        raise WatchwaitError(f"--imaging-share must be a share from 0 to 1; got {args.imaging_share}.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)  # simulate makes its folder (a scratch cohort)
    check_output_path(out)
    if args.truth:
        check_output_path(args.truth, [("--out", out)], option="--truth")
    cohort = simulate(args.n, seed=args.seed, with_oracle=args.truth is not None)
    frame = cohort.frame
    if args.imaging_share > 0:
        from watchwait.imaging.cohort_images import write_cohort_images

        images = Path(args.images_dir) if args.images_dir else out.parent / f"{out.stem}_imaging"
        paths = write_cohort_images(cohort.truth[["patient_id", "latent_score"]], images, share=args.imaging_share,
                                    seed=args.seed, base_dir=out.parent, n_jobs=args.jobs)
        frame = frame.drop(columns=[c for c in paths.columns if c != "patient_id" and c in frame.columns]).merge(paths, on="patient_id", how="left")
        print(f"wrote synthetic MRI for {int((paths['mri_baseline_dir'] != '').sum())} patients under {images}")
    with atomic_path(out) as tmp:
        to_csv_frame(frame).to_csv(tmp, index=False)
    if args.truth:
        with atomic_path(args.truth) as tmp:
            cohort.truth.to_csv(tmp, index=False)
    print(f"wrote {len(cohort.frame)} simulated patients to {args.out}" + (f" and the oracle to {args.truth}" if args.truth else ""))
    return 0


DASK_HELP = ("compute the cohort's radiomics on this Dask scheduler (tcp://host:8786) instead of here; every worker "
             "needs this watchwait, the same WATCHWAIT_DEID_KEY and the image paths (README: a registry's MRI on a "
             "Dask cluster)")


def _cmd_train(args) -> int:
    import pandas as pd

    from watchwait.cohort import read_model_cohort
    from watchwait.training import save_model, train

    _check_model_folder(args.out, [("--cohort", args.cohort), ("--truth", args.truth)])
    frame = read_model_cohort(args.cohort, n_jobs=args.jobs, dask_address=args.dask_address)
    truth = read_truth(args.truth, frame) if args.truth else None
    synthetic = bool(args.synthetic or (frame["site"].astype(str) == "synthetic").all())
    desc = {"synthetic": synthetic, "source_file": Path(args.cohort).name}
    if synthetic:
        desc["generator"] = "watchwait.sim (calibrated to ../shared/clinical/calibration.md)"
    bundle = train(frame, seed=args.seed, truth=truth, data_description=desc)
    out = save_model(bundle, args.out)
    m = bundle.card["metrics_held_out"]["fused"]
    cov = bundle.card["interval_coverage_held_out"]
    print(f"model {bundle.version} written to {out}: held-out AUC {m['auc']:.3f}, Brier {m['brier']:.3f}, "
          f"calibration slope {m['calibration_slope']:.2f}, ECE {m['ece']:.3f}, "
          + (f"interval coverage of the true probability {cov['coverage']:.1%} (nominal {cov['nominal']:.0%})" if cov["coverage"] is not None
             else f"interval median width {cov['median_width']:.2f} (coverage not measurable without known true probabilities)"))
    for w in bundle.card.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_update(args) -> int:
    """``watchwait update``: a model updated with a site's cohort (watchwait.updating), written as a model folder."""
    from watchwait.cohort import read_model_cohort
    from watchwait.training import load_model, save_model
    from watchwait.updating import update

    _check_model_folder(args.out, [("--cohort", args.cohort)])
    base = load_model(args.model)
    if base.path is not None and Path(args.out).resolve() == Path(base.path).resolve():
        raise WatchwaitError(f"--out {args.out} is the model being updated (--model); write the updated model to another folder.")
    frame = read_model_cohort(args.cohort, n_jobs=args.jobs, dask_address=args.dask_address)
    site = bool((frame["site"].astype(str).str.startswith("synthetic")).all()) if len(frame) else False
    bundle = update(base, frame, seed=args.seed, data_description={"source_file": Path(args.cohort).name, "synthetic": site})
    out = save_model(bundle, args.out)
    u = bundle.card["update"]
    oof = u["figures_on_site_cohort"]["out_of_fold"]
    print(f"model {bundle.version} written to {out}: {u['method']} of {u['original_model_version']} on {u['site_cohort']['n_patients']} "
          f"site patients; out-of-fold on the site: AUC {oof['auc']:.3f}, calibration slope {oof['calibration_slope']:.2f}, "
          f"calibration-in-the-large {oof['calibration_intercept']:+.2f}")
    print(f"why: {u['reason']}")
    for note in u.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    return 0


def _cmd_predict(args) -> int:
    from watchwait.cohort import read_model_cohort

    check_output_path(args.out, [("--cohort", args.cohort)])
    frame = read_model_cohort(args.cohort, n_jobs=args.jobs, dask_address=args.dask_address)
    from watchwait.engine import predict_frame  # after the file is read: a refused file never loads the model's libraries

    out = predict_frame(frame, args.model)
    write_csv(out, args.out)
    print(f"wrote predictions for {len(out)} patients to {args.out}")
    return 0


def _cmd_evaluate(args) -> int:
    import pandas as pd

    from watchwait.metrics import classification_metrics
    from watchwait.training import interval_coverage, known_outcomes, load_model, unknown_outcome_note
    from watchwait.cohort import read_model_cohort
    from watchwait.engine import predict_frame

    frame = read_model_cohort(args.cohort, n_jobs=args.jobs, dask_address=args.dask_address)
    name = Path(args.cohort).name
    if len(frame) == 0:
        raise WatchwaitError(f"{name}: no patients (a header row only); evaluate needs patients with outcomes "
                             "of both kinds (complete response and not).")
    bundle = load_model(args.model)
    n_all = len(frame)
    frame, y, n_unknown = known_outcomes(frame)
    if n_unknown:
        print(f"note: {unknown_outcome_note(n_unknown, n_all)}", file=sys.stderr)
    pred = predict_frame(frame, bundle)
    ok = pred["p_complete_response"].notna().to_numpy()
    n_cr, n_other = int(y[ok].sum()), int((~y[ok]).sum())
    if n_cr == 0 or n_other == 0:
        raise WatchwaitError(
            f"{name}: {int(ok.sum())} in-scope patient{'s' if ok.sum() != 1 else ''} with a probability, {n_cr} with a "
            f"complete response and {n_other} without; evaluate needs at least one of each (AUC and calibration "
            "compare the two groups).")
    result = {"model_version": bundle.version, "n_in_scope": int(ok.sum()), "n_out_of_scope": int((~ok).sum()),
              "n_outcome_unknown_left_out": n_unknown,
              "fused": classification_metrics(y[ok], pred["p_complete_response"].to_numpy()[ok])}
    oracle = None
    if args.truth:
        o = read_truth(args.truth, frame).set_index("patient_id")["p_oracle"].reindex(frame["patient_id"]).to_numpy(float)
        result["oracle"] = classification_metrics(y[ok], o[ok])
        result["fused"]["auc_ratio_to_oracle"] = round(result["fused"]["auc"] / result["oracle"]["auc"], 4)
        oracle = o[ok]
    result["interval_coverage"] = interval_coverage(bundle.predictor, frame[ok].reset_index(drop=True), oracle)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_validate(args) -> int:
    """``watchwait validate``: discrimination, calibration and decision curve, overall and per regimen group
    (watchwait.validate); a report folder with JSON, HTML and two PNG plots."""
    from watchwait.training import unknown_outcome_note
    from watchwait.validate import run_validate, summary_lines

    report, folder = run_validate(args.cohort, model=args.model, out=args.out, truth=args.truth, jobs=args.jobs, seed=args.seed,
                                  dask_address=args.dask_address)
    if report["source"].get("n_outcome_unknown_left_out"):
        print(f"note: {unknown_outcome_note(report['source']['n_outcome_unknown_left_out'], report['source']['n_in_file'])}",
              file=sys.stderr)
    print("\n".join(summary_lines(report, folder)))
    return 0


def _cmd_explain(args) -> int:
    from watchwait.cohort import add_radiomics
    from watchwait.engine import assess
    from watchwait.validation import frame_to_records, read_cohort

    frame = read_cohort(args.cohort)
    rows = frame[frame["patient_id"] == args.patient]
    if rows.empty:
        raise WatchwaitError(f"patient {quoted(args.patient)} is not in {Path(args.cohort).name}; patient_id must be one of the file's ids.")
    rows = add_radiomics(rows.reset_index(drop=True), base_dir=Path(args.cohort).resolve().parent)
    result = assess(frame_to_records(rows)[0], model=args.model)
    if args.json:
        print(result.to_json())
        return 0
    print(format_assessment(result))
    return 0


def _cmd_db(args) -> int:
    """``watchwait db upgrade|current|downgrade|backup|restore|verify|grant``: the case store's schema revision,
    backups, its tamper-evident trail and the least-privilege role (watchwait.store.migrate, watchwait.store.admin).

    Exit 1: the command would remove data and ``--yes`` was not given (nothing changed; what it would remove is
    printed), or ``verify`` found a row that does not match its hash."""
    from watchwait.store import admin, integrity, migrate

    url = args.url
    if args.db_command == "backup":
        b = admin.backup(url, args.out)
        print(f"case store {migrate.shown(migrate.resolve_url(url))}: backup written to {b.path} "
              f"({b.size:,} bytes, {b.seconds:.1f} s)")
        return 0
    if args.db_command == "restore":
        try:
            r = admin.restore(url, args.file, yes=args.yes)
        except admin.NeedsConfirmation as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if r.backup_first is not None:
            print(f"the store as it was is backed up in {r.backup_first.path}")
        shown_ = migrate.shown(migrate.resolve_url(url))
        print(f"case store {shown_}: restored from {r.path} (schema revision {r.revision or 'none'}, {r.seconds:.1f} s)")
        if migrate.resolve_url(url).get_backend_name() != "sqlite":
            print("the backup carries no grants: run `watchwait db grant --app-role NAME --apply` again for the "
                  "dashboard's role")
        return 0
    if args.db_command == "verify":
        rep_ = admin.verify(url, args.expect)
        shown_ = migrate.shown(migrate.resolve_url(url))
        counted = ", ".join(f"{n:,} {integrity.LABELS.get(t, t)}" for t, n in rep_.rows.items())
        if not rep_.ok:
            first, rest = rep_.problems[0], rep_.problems[1:]
            print(f"case store {shown_}: NOT intact. {first.message}", file=sys.stderr)
            for p_ in rest[:20]:
                print(f"  also: {p_.message}", file=sys.stderr)
            if len(rest) > 20:
                print(f"  ... and {len(rest) - 20:,} more", file=sys.stderr)
            return 1
        print(f"case store {shown_}: intact ({counted}; checked in {rep_.seconds:.1f} s)")
        print(f"chain head: audit row {rep_.head_id or 'none'}, {rep_.head} (keep it elsewhere; `watchwait db verify "
              "--expect HEAD` later shows the trail still holds it)")
        return 0
    if args.db_command == "grant":
        if args.apply:
            stmts = admin.apply_grants(url, args.app_role)
            print("\n".join(stmts))
            print(f"applied: {args.app_role} may now read and append to the case store, nothing more")
        else:
            print("\n".join(admin.grant_statements(url, args.app_role)))
        return 0
    shown = migrate.shown(migrate.resolve_url(url))
    if args.db_command == "current":
        have, want = migrate.revision_of(url)
        state = ("empty (no watchwait schema yet; it is created when the store is first opened)" if have is None
                 else "up to date" if have == want
                 else f"older than this watchwait: run `{migrate.UPGRADE_COMMAND}`" if have in migrate.known_revisions()
                 else "written by a newer watchwait")
        print(f"case store {shown}: schema revision {have or 'none'}; this watchwait's is {want} ({state})")
        return 0
    if args.db_command == "upgrade":
        before, after = migrate.upgrade(url)
        print(f"case store {shown}: schema revision {before or 'none'} -> {after}" if before != after
              else f"case store {shown}: already at schema revision {after}")
        return 0
    plan = admin.downgrade_plan(url, args.to)
    if not args.yes:
        print(f"case store {shown}: downgrading from schema revision {plan.before} to {plan.after or 'none'} would "
              f"remove {plan.describe()}.\nNothing was changed. To go ahead, run `watchwait db downgrade --to {args.to} "
              "--yes`: a backup of the store is written first.", file=sys.stderr)
        return 1
    b = admin.backup(url)
    print(f"case store {shown}: backup written to {b.path} ({b.size:,} bytes)")
    before, after = migrate.downgrade(url, args.to)
    print(f"case store {shown}: schema revision {before or 'none'} -> {after or 'none (every table removed)'}; removed "
          f"{plan.describe()}")
    return 0


def _cmd_export_outcomes(args) -> int:
    """``watchwait export-outcomes``: a cohort file with follow-up -> the training cohort, ``complete_response``
    derived from the follow-up as the data dictionary defines it (watchwait.export.outcomes)."""
    from watchwait.export.outcomes import write_outcomes_cohort
    from watchwait.validation import frame_to_records, read_cohort

    check_output_path(args.out, [("--cohort", args.cohort)])
    s = write_outcomes_cohort(frame_to_records(read_cohort(args.cohort)), args.out, known_only=args.known_only)
    print(f"wrote {s.n_patients} patients to {args.out}: {s.n_complete} with a complete response, {s.n_not_complete} without, "
          f"{s.n_unknown} not yet known" + (f"; {s.n_left_out} left out (outcome not yet known)" if args.known_only else ""))
    return 0


def _check_model_folder(out, inputs) -> None:
    """``train --out`` is a model folder: refuse a file there, a folder holding anything but an earlier
    model (the artifact folder is replaced whole), and a folder holding one of the inputs."""
    target = Path(out)
    if str(out).strip() == "":
        raise WatchwaitError("--out is empty; give a folder for the model artifact.")
    if target.exists() and not target.is_dir():
        raise WatchwaitError(f"--out {target} is a file, not a folder; train writes a model folder "
                             "(model.json, arrays.npz, trees, model card). Choose a folder path.")
    for name, source in inputs:
        if source is not None and target.exists() and target.resolve() in Path(source).resolve().parents:
            raise WatchwaitError(f"--out {target} holds {name} {source}; the model folder is replaced whole. "
                                 "Choose another folder for the model.")
    if target.is_dir() and any(target.iterdir()) and not (target / "model_card.json").is_file():
        raise WatchwaitError(f"--out {target} is a folder holding other files, not an earlier model; the model "
                             "folder is replaced whole. Choose a new or empty folder.")


def format_assessment(a) -> str:
    lines = [f"patient {a.patient_id}   model {a.model_version}   rules {a.ruleset_version}"]
    for n in a.scope_notices:
        lines += [f"SCOPE [{n.rule_id}] {n.title}", f"  {n.rationale}", f"  source: {n.source}"]
    if a.probability is not None:
        lo, hi = a.interval
        from watchwait.probtext import interval as interval_text, percent  # never "100.0%" for a model output

        lines.append(f"P(complete response) = {percent(a.probability)}  ({a.interval_level:.0%} interval "
                     f"{interval_text(lo, hi)})"
                     + ("   [synthetic training data]" if a.synthetic_training else ""))
    lines.append(f"category: {a.category_label}")
    s = a.suggestion
    lines += [f"suggested: {s.label}  [{s.rule_id}]", f"  {s.rationale}", f"  source: {s.source}"]
    for f in s.flags:
        lines += [f"FLAG [{f.rule_id}] {f.message}", f"  source: {f.source}"]
    if a.missing_modalities:
        lines.append("not available: " + ", ".join(a.missing_modalities))
    if a.contributions:
        from watchwait.probtext import percent

        lines.append("contributions (probability points, largest first; base " + f"{percent(a.base_probability)}):")
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
    t.add_argument("--out", required=True, help="artifact folder (model data files + model card)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--truth", help="oracle file from `simulate --truth`, to compare with the best possible")
    t.add_argument("--synthetic", action="store_true", help="mark the training data as synthetic in the model card")
    t.add_argument("--jobs", type=int, default=1, help="parallel workers for radiomics when the cohort references MRI")
    t.add_argument("--dask-address", default=None, help=DASK_HELP)
    t.set_defaults(func=_cmd_train)
    u = sub.add_parser("update", help="update a model with a site's cohort: recalibration, revision of one modality's "
                                      "branch or refit, chosen by a closed test and cross-validation")
    u.add_argument("--model", default=None, help="the model folder to update (default: the shipped model)")
    u.add_argument("--cohort", required=True, help="the site's cohort file, with outcomes")
    u.add_argument("--out", required=True, help="folder for the updated model (model file + model card)")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--jobs", type=int, default=1, help="parallel workers for radiomics when the cohort references MRI")
    u.add_argument("--dask-address", default=None, help=DASK_HELP)
    u.set_defaults(func=_cmd_update)
    for name, func, helptext in (("predict", _cmd_predict, "predict every patient of a cohort file"),
                                 ("evaluate", _cmd_evaluate, "metrics on a cohort with outcomes, as JSON"),
                                 ("explain", _cmd_explain, "one patient's assessment with SHAP contributions")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("--model", default=None, help="artifact folder (default: the shipped model)")
        c.add_argument("--cohort", required=True)
        if name != "explain":
            c.add_argument("--jobs", type=int, default=1, help="parallel workers for radiomics when the cohort references MRI")
            c.add_argument("--dask-address", default=None, help=DASK_HELP)
        if name == "predict":
            c.add_argument("--out", required=True)
        if name == "evaluate":
            c.add_argument("--truth", help="oracle file, to compare with the best possible")
        if name == "explain":
            c.add_argument("--patient", required=True)
            c.add_argument("--json", action="store_true")
        c.set_defaults(func=func)
    db = sub.add_parser("db", help="the case store: schema, backups, its tamper-evident trail, the app's role")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    for name, helptext in (("upgrade", "bring the schema to this watchwait's revision (back up the database first)"),
                           ("current", "print the database's schema revision and this watchwait's"),
                           ("downgrade", "go back to an earlier schema revision (tables and columns of later revisions "
                                         "are dropped: without --yes it only says what it would remove)"),
                           ("backup", "copy the live store to a private file (SQLite's online backup; pg_dump -Fc)"),
                           ("restore", "put a backup back (a store holding rows only with --yes; it is backed up first)"),
                           ("verify", "check every row of the store against its hashes; exit 1 naming the first that "
                                      "does not match"),
                           ("grant", "print (or --apply) the PostgreSQL GRANTs of the dashboard's role: read and "
                                     "append only")):
        d = dbsub.add_parser(name, help=helptext)
        d.add_argument("--url", default=None, help="database URL (default: WATCHWAIT_DATABASE_URL, else var/watchwait.db)")
        if name == "downgrade":
            d.add_argument("--to", required=True, help="revision to go back to: a revision id, -1 for one step, base for none")
        if name in ("downgrade", "restore"):
            d.add_argument("--yes", action="store_true", help="go ahead although data is removed (a backup is written first)")
        if name == "backup":
            d.add_argument("--out", default=None, help="the backup file (default: backups/ beside the SQLite file, or "
                                                       "var/backups/ for PostgreSQL)")
        if name == "restore":
            d.add_argument("file", help="the backup file (from watchwait db backup)")
        if name == "verify":
            d.add_argument("--expect", default=None, help="a chain head printed by an earlier verify (at least 12 hex "
                                                          "digits): the trail must still hold it")
        if name == "grant":
            d.add_argument("--app-role", required=True, help="the PostgreSQL role the dashboard connects as")
            d.add_argument("--apply", action="store_true", help="run the GRANTs (as the owner) instead of printing them")
        d.set_defaults(func=_cmd_db)
    e = sub.add_parser("export-outcomes", help="a cohort file with follow-up -> a training cohort (complete_response derived)")
    e.add_argument("--cohort", required=True, help="cohort file with the follow-up columns (data dictionary, version 2)")
    e.add_argument("--out", required=True, help="the cohort file to write")
    e.add_argument("--known-only", action="store_true",
                   help="leave out patients whose outcome is not yet known (watchwait train needs an outcome for every patient)")
    e.set_defaults(func=_cmd_export_outcomes)
    v = sub.add_parser("validate", help="validation report of a model on a cohort with outcomes (JSON, HTML, PNG plots)")
    v.add_argument("--model", default=None, help="artifact folder (default: the shipped model)")
    v.add_argument("--cohort", required=True, help="cohort file with outcomes (complete_response or the follow-up columns)")
    v.add_argument("--out", default=None, help="report folder (default: ./validation-<model version>)")
    v.add_argument("--truth", help="oracle file of a simulated cohort, for the mean |p - true probability|")
    v.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (decision-curve band)")
    v.add_argument("--jobs", type=int, default=1, help="parallel workers for radiomics when the cohort references MRI")
    v.add_argument("--dask-address", default=None, help=DASK_HELP)
    v.set_defaults(func=_cmd_validate)
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
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
