"""The fused multimodal predictor of complete response.

Method
------
* Features: one named branch per modality (:mod:`watchwait.features`). Every feature that carries a
  direction of the clinical evidence (ctDNA cleared, a better restaging reading, CEA falling, nodes
  regressed, a negative biopsy; :mod:`watchwait.directions`) declares it (``Feature.direction``).
* Model, in two stages, each from a maintained library:

  1. a **monotone additive model** (glum's penalised binomial GLM): each feature enters through a
     basis whose columns are non-decreasing in it (cumulative steps for a feature with few levels;
     tail sums of a cubic B-spline basis on quantile knots otherwise, which are non-decreasing because
     B-splines sum to one). A feature with a direction has its coefficients bounded to that side, so
     its term is monotone by construction. A blank input takes the basis at the training median plus a
     missing indicator of its own (a blank is a level, not a reading);
  2. **monotone boosted trees** on top (LightGBM, ``init_score`` = the additive logit), each tree
     combining features of *one modality* plus the treatment context (regimen, immunotherapy) only
     (``interaction_constraints``) and monotone in every directional feature (``monotone_constraints``).

  A sum of functions each monotone in the same direction is monotone: the probability never moves
  against the evidence, and tests/unit/test_model_directions.py checks it with hypothesis.
* Explanations are exact: additive terms (centred on their training mean) plus the trees' TreeSHAP
  values (LightGBM ``pred_contrib``) sum to the logit, feature by feature; a tree's split on the regimen is
  credited to the regimen (clinical), its other splits to their own modality.
* Uncertainty: a **bootstrap ensemble** (``n_members`` refits on resampled patients, the same basis)
  gives each patient a spread ``sigma`` of the logit, learnt at training time as an additive function of the
  record (:class:`SpreadFit`, so a prediction evaluates no refit); a **normalised Mondrian split-conformal**
  regressor (crepes) turns it into a 90% interval for the probability a perfect model would give this
  record, calibrated on held-out patients whose true probability is known (simulated cohorts), one
  category (Mondrian bin) per number of missing test groups. On a cohort without a known truth the
  interval is the bootstrap spread alone (``interval_method_``), and the model card says so.

Scikit-learn-style: settings in ``__init__``, learned attributes end in ``_``.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from watchwait.derive import Columns
from watchwait.features import (
    BASE_FEATURES,
    Feature,
    blank_cells,
    feature_matrix,
    radiomics_features,
)

INTERVAL_LEVEL = 0.90
MAX_STEP_LEVELS = 6  # a feature with at most this many distinct values gets cumulative steps, not splines
SIGMA_FLOOR = 0.05  # logit units: the smallest bootstrap spread
MIN_BIN = 100  # calibration patients a conformal category needs (else it joins the category below)
P_SIGMA_FLOOR = 0.005  # probability units: the smallest spread the conformal score divides by
# Test groups whose absence defines the conformal categories (Mondrian bins): 0, 1, 2 or 3+ groups missing.
TEST_GROUPS: dict[str, tuple[str, ...]] = {
    "ctDNA": ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml"),
    "PD-L1": ("pdl1_cps", "pdl1_tps_pct"),
    "CEA at assessment": ("cea_post_ng_ml",),
    "restaging MRI": ("mr_trg", "dwi_restriction", "ymr_n_stage"),
    "endoscopy and DRE": ("endoscopy", "dre"),
}


def informative_columns(X: np.ndarray) -> np.ndarray:
    """Per column of a feature matrix: True when it has a value and varies (a feature blank or constant for every
    training patient carries nothing; a version-1 cohort has no version-2 restaging values at all)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of an all-blank column
        return ~np.isnan(X).all(axis=0) & (np.nanstd(np.where(np.isnan(X), np.nanmean(X, axis=0), X), axis=0) > 0)


