"""Regularisation tuned to the cohort at hand (issue 16): cross-validation on out-of-fold log-loss.

The fused predictor's two stages each have one strength to set:

* the additive model's ridge penalty ``alpha`` (glum; the penalty is on the *mean* deviance, so the
  same prior belief needs a larger ``alpha`` on a smaller cohort), and
* the number of boosted trees on its residual logit (0 = the additive model alone).

A value right for 20,000 patients overfits 600 (issue 16 measured a held-out calibration slope of
0.75-0.82 on 4,000). :func:`tune` chooses both by K-fold cross-validation, stratified on the outcome
and repeated on small cohorts: in each fold the training part gets its own masked copies (random test
groups blanked, :func:`watchwait.model.masked_copies`) and its own basis (quantile knots), exactly as
a final fit would, and only the left-out patients *as recorded* are scored. First ``alpha`` over a
geometric grid for the additive model alone, then, at that ``alpha``, LightGBM's validation curve
gives the out-of-fold log-loss after every tree, so the tree count is read off one fit per fold.

Then the out-of-fold calibration: a logistic regression of the outcome on the out-of-fold logit. When
its slope's 95% confidence interval excludes 1, the final model is recalibrated with that intercept
and slope (:class:`watchwait.model.LogitUpdate`, method "recalibration after training"), and the
model card says so; otherwise it is left as fitted.
"""

from __future__ import annotations

import numpy as np

from watchwait.derive import Columns
from watchwait.features import BASE_FEATURES, feature_matrix, radiomics_features
from watchwait.model import LogitUpdate, MonotoneGAM, expit, informative_columns, masked_copies, modality_groups

ALPHAS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)  # below 1e-3 never won from 150 to 20,000 patients
MAX_TREES = 600
FOLDS = 5


def _subset(cols: Columns, idx: np.ndarray) -> dict:
    return {c: np.asarray(v)[idx] for c, v in cols.items()}


def _logloss(y: np.ndarray, logit: np.ndarray) -> np.ndarray:
    """Per row: -log P(y | logit), computed stably."""
    z = np.asarray(logit, float)
    return np.logaddexp(0.0, np.where(y, -z, z))


def calibration_fit(y: np.ndarray, logit: np.ndarray) -> dict:
    """Logistic recalibration of ``logit`` against ``y``: intercept, slope and the slope's 95% CI (Wald, from the
    observed information), plus calibration-in-the-large (the intercept with the logit as offset)."""
    y = np.asarray(y, float)
    z = np.asarray(logit, float)
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000).fit(z[:, None], y.astype(bool))
    beta = np.array([float(fit.intercept_[0]), float(fit.coef_[0, 0])])
    Z = np.column_stack([np.ones_like(z), z])
    p = expit(Z @ beta)
    cov = np.linalg.pinv(Z.T @ (Z * (p * (1 - p))[:, None]))  # inverse observed information
    se = float(np.sqrt(cov[1, 1]))
    a = 0.0  # calibration-in-the-large: intercept with the logit as offset
    for _ in range(50):
        p = expit(a + z)
        step = float((y - p).sum() / max((p * (1 - p)).sum(), 1e-12))
        a += step
        if abs(step) < 1e-12:
            break
    return {"intercept": float(beta[0]), "slope": float(beta[1]), "slope_ci95": [float(beta[1] - 1.96 * se), float(beta[1] + 1.96 * se)],
            "calibration_in_the_large": float(a), "n": int(len(y))}


