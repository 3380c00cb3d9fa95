"""The generic peers every fused-model figure is printed beside (issue 8): what a textbook pipeline
reaches on the same training file.

* ``logistic``: logistic regression on the raw data-dictionary columns, median imputation with
  missing-value indicators, standardised numbers, one-hot categories (the textbook baseline);
* ``hgb``: scikit-learn's HistGradientBoostingClassifier on the raw columns (native blanks and
  categories), 300 trees of 8 leaves, learning rate 0.05 (settings chosen by 5-fold CV in
  benchmarks/bench_candidates.py).

Both take a validated cohort frame and return fitted objects with ``predict(frame) -> p``. The EBM peer
(InterpretML) lives in benchmarks/bench_quality.py only: it takes minutes to fit and is not a runtime
dependency.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from watchwait.schema import BY_NAME

NUMERIC = ("age_years", "ecog", "distance_from_anal_verge_cm", "tumour_length_cm", "circumferential_extent_pct",
           "pdl1_cps", "pdl1_tps_pct", "cea_baseline_ng_ml", "cea_post_ng_ml", "ctdna_baseline_mtm_ml",
           "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml", "systemic_cycles", "weeks_rt_to_assessment",
           "mr_trg", "residual_lesion_mm", "mrf_involved", "emvi", "lateral_nodes", "regorafenib", "dwi_restriction",
           "ymr_emvi")
CATEGORICAL = ("sex", "ct_stage", "cn_stage", "rt_schedule", "sequence", "immunotherapy", "chemotherapy",
               "endoscopy", "dre", "ymr_n_stage", "restaging_biopsy")
LABELS = {"logistic": "Logistic regression + missing-value indicators (raw columns)",
          "hgb": "HistGradientBoosting (raw columns)"}


def raw_columns(frame: pd.DataFrame, categorical_dtype: bool = False) -> pd.DataFrame:
    """The raw predictor columns: numbers (and booleans) as float with NaN, categories as text with NaN (or as
    pandas categoricals over the data dictionary's levels)."""
    out = {c: pd.to_numeric(frame[c], errors="coerce").astype(float) if c in frame else np.full(len(frame), np.nan)
           for c in NUMERIC}
    for c in CATEGORICAL:
        v = frame[c].astype(object).where(frame[c].notna(), np.nan) if c in frame else pd.Series(np.nan, index=frame.index)
        out[c] = pd.Categorical(v, categories=list(BY_NAME[c].categories)) if categorical_dtype else v
    return pd.DataFrame(out, index=frame.index)


class Peer:
    def __init__(self, name: str, pipeline, categorical_dtype: bool):
        self.name, self.label, self.pipeline, self.categorical_dtype = name, LABELS[name], pipeline, categorical_dtype

    def fit(self, frame: pd.DataFrame, y) -> Peer:
        from threadpoolctl import threadpool_limits

        raw = raw_columns(frame, self.categorical_dtype)
        # a column blank for every training patient carries nothing (a version-1 file has no version-2 restaging
        # columns); scikit-learn's gradient boosting cannot bin it, so it is left out as the fused model leaves it out
        self.columns_ = [c for c in raw.columns if raw[c].notna().any()]
        with threadpool_limits(limits=1, user_api="openmp"):  # OpenMP threads contend badly on a shared machine
            self.pipeline.fit(self._select(raw), np.asarray(y, bool))
        return self

    def _select(self, raw: pd.DataFrame) -> pd.DataFrame:
        return raw[self.columns_]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(self._select(raw_columns(frame, self.categorical_dtype)))[:, 1]


def logistic() -> Peer:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from sklearn.compose import make_column_selector

    is_cat = make_column_selector(dtype_include=object)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()),
         make_column_selector(dtype_include="number")),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True),
                              OneHotEncoder(handle_unknown="ignore")), is_cat),
    ])
    return Peer("logistic", make_pipeline(ct, LogisticRegression(C=1.0, max_iter=5000)), categorical_dtype=False)


def hgb(seed: int = 0) -> Peer:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return Peer("hgb", HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, max_leaf_nodes=8, min_samples_leaf=40,
                                                      l2_regularization=1.0, early_stopping=False, random_state=seed,
                                                      categorical_features="from_dtype"), categorical_dtype=True)


def fit_peers(frame: pd.DataFrame, y, seed: int = 0) -> dict[str, Peer]:
    return {p.name: p.fit(frame, y) for p in (logistic(), hgb(seed))}