def expit(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def missing_groups(cols: Columns) -> np.ndarray:
    """Per row, how many :data:`TEST_GROUPS` have every input blank (capped at 3): the conformal category."""
    n = len(next(iter(cols.values())))
    count = np.zeros(n, dtype=int)
    for group in TEST_GROUPS.values():
        present = [c for c in group if c in cols]
        if present:
            count += np.logical_and.reduce([blank_cells(cols[c]) for c in present])
        else:
            count += 1
    return np.minimum(count, 3)


def missing_groups_default(n: int) -> np.ndarray:
    """Without the record's columns, the most cautious category (3+ groups missing)."""
    return np.full(n, 3, dtype=int)


def masked_copies(cols: Columns, y: np.ndarray, share: float, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """The training columns plus copies of ``share`` of the patients with each :data:`TEST_GROUPS` group blanked
    with probability 1/2 (at least one group per copy). Blanking is at random, independent of the outcome, so the
    copies teach P(response | fewer tests) without bias, including patterns rare in the cohort (e.g. no restaging
    and no blood tests at all)."""
    n = len(y)
    idx = rng.choice(n, size=int(round(share * n)), replace=share > 1)
    blank = rng.random((len(idx), len(TEST_GROUPS))) < 0.5
    blank[~blank.any(axis=1), rng.integers(len(TEST_GROUPS))] = True
    out = {}
    for c, v in cols.items():
        v = np.asarray(v)
        copy = v[idx].copy()
        for g, group in enumerate(TEST_GROUPS.values()):
            if c in group:
                if copy.dtype.kind == "f":
                    copy[blank[:, g]] = np.nan
                else:
                    copy = copy.astype(object)
                    copy[blank[:, g]] = None
        out[c] = np.concatenate([v.astype(copy.dtype) if v.dtype != copy.dtype else v, copy])
    return out, np.concatenate([y, y[idx]])


# --------------------------------------------------------------------------- stage 1: monotone additive model
@dataclass
class _Term:
    kind: str  # "steps" | "spline" | "onehot"
    values: np.ndarray  # steps: the levels above the lowest; onehot: the levels; spline: the knot vector
    median: float
    missing: bool  # has a missing-indicator column

    def splines(self, x: np.ndarray, k: int = 3) -> np.ndarray:
        """Every cubic B-spline of a spline term at ``x`` (rows x basis functions), by one BSpline with identity
        coefficients, built on first use and kept on the term."""
        bs = self.__dict__.get("_bs")
        if bs is None:
            from scipy.interpolate import BSpline

            bs = self.__dict__["_bs"] = BSpline(self.values, np.eye(len(self.values) - k - 1), k, extrapolate=False)
        return bs(x)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_bs"}  # rebuilt on first use


class MonotoneGAM:
    """Penalised additive logistic model, monotone by construction in every feature with a direction.

    ``fit(X, y)`` on a float matrix (NaN = blank); ``directions`` and ``kinds`` per column. The ridge
    penalty on each basis column is weighted by its variance (standardised coefficients); ``alpha``
    is its strength. ``terms(X)`` gives the per-feature logit contributions (exact: intercept + sum).
    """

    def __init__(self, alpha: float = 3e-3, knots: int = 3, directions=None, kinds=None):
        self.alpha, self.knots, self.directions, self.kinds = alpha, knots, directions, kinds

    def basis(self, X: np.ndarray) -> list[_Term]:
        from sklearn.preprocessing import SplineTransformer

        terms = []
        for j in range(X.shape[1]):
            x = X[:, j]
            obs = x[~np.isnan(x)]
            vals = np.unique(obs)
            median = float(np.median(obs)) if len(obs) else 0.0
            missing = bool(np.isnan(x).any())
            if self.kinds is not None and self.kinds[j] == "category":
                terms.append(_Term("onehot", vals, median, missing))
            elif len(vals) <= MAX_STEP_LEVELS:
                terms.append(_Term("steps", vals[1:], median, missing))
            else:
                st = SplineTransformer(n_knots=self.knots, degree=3, knots="quantile", extrapolation="constant").fit(obs[:, None])
                t = np.asarray(st.bsplines_[0].t, float)
                if len(np.unique(t)) < len(t):
                    # values piled up at one end (ctDNA's change is 0 for everyone not tested) make quantile knots
                    # coincide; the B-splines then sum to 0, not 1, at the boundary, so the patients at it got the basis
                    # of the other end, against the feature's direction. Knots at the quantiles of the distinct values
                    # instead (tests/unit/test_model_directions.py)
                    st = SplineTransformer(n_knots=self.knots, degree=3, knots="quantile", extrapolation="constant").fit(vals[:, None])
                    t = np.asarray(st.bsplines_[0].t, float)
                terms.append(_Term("spline", t, median, missing))
        return terms

    @staticmethod
    def design(X: np.ndarray, terms: list[_Term]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Basis matrix; per column, the index of the feature it belongs to and whether it is a missing indicator."""
        cols, owner, indicator = [], [], []
        for j, t in enumerate(terms):
            x = X[:, j]
            miss = np.isnan(x)
            if t.kind == "onehot":
                B = (x[:, None] == t.values[None, :]).astype(float)
            elif t.kind == "steps":
                B = (np.where(miss, t.median, x)[:, None] >= t.values[None, :]).astype(float)
            else:  # tail sums of the cubic B-splines: each non-decreasing in x; constant beyond the boundary knots
                k = 3
                lo, hi = t.values[k], t.values[-k - 1]
                xc = np.clip(np.where(miss, t.median, x), lo, hi)
                Bs = t.splines(xc, k)
                B = np.cumsum(Bs[:, ::-1], axis=1)[:, ::-1][:, 1:]
            cols.append(B)
            owner += [j] * B.shape[1]
            indicator += [False] * B.shape[1]
            if t.missing:
                cols.append(miss[:, None].astype(float))
                owner.append(j)
                indicator.append(True)
        D = np.hstack(cols) if cols else np.zeros((len(X), 0))
        return D, np.asarray(owner, dtype=int), np.asarray(indicator, dtype=bool)

    def bounds(self, owner: np.ndarray, is_indicator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficient bounds: a basis column of a feature with a direction is bounded to that side (the
        missing indicator stays free: a blank is not a reading)."""
        lo, hi = np.full(len(owner), -np.inf), np.full(len(owner), np.inf)
        for c, j in enumerate(owner):
            d = 0 if self.directions is None else self.directions[j]
            if not is_indicator[c] and d > 0:
                lo[c] = 0.0
            elif not is_indicator[c] and d < 0:
                hi[c] = 0.0
        return lo, hi

    def fit(self, X: np.ndarray, y: np.ndarray, terms: list[_Term] | None = None, D: np.ndarray | None = None,
            offset: np.ndarray | None = None) -> MonotoneGAM:
        """``offset``: a logit every row already has (an update fits a correction on top of a model's logit)."""
        from glum import GeneralizedLinearRegressor

        self.terms_ = terms if terms is not None else self.basis(X)
        if D is None:
            D, self.owner_, indicator = self.design(X, self.terms_)
        else:
            _, self.owner_, indicator = self.design(X[:1], self.terms_)
        lo, hi = self.bounds(self.owner_, indicator)
        p2 = np.maximum(D.var(axis=0), 1e-6)
        glm = GeneralizedLinearRegressor(family="binomial", alpha=self.alpha, lower_bounds=lo, upper_bounds=hi, P2=p2,
                                         fit_intercept=True, scale_predictors=False, max_iter=200)
        glm.fit(D, np.asarray(y, float), offset=offset)
        # only arrays are kept (the glum object is not needed to predict, and a model file holds data, not objects)
        self.coef_, self.intercept_ = np.asarray(glm.coef_, float), float(glm.intercept_)
        self.lower_bounds_, self.upper_bounds_ = lo, hi
        self.term_means_ = self._terms_from_design(D).mean(axis=0)
        return self

    def _terms_from_design(self, D: np.ndarray) -> np.ndarray:
        contrib = D * self.coef_[None, :]
        out = np.zeros((len(D), len(self.terms_)))
        np.add.at(out.T, self.owner_, contrib.T)
        return out

    def decision_function(self, X: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        if D is None:
            D = self.design(X, self.terms_)[0]
        return D @ self.coef_ + self.intercept_

    def terms(self, X: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        """rows x features: each feature's logit contribution (uncentred); intercept + row sum = logit."""
        if D is None:
            D = self.design(X, self.terms_)[0]
        return self._terms_from_design(D)


def _threads(rows: int) -> int:
    """LightGBM threads for a prediction: one for a few rows (threads cost more than they save and contend on a
    shared machine), every core for a batch."""
    import os

    return 1 if rows < 2000 else (os.cpu_count() or 1)


# --------------------------------------------------------------------------- stage 2: trees within one modality
# The treatment context every tree may also split on: what a restaging finding or a ctDNA result means depends on
# the regimen (immunotherapy brings pseudo-residual disease: ../shared/clinical/brief.md).
CONTEXT_FEATURES = ("clinical__regimen", "clinical__immunotherapy")


def modality_groups(features: tuple[Feature, ...]) -> list[list[int]]:
    """LightGBM ``interaction_constraints``: one group per modality, each with the treatment context added. Chosen
    on bench cohorts (25,000 simulated, 20,000 fitted; 5,000 fresh): on simulate the gap to the oracle 0.0408 ->
    0.0393 and AUC 0.9927 -> 0.9934 of the oracle's; on the second generator 0.0359 -> 0.0358 (no worse)."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(features):
        groups.setdefault(f.modality, []).append(i)
    context = [i for i, f in enumerate(features) if f.name in CONTEXT_FEATURES]
    return [sorted(set(g) | set(context)) for g in groups.values()]


@dataclass
class GamTrees:
    """The additive model plus LightGBM trees fitted on its residual logit (one member of the ensemble)."""

    gam: MonotoneGAM
    booster: object | None  # lightgbm.Booster

    def logit(self, X: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        out = self.gam.decision_function(X, D)
        if self.booster is not None:
            out = out + self.trees_raw(X)
        return out

    def trees_raw(self, X: np.ndarray) -> np.ndarray:
        """The trees' raw score, by LightGBM's own ``predict`` (one thread for a few rows, every core for a batch).

        A compiled evaluator of the same trees (numba) was dropped (issue 19): no screen of the dashboard calls this
        (``assess`` takes the logit from the explanation), and its first call in a process (0.7-2.4 s) outweighed what it
        saved (0.15 ms for one patient; 12 ms per 1,000 patients)."""
        return self.booster.predict(X, raw_score=True, num_threads=_threads(len(X)))


def _fit_member(X, y, D, terms, features, settings: dict, seed: int) -> GamTrees:
    import lightgbm as lgb

    gam = MonotoneGAM(alpha=settings["alpha"], knots=settings["knots"], directions=[f.direction for f in features],
                      kinds=[f.kind for f in features]).fit(X, y, terms=terms, D=D)
    booster = None
    if settings["trees"]:
        params = {"objective": "binary", "learning_rate": settings["lr"], "num_leaves": settings["leaves"], "min_child_samples": 40,
                  "reg_lambda": 1.0, "bagging_fraction": 0.8, "bagging_freq": 1, "num_threads": 1, "verbose": -1, "seed": seed,
                  "deterministic": True, "force_row_wise": True,
                  "monotone_constraints": [f.direction for f in features], "monotone_constraints_method": "intermediate",
                  "interaction_constraints": modality_groups(features)}
        data = lgb.Dataset(X, label=np.asarray(y, float), init_score=gam.decision_function(X, D), free_raw_data=True)
        booster = lgb.train(params, data, num_boost_round=settings["trees"])
    return GamTrees(gam=gam, booster=booster)


def _features_by_name(names) -> tuple[Feature, ...]:
    """Rebuild the feature tuple of a pickled model from its names (radiomics features are made on demand)."""
    base = {f.name: f for f in BASE_FEATURES}
    rad = {f.name: f for f in radiomics_features(["radiomics_" + n.split("__", 1)[1] for n in names if n.startswith("radiomics__")])}
    return tuple(base.get(n) or rad[n] for n in names)


# --------------------------------------------------------------------------- the spread, without the refits
@dataclass
class SpreadFit:
    """The bootstrap refits' spread as a function of the record: log sigma = D @ coef + intercept, a ridge regression
    (scikit-learn) of the log spread of the refits' logits on the additive model's basis ``D`` (spline and step
    columns plus a missing indicator per feature), fitted on the training patients (their masked copies included, so
    every pattern of missing tests is seen). Prediction then evaluates no refit: one matrix product instead of
    ``n_members`` x ``trees`` trees per patient. The spread of 8 refits is itself a noisy estimate (relative standard
    error about 27%); the conformal calibration scales whatever spread it is given, so its coverage guarantee holds
    for this one as for the refits' own."""

    coef: np.ndarray
    intercept: float
    r2: float  # share of the variance of the refits' log spread it explains, on the training patients

    @classmethod
    def fit(cls, D: np.ndarray, sigma: np.ndarray, alpha: float = 0.1) -> SpreadFit:
        from sklearn.linear_model import Ridge

        target = np.log(sigma)
        r = Ridge(alpha=alpha).fit(D, target)
        return cls(np.asarray(r.coef_, float), float(r.intercept_), float(r.score(D, target)))

    def sigma(self, D: np.ndarray) -> np.ndarray:
        return np.maximum(np.exp(D @ self.coef + self.intercept), SIGMA_FLOOR)


# --------------------------------------------------------------------------- an update of a fitted model
@dataclass
class LogitUpdate:
    """A change applied on top of a fitted model's logit, by the standard updating hierarchy (Steyerberg,
    *Clinical Prediction Models*, ch. 20; Vergouwe et al. 2017):

    ``logit' = intercept + slope * logit + correction(X)``

    * recalibration-in-the-large: ``intercept`` only (slope 1, no correction);
    * logistic recalibration: ``intercept`` and ``slope``;
    * revision of one modality's branch: both, plus ``correction``, a monotone additive model on that
      modality's features only, fitted with the recalibrated logit as offset (the same bounds as the
      model's own terms, so every direction of the evidence still holds).

    ``slope`` is kept positive (a recalibration never reverses the evidence). Explanations stay exact:
    each contribution is scaled by the slope and the correction's own terms are added to its features."""

    method: str  # "recalibration-in-the-large" | "logistic recalibration" | "revision of <modality>" | "recalibration after training"
    intercept: float = 0.0
    slope: float = 1.0
    modality: str = ""  # the revised branch ("" = none)
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # feature indices the correction reads
    correction: MonotoneGAM | None = None
    reason: str = ""  # why this level of the hierarchy was chosen, in words (the model card prints it)

    def correction_terms(self, X: np.ndarray) -> np.ndarray:
        """rows x features: the correction's centred terms, zero for features it does not read; plus its
        constant (intercept and term means) as the second value."""
        out = np.zeros(X.shape)
        if self.correction is None or len(self.columns) == 0:
            return out
        sub = X[:, self.columns]
        out[:, self.columns] = self.correction.terms(sub) - self.correction.term_means_[None, :]
        return out

    def correction_constant(self) -> float:
        if self.correction is None:
            return 0.0
        return float(self.correction.intercept_ + self.correction.term_means_.sum())

    def apply(self, logit: np.ndarray, X: np.ndarray) -> np.ndarray:
        out = self.intercept + self.slope * np.asarray(logit, float)
        if self.correction is not None and len(self.columns):
            out = out + self.correction.decision_function(X[:, self.columns])
        return out


# --------------------------------------------------------------------------- the predictor
@dataclass
class Explanation:
    base_logit: float
    contributions_logit: np.ndarray  # per feature, sums with base to the logit


@dataclass
class FusedPredictor:
    """Settings in ``__init__``; learned attributes end in ``_`` (scikit-learn's contract)."""

    n_members: int = 8
    seed: int = 0
    modalities: tuple[str, ...] | None = None  # None = every modality (the fused model)
    alpha: float = 3e-3
    knots: int = 3
    trees: int = 300
    lr: float = 0.03
    leaves: int = 8
    n_jobs: int = 2
    masked_copies: float = 0.0  # share of training patients added again with random test groups blanked (0 = off)
    # How a prediction gets its spread: "additive" = a regression of the refits' spread (SpreadFit; the refits are
    # then not kept), "refits" = the refits themselves (9 x ``trees`` trees per patient instead of 1 x).
    spread: str = "additive"
    features_: tuple[Feature, ...] = field(default=(), init=False)
    model_: GamTrees | None = field(default=None, init=False)
    members_: list = field(default_factory=list, init=False)
    spread_: SpreadFit | None = field(default=None, init=False)
    conformal_: object = field(default=None, init=False)  # crepes ConformalRegressor (Mondrian, normalised) or None
    interval_method_: str = field(default="", init=False)
    bin_map_: np.ndarray = field(default_factory=lambda: np.arange(4), init=False)  # conformal category per missing-group count
    update_: LogitUpdate | None = field(default=None, init=False)  # a recalibration or a site's update (watchwait.updating)
    # the interval was calibrated on the updated logit (a recalibration made at training, before the interval's
    # calibration) rather than on the fitted model's own (a site's later update, which then maps the interval)
    conformal_on_update_: bool = field(default=False, init=False)
    support_: object = field(default=None, init=False)  # the training cohort's support (watchwait.support.Support) or None
    tuning_: dict = field(default_factory=dict, init=False)  # what cross-validation chose and measured (watchwait.tuning)

    # ----------------------------------------------------------------- fit
    def fit(self, cols: Columns, y: np.ndarray, radiomics_columns: list[str] | None = None) -> FusedPredictor:
        if self.spread not in ("additive", "refits"):
            raise ValueError(f"spread must be 'additive' or 'refits', not {self.spread!r}")
        y = np.asarray(y, dtype=bool)
        if y.min() == y.max():
            raise ValueError("the training cohort must contain both complete and incomplete responders.")
        feats = BASE_FEATURES + radiomics_features(list(radiomics_columns or []))
        if self.modalities is not None:
            feats = tuple(f for f in feats if f.modality in self.modalities)
        if self.masked_copies > 0:
            cols, y = masked_copies(cols, y, self.masked_copies, np.random.default_rng(self.seed + 99))
        X = feature_matrix(feats, cols)
        keep = informative_columns(X)
        self.features_ = tuple(f for f, k in zip(feats, keep) if k)
        X = X[:, keep]
        settings = {"alpha": self.alpha, "knots": self.knots, "trees": self.trees, "lr": self.lr, "leaves": self.leaves}
        terms = MonotoneGAM(knots=self.knots, kinds=[f.kind for f in self.features_]).basis(X)
        D = MonotoneGAM.design(X, terms)[0]
        rng = np.random.default_rng(self.seed)
        samples = [np.arange(len(y))]
        for _ in range(self.n_members):
            idx = rng.integers(0, len(y), len(y))
            while y[idx].min() == y[idx].max():  # pragma: no cover (only for tiny cohorts)
                idx = rng.integers(0, len(y), len(y))
            samples.append(idx)

        def fit_one(b: int) -> GamTrees:
            idx = samples[b]
            return _fit_member(X[idx], y[idx], D[idx], terms, self.features_, settings, self.seed + b)

        # one thread per fit (LightGBM's own OpenMP threads contend badly on a shared machine); fits run side by side
        with ThreadPoolExecutor(max_workers=max(1, self.n_jobs)) as pool:
            fitted = list(pool.map(fit_one, range(len(samples))))
        self.model_, self.members_ = fitted[0], fitted[1:]
        self.spread_ = None
        if self.spread == "additive" and len(self.members_) >= 2:
            self.spread_ = SpreadFit.fit(D, self.sigma(X, D))
            self.members_ = []
        self.conformal_ = None
        self.interval_method_ = (f"{self._spread_words()}: normal interval from it "
                                 "(model uncertainty only; not calibrated against a known truth)")
        return self

    def _spread_words(self) -> str:
        if self.spread_ is not None:
            return (f"sigma = an additive regression of the spread of {self.n_members} bootstrap refits (explains "
                    f"{100 * self.spread_.r2:.0f}% of its variance on the training patients)")
        return f"sigma = spread of {self.n_members} bootstrap refits"

    # ----------------------------------------------------------------- pickling
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["features_"] = [f.name for f in self.features_]  # features hold functions: store their names
        return state

    def __setstate__(self, state: dict) -> None:
        state["features_"] = _features_by_name(state["features_"])
        state.setdefault("spread_", None)  # a model saved before SpreadFit: its refits give the spread
        state.setdefault("spread", "refits")
        for k, v in (("update_", None), ("support_", None), ("tuning_", {}), ("conformal_on_update_", False)):
            state.setdefault(k, v)
        self.__dict__.update(state)

    # ----------------------------------------------------------------- predict
    def matrix(self, cols: Columns) -> np.ndarray:
        return feature_matrix(self.features_, cols)

    def _design(self, X: np.ndarray) -> np.ndarray:
        return MonotoneGAM.design(X, self.model_.gam.terms_)[0]

    def _base_logit(self, X: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        """The fitted model's logit before any update."""
        return self.model_.logit(X, self._design(X) if D is None else D)

    def _logit(self, X: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        lq = self._base_logit(X, D)
        return lq if self.update_ is None else self.update_.apply(lq, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return expit(self._logit(X))

    def sigma(self, X: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        """Per row: the spread (SD) of the bootstrap members' logits, floored at :data:`SIGMA_FLOOR`; from
        :class:`SpreadFit` when the model has one."""
        if self.spread_ is not None:
            return self.spread_.sigma(self._design(X) if D is None else D)
        if len(self.members_) < 2:
            return np.full(len(X), SIGMA_FLOOR)
        D = self._design(X) if D is None else D
        L = np.vstack([m.logit(X, D) for m in self.members_])
        return np.maximum(L.std(axis=0, ddof=1), SIGMA_FLOOR)

    def explain(self, X: np.ndarray, D: np.ndarray | None = None) -> Explanation:
        """Exact: centred additive terms + TreeSHAP of the trees; base + sum = the logit."""
        D = self._design(X) if D is None else D
        gam = self.model_.gam
        phi = gam.terms(X, D) - gam.term_means_[None, :]
        base = gam.intercept_ + float(gam.term_means_.sum())
        if self.model_.booster is not None:
            contrib = np.asarray(self.model_.booster.predict(X, pred_contrib=True, num_threads=1))
            phi = phi + contrib[:, :-1]
            base += float(contrib[0, -1])
        u = self.update_
        if u is not None:
            phi = u.slope * phi + u.correction_terms(X)
            base = u.intercept + u.slope * base + u.correction_constant()
        return Explanation(base_logit=float(base), contributions_logit=phi)

    @staticmethod
    def _sigma_p(logit_q: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """The logit spread on the probability scale (delta method), floored at half a percentage point."""
        p = expit(logit_q)
        return np.maximum(sigma * p * (1 - p), P_SIGMA_FLOOR)

    def calibrate(self, X: np.ndarray, logit_true: np.ndarray, groups: np.ndarray, logit_pred: np.ndarray | None = None,
                  source: str = "held-out simulated patients whose true probability is known") -> None:
        """Normalised Mondrian split-conformal calibration (crepes) on held-out patients: score
        |p_true - p| / (sigma p (1 - p)), one category per ``groups`` value. ``logit_pred`` defaults to this
        model's own prediction; a parametric-bootstrap calibration passes a refit's prediction instead
        (:func:`watchwait.training.train` without known true probabilities)."""
        from crepes import ConformalRegressor

        lq = self._logit(X) if logit_pred is None else np.asarray(logit_pred, float)
        self.conformal_on_update_ = self.update_ is not None
        groups = np.asarray(groups, int)
        counts = np.bincount(groups, minlength=4)
        # a category with too few calibration patients joins the one below it (3+ -> 2 -> 1 -> 0)
        self.bin_map_ = np.arange(4)
        for g in (3, 2, 1):
            if counts[g] < MIN_BIN:
                self.bin_map_[self.bin_map_ == g] = self.bin_map_[g - 1]
                counts[g - 1] += counts[g]
                counts[g] = 0
        cr = ConformalRegressor()
        cr.fit(residuals=expit(logit_true) - expit(lq), sigmas=self._sigma_p(lq, self.sigma(X)), bins=self.bin_map_[groups])
        self.conformal_ = cr
        self.interval_method_ = (
            f"normalised Mondrian split-conformal regression (crepes) on the probability: score |p_true - p| / (sigma p (1 - p)), "
            f"{self._spread_words()}, one category per number of missing test groups "
            f"(0/1/2/3+: {', '.join(str(int(c)) for c in counts)} calibration patients), calibrated on {source}")

    def interval(self, X: np.ndarray, logit_q: np.ndarray | None = None, groups: np.ndarray | None = None,
                 level: float = INTERVAL_LEVEL, D: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) probability interval at ``level``; ``groups`` = :func:`missing_groups` of the rows;
        ``D`` = the rows' basis matrix when the caller has it already."""
        D = self._design(X) if D is None else D
        if self.update_ is not None and not self.conformal_on_update_:
            # the interval belongs to the fitted model's own probability; an update moves it as it moves the logit
            # (a monotone map of the logit for each patient, so the bounds stay bounds)
            lo, hi = self._interval(X, self._base_logit(X, D), groups, level, D)
            with np.errstate(divide="ignore"):
                to_logit = lambda p: np.log(np.clip(p, 1e-12, 1 - 1e-12) / (1 - np.clip(p, 1e-12, 1 - 1e-12)))  # noqa: E731
            return expit(self.update_.apply(to_logit(lo), X)), expit(self.update_.apply(to_logit(hi), X))
        return self._interval(X, self._logit(X, D) if logit_q is None else logit_q, groups, level, D)

    def _interval(self, X: np.ndarray, logit_q: np.ndarray, groups, level: float, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.sigma(X, D)
        if self.conformal_ is not None:
            bins = self.bin_map_[missing_groups_default(len(X)) if groups is None else np.asarray(groups, int)]
            iv = self.conformal_.predict_int(y_hat=expit(logit_q), sigmas=self._sigma_p(logit_q, s), bins=bins, confidence=level,
                                             y_min=0.0, y_max=1.0)
            return iv[:, 0], iv[:, 1]
        else:
            z = NormalDist().inv_cdf((1 + level) / 2)
            lo, hi = logit_q - z * s, logit_q + z * s
        return expit(lo), expit(hi)
