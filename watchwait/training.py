"""Training, evaluation, model cards and versioned artifacts.

An artifact is a folder: the fitted predictor as data (:mod:`watchwait.model_io`: ``model.json``, ``arrays.npz``, LightGBM
text files; no pickle), ``model_card.json`` (what it is, what it was trained on, how it performs, the sha256 of each file and the library versions it
was built with) and ``model_card.md`` (the same, for people). :func:`load_model` refuses an
artifact whose hash or library versions do not match.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from watchwait import __version__
from watchwait.artifacts import (  # noqa: F401
    SHIPPED_MODEL,
    ModelBundle,
    _environment,
    _sha256,
    columns_of,
    load_model,
)
from watchwait.errors import ModelArtifactError
from watchwait.features import BASE_FEATURES, feature_matrix, spec_fingerprint
from watchwait.metrics import calibration_curve, classification_metrics
from watchwait.model import INTERVAL_LEVEL, FusedPredictor, missing_groups
from watchwait.peers import LABELS, fit_peers
from watchwait.schema import MODALITIES, OUTCOME, RADIOMICS_PREFIX


def radiomics_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(RADIOMICS_PREFIX)]


# Regimen fields whose values the model card counts, so that the engine can say when a patient's
# regimen was never (or almost never) seen in training (clinical brief, rule 10).
REGIMEN_FIELDS = ("rt_schedule", "sequence", "immunotherapy", "chemotherapy")


def regimen_support(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Training patients per value of each regimen field (blank cells not counted)."""
    out: dict[str, dict[str, int]] = {}
    for name in REGIMEN_FIELDS:
        if name in frame.columns:
            counts = frame[name].dropna().astype(str).value_counts()
            out[name] = {str(k): int(v) for k, v in counts.items()}
    return out


def outcome(frame: pd.DataFrame) -> np.ndarray:
    """The training target per row: ``complete_response``, or where it is blank, what the version-2
    follow-up columns say (:func:`watchwait.derive.outcome_from_followup`). A row whose recorded
    outcome contradicts its own follow-up, or with no outcome at all, is an error naming the rows."""
    y = outcome_or_unknown(frame)
    if np.isnan(y).any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(np.isnan(y))[:20])
        raise ModelArtifactError(f"{OUTCOME} must be filled for every patient of a training or evaluation cohort; blank on rows {rows}.")
    return y.astype(bool)


def unknown_outcome_note(n_unknown: int, n_total: int) -> str:
    """What ``train`` and ``evaluate`` say when they leave out patients whose outcome is not yet known."""
    s = "s" if n_unknown != 1 else ""
    return (f"{n_unknown} of {n_total} patient{s} left out: outcome not yet known (complete response blank and the follow-up "
            "does not decide it, e.g. watch-and-wait followed for less than 12 months without regrowth). Leaving them out "
            "over-represents early regrowth among watch-and-wait patients; train again when their follow-up reaches 12 months.")


def known_outcomes(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, int]:
    """The patients whose outcome is known, their outcomes, and how many were left out (outcome not yet known).
    Contradictions between ``complete_response`` and the follow-up are still errors (:func:`outcome_or_unknown`)."""
    y = outcome_or_unknown(frame)
    known = ~np.isnan(y)
    if known.all():
        return frame, y.astype(bool), 0
    return frame[known].reset_index(drop=True), y[known].astype(bool), int((~known).sum())


def outcome_or_unknown(frame: pd.DataFrame) -> np.ndarray:
    """:func:`outcome` with NaN where the outcome is not yet known (blank, and the follow-up does not decide it)."""
    from watchwait.derive import outcome_from_followup

    y = frame[OUTCOME].to_numpy(dtype=float) if OUTCOME in frame.columns else np.full(len(frame), np.nan)
    follow = outcome_from_followup(columns_of(frame))
    clash = ~np.isnan(y) & ~np.isnan(follow) & (y != follow)
    if clash.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(clash)[:20])
        raise ModelArtifactError(f"{OUTCOME} contradicts the follow-up columns (pathology, regrowth, months followed) on rows {rows}; "
                                 "correct one or the other.")
    return np.where(np.isnan(y), follow, y)