def _gam_path(X, y, terms, D, alphas, directions, kinds, knots) -> tuple[np.ndarray, np.ndarray]:
    """The additive model's coefficients and intercepts for every ``alpha`` (descending), by one warm-started glum
    path with the same bounds and penalty weights as :meth:`watchwait.model.MonotoneGAM.fit` (which fits one alpha
    alone to the same optimum, within glum's tolerance)."""
    from glum import GeneralizedLinearRegressor

    gam = MonotoneGAM(knots=knots, directions=directions, kinds=kinds)
    _, owner, indicator = MonotoneGAM.design(X[:1], terms)
    lo, hi = gam.bounds(owner, indicator)
    glm = GeneralizedLinearRegressor(family="binomial", alpha_search=True, alphas=list(alphas), lower_bounds=lo, upper_bounds=hi,
                                     P2=np.maximum(D.var(axis=0), 1e-6), fit_intercept=True, scale_predictors=False, max_iter=200)
    glm.fit(D, np.asarray(y, float))
    return np.asarray(glm.coef_path_, float), np.asarray(glm.intercept_path_, float)


def _folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import RepeatedStratifiedKFold

    repeats = 3 if len(y) < 1000 else 1  # small cohorts: a single split's choice is noise
    cv = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=repeats, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def tune(cols: Columns, y: np.ndarray, radiomics_columns: list[str] | None = None, *, seed: int = 0, masked_share: float = 1.0,
         knots: int = 3, lr: float = 0.03, leaves: int = 8, alphas=ALPHAS, max_trees: int = MAX_TREES,
         modalities: tuple[str, ...] | None = None) -> dict:
    """Choose ``alpha`` and ``trees`` by cross-validated out-of-fold log-loss; return what was chosen, the curves
    it was chosen from, and the out-of-fold calibration at the choice (``recalibrate`` = its intercept and slope
    when the slope's 95% CI excludes 1, else None)."""
    import lightgbm as lgb

    y = np.asarray(y, bool)
    feats = BASE_FEATURES + radiomics_features(list(radiomics_columns or []))
    if modalities is not None:
        feats = tuple(f for f in feats if f.modality in modalities)
    X_all = feature_matrix(feats, cols)
    informative = informative_columns(X_all)
    feats = tuple(f for f, k in zip(feats, informative) if k)
    directions, kinds = [f.direction for f in feats], [f.kind for f in feats]
    folds = _folds(y, seed)
    rng = np.random.default_rng(seed + 99)

    prepared = []  # per fold: the training matrix (masked copies included), its outcomes, the basis, the left-out matrix
    for tr, va in folds:
        c_tr, y_tr = _subset(cols, tr), y[tr]
        if masked_share > 0:
            c_tr, y_tr = masked_copies(c_tr, y_tr, masked_share, rng)
        X_tr, X_va = feature_matrix(feats, c_tr), X_all[va][:, informative]
        terms = MonotoneGAM(knots=knots, kinds=kinds).basis(X_tr)
        prepared.append((X_tr, y_tr, terms, MonotoneGAM.design(X_tr, terms)[0], X_va, MonotoneGAM.design(X_va, terms)[0], va))

    # 1. the additive model's penalty, alone: one warm-started glum path per fold (largest penalty first)
    order = sorted(alphas, reverse=True)
    gam_loss = np.zeros(len(order))
    paths = []  # per fold: (coefficients per alpha, intercepts per alpha)
    for X_tr, y_tr, terms, D_tr, X_va, D_va, va in prepared:
        coefs, intercepts = _gam_path(X_tr, y_tr, terms, D_tr, order, directions, kinds, knots)
        paths.append((coefs, intercepts))
        for i in range(len(order)):
            gam_loss[i] += _logloss(y[va], D_va @ coefs[i] + intercepts[i]).sum()
    n_scored = sum(len(p[-1]) for p in prepared)
    gam_loss /= n_scored
    best = int(np.argmin(gam_loss))
    alpha = float(order[best])

    # 2. at that penalty, the number of trees: LightGBM's validation curve in every fold (stopped 100 trees after
    # its best; a stopped fold's curve is carried on at its last value, which only makes more trees look worse)
    curve = np.zeros(max_trees + 1)
    fold_models = []
    for k, ((X_tr, y_tr, terms, D_tr, X_va, D_va, va), (coefs, intercepts)) in enumerate(zip(prepared, paths)):
        init_tr, init_va = D_tr @ coefs[best] + intercepts[best], D_va @ coefs[best] + intercepts[best]
        params = {"objective": "binary", "learning_rate": lr, "num_leaves": leaves, "min_child_samples": 40, "reg_lambda": 1.0,
                  "bagging_fraction": 0.8, "bagging_freq": 1, "num_threads": 1, "verbose": -1, "seed": seed + k,
                  "deterministic": True, "force_row_wise": True, "metric": "binary_logloss",
                  "monotone_constraints": directions, "monotone_constraints_method": "intermediate",
                  "interaction_constraints": modality_groups(feats)}
        d_tr = lgb.Dataset(X_tr, label=y_tr.astype(float), init_score=init_tr, free_raw_data=True)
        d_va = lgb.Dataset(X_va, label=y[va].astype(float), init_score=init_va, reference=d_tr)
        record: dict = {}
        booster = lgb.train(params, d_tr, num_boost_round=max_trees, valid_sets=[d_va], valid_names=["left_out"],
                            callbacks=[lgb.record_evaluation(record), lgb.early_stopping(100, verbose=False)])
        losses = np.asarray(record["left_out"]["binary_logloss"], float)
        losses = np.concatenate([losses, np.full(max_trees - len(losses), losses[-1] if len(losses) else np.nan)])
        curve[0] += _logloss(y[va], init_va).sum()
        curve[1:] += losses * len(va)
        fold_models.append((booster, init_va, va))
    curve /= n_scored
    trees = int(np.argmin(curve))

    # 3. the out-of-fold calibration at the choice
    oof = np.zeros(len(y))
    count = np.zeros(len(y))
    for booster, init_va, va in fold_models:
        X_va = X_all[va][:, informative]
        raw = init_va + (booster.predict(X_va, raw_score=True, num_iteration=trees, num_threads=1) if trees else 0.0)
        oof[va] += raw
        count[va] += 1
    oof /= np.maximum(count, 1)
    cal = calibration_fit(y, oof)
    lo, hi = cal["slope_ci95"]
    recalibrate = None
    if not lo <= 1.0 <= hi:
        recalibrate = {"intercept": cal["intercept"], "slope": max(cal["slope"], 0.05)}
    from sklearn.metrics import roc_auc_score

    return {
        "method": (f"{FOLDS}-fold cross-validation{' repeated 3 times' if len(folds) > FOLDS else ''}, stratified on the outcome, "
                   "on out-of-fold log-loss; masked copies and the spline knots made inside each fold's training part; "
                   "left-out patients scored as recorded"),
        "n": int(len(y)), "folds": len(folds),
        "alpha": alpha, "trees": trees,
        "alpha_grid": [float(a) for a in order], "alpha_logloss": [round(float(v), 5) for v in gam_loss],
        "trees_logloss": {str(t): round(float(curve[t]), 5) for t in sorted({0, 50, 100, 200, 300, 400, trees, max_trees} & set(range(max_trees + 1)))},
        "oof_logloss": round(float(curve[trees]), 5),
        "oof_auc": round(float(roc_auc_score(y, oof)), 4),
        "oof_calibration": {k: (round(v, 4) if isinstance(v, float) else ([round(x, 4) for x in v] if isinstance(v, list) else v))
                            for k, v in cal.items()},
        "recalibrate": recalibrate,
    }


def recalibration(tuned: dict) -> LogitUpdate | None:
    """The recalibration :func:`tune` asks for, as an update of the final model, or None."""
    r = tuned.get("recalibrate")
    if not r:
        return None
    c = tuned["oof_calibration"]
    return LogitUpdate(method="recalibration after training", intercept=float(r["intercept"]), slope=float(r["slope"]),
                       reason=(f"out-of-fold calibration slope {c['slope']:.2f} (95% CI {c['slope_ci95'][0]:.2f}-"
                               f"{c['slope_ci95'][1]:.2f}) excludes 1: the logit is multiplied by {r['slope']:.2f} and shifted "
                               f"by {r['intercept']:+.2f}"))
