"""The fused multimodal predictor of complete response.

Method
------
* Features: one named branch per modality (:mod:`watchwait.features`), missing = NaN.
* Classifier: gradient-boosted trees (scikit-learn ``HistGradientBoostingClassifier``), which route
  missing values natively, so any modality may be absent.
* Calibration: Platt scaling of the trees' margin, fitted on 5-fold out-of-fold margins. Platt is
  linear in the logit, so TreeSHAP values (exact for trees) times the Platt slope sum *exactly* to
  the calibrated logit: ``logit p = base + sum(contributions)``.
* Uncertainty: a 90% interval for the probability *once the missing tests are done*, including
  model uncertainty:

  1. missing inputs: donor transfer. Training patients who have the query's missing inputs are
     masked like the query; the K donors whose masked (calibrated) logit is nearest the query's
     give K shifts ``logit(full) - logit(masked)``: how much those tests moved the probability of
     patients the model saw as similar. Query samples = query logit + shifts;
  2. model uncertainty: the spread (SD of the calibrated logit) of B bootstrap refits, added to
     the samples as Gaussian noise at fixed quantiles.

  The interval is the 5th-95th percentile of the samples on the probability scale. Its coverage is
  checked by masking inputs of held-out simulated patients and comparing with the probability once
  they are known (:func:`watchwait.metrics.masked_coverage`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from statistics import NormalDist

import numpy as np
from numba import njit, prange

from watchwait.derive import Columns
from watchwait.features import BASE_FEATURES, Feature, feature_matrix, radiomics_features

INTERVAL_LEVEL = 0.90


def expit(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _hgb(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier  # scikit-learn only for fitting and SHAP

    return HistGradientBoostingClassifier(
        learning_rate=0.15, max_iter=60, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
        early_stopping=False, random_state=seed)


@dataclass
class Explanation:
    base_logit: float
    contributions_logit: np.ndarray  # per feature, sums with base to the calibrated logit


@dataclass
class FusedPredictor:
    """Settings in ``__init__``; learned attributes end in ``_`` (scikit-learn's contract)."""

    n_members: int = 3
    n_donors: int = 48
    donor_pool: int = 600
    seed: int = 0
    modalities: tuple[str, ...] | None = None  # None = every modality (the fused model)
    features_: tuple[Feature, ...] = field(default=(), init=False)
    model_: object = field(default=None, init=False)  # HistGradientBoostingClassifier (None in a runtime-only load)
    members_: list = field(default_factory=list, init=False)
    platt_: tuple[float, float] = field(default=(1.0, 0.0), init=False)
    donors_: np.ndarray | None = field(default=None, init=False)
    donor_logits_: np.ndarray | None = field(default=None, init=False)
    quantile_level_: float = field(default=INTERVAL_LEVEL, init=False)
    explainer_: object = field(default=None, init=False, repr=False)

    # ----------------------------------------------------------------- fit
    def fit(self, cols: Columns, y: np.ndarray, radiomics_columns: list[str] | None = None) -> FusedPredictor:
        y = np.asarray(y, dtype=bool)
        if y.min() == y.max():
            raise ValueError("the training cohort must contain both complete and incomplete responders.")
        feats = BASE_FEATURES + radiomics_features(list(radiomics_columns or []))
        if self.modalities is not None:
            feats = tuple(f for f in feats if f.modality in self.modalities)
        X = feature_matrix(feats, cols)
        keep = ~np.isnan(X).all(axis=0)  # a modality with no data at all (e.g. radiomics before imaging) is left out
        self.features_ = tuple(f for f, k in zip(feats, keep) if k)
        X = X[:, keep]
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        rng = np.random.default_rng(self.seed)
        oof = np.empty(len(y))
        for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=self.seed).split(X, y)):
            oof[te] = _hgb(self.seed + k).fit(X[tr], y[tr]).decision_function(X[te])
        platt = LogisticRegression(C=1e6).fit(oof[:, None], y)
        self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.model_ = _hgb(self.seed).fit(X, y)
        self.members_ = []
        for b in range(self.n_members):
            idx = rng.integers(0, len(y), len(y))
            self.members_.append(_hgb(self.seed + 100 + b).fit(X[idx], y[idx]))
        pool = rng.choice(len(y), size=min(self.donor_pool, len(y)), replace=False)
        self.__dict__.pop("_trees", None)
        self.__dict__.pop("_pattern_cache", None)
        self.donors_ = X[np.sort(pool)]
        self.donor_logits_ = self._logit(self.donors_)
        self.explainer_ = None
        return self

    # ----------------------------------------------------------------- pickling
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["features_"] = [f.name for f in self.features_]  # features hold functions: store names
        state["explainer_"] = None
        state.pop("_pattern_cache", None)
        state.pop("_trees", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state["features_"] = _features_by_name(state["features_"])
        self.__dict__.update(state)

    # ----------------------------------------------------------------- runtime form (no scikit-learn needed)
    def runtime_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to predict with intervals, as plain arrays (saved as runtime.npz)."""
        out: dict[str, np.ndarray] = {
            "features": np.array([f.name for f in self.features_]), "platt": np.array(self.platt_),
            "donors": self.donors_, "donor_logits": self.donor_logits_,
            "settings": np.array([self.quantile_level_, self.n_donors, len(self._tree_sets())], dtype=float)}
        for i, t in enumerate(self._tree_sets()):
            for name in _Trees.ARRAYS:
                out[f"t{i}_{name}"] = getattr(t, name)
        return out

    @classmethod
    def from_runtime(cls, arrays) -> FusedPredictor:
        quantile, n_donors, n_sets = arrays["settings"]
        self = cls(n_members=int(n_sets) - 1, n_donors=int(n_donors))
        self.features_ = _features_by_name([str(n) for n in arrays["features"]])
        self.platt_ = tuple(float(v) for v in arrays["platt"])
        self.donors_, self.donor_logits_ = arrays["donors"], arrays["donor_logits"]
        self.quantile_level_ = float(quantile)
        self.__dict__["_trees"] = [_Trees.from_arrays({n: arrays[f"t{i}_{n}"] for n in _Trees.ARRAYS}) for i in range(int(n_sets))]
        return self

    def _tree_sets(self) -> list:
        trees = self.__dict__.get("_trees")
        if trees is None:
            trees = [_fast_trees(self.model_)] + [_fast_trees(m) for m in self.members_]
            self.__dict__["_trees"] = trees
        return trees

    # ----------------------------------------------------------------- predict
    def matrix(self, cols: Columns) -> np.ndarray:
        return feature_matrix(self.features_, cols)

    def _logit(self, X: np.ndarray, member: int | None = None) -> np.ndarray:
        """Calibrated logit of the main model (or of bootstrap member ``member``)."""
        a, b = self.platt_
        return a * self._tree_sets()[0 if member is None else member + 1].raw(X) + b

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return expit(self._logit(X))

    def explain(self, X: np.ndarray) -> Explanation:
        """Exact TreeSHAP, on the calibrated-logit scale (sums to the calibrated logit)."""
        if self.explainer_ is None:
            import shap  # 1-2.5 s to import: only when an explanation is asked for

            self.explainer_ = shap.TreeExplainer(self.model_)
        sv = np.asarray(self.explainer_.shap_values(X)).reshape(len(X), -1)
        a, b = self.platt_
        base = float(np.ravel(self.explainer_.expected_value)[0])
        return Explanation(base_logit=a * base + b, contributions_logit=a * sv)

    def interval_samples(self, X: np.ndarray, logit_q: np.ndarray | None = None) -> np.ndarray:
        """rows x K samples of the calibrated logit once missing inputs are known (see module docstring)."""
        if logit_q is None:
            logit_q = self._logit(X)
        n_members = len(self._tree_sets()) - 1
        if n_members > 1:
            sd_model = np.vstack([self._logit(X, m) for m in range(n_members)]).std(axis=0, ddof=1)
        else:
            sd_model = np.zeros(len(X))
        k = self.n_donors
        z = _NORMAL_Q(k)
        out = np.empty((len(X), k))
        patterns, inverse = _unique_rows(np.isnan(X))
        groups = np.split(np.argsort(inverse.ravel(), kind="stable"), np.cumsum(np.bincount(inverse.ravel()))[:-1])

        def fill(p_idx: int) -> None:
            rows = groups[p_idx]
            shifts = self._donor_shifts(patterns[p_idx], logit_q[rows], k)  # rows x k
            out[rows] = logit_q[rows, None] + shifts + sd_model[rows, None] * z[None, :]

        if len(patterns) > 8:  # the tree kernel releases the GIL: missingness patterns run on all cores
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                list(pool.map(fill, range(len(patterns))))
        else:
            for p_idx in range(len(patterns)):
                fill(p_idx)
        return out

    def interval(self, X: np.ndarray, logit_q: np.ndarray | None = None,
                 samples: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Interval (lower, upper) with :data:`INTERVAL_LEVEL` coverage; the sample quantile level that
        achieves it was calibrated on held-out patients (``quantile_level_``)."""
        if logit_q is None:
            logit_q = self._logit(X)
        if samples is None:
            samples = self.interval_samples(X, logit_q)
        q = self.quantile_level_
        lo, hi = np.quantile(samples, [(1 - q) / 2, (1 + q) / 2], axis=1)
        # the interval always contains today's probability (shown together on screen)
        return expit(np.minimum(lo, logit_q)), expit(np.maximum(hi, logit_q))

    def _donor_shifts(self, missing: np.ndarray, logit_q: np.ndarray, k: int) -> np.ndarray:
        if not missing.any():
            return np.zeros((len(logit_q), k))
        D = self.donors_
        has = ~np.isnan(D[:, missing])
        complete = has.all(axis=1)
        if complete.sum() >= 4 * k:
            use = complete
        else:  # few donors have every missing input: take those with the most of them
            use = has.sum(axis=1) >= np.sort(has.sum(axis=1))[-min(len(D), 8 * k)]
        key = missing.tobytes()
        cache = self.__dict__.setdefault("_pattern_cache", {})
        if key not in cache:  # training-derived only (no patient data): memoised per missingness pattern
            full = self.donor_logits_[use]
            masked_X = D[use].copy()
            masked_X[:, missing] = np.nan
            masked = self._logit(masked_X)
            order = np.argsort(masked)
            if len(cache) > 512:
                cache.clear()
            cache[key] = (masked[order], (full - masked)[order])
        masked, shift = cache[key]
        k = min(k, len(masked))
        # the k donors nearest in masked logit: a window around the insertion point
        pos = np.searchsorted(masked, logit_q)
        start = np.clip(pos - k // 2, 0, len(masked) - k)
        for _ in range(k):  # slide each window towards the closer side (k steps at most)
            left = start > 0
            right = start + k < len(masked)
            d_left = np.where(left, np.abs(logit_q - masked[np.maximum(start - 1, 0)]), np.inf)
            d_right = np.where(right, np.abs(masked[np.minimum(start + k, len(masked) - 1)] - logit_q), np.inf)
            d_first = np.abs(logit_q - masked[start])
            d_last = np.abs(masked[start + k - 1] - logit_q)
            move_left = d_left < d_last
            move_right = ~move_left & (d_right < d_first)
            if not (move_left.any() or move_right.any()):
                break
            start = start - move_left + move_right
        idx = start[:, None] + np.arange(k)[None, :]
        return shift[idx]


@njit(nogil=True, cache=True)
def _row_raw(X, i, roots, feature, threshold, missing_left, left, right, leaf, value, baseline):  # pragma: no cover (compiled)
    s = baseline
    for t in range(roots.shape[0]):
        node = roots[t]
        while not leaf[node]:
            x = X[i, feature[node]]
            if np.isnan(x):
                go_left = missing_left[node]
            else:
                go_left = x <= threshold[node]
            node = left[node] if go_left else right[node]
        s += value[node]
    return s


# Two kernels with their own names: Numba's on-disk cache is keyed by function name, and one
# function compiled twice (serial and parallel) shares a cache entry.
@njit(nogil=True, cache=True)
def _ensemble_raw(X, roots, feature, threshold, missing_left, left, right, leaf, value, baseline):  # pragma: no cover (compiled)
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = _row_raw(X, i, roots, feature, threshold, missing_left, left, right, leaf, value, baseline)
    return out


@njit(parallel=True, cache=True)
def _ensemble_raw_parallel(X, roots, feature, threshold, missing_left, left, right, leaf, value, baseline):  # pragma: no cover
    out = np.empty(X.shape[0])
    for i in prange(X.shape[0]):  # big batches: rows on all cores
        out[i] = _row_raw(X, i, roots, feature, threshold, missing_left, left, right, leaf, value, baseline)
    return out


_PARALLEL_ROWS = 20_000


def _features_by_name(names) -> tuple[Feature, ...]:
    known = {f.name: f for f in BASE_FEATURES}
    rad = radiomics_features(["radiomics_" + n.split("__", 1)[1] for n in names if n.startswith("radiomics__")])
    known.update({f.name: f for f in rad})
    return tuple(known[n] for n in names)


class _Trees:
    """All trees of a fitted HistGradientBoostingClassifier as flat arrays, evaluated in one call.

    scikit-learn predicts tree by tree (a Python call per tree: about 8-25 us each), which
    dominates both one-patient latency and the donor computations of the interval. This walks
    every tree for every row in one compiled, parallel call, with scikit-learn's rule (NaN -> the
    node's missing_go_to_left side; otherwise left when x <= threshold) and its summation order
    (baseline, then tree by tree). A test checks equality with ``decision_function``.
    """

    ARRAYS = ("roots", "feature", "threshold", "missing_left", "left", "right", "leaf", "value", "baseline")

    @classmethod
    def from_arrays(cls, arrays: dict) -> _Trees:
        self = cls.__new__(cls)
        for name in cls.ARRAYS:
            setattr(self, name, float(arrays[name]) if name == "baseline" else np.ascontiguousarray(arrays[name]))
        return self

    def __init__(self, model):
        trees = [p[0].nodes for p in model._predictors]
        offsets = np.cumsum([0] + [len(t) for t in trees[:-1]])
        nodes = np.concatenate(trees)
        off = np.repeat(offsets, [len(t) for t in trees])
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(float)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.left = (nodes["left"] + off).astype(np.intp)
        self.right = (nodes["right"] + off).astype(np.intp)
        self.leaf = nodes["is_leaf"].astype(bool)
        self.value = nodes["value"].astype(float)
        self.roots = offsets.astype(np.intp)
        self.baseline = float(np.ravel(model._baseline_prediction)[0])
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported by the fast path")

    def raw(self, X: np.ndarray) -> np.ndarray:
        kernel = _ensemble_raw_parallel if len(X) >= _PARALLEL_ROWS else _ensemble_raw
        return kernel(np.ascontiguousarray(X, dtype=np.float64), self.roots, self.feature, self.threshold,
                             self.missing_left, self.left, self.right, self.leaf, self.value, self.baseline)


def _unique_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean matrix and each row's index into them (fast: one memcmp sort)."""
    packed = np.ascontiguousarray(np.packbits(mask, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return mask[first], inverse.ravel()


def _fast_trees(model) -> _Trees:
    t = getattr(model, "_watchwait_fast", None)
    if t is None:
        t = _Trees(model)
        model._watchwait_fast = t
    return t


def _NORMAL_Q(k: int) -> np.ndarray:
    """k standard-normal quantiles at (i + 0.5) / k, in a fixed shuffled order (paired with donors)."""
    z = np.array([NormalDist().inv_cdf((i + 0.5) / k) for i in range(k)])
    return z[np.random.default_rng(7).permutation(k)]