# What changed in the method, for the model card (newest first). Every card carries it, so that a site's
# retrained model says which design it was built with.
# Share of training patients fitted a second time with random test groups blanked (watchwait.model.masked_copies).
# Measured on simulate_alt (3,000 fitted): gap 0.0656 -> 0.0606, "baseline only" interval coverage 82% -> 91%.
MASKED_COPIES = 1.0

METHOD_CHANGES = [
    "2026-11-28 (issue 8): the model is now a monotone additive model (glum) plus monotone LightGBM trees within each "
    "modality, replacing unconstrained HistGradientBoosting trees with Platt scaling. The probability can no longer move "
    "against the direction of the evidence (ctDNA cleared, a better restaging reading, CEA falling, nodes regressed, a "
    "negative biopsy); the previous model did in 72 of 1,132 such changes. ctDNA 'not tested' and 'tested, not detected' "
    "are separate features. The restaging nodes, EMVI, residual lesion and biopsy of record version 2 are model inputs. "
    "The interval now covers the probability a perfect model would give (a Mondrian conformal interval from crepes on "
    "the spread of 8 bootstrap refits), replacing the donor-transfer interval for 'the probability once missing tests "
    "are done', which covered the true probability for only 62-66% of patients. Each figure is printed beside a "
    "logistic regression with missing-value indicators and HistGradientBoosting fitted on the same patients.",
    "2026-11-28 (issue 8, second model of the day): the trees may also split on the treatment context (regimen, "
    "immunotherapy) inside each modality's group, since what a restaging finding or a ctDNA result means depends on it "
    "(gap to the true probability on 5,000 fresh simulated patients 0.0408 -> 0.0393). And every training patient is fitted twice, once as recorded and once with "
    "test groups (ctDNA, PD-L1, CEA, restaging MRI, endoscopy and DRE) blanked at random, independently of the outcome. "
    "The model so learns what a patient with fewer tests looks like, including patterns rare in a cohort (a patient seen "
    "before any restaging). Before, on the second simulator, the interval covered the true probability for only 20% of "
    "patients assessed on baseline findings alone.",
    "2026-11-28 (issue 8, third model of the day): the same probability and explanations; the interval's spread is now "
    "learnt at training time, as an additive function of the record, from the spread of the 8 bootstrap refits (a ridge "
    "regression of its logarithm on the additive model's basis). A prediction so evaluates the main model's trees only, "
    "not the refits' as well (1 x 300 trees per patient instead of 9 x 300), and the refits are not kept in the model. "
    "The conformal calibration is unchanged. With the same seeds, on 5,000 fresh simulated patients per generator, the "
    "interval covers the true probability from 0.6 points less to 4.4 points more often per scenario than with the "
    "refits' own spread (as recorded 90.4% against 89.9%, and 89.3% against 89.0%), and is up to 0.03 wider where "
    "restaging is missing; calibrated without true probabilities it covers 1-2 points less "
    "(benchmarks/bench_quality.py --compare-spread). The model version now also names the method, so that two designs "
    "fitted on the same cohort the same day differ.",
    "2026-12-07 (issue 16): training tunes itself to the cohort it is given. The additive model's penalty and the number "
    "of trees are chosen by cross-validation on out-of-fold log-loss (5 folds, repeated 3 times below 1,000 patients), "
    "with the masked copies made inside each fold; when the out-of-fold calibration slope's 95% interval excludes 1, the "
    "logit is recalibrated with that slope and intercept. Before, the settings were fixed for 20,000 patients, and a "
    "site's smaller cohort got an overconfident model (held-out calibration slope 0.74-0.82). The residual lesion's size "
    "is a feature of its own, so it counts when the tumour length is blank; so are each part of the regimen (radiotherapy, "
    "sequence, chemotherapy, cycles, regorafenib) and the PD-L1 result whatever the regimen. The residual lesion and the MRI measurements of "
    "shrinkage (tumour volume at restaging and its change, the T2 signal at restaging and its change) can only lower the "
    "probability as they grow. The model keeps a summary of its training patients' inputs, so that a prediction can say "
    "which inputs lie outside them. The model file is data (JSON, numpy arrays, LightGBM's text trees), never a pickle.",
]


# ----------------------------------------------------------------------------- coverage

GROUP_LABELS = {0: "every test group recorded", 1: "one test group missing", 2: "two test groups missing",
                3: "three or more test groups missing"}


