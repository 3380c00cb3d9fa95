"""Training, evaluation, model cards and versioned artifacts.

An artifact is a folder: ``model.joblib`` (the fitted predictor), ``model_card.json`` (what it is,
what it was trained on, how it performs, the sha256 of ``model.joblib`` and the library versions it
was built with) and ``model_card.md`` (the same, for people). :func:`load_model` refuses an
artifact whose hash or library versions do not match.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from watchwait import __version__
from watchwait.artifacts import (SHIPPED_MODEL, ModelBundle, _environment, _sha256, columns_of, load_model,  # noqa: F401
                                 load_runtime)
from watchwait.errors import ModelArtifactError
from watchwait.features import BASE_FEATURES, feature_matrix, spec_fingerprint
from watchwait.metrics import calibration_curve, classification_metrics
from watchwait.model import INTERVAL_LEVEL, FusedPredictor
from watchwait.schema import MODALITIES, OUTCOME, RADIOMICS_PREFIX


# Masking scenarios for the coverage check: which inputs a clinician might not have yet.
MASK_SCENARIOS: dict[str, tuple[str, ...]] = {
    "ctDNA not tested": ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml"),
    "ctDNA C3 pending": ("ctdna_post_treatment_mtm_ml",),
    "PD-L1 not tested": ("pdl1_cps", "pdl1_tps_pct"),
    "CEA at assessment pending": ("cea_post_ng_ml",),
    "MRI restaging pending": ("mr_trg", "dwi_restriction"),
    "endoscopy and DRE pending": ("endoscopy", "dre"),
    "ctDNA and PD-L1 not tested": ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml", "pdl1_cps", "pdl1_tps_pct"),
    "baseline only (no restaging, no blood)": ("mr_trg", "dwi_restriction", "endoscopy", "dre", "cea_post_ng_ml",
                                               "ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml"),
}


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
    from watchwait.derive import outcome_from_followup

    y = frame[OUTCOME].to_numpy(dtype=float) if OUTCOME in frame.columns else np.full(len(frame), np.nan)
    follow = outcome_from_followup(columns_of(frame))
    clash = ~np.isnan(y) & ~np.isnan(follow) & (y != follow)
    if clash.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(clash)[:20])
        raise ModelArtifactError(f"{OUTCOME} contradicts the follow-up columns (pathology, regrowth, months followed) on rows {rows}; "
                                 "correct one or the other.")
    y = np.where(np.isnan(y), follow, y)
    if np.isnan(y).any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(np.isnan(y))[:20])
        raise ModelArtifactError(f"{OUTCOME} must be filled for every patient of a training or evaluation cohort; blank on rows {rows}.")
    return y.astype(bool)


# ----------------------------------------------------------------------------- coverage

def _masked_sets(predictor: FusedPredictor, frame: pd.DataFrame, seed: int):
    """For each masking scenario: rows, interval samples from the masked record, probability once known."""
    rng = np.random.default_rng(seed)
    cols = columns_of(frame)
    p_full = predictor.predict_proba(predictor.matrix(cols))
    names = list(MASK_SCENARIOS)
    chosen = []
    for i in range(len(frame)):
        options = [n for n in names if any(not _blank(cols[c][i]) for c in MASK_SCENARIOS[n])]
        chosen.append(options[rng.integers(len(options))] if options else None)
    sets = {}
    for name in names:
        rows = np.array([i for i, c in enumerate(chosen) if c == name], dtype=int)
        if len(rows) == 0:
            continue
        masked = {c: v[rows].copy() for c, v in cols.items()}
        for c in MASK_SCENARIOS[name]:
            masked[c] = np.full(len(rows), np.nan) if masked[c].dtype.kind == "f" else np.full(len(rows), None, dtype=object)
        X = predictor.matrix(masked)
        lq = predictor._logit(X)
        sets[name] = (rows, (lq, predictor.interval_samples(X, lq)), p_full[rows])
    return sets


def calibrate_interval(predictor: FusedPredictor, frame: pd.DataFrame, seed: int = 0) -> float:
    """Split-conformal choice of the sample quantile level: the smallest level whose masked coverage on
    these (held-out) patients reaches :data:`INTERVAL_LEVEL`. Sets and returns ``quantile_level_``."""
    sets = _masked_sets(predictor, frame, seed)
    def cov(level: float) -> float:
        predictor.quantile_level_ = level
        hits = [((p >= lo) & (p <= hi)) for rows, (lq, smp), p in sets.values() for lo, hi in [predictor.interval(None, logit_q=lq, samples=smp)]]
        return float(np.mean(np.concatenate(hits)))
    lo, hi = 0.30, 0.999
    for _ in range(14):
        mid = (lo + hi) / 2
        if cov(mid) >= INTERVAL_LEVEL:
            hi = mid
        else:
            lo = mid
    predictor.quantile_level_ = round(hi, 4)
    return predictor.quantile_level_


def masked_coverage(predictor: FusedPredictor, frame: pd.DataFrame, seed: int = 0, oracle: np.ndarray | None = None) -> dict:
    """Mask inputs a patient has (one random scenario each among those that remove something), compute
    the interval from the masked record, and check that the probability once the inputs are known lies
    inside. With ``oracle`` (simulated cohorts), also the share of oracle probabilities inside."""
    sets = _masked_sets(predictor, frame, seed)
    by, all_hits, all_oracle = {}, [], []
    for name, (rows, (lq, samples), p_full) in sets.items():
        lo, hi = predictor.interval(None, logit_q=lq, samples=samples)
        hit = (p_full >= lo - 1e-12) & (p_full <= hi + 1e-12)
        all_hits.append(hit)
        by[name] = {"n": int(len(rows)), "coverage": round(float(hit.mean()), 4), "median_width": round(float(np.median(hi - lo)), 4)}
        if oracle is not None:
            o_hit = (oracle[rows] >= lo) & (oracle[rows] <= hi)
            all_oracle.append(o_hit)
            by[name]["oracle_coverage"] = round(float(o_hit.mean()), 4)
    hits = np.concatenate(all_hits)
    out = {
        "nominal": INTERVAL_LEVEL,
        "coverage": round(float(hits.mean()), 4),
        "n": int(len(hits)),
        "sample_quantile_level": predictor.quantile_level_,
        "method": "mask inputs a patient has (one random scenario each), interval from the masked record, "
                  "hit = the model's probability with the inputs restored lies inside it",
        "by_scenario": by,
    }
    if oracle is not None:
        out["oracle_coverage"] = round(float(np.concatenate(all_oracle).mean()), 4)
        out["oracle_note"] = ("share of simulator-truth probabilities (given every input) inside the interval: below nominal means "
                              "the bootstrap spread understates the model's own error")
    return out


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


# ----------------------------------------------------------------------------- baselines

def _nomogram(train: pd.DataFrame, y: np.ndarray):
    """The classic clinical nomogram: logistic regression on baseline staging and treatment."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats = tuple(f for f in BASE_FEATURES if f.modality == "clinical")
    X = feature_matrix(feats, columns_of(train))
    pipe = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(), LogisticRegression(max_iter=2000))
    pipe.fit(X, y)
    return lambda fr: pipe.predict_proba(feature_matrix(feats, columns_of(fr)))[:, 1]