def interval_coverage(predictor: FusedPredictor, frame: pd.DataFrame, oracle: np.ndarray | None) -> dict:
    """Width of the interval on these (held-out) patients and, with ``oracle`` (a simulated cohort's true
    probabilities), the share of true probabilities inside it, overall and per number of missing test groups."""
    cols = columns_of(frame)
    X = predictor.matrix(cols)
    groups = missing_groups(cols)
    lo, hi = predictor.interval(X, groups=groups)
    out: dict = {"nominal": INTERVAL_LEVEL, "n": len(frame), "method": predictor.interval_method_,
                 "median_width": round(float(np.median(hi - lo)), 4), "coverage": None, "by_scenario": {}}
    hit = None if oracle is None else (oracle >= lo - 1e-12) & (oracle <= hi + 1e-12)
    if hit is not None:
        out["coverage"] = round(float(hit.mean()), 4)
    for g, label in GROUP_LABELS.items():
        rows = groups == g
        if rows.any():
            out["by_scenario"][label] = {"n": int(rows.sum()), "median_width": round(float(np.median(hi[rows] - lo[rows])), 4),
                                         "coverage": None if hit is None else round(float(hit[rows].mean()), 4)}
    out["note"] = ("hit = the simulator's true probability for the record lies inside the interval" if hit is not None else
                   "no known true probability on this cohort: coverage cannot be measured, only width")
    return out


# ----------------------------------------------------------------------------- baselines

def _nomogram(train: pd.DataFrame, y: np.ndarray):
    """The classic clinical nomogram: logistic regression on baseline staging and treatment."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats = tuple(f for f in BASE_FEATURES if f.modality == "clinical" and f.kind == "number")
    X = feature_matrix(feats, columns_of(train))
    pipe = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler(),
                         LogisticRegression(max_iter=2000))
    pipe.fit(X, y)
    return lambda fr: pipe.predict_proba(feature_matrix(feats, columns_of(fr)))[:, 1]


def compare(bundle_or_predictor, frame: pd.DataFrame, y: np.ndarray, baselines: dict, oracle: np.ndarray | None) -> dict:
    predictor = bundle_or_predictor.predictor if isinstance(bundle_or_predictor, ModelBundle) else bundle_or_predictor
    p = predictor.predict_proba(predictor.matrix(columns_of(frame)))
    out = {"fused": classification_metrics(y, p)}
    if oracle is not None:
        out["oracle"] = classification_metrics(y, oracle)
    for name, fn in [("fused", None), *baselines.items()]:
        pb = p if fn is None else fn(frame)
        if fn is not None:
            out[name] = classification_metrics(y, pb)
        if oracle is not None:
            out[name]["auc_ratio_to_oracle"] = round(out[name]["auc"] / out["oracle"]["auc"], 4)
            out[name]["mean_abs_gap_to_oracle"] = round(float(np.mean(np.abs(pb - oracle))), 4)
    out["calibration_curve"] = calibration_curve(y, p)
    return out


# ----------------------------------------------------------------------------- train

#: A training cohort needs at least this many patients with and without a complete response: below it the
#: held-out figures are noise and a model would be written that cannot be checked (issue 10).
MIN_PER_CLASS = 40


#: Held-out patients below which a model's figures cannot show whether it works, and the AUC below which it does not.
MIN_MEASURED, MIN_AUC = 200, 0.6


def usability_warnings(n_measured: int, auc: float) -> list[str]:
    """What the model card (and ``watchwait train``) says first when the held-out figures cannot vouch for the model."""
    out = []
    if n_measured < MIN_MEASURED:
        out.append(f"Only {n_measured} held-out patients measure this model (fewer than {MIN_MEASURED}): its AUC and calibration "
                   "are too uncertain to judge it. Train on a larger cohort (1,000 patients or more) before relying on it.")
    if not auc >= MIN_AUC:
        out.append(f"Held-out AUC {auc:.2f} (below {MIN_AUC}): this model separates complete from incomplete responders little "
                   "better than chance. Do not use it; keep the shipped model.")
    return out


def check_trainable(y: np.ndarray, n_unknown: int = 0, minimum: int = MIN_PER_CLASS, what: str = "a training cohort",
                    keep: str = "keep the shipped model") -> None:
    """Refuse a cohort with fewer than ``minimum`` patients with a complete response or without (``what`` and ``keep``
    word the message: watchwait.updating uses it for an update cohort)."""
    n_cr, n_not = int(y.sum()), int((~y).sum())
    if min(n_cr, n_not) < minimum:
        unknown = f"; {n_unknown} more left out, outcome not yet known" if n_unknown else ""
        raise ModelArtifactError(
            f"{what} needs at least {minimum} patients with a complete response and {minimum} without; "
            f"this one has {n_cr} and {n_not} (of {len(y)} patients{unknown}). Add patients or {keep}.")


def cohort_sha256(frame: pd.DataFrame) -> str:
    """A cohort's content hash as model cards record it (patient ids and site left out: no identifier in the card)."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame.drop(columns=["patient_id", "site"], errors="ignore"),
                                                     index=False).values.tobytes()).hexdigest()


def train(frame: pd.DataFrame, seed: int = 0, truth: pd.DataFrame | None = None, data_description: dict | None = None,
          holdout: float = 0.2, n_members: int = 8, masked_copies: float = MASKED_COPIES, spread: str = "additive",
          tune: bool = True) -> ModelBundle:
    """Fit the fused predictor on (1 - holdout) of the cohort; metrics, peers and the interval on the rest.

    With ``truth`` (a simulated cohort's true probabilities, column ``p_oracle``), half of the held-out
    patients calibrate the conformal interval and the other half measure everything; without it, the
    interval is the bootstrap spread alone and every held-out patient is measured."""
    from sklearn.model_selection import train_test_split

    n_all = len(frame)
    frame, y, n_unknown = known_outcomes(frame)
    check_trainable(y, n_unknown)
    idx_tr, idx_te = train_test_split(np.arange(len(frame)), test_size=holdout, stratify=y, random_state=seed)
    tr, te = frame.iloc[idx_tr].reset_index(drop=True), frame.iloc[idx_te].reset_index(drop=True)
    y_tr, y_te = y[idx_tr], y[idx_te]
    rad = radiomics_columns(frame)
    predictor, tuned = fit_tuned(tr, y_tr, rad, seed=seed, n_members=n_members, masked_copies=masked_copies, spread=spread, tune=tune)
    set_support(predictor, tr, seed)
    if tuned is not None:
        # part of the fit: made before the interval's calibration, which is then on the recalibrated probability
        from watchwait.tuning import recalibration

        predictor.update_ = recalibration(tuned)
    present = sorted({f.modality for f in predictor.features_})
    oracle = None
    if truth is not None and "p_oracle" in truth.columns:
        o = truth.set_index("patient_id")["p_oracle"]
        oracle = o.reindex(te["patient_id"]).to_numpy(float)
        if np.isnan(oracle).any():
            oracle = None
    measure = np.ones(len(te), dtype=bool)
    if oracle is not None:
        cal = np.arange(len(te)) % 2 == 0
        cols_cal = columns_of(te[cal].reset_index(drop=True))
        o_cal = np.clip(oracle[cal], 1e-9, 1 - 1e-9)
        predictor.calibrate(predictor.matrix(cols_cal), np.log(o_cal / (1 - o_cal)), missing_groups(cols_cal))
        measure = ~cal
    else:
        _calibrate_parametric(predictor, tr, te, rad, seed, y_tr=y_tr)
    te_m, y_m = te[measure].reset_index(drop=True), y_te[measure]
    o_m = None if oracle is None else oracle[measure]
    peers = fit_peers(tr, y_tr, seed=seed)
    baselines = {"clinical_nomogram": _nomogram(tr, y_tr), **{f"peer_{k}": v.predict for k, v in peers.items()}}
    solos = {}
    for m in present:
        solo = FusedPredictor(seed=seed, modalities=(m,), n_members=0).fit(columns_of(tr), y_tr, radiomics_columns=rad)
        solos[m] = solo
        baselines[f"{m}_only"] = (lambda s: (lambda fr: s.predict_proba(s.matrix(columns_of(fr)))))(solo)
    metrics = compare(predictor, te_m, y_m, baselines, o_m)
    for m, solo in solos.items():  # every held-out patient: the branch models never see the interval's calibration half
        metrics[f"{m}_only"].update(branch_with_data(solo, m, te, y_te))
    imaging = _imaging_added(predictor, tr, y_tr, te_m, y_m, rad, present, seed, o_m)
    coverage = interval_coverage(predictor, te_m, o_m)
    card = _card(predictor, frame, y, seed, metrics, coverage, data_description or {}, len(idx_tr), len(idx_te), present)
    card["imaging_added"] = imaging
    card["separability_vs_published"] = separability(metrics)
    card["warnings"] = usability_warnings(len(te_m), metrics["fused"]["auc"])
    card["training_data"]["n_outcome_unknown_left_out"] = n_unknown
    if n_unknown:
        card["warnings"].append(unknown_outcome_note(n_unknown, n_all))
    bundle = ModelBundle(predictor=predictor, card=card, baselines=baselines)
    bundle.validation = held_out_report(predictor, te_m, y_m, o_m, card, seed)
    return bundle