def compare(bundle_or_predictor, frame: pd.DataFrame, y: np.ndarray, baselines: dict, oracle: np.ndarray | None) -> dict:
    predictor = bundle_or_predictor.predictor if isinstance(bundle_or_predictor, ModelBundle) else bundle_or_predictor
    p = predictor.predict_proba(predictor.matrix(columns_of(frame)))
    out = {"fused": classification_metrics(y, p)}
    if oracle is not None:
        out["oracle"] = classification_metrics(y, oracle)
        out["fused"]["auc_ratio_to_oracle"] = round(out["fused"]["auc"] / out["oracle"]["auc"], 4)
    for name, fn in baselines.items():
        out[name] = classification_metrics(y, fn(frame))
    out["calibration_curve"] = calibration_curve(y, p)
    return out


# ----------------------------------------------------------------------------- train

def train(frame: pd.DataFrame, seed: int = 0, truth: pd.DataFrame | None = None, data_description: dict | None = None,
          holdout: float = 0.2) -> ModelBundle:
    """Fit the fused predictor on (1 - holdout) of the cohort; metrics and baselines on the rest."""
    from sklearn.model_selection import train_test_split

    y = outcome(frame)
    idx_tr, idx_te = train_test_split(np.arange(len(frame)), test_size=holdout, stratify=y, random_state=seed)
    tr, te = frame.iloc[idx_tr].reset_index(drop=True), frame.iloc[idx_te].reset_index(drop=True)
    rad = radiomics_columns(frame)
    predictor = FusedPredictor(seed=seed).fit(columns_of(tr), y[idx_tr], radiomics_columns=rad)
    present = sorted({f.modality for f in predictor.features_})
    baselines = {"clinical_nomogram": _nomogram(tr, y[idx_tr])}
    for m in present:
        solo = FusedPredictor(seed=seed, modalities=(m,), n_members=0).fit(columns_of(tr), y[idx_tr], radiomics_columns=rad)
        baselines[f"{m}_only"] = (lambda s: (lambda fr: s.predict_proba(s.matrix(columns_of(fr)))))(solo)
    oracle = None
    if truth is not None and "p_oracle" in truth.columns:
        o = truth.set_index("patient_id")["p_oracle"]
        oracle = o.reindex(te["patient_id"]).to_numpy(float)
        if np.isnan(oracle).any():
            oracle = None
    metrics = compare(predictor, te, y[idx_te], baselines, oracle)
    imaging = _imaging_added(predictor, tr, y[idx_tr], te, y[idx_te], rad, present, seed, oracle)
    # interval level calibrated on one half of the held-out patients, coverage reported on the other
    half = np.arange(len(te)) % 2 == 0
    calibrate_interval(predictor, te[half].reset_index(drop=True), seed=seed)
    coverage = masked_coverage(predictor, te[~half].reset_index(drop=True), seed=seed + 1,
                               oracle=None if oracle is None else oracle[~half])
    card = _card(predictor, frame, y, seed, metrics, coverage, data_description or {}, len(idx_tr), len(idx_te), present)
    card["imaging_added"] = imaging
    return ModelBundle(predictor=predictor, card=card, baselines=baselines)


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