def held_out_report(predictor: FusedPredictor, frame: pd.DataFrame, y: np.ndarray, oracle: np.ndarray | None, card: dict,
                    seed: int = 0) -> dict | None:
    """The validation report (watchwait.validate) of the held-out patients, by regimen group; None when they lack one
    of the outcomes."""
    from watchwait.validate import regimen_groups, validation_report

    if y.all() or not y.any():
        return None
    p = predictor.predict_proba(predictor.matrix(columns_of(frame)))
    return validation_report(y, p, groups=regimen_groups(frame), oracle=oracle, seed=seed, model=card,
                             cohort={"n_patients": int(len(frame))})


def set_support(predictor: FusedPredictor, frame: pd.DataFrame, seed: int = 0) -> None:
    """What the model was trained on, input by input and the radiomics jointly (brief rule 12): the training patients
    as recorded (not the masked copies), kept in the model so that every prediction can be compared with it."""
    from watchwait.support import Support

    predictor.support_ = Support.fit(predictor.features_, predictor.matrix(columns_of(frame)), seed=seed)


def fit_tuned(frame: pd.DataFrame, y: np.ndarray, rad: list[str], *, seed: int = 0, n_members: int = 8,
              masked_copies: float = MASKED_COPIES, spread: str = "additive", tune: bool = True) -> tuple[FusedPredictor, dict | None]:
    """The fused predictor fitted on ``frame`` with its penalty and tree count chosen by cross-validation on this
    cohort (:func:`watchwait.tuning.tune`; ``tune=False`` keeps the defaults). The recalibration the out-of-fold
    slope may ask for is *not* applied here: the caller sets ``predictor.update_ = tuning.recalibration(tuned)``
    before the interval is calibrated (``train``), so that the interval is calibrated on the probability shown."""
    from watchwait.tuning import tune as _tune

    cols = columns_of(frame)
    tuned = _tune(cols, y, rad, seed=seed, masked_share=masked_copies) if tune else None
    settings = {} if tuned is None else {"alpha": tuned["alpha"], "trees": tuned["trees"]}
    predictor = FusedPredictor(seed=seed, n_members=n_members, masked_copies=masked_copies, spread=spread, **settings)
    predictor.fit(cols, y, radiomics_columns=rad)
    if tuned is not None:
        predictor.tuning_ = tuned
    return predictor, tuned


#: The parametric bootstrap's stand-in truth is fitted with this share of the chosen penalty (an undersmoothed pilot).
PILOT_PENALTY_SHARE = 0.1


def _calibrate_parametric(predictor: FusedPredictor, tr: pd.DataFrame, te: pd.DataFrame, rad: list[str], seed: int,
                          refits: int = 2, y_tr: np.ndarray | None = None) -> None:
    """Without known true probabilities: a parametric bootstrap. A stand-in truth gives outcomes for the training
    patients, the fitting procedure is run again on those, and the refits' errors on the held-out patients calibrate
    the conformal interval. The stand-in is the same design fitted with a tenth of the chosen penalty (an undersmoothed
    pilot, as in bootstrap intervals for smoothers): a truth *more* complex than the chosen fit, so that the refits'
    errors include the bias the penalty brings, not only their variance. (With the model itself as the truth, a
    heavily penalised fit on a small cohort looked nearly exact to its own refits: 72% coverage of the true probability
    on 800 simulated patients.) It still cannot see how far the design's form is from the real relationship; the
    model card says so."""
    rng = np.random.default_rng(seed + 7)
    cols_tr, cols_te = columns_of(tr), columns_of(te)
    truth_model = predictor
    if predictor.tuning_ and y_tr is not None:
        truth_model = FusedPredictor(seed=seed + 50, n_members=0, alpha=predictor.alpha * PILOT_PENALTY_SHARE, knots=predictor.knots,
                                     trees=predictor.trees, lr=predictor.lr, leaves=predictor.leaves,
                                     masked_copies=predictor.masked_copies).fit(cols_tr, y_tr, radiomics_columns=rad)
    X_tr, X_te = truth_model.matrix(cols_tr), predictor.matrix(cols_te)
    p_tr, lq_te = truth_model.predict_proba(X_tr), truth_model._logit(truth_model.matrix(cols_te))
    preds, truths, groups, rows = [], [], [], []
    for r in range(refits):
        y_star = rng.random(len(p_tr)) < p_tr
        refit = FusedPredictor(seed=seed + 100 + r, n_members=0, alpha=predictor.alpha, knots=predictor.knots, trees=predictor.trees,
                               lr=predictor.lr, leaves=predictor.leaves, masked_copies=predictor.masked_copies
                               ).fit(cols_tr, y_star, radiomics_columns=rad)
        refit.update_ = predictor.update_  # the fitting procedure includes the recalibration
        preds.append(refit._logit(refit.matrix(cols_te)))
        truths.append(lq_te)
        groups.append(missing_groups(cols_te))
        rows.append(X_te)
    predictor.calibrate(np.vstack(rows), np.concatenate(truths), np.concatenate(groups), logit_pred=np.concatenate(preds),
                        source=(f"a parametric bootstrap ({refits} refits on outcomes drawn from "
                                + ("an undersmoothed pilot (the same design with a tenth of the penalty)"
                                   if truth_model is not predictor else "this model's own probabilities")
                                + "; no known true probabilities on this cohort, so the design's own form is taken as true)"))


#: Held-out patients with a branch's data (and both outcomes among them) below which its AUC among them is not given.
MIN_WITH_DATA = 20


def branch_with_data(solo: FusedPredictor, modality: str, frame: pd.DataFrame, y: np.ndarray) -> dict:
    """A branch's model alone, among the held-out patients who have that branch's data (at least one of its inputs
    recorded): ``auc_with_data`` and ``n_with_data``. ``train`` passes every held-out patient (both halves when half
    calibrates the interval: the branch models are fitted on the training part only and never see that half). Over every held-out patient a branch that few have (radiomics:
    ~4% imaged) looks near chance while it moves the patients who have it by tens of points (issue 17)."""
    from watchwait.features import modalities_not_tested
    from watchwait.metrics import classification_metrics

    cols = columns_of(frame)
    blank = modalities_not_tested(solo.features_, cols).get(modality)
    has = np.ones(len(frame), bool) if blank is None else ~blank
    out: dict = {"n_with_data": int(has.sum())}
    if has.sum() < MIN_WITH_DATA or y[has].all() or not y[has].any():
        out["auc_with_data"] = None
        return out
    p = solo.predict_proba(solo.matrix(cols))
    out["auc_with_data"] = classification_metrics(y[has], p[has])["auc"]
    out["prevalence_with_data"] = round(float(y[has].mean()), 4)
    return out


def separability(metrics: dict) -> list[dict]:
    """Per branch: its held-out AUC alone among patients with its data, beside the published figures (calibration.md),
    and whether the simulated cohort is more separable than they are."""
    from watchwait.model_card import PUBLISHED_BRANCH_AUC

    rows = []
    for m, pub in PUBLISHED_BRANCH_AUC.items():
        mm = metrics.get(f"{m}_only")
        if not mm:
            continue
        auc = mm.get("auc_with_data", mm.get("auc"))
        verdict = None if auc is None or pub["low"] is None else ("above the published range" if auc > pub["high"] + 0.02 else
                                            "within the published range" if auc >= pub["low"] - 0.02 else
                                            "below the published range")
        rows.append({"branch": m, "auc_alone_with_data": auc, "n_with_data": mm.get("n_with_data"),
                     "auc_alone_all_held_out": mm.get("auc"), "published_low": pub["low"], "published_high": pub["high"],
                     "published": pub["text"], "verdict": verdict})
    return rows