def _card(predictor, frame, y, seed, metrics, coverage, data_description, n_train, n_test, present) -> dict:
    cohort_hash = hashlib.sha256(pd.util.hash_pandas_object(frame.drop(columns=["patient_id", "site"], errors="ignore"),
                                                             index=False).values.tobytes()).hexdigest()
    today = _dt.date.today().isoformat()
    synthetic = bool(data_description.get("synthetic", False))
    return {
        "model_version": f"fused-{today.replace('-', '')}-{cohort_hash[:8]}",
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
            "n_patients": int(len(frame)), "n_train": int(n_train), "n_held_out": int(n_test),
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
            "classifier": "HistGradientBoostingClassifier (learning_rate 0.15, 60 iterations, 15 leaves, min 40 per leaf, L2 1.0); missing values routed natively",
            "calibration": "Platt scaling on 5-fold out-of-fold margins",
            "explanations": "exact TreeSHAP on the margin, times the Platt slope: contributions sum exactly to the calibrated logit; probability points allocate p - p_base in proportion to the logit contributions",
            "interval": f"{int(INTERVAL_LEVEL * 100)}% interval for the probability once missing inputs are known: donor transfer "
                        f"({predictor.n_donors} nearest training patients in masked logit give logit(full) - logit(masked) shifts) "
                        f"plus model uncertainty (SD of {predictor.n_members} bootstrap refits); "
                        f"the sample quantile level ({predictor.quantile_level_}) is calibrated split-conformally on half of the held-out "
                        "patients so that masked coverage reaches the nominal level; coverage is reported on the other half",
            "seed": seed,
            "held_out": "stratified 20% of the training cohort, never seen in fitting",
        },
        "metrics_held_out": metrics,
        "interval_coverage_held_out": coverage,
        "limitations": [
            "Trained on a synthetic cohort whose generating process is calibrated to published figures (../shared/clinical/calibration.md); "
            "it has not been validated on real patients. Published figures come from small, heterogeneous studies."
            if synthetic else "Trained on the site's own cohort; check the held-out metrics before use.",
            "Effect sizes from studies of 20-300 patients were shrunk in the simulator; PD-L1 effects are the least certain.",
            "Prior malignancy (an exclusion criterion) is not in the data dictionary: check it yourself.",
            "The interval's coverage is checked on data like the training data only.",
        ],
        "environment": _environment(),
    }


# ----------------------------------------------------------------------------- artifacts

def save_model(bundle: ModelBundle, out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.joblib.tmp"
    predictor = bundle.predictor
    predictor.explainer_ = None  # rebuilt on load; not pickled
    joblib.dump(predictor, tmp, compress=3)
    os.replace(tmp, out / "model.joblib")
    with open(out / "runtime.npz.tmp", "wb") as fh:
        np.savez_compressed(fh, **predictor.runtime_arrays())
    os.replace(out / "runtime.npz.tmp", out / "runtime.npz")
    card = dict(bundle.card)
    card["artifact"] = {"file": "model.joblib", "sha256": _sha256(out / "model.joblib"),
                        "runtime_file": "runtime.npz", "runtime_sha256": _sha256(out / "runtime.npz"),
                        "feature_spec_sha256": spec_fingerprint(predictor.features_)}
    (out / "model_card.json").write_text(json.dumps(card, indent=2, default=float) + "\n")
    from watchwait.model_card import render_markdown

    (out / "model_card.md").write_text(render_markdown(card))
    bundle.card, bundle.path = card, out
    return out