def _imaging_added(predictor, tr, y_tr, te, y_te, rad, present, seed, oracle) -> dict | None:
    """Held-out patients with imaging: the fused model with and without its radiomics branch."""
    if "radiomics" not in present:
        return None
    without = FusedPredictor(seed=seed, modalities=tuple(m for m in present if m != "radiomics"), n_members=0)
    without.fit(columns_of(tr), y_tr, radiomics_columns=rad)
    imaged = te[rad].notna().any(axis=1).to_numpy()
    if imaged.sum() < 20 or y_te[imaged].min() == y_te[imaged].max():
        return {"n_imaged_held_out": int(imaged.sum()), "note": "too few imaged held-out patients to compare"}
    sub = te[imaged].reset_index(drop=True)
    out = {"n_imaged_held_out": int(imaged.sum()),
           "with_radiomics": classification_metrics(y_te[imaged], predictor.predict_proba(predictor.matrix(columns_of(sub)))),
           "without_radiomics": classification_metrics(y_te[imaged], without.predict_proba(without.matrix(columns_of(sub))))}
    if oracle is not None:
        out["oracle_without_imaging"] = classification_metrics(y_te[imaged], oracle[imaged])
        out["note"] = "the oracle conditions on every non-imaging input only, so a model with imaging can beat it on these patients"
    return out


def _calibration_words(predictor) -> str:
    t = predictor.tuning_
    if not t:
        return "none beyond the model's own likelihood fit (settings not tuned to this cohort; slope and ECE on held-out patients below)"
    c = t["oof_calibration"]
    chosen = (f"penalty alpha {t['alpha']:g} and {t['trees']} trees chosen by {t['method']} (out-of-fold log-loss "
              f"{t['oof_logloss']:.4f}, AUC {t['oof_auc']:.3f})")
    u = predictor.update_
    if u is not None and u.method == "recalibration after training":
        return f"{chosen}; recalibrated: {u.reason}"
    return (f"{chosen}; out-of-fold calibration slope {c['slope']:.2f} (95% CI {c['slope_ci95'][0]:.2f}-{c['slope_ci95'][1]:.2f}) "
            "includes 1, so no recalibration")


def _card(predictor, frame, y, seed, metrics, coverage, data_description, n_train, n_test, present) -> dict:
    cohort_hash = cohort_sha256(frame)
    today = _dt.date.today().isoformat()
    synthetic = bool(data_description.get("synthetic", False))
    # the version names the day, the cohort and the method: a model refitted on the same cohort the same day with
    # other settings or another design gets another version (the artifact's sha256 tells two fits apart as well)
    settings = {k: getattr(predictor, k) for k in ("n_members", "seed", "alpha", "knots", "trees", "lr", "leaves",
                                                   "masked_copies", "spread", "modalities")}
    method = hashlib.sha256(json.dumps([settings, METHOD_CHANGES, __version__], sort_keys=True, default=str).encode()).hexdigest()
    return {
        "model_version": f"fused-{today.replace('-', '')}-{cohort_hash[:8]}-{method[:4]}",
        "watchwait_version": __version__,
        "created": today,
        "target": "P(complete response): pCR at surgery (ypT0N0) or cCR sustained >= 12 months without regrowth (CR endpoint of protocol 001)",
        "intended_use": "Decision support for a colorectal MDT choosing between watch-and-wait, local excision and TME after "
                        "neoadjuvant therapy for pMMR/MSS locally advanced rectal cancer (cT1-4aN0-2M0, distal edge <= 10 cm, "
                        "age >= 18). Informs; the MDT decides.",
        "not_for": ["dMMR/MSI-H tumours", "metastatic disease (M1 or new distant metastasis)", "tumours > 10 cm from the anal verge",
                    "multiple primaries or prior malignancy", "any decision without MDT review"],
        "training_data": {
            "synthetic": synthetic,
            "n_patients": len(frame), "n_train": int(n_train), "n_held_out": int(n_test),
            "prevalence": round(float(y.mean()), 4),
            "missing_share_by_column": {c: round(float(frame[c].isna().mean()), 3) for c in frame.columns
                                        if c not in ("patient_id", "site") and frame[c].isna().any()},
            "cohort_sha256": cohort_hash,
            "regimen_support": regimen_support(frame),
            **data_description,
        },
        "modalities": {m: MODALITIES[m] for m in MODALITIES},
        "modalities_with_data": present,
        "features": [{"name": f.name, "modality": f.modality, "label": f.label, "inputs": list(f.sources)} for f in predictor.features_],
        "method": {
            "model": f"monotone additive model (glum binomial GLM on monotone spline / step bases, coefficients of every "
                     f"directional feature bounded to its side, alpha {predictor.alpha:g}, {predictor.knots} knots) + {predictor.trees} "
                     f"LightGBM trees of {predictor.leaves} leaves (learning rate {predictor.lr:g}) on its residual logit, each tree within "
                     "one modality and monotone in every directional feature",
            "monotone_in": [{"feature": f.name, "label": f.label, "direction": "probability rises with it" if f.direction > 0
                             else "probability falls as it rises"} for f in predictor.features_ if f.direction],
            "tuning": predictor.tuning_ or None,
            "calibration": _calibration_words(predictor),
            "explanations": "exact: additive terms (centred on their training mean) + LightGBM TreeSHAP (pred_contrib) sum to the logit; "
                            "probability points allocate p - p_base in proportion to the logit contributions",
            "interval": f"{int(INTERVAL_LEVEL * 100)}% interval for the probability a perfect model would give this record: "
                        + predictor.interval_method_,
            "seed": seed,
            "held_out": "stratified 20% of the training cohort, never seen in fitting (half of it calibrates the interval when the "
                        "true probabilities are known)",
            "peers": {"peer_logistic": LABELS["logistic"], "peer_hgb": LABELS["hgb"],
                      "clinical_nomogram": "logistic regression on baseline staging and treatment"},
        },
        "what_changed": METHOD_CHANGES,
        "metrics_held_out": metrics,
        "interval_coverage_held_out": coverage,
        "limitations": [
            "Trained on a synthetic cohort whose generating process is calibrated to published figures (../shared/clinical/calibration.md); "
            "it has not been validated on real patients. Published figures come from small, heterogeneous studies."
            if synthetic else "Trained on the site's own cohort; check the held-out metrics before use.",
            "Effect sizes from studies of 20-300 patients were shrunk in the simulator; PD-L1 effects are the least certain.",
            "Prior malignancy (an exclusion criterion) is not in the data dictionary: check it yourself.",
            "The interval's coverage is checked on data like the training data only.",
            *([] if coverage.get("coverage") is not None else [
                "No true probabilities are known for this cohort, so the interval was calibrated by a parametric bootstrap, which "
                "takes the model's own form as true. On simulated cohorts, where the truth is known, that calibration covered "
                "the true probability for 83-87% of patients with 2,400 patients fitted but only 71-76% with 20,000 "
                "(benchmarks/bench_quality.py): with many patients, the model's distance from the real relationship outweighs its "
                "sampling noise, and this calibration cannot see it. Read the interval as a lower bound on the uncertainty."]),
        ],
        "environment": _environment(),
    }


# ----------------------------------------------------------------------------- artifacts

def save_model(bundle: ModelBundle, out_dir: str | os.PathLike) -> Path:
    """Write the artifact folder atomically (watchwait.atomic): the files go to a new folder next to ``out_dir``
    which then replaces it whole, so a reader never sees a half-written model and two runs never mix files. An
    existing ``out_dir`` is replaced only when it is empty or an earlier artifact (it holds model_card.json)."""
    from watchwait import model_io
    from watchwait.atomic import atomic_directory
    from watchwait.model_card import render_markdown

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    predictor = bundle.predictor
    card = dict(bundle.card)
    probes = model_io.probe_predictions(predictor)
    with atomic_directory(out, permissions=0o755, replace_if=lambda p: (p / "model_card.json").is_file()) as tmp:
        # data only (watchwait.model_io): model.json, arrays.npz, one LightGBM text file per booster; no pickle
        files = model_io.write_predictor(predictor, tmp)
        # read back before the folder is put in place: the saved files must give the same probe predictions
        model_io.check_probes(tmp, model_io.read_predictor(tmp, files), probes)
        card["artifact"] = {"format": model_io.FORMAT, "file": ", ".join(files), "sha256": model_io.manifest_sha256(files),
                            "sha256_of": "the sorted lines 'name  sha256' of the files below", "files": files,
                            "feature_spec_sha256": spec_fingerprint(predictor.features_),
                            "libraries": model_io.saved_libraries(), "probes": probes}
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=float) + "\n")
        (tmp / "model_card.md").write_text(render_markdown(card))
        if bundle.validation is not None:  # the report the About screen shows (a report, not model data: not hashed)
            from watchwait.validate import write_report

            write_report(bundle.validation, tmp / "validation")
    bundle.card, bundle.path = card, out
    return out


