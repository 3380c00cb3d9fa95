"""Updating a fitted model with a site's cohort (issue 16, item 2): ``watchwait update``.

The standard hierarchy (Steyerberg, *Clinical Prediction Models*, 2nd ed., ch. 20; Vergouwe et al., "A closed
testing procedure to select an appropriate method for updating prediction models", Stat Med 2017):

0. the model as it is;
1. recalibration-in-the-large: a new intercept, the model's logit as offset (1 parameter);
2. logistic recalibration: intercept and slope on the model's logit (2 parameters; the slope is kept positive,
   so a recalibration never reverses the evidence);
3. revision of one modality's branch: logistic recalibration plus a monotone additive correction
   (:class:`watchwait.model.MonotoneGAM`, the same coefficient bounds as the model's own terms) on that modality's
   features, fitted with the recalibrated logit as offset; its penalty is chosen by cross-validation, and the
   modality by out-of-fold log-loss;
4. refit: a new :class:`watchwait.model.FusedPredictor` on the site's cohort alone.

Selection. Levels 0-2 are nested likelihoods: Vergouwe's closed test (likelihood-ratio tests on the site cohort at
:data:`ALPHA`): 2 against 0 first; only if that is significant, 2 against 1. Levels 3 and 4 have no fixed number of
parameters (a penalised correction; a whole new model), so each is compared with the level chosen so far by
repeated stratified cross-validation of the out-of-fold log-loss, and taken only on a clear improvement: a mean
fold difference below minus one standard error, the standard error corrected for the overlap of the training folds
(Nadeau and Bengio, "Inference for the generalization error", Machine Learning 2003). Level 3's modality and penalty
are chosen by the same cross-validation (the lowest out-of-fold log-loss among every branch and penalty), so its
figure is slightly flattered by the choice; the one-standard-error margin is what guards against it (on sites drawn
from the model's own population it chose no revision: tests/unit/test_updating.py). Choosing them inside each
training fold instead (nested) was tried: on 480 patients per training fold a 3-fold inner choice picked another
branch in most folds (restaging, the branch that differed, in 2 of 10) and hid a real difference (simulate_alt, 600
patients: out-of-fold log-loss 0.366 nested against 0.353 for the restaging branch and 0.369 as it is).

The update is a :class:`watchwait.model.LogitUpdate` set on a deep copy of the predictor (levels 1-3), so the
logit, the exact explanations and the interval all follow it; or a new predictor (level 4). The card is the
original card plus an ``update`` section: the level chosen, why (every statistic in words and numbers), the site
cohort (n, events, prevalence, sha256; no patient ids), the original model's version and the figures of the chosen
update on the site cohort (out-of-fold, and apparent: optimistic).
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchwait.artifacts import ModelBundle, _environment, columns_of
from watchwait.errors import ModelArtifactError
from watchwait.metrics import calibration_curve, classification_metrics
from watchwait.model import FusedPredictor, LogitUpdate, MonotoneGAM, expit
from watchwait.training import check_trainable, cohort_sha256

#: Significance level of the closed test (Vergouwe et al. 2017 use 0.05).
ALPHA = 0.05
#: Fewest patients with, and without, a complete response for an update at all (levels 0-2). A recalibration
#: estimates 1-2 parameters, not a model: with 20 events per class the intercept's standard error is at most
#: about 0.32 on the logit (1 / sqrt(n p (1 - p)) at n = 40, p = 0.5) and the likelihood-ratio tests have the
#: number of events per parameter (>= 10) the usual rules ask for. Fewer than that and even the intercept is noise.
MIN_PER_CLASS_RECALIBRATION = 20
#: Revision (a penalised correction with several parameters) and refit (a whole model) need what training needs
#: (:data:`watchwait.training.MIN_PER_CLASS`); below it they are not considered and the card says so.
#: Penalties tried for a revision's correction (glum's alpha on variance-weighted coefficients; the model's own is
#: 3e-3 for 20,000 patients, so a few hundred patients want it larger).
ALPHAS = (3e-3, 3e-2, 3e-1, 3.0)
FOLDS, REPEATS = 5, 2
#: Level 4's FusedPredictor settings when the caller gives none ({} = ``watchwait train``'s own fit) and its
#: bootstrap refits (the interval's spread).
REFIT_SETTINGS: dict = {}
REFIT_MEMBERS = 8
MIN_OBSERVED = 20  # a feature enters a revision only if this many site patients have it recorded, with 2+ values

LEVEL_NAMES = {0: "the model as it is", 1: "recalibration-in-the-large", 2: "logistic recalibration",
               3: "revision of a modality's branch", 4: "refit on the site's cohort"}


def check_updatable(y: np.ndarray, n_unknown: int = 0) -> None:
    """Refuse a cohort too small to update (the wording of :func:`watchwait.training.check_trainable`)."""
    check_trainable(y, n_unknown, minimum=MIN_PER_CLASS_RECALIBRATION, what="an update cohort", keep="keep the model as it is")


# ----------------------------------------------------------------------------- the levels' fits

def log_loss(y: np.ndarray, logit: np.ndarray) -> float:
    """Mean negative log-likelihood of outcomes ``y`` under logits ``logit`` (stable for any logit)."""
    logit = np.asarray(logit, float)
    return float(np.mean(np.logaddexp(0.0, logit) - np.asarray(y, float) * logit))


def _loglik(y, logit) -> float:
    return -log_loss(y, logit) * len(y)


def fit_intercept(y: np.ndarray, offset: np.ndarray) -> float:
    """Recalibration-in-the-large: the intercept with the logit as offset (the score equation sum(y - p) = 0)."""
    from scipy.optimize import brentq

    y = np.asarray(y, float)
    return float(brentq(lambda a: float(np.sum(y - expit(a + offset))), -30.0, 30.0, xtol=1e-10))


def fit_recalibration(y: np.ndarray, logit: np.ndarray, min_slope: float = 1e-3) -> tuple[float, float]:
    """Logistic recalibration: (intercept, slope) by maximum likelihood, the slope bounded below by ``min_slope``
    (kept positive: a recalibration must not turn the evidence around)."""
    from scipy.optimize import minimize

    y = np.asarray(y, float)
    lq = np.asarray(logit, float)

    def nll(w):
        eta = w[0] + w[1] * lq
        p = expit(eta)
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta)), np.array([np.sum(p - y), np.sum((p - y) * lq)])

    res = minimize(nll, x0=np.array([0.0, 1.0]), jac=True, method="L-BFGS-B", bounds=[(None, None), (min_slope, None)],
                   options={"maxiter": 500, "gtol": 1e-9})
    return float(res.x[0]), float(res.x[1])


def _revision_columns(predictor: FusedPredictor, X: np.ndarray) -> dict[str, np.ndarray]:
    """Per modality, the feature columns a revision may read: recorded for at least :data:`MIN_OBSERVED` site
    patients with at least two values (a column the site never records cannot be revised)."""
    out: dict[str, list[int]] = {}
    for j, f in enumerate(predictor.features_):
        x = X[:, j]
        obs = x[~np.isnan(x)]
        if len(obs) >= MIN_OBSERVED and len(np.unique(obs)) >= 2:
            out.setdefault(f.modality, []).append(j)
    return {m: np.asarray(c, dtype=int) for m, c in out.items()}


@dataclass
class _Branch:
    """One modality's correction basis on the site cohort: built from the covariates alone (knots from the site's
    values, no outcome), so cross-validation may share it across folds without leaking outcomes."""

    columns: np.ndarray
    terms: list
    D: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def build(cls, predictor: FusedPredictor, X: np.ndarray, cols: np.ndarray) -> _Branch:
        feats = [predictor.features_[j] for j in cols]
        gam = MonotoneGAM(knots=predictor.knots, directions=[f.direction for f in feats], kinds=[f.kind for f in feats])
        terms = gam.basis(X[:, cols])
        D, owner, indicator = gam.design(X[:, cols], terms)
        lo, hi = gam.bounds(owner, indicator)
        return cls(np.asarray(cols, dtype=int), terms, D, lo, hi)

    def gam(self, predictor: FusedPredictor, alpha: float) -> MonotoneGAM:
        feats = [predictor.features_[j] for j in self.columns]
        return MonotoneGAM(alpha=alpha, knots=predictor.knots, directions=[f.direction for f in feats],
                           kinds=[f.kind for f in feats])


def penalty_path(D: np.ndarray, y: np.ndarray, offset: np.ndarray, alphas, lower: np.ndarray, upper: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The correction fitted for every penalty in one glum call (the objective of :class:`MonotoneGAM`: binomial,
    ridge weighted by each column's variance, the same bounds; warm-started from the largest penalty down):
    (coefficients per penalty, intercept per penalty), in the order of ``alphas``."""
    from glum import GeneralizedLinearRegressor

    order = np.argsort(alphas)[::-1]
    glm = GeneralizedLinearRegressor(family="binomial", alpha_search=True, alpha=[alphas[i] for i in order],
                                     lower_bounds=lower, upper_bounds=upper, P2=np.maximum(D.var(axis=0), 1e-6),
                                     fit_intercept=True, scale_predictors=False, max_iter=200)
    glm.fit(D, np.asarray(y, float), offset=offset)
    coef, icpt = np.empty((len(alphas), D.shape[1])), np.empty(len(alphas))
    coef[order], icpt[order] = glm.coef_path_, glm.intercept_path_
    return coef, icpt


def _revision_fold(branch: _Branch, alphas, y, lq, tr, te) -> np.ndarray:
    """Level 3 for one branch fitted on patients ``tr`` with each penalty: its logits on patients ``te``
    (penalties x patients)."""
    a, b = fit_recalibration(y[tr], lq[tr])
    coef, icpt = penalty_path(branch.D[tr], y[tr], a + b * lq[tr], alphas, branch.lower, branch.upper)
    return a + b * lq[te][None, :] + icpt[:, None] + coef @ branch.D[te].T


def _refit(frame: pd.DataFrame, y: np.ndarray, seed: int, settings: dict, n_members: int) -> FusedPredictor:
    """Level 4: a new predictor on the site's cohort alone, fitted as ``watchwait train`` fits it: with its penalty and
    trees tuned to the cohort by cross-validation (``watchwait.training.fit_tuned``, and the recalibration that tuning
    asks for) when this watchwait has it, else with the training module's fixed settings. ``settings`` (tests,
    benchmarks) fixes FusedPredictor settings instead and skips the tuning."""
    from watchwait import training

    rad = training.radiomics_columns(frame)
    fit_tuned = getattr(training, "fit_tuned", None)
    if fit_tuned is not None and not settings:
        predictor, tuned = fit_tuned(frame, y, rad, seed=seed, n_members=n_members)
        if tuned is not None:
            from watchwait.tuning import recalibration

            predictor.update_ = recalibration(tuned)
    else:
        kw = {"masked_copies": training.MASKED_COPIES, **settings}
        predictor = FusedPredictor(seed=seed, n_members=n_members, **kw).fit(columns_of(frame), y, radiomics_columns=rad)
    if n_members and hasattr(training, "set_support"):  # the final model (not a fold's): its support is the site's cohort
        training.set_support(predictor, frame, seed=seed)
    if n_members:
        # its interval, calibrated as `train` calibrates one without known true probabilities (a parametric bootstrap:
        # refits on 70% of the site's patients, errors on the other 30%); without it the interval was the bootstrap
        # spread alone and covered the true probability for 32-38% of shifted patients (bench_learning_curve.py)
        from sklearn.model_selection import train_test_split

        i_tr, i_te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
        training._calibrate_parametric(predictor, frame.iloc[i_tr].reset_index(drop=True), frame.iloc[i_te].reset_index(drop=True),
                                       rad, seed, refits=4, y_tr=np.asarray(y)[i_tr])
    return predictor


def _chi2_sf(stat: float, df: int) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(max(stat, 0.0), df))


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# ----------------------------------------------------------------------------- update

def update(bundle: ModelBundle, frame: pd.DataFrame, seed: int = 0, data_description: dict | None = None, **kw) -> ModelBundle:
    """The model of ``bundle`` updated with the site cohort ``frame`` (:func:`_update` says how)."""
    from threadpoolctl import threadpool_limits

    # one BLAS / OpenMP thread: glum on a few hundred rows ran 3-25x slower with its threads on a shared 2-core machine
    # (measured: the revision's cross-validation 39 s -> 1.5 s); the refits' bootstrap members still fit side by side
    with threadpool_limits(1):
        return _update(bundle, frame, seed=seed, data_description=data_description, **kw)


def _update(bundle: ModelBundle, frame: pd.DataFrame, seed: int = 0, data_description: dict | None = None,
           folds: int = FOLDS, repeats: int = REPEATS, max_level: int = 4, refit_settings: dict | None = None,
           refit_members: int | None = None, alphas: tuple[float, ...] = ALPHAS, level: int | None = None) -> ModelBundle:
    """The model of ``bundle`` updated with the site cohort ``frame`` (validated, with outcomes): the level of the
    hierarchy chosen by the closed test and cross-validation (module docstring); the bundle returned carries the
    original card plus an ``update`` section. ``refit_settings``: FusedPredictor settings for level 4 (tests use
    fewer trees; default :data:`REFIT_SETTINGS`); ``max_level``: the highest level considered; ``level``: fit this
    level whatever the selection would choose (benchmarks, tests; the card says so), skipping the cross-validation
    it does not need."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    from watchwait.training import MIN_PER_CLASS, known_outcomes, unknown_outcome_note

    n_all = len(frame)
    frame, y, n_unknown = known_outcomes(frame)
    check_updatable(y, n_unknown)
    base: FusedPredictor = bundle.predictor
    X = base.matrix(columns_of(frame))
    lq = base._logit(X)  # the model as it is now (with any update it already carries)
    n = len(y)
    n_cr, n_not = int(y.sum()), int((~y).sum())
    complex_ok = min(n_cr, n_not) >= MIN_PER_CLASS
    prior = base.update_
    revisable = _revision_columns(base, X)
    consider3 = max_level >= 3 and complex_ok and bool(revisable) and (prior is None or prior.correction is None)
    consider4 = max_level >= 4 and complex_ok
    notes: list[str] = []
    if max_level >= 3 and not complex_ok:
        notes.append(f"revision and refit not considered: they need at least {MIN_PER_CLASS} patients with a complete "
                     f"response and {MIN_PER_CLASS} without (as training does); this cohort has {n_cr} and {n_not}")
    if max_level >= 3 and complex_ok and prior is not None and prior.correction is not None:
        notes.append(f"revision not considered: the model already carries a revision of its {prior.modality} branch, "
                     "and one update holds one correction")
    settings = dict(REFIT_SETTINGS if refit_settings is None else refit_settings)
    refit_members = REFIT_MEMBERS if refit_members is None else refit_members
    if level is not None:
        if level not in LEVEL_NAMES:
            raise ValueError(f"level must be one of {sorted(LEVEL_NAMES)}; got {level!r}")
        if level >= 3 and not complex_ok:
            raise ModelArtifactError(notes[0] + ".")
        if level == 3 and not consider3:
            raise ModelArtifactError("revision cannot be fitted here: " + ("; ".join(notes) or "no branch the site records"))
        consider3 = consider3 and level == 3
        consider4 = False  # a requested level needs no cross-validation of a refit

    # ---- levels 0-2 on the whole cohort: the closed test
    a1 = fit_intercept(y, lq)
    a2, b2 = fit_recalibration(y, lq)
    ll = {0: _loglik(y, lq), 1: _loglik(y, a1 + lq), 2: _loglik(y, a2 + b2 * lq)}
    lr20 = 2 * (ll[2] - ll[0])
    p20 = _chi2_sf(lr20, 2)
    closed = {"alpha": ALPHA, "log_likelihood": {LEVEL_NAMES[k]: round(v, 3) for k, v in ll.items()},
              "logistic_recalibration_vs_as_is": {"chi2": round(lr20, 3), "df": 2, "p": round(p20, 6)}}
    words = [f"Closed test (likelihood ratio, alpha {ALPHA:g}, on the {n} site patients): logistic recalibration "
             f"against the model as it is, chi2 = {lr20:.2f} on 2 df, {_fmt_p(p20)}"]
    if p20 >= ALPHA or max_level < 1:
        chosen = 0
        words[-1] += "; not significant, so the model as it is."
    else:
        lr21 = 2 * (ll[2] - ll[1])
        p21 = _chi2_sf(lr21, 1)
        closed["logistic_recalibration_vs_recalibration_in_the_large"] = {"chi2": round(lr21, 3), "df": 1, "p": round(p21, 6)}
        chosen = 1 if (p21 >= ALPHA or max_level < 2) else 2
        words[-1] += f"; against recalibration-in-the-large, chi2 = {lr21:.2f} on 1 df, {_fmt_p(p21)}: "
        words[-1] += (f"not significant, so recalibration-in-the-large (intercept {a1:+.3f})." if chosen == 1 else
                      f"significant, so logistic recalibration (intercept {a2:+.3f}, slope {b2:.3f}).")
    closed["chosen"] = LEVEL_NAMES[chosen]

    # ---- cross-validation: every level's out-of-fold logit (level 3: every branch and penalty)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    splits = list(splitter.split(np.zeros(n), y))
    oof = {k: np.full((repeats, n), np.nan) for k in range(5)}
    fold_loss = {k: np.full(len(splits), np.nan) for k in range(5)}
    config_loss: dict[tuple[str, float], list[float]] = {}
    config_oof: dict[tuple[str, float], np.ndarray] = {}
    branches = {m: _Branch.build(base, X, cols) for m, cols in revisable.items()} if consider3 else {}
    for f, (tr, te) in enumerate(splits):
        r = f // folds
        Xtr, Xte, ytr, lqtr, lqte = X[tr], X[te], y[tr], lq[tr], lq[te]
        a, b = fit_recalibration(ytr, lqtr)
        oof[0][r, te] = lqte
        oof[1][r, te] = fit_intercept(ytr, lqtr) + lqte
        oof[2][r, te] = a + b * lqte
        if consider3:  # every configuration (branch, penalty) on this fold
            for m, branch in branches.items():
                L = _revision_fold(branch, alphas, y, lq, tr, te)
                for alpha, lt in zip(alphas, L):
                    config_oof.setdefault((m, alpha), np.full((repeats, n), np.nan))[r, te] = lt
                    config_loss.setdefault((m, alpha), []).append(log_loss(y[te], lt))
        if consider4:
            fr_tr, fr_te = frame.iloc[tr].reset_index(drop=True), frame.iloc[te].reset_index(drop=True)
            refit = _refit(fr_tr, ytr, seed + f, settings, n_members=0)
            oof[4][r, te] = refit._logit(refit.matrix(columns_of(fr_te)))
        for k in (0, 1, 2, 4):
            if not np.isnan(oof[k][r, te]).any():
                fold_loss[k][f] = log_loss(y[te], oof[k][r, te])

    # corrected standard error of a mean fold difference (Nadeau and Bengio 2003): var * (1/J + n_test/n_train)
    n_te = n / folds

    def compare(k: int, against: int) -> dict:
        d = fold_loss[k] - fold_loss[against]
        se = float(np.sqrt(np.var(d, ddof=1) * (1 / len(d) + n_te / (n - n_te))))
        return {"mean_difference": round(float(d.mean()), 5), "se": round(se, 5),
                "clear_improvement": bool(d.mean() < -se)}

    cv: dict = {"folds": folds, "repeats": repeats, "rule": "a more complex level is taken only if its out-of-fold "
                "log-loss is lower by more than one standard error of the fold differences (corrected for overlapping "
                "training folds, Nadeau and Bengio 2003)",
                "note": "the revision's branch and penalty are chosen by this same cross-validation, which flatters its "
                        "figure slightly; the one-standard-error margin guards against it", "out_of_fold_log_loss": {}}
    for k in range(5):
        if not np.isnan(fold_loss[k]).any():
            cv["out_of_fold_log_loss"][LEVEL_NAMES[k]] = round(float(fold_loss[k].mean()), 5)
    cv_words = [f"Repeated stratified {folds}-fold cross-validation ({repeats} repeats), out-of-fold log-loss: "
                + ", ".join(f"{LEVEL_NAMES[k]} {fold_loss[k].mean():.4f}" for k in range(3)) + "."]
    # the closed test says a recalibration is *needed*; it is kept only if it also *predicts* better out of fold than
    # the level below it (on 300 patients from a shifted population, a significant logistic recalibration fitted on
    # them had a slope of 1.1-1.2 on fresh patients and a larger gap to the true probability than the model as it is)
    closed_choice = chosen
    while chosen in (1, 2) and level is None and not fold_loss[chosen].mean() < fold_loss[chosen - 1].mean():
        cv_words.append(f"{LEVEL_NAMES[chosen].capitalize()} does not predict better out of fold than "
                        f"{LEVEL_NAMES[chosen - 1]} ({fold_loss[chosen].mean():.4f} against {fold_loss[chosen - 1].mean():.4f}), "
                        f"so {LEVEL_NAMES[chosen - 1]}.")
        chosen -= 1
    cv["closed_test_choice_confirmed"] = chosen == closed_choice
    best_config = None
    if consider3:
        cfg = {c: float(np.mean(v)) for c, v in config_loss.items()}
        best_config = min(cfg, key=cfg.get)
        fold_loss[3], oof[3] = np.asarray(config_loss[best_config]), config_oof[best_config]
        per_mod = {m: min((v, a) for (mm, a), v in cfg.items() if mm == m) for m in revisable}
        cv["revision_by_modality"] = {m: {"out_of_fold_log_loss": round(v, 5), "penalty": a} for m, (v, a) in sorted(per_mod.items())}
        cv["out_of_fold_log_loss"][LEVEL_NAMES[3]] = round(float(fold_loss[3].mean()), 5)
        c3 = compare(3, chosen)
        cv["revision_vs_closed_test_choice"] = {"against": LEVEL_NAMES[chosen], "modality": best_config[0], **c3}
        mods = ", ".join(f"{m} {v:.4f} (penalty {a:g})" for m, (v, a) in sorted(per_mod.items(), key=lambda kv: kv[1][0]))
        cv_words.append(
            f"Revision of one modality's branch, each with its penalty chosen by the same cross-validation: {mods}. "
            f"The best, the {best_config[0]} branch, against {LEVEL_NAMES[chosen]}: difference {c3['mean_difference']:+.4f} "
            f"(SE {c3['se']:.4f}): " + ("a clear improvement, so revision." if c3["clear_improvement"] else "not a clear improvement."))
        if c3["clear_improvement"]:
            chosen = 3
    if consider4:
        c4 = compare(4, chosen)
        cv["refit_vs_level_chosen_so_far"] = {"against": LEVEL_NAMES[chosen], **c4}
        cv_words.append(
            f"Refit on the site's cohort against {LEVEL_NAMES[chosen] if chosen != 3 else 'revision of the ' + best_config[0] + ' branch'}: "
            f"out-of-fold log-loss {fold_loss[4].mean():.4f}, difference {c4['mean_difference']:+.4f} (SE {c4['se']:.4f}): "
            + ("a clear improvement, so refit." if c4["clear_improvement"] else "not a clear improvement."))
        if c4["clear_improvement"]:
            chosen = 4
    if notes:
        cv_words.append("Not considered: " + "; ".join(notes) + ".")
    if level is not None:
        cv_words.append(f"The selection would have chosen {LEVEL_NAMES[chosen]}" + (" (revision and refit not compared)" if level != 3 else
                        " (refit not compared)") + f"; level {level} was fitted by request.")
        chosen = level

    # ---- the chosen level on the whole cohort
    predictor = copy.deepcopy(base)
    if chosen == 0:
        params: dict = {}
    elif chosen in (1, 2):
        a, b = (a1, 1.0) if chosen == 1 else (a2, b2)
        predictor.update_ = _compose(prior, LEVEL_NAMES[chosen], a, b)
        params = {"intercept": round(a, 5), "slope": round(b, 5)}
    elif chosen == 3:
        m, alpha = best_config
        branch = branches[m]
        cols = branch.columns
        gam = branch.gam(base, alpha).fit(X[:, cols], y, terms=branch.terms, D=branch.D, offset=a2 + b2 * lq)
        predictor.update_ = _compose(prior, f"revision of {m}", a2, b2, modality=m, columns=cols, correction=gam)
        params = {"intercept": round(a2, 5), "slope": round(b2, 5), "modality": m, "penalty": alpha,
                  "features": [base.features_[j].name for j in cols]}
    else:
        predictor = _refit(frame, y, seed, settings, n_members=refit_members)
        params = {k: getattr(predictor, k) for k in ("n_members", "alpha", "knots", "trees", "lr", "leaves", "masked_copies")}
    apparent = predictor._logit(predictor.matrix(columns_of(frame)))
    method = LEVEL_NAMES[chosen] if chosen != 3 else f"revision of the {best_config[0]} branch"
    reason = " ".join([*words, *cv_words, f"Chosen: {method}."])
    if predictor.update_ is not None and chosen in (1, 2, 3):
        predictor.update_.reason = reason

    # ---- figures of the chosen level on the site cohort
    oof_metrics = [classification_metrics(y, expit(oof[chosen][r])) for r in range(repeats)
                   if not np.isnan(oof[chosen][r]).any()]
    figures = {"out_of_fold": _mean_metrics(oof_metrics) if oof_metrics else None,
               "out_of_fold_note": f"each patient predicted by the level fitted without them ({folds}-fold cross-validation, "
                                   f"mean of {repeats} repeats); the figures to judge the update by",
               "apparent": classification_metrics(y, expit(apparent)),
               "apparent_note": "fitted and measured on the same site patients: optimistic (calibration-in-the-large and "
                                "slope are 0 and 1 by construction for the recalibrations)",
               "model_as_it_is": classification_metrics(y, expit(lq)),
               "calibration_curve_out_of_fold": calibration_curve(y, expit(oof[chosen][0])) if oof_metrics else None}

    digest = cohort_sha256(frame)
    card = copy.deepcopy(bundle.card)
    card.pop("artifact", None)
    today = _dt.date.today().isoformat()
    original_version = card.get("model_version", "unknown")
    desc = data_description or {}
    site = {"n_patients": n, "n_outcome_unknown_left_out": n_unknown, "n_complete_response": n_cr,
            "n_no_complete_response": n_not, "prevalence": round(float(y.mean()), 4), "cohort_sha256": digest,
            **{k: v for k, v in desc.items() if k in ("source_file", "synthetic", "generator", "description")}}
    card["update"] = {"level": chosen, "method": method, "reason": reason, "date": today,
                      "original_model_version": original_version, "original_created": card.get("created"),
                      "site_cohort": site, "parameters": params, "closed_test": closed, "cross_validation": cv,
                      "notes": notes, "figures_on_site_cohort": figures}
    if n_unknown:
        card["update"]["notes"].append(unknown_outcome_note(n_unknown, n_all))
    card["model_version"] = f"{original_version}-upd-{digest[:8]}"
    card["created"] = today
    card["environment"] = _environment()
    card.setdefault("method", {})
    oo = figures["out_of_fold"]
    card["method"]["update"] = (
        f"{original_version} updated on {n} site patients ({n_cr} with a complete response): {method}. "
        + (f"Out-of-fold on the site: AUC {oo['auc']:.3f}, calibration slope {oo['calibration_slope']:.2f}, "
           f"calibration-in-the-large {oo['calibration_intercept']:+.2f}. " if oo else "")
        + reason)
    if chosen == 4:
        _refit_card(card, predictor, frame, y, figures, desc)
    bundle_out = ModelBundle(predictor=predictor, card=card)
    if oof_metrics:  # the About screen's report: each site patient predicted by the update fitted without them
        from watchwait.validate import regimen_groups, validation_report

        bundle_out.validation = validation_report(
            y, expit(oof[chosen][0]), groups=regimen_groups(frame), seed=seed, model=card,
            label=f"out-of-fold predictions of the site's {n} patients ({folds}-fold cross-validation of the chosen update)",
            cohort={"n_patients": n})
    return bundle_out


def _mean_metrics(ms: list[dict]) -> dict:
    return {k: (round(float(np.mean([m[k] for m in ms])), 4) if k != "n" else ms[0]["n"]) for k in ms[0]}


def _scaled(gam: MonotoneGAM, b: float) -> MonotoneGAM:
    """``b`` times a fitted correction (b > 0: its bounds still hold)."""
    g = copy.deepcopy(gam)
    g.coef_, g.intercept_, g.term_means_ = g.coef_ * b, g.intercept_ * b, g.term_means_ * b
    return g


def _compose(prior: LogitUpdate | None, method: str, a: float, b: float, modality: str = "",
             columns: np.ndarray | None = None, correction: MonotoneGAM | None = None) -> LogitUpdate:
    """``a + b * (the current logit) + correction``, folded into one :class:`LogitUpdate` on the fitted model's own
    logit, the model's earlier update (e.g. a recalibration after training) included."""
    cols = np.zeros(0, dtype=int) if columns is None else np.asarray(columns, dtype=int)
    if prior is None:
        return LogitUpdate(method=method, intercept=a, slope=b, modality=modality, columns=cols, correction=correction)
    if prior.correction is not None:
        assert correction is None, "one update holds one correction"  # update() does not consider it
        return LogitUpdate(method=method, intercept=a + b * prior.intercept, slope=b * prior.slope, modality=prior.modality,
                           columns=prior.columns, correction=_scaled(prior.correction, b))
    return LogitUpdate(method=method, intercept=a + b * prior.intercept, slope=b * prior.slope, modality=modality,
                       columns=cols, correction=correction)


def _refit_card(card: dict, predictor: FusedPredictor, frame: pd.DataFrame, y: np.ndarray, figures: dict, desc: dict) -> None:
    """A refit is a new model: its features, training data, and held-out figures are the site's (out-of-fold)."""
    from watchwait.training import interval_coverage, regimen_support, usability_warnings

    n = len(y)
    card["features"] = [{"name": f.name, "modality": f.modality, "label": f.label, "inputs": list(f.sources)}
                        for f in predictor.features_]
    card["modalities_with_data"] = sorted({f.modality for f in predictor.features_})
    card["training_data"] = {
        "synthetic": bool(desc.get("synthetic", False)), "n_patients": n, "n_train": n, "n_held_out": 0,
        "prevalence": round(float(y.mean()), 4), "cohort_sha256": card["update"]["site_cohort"]["cohort_sha256"],
        "missing_share_by_column": {c: round(float(frame[c].isna().mean()), 3) for c in frame.columns
                                    if c not in ("patient_id", "site") and frame[c].isna().any()},
        "regimen_support": regimen_support(frame),
        "note": "refitted on the site's cohort alone (watchwait update, level 4); no patient held out: the held-out "
                "figures are out-of-fold (cross-validated)",
        **{k: v for k, v in desc.items() if k in ("source_file", "generator", "description")}}
    card["method"]["model"] = (f"refit on the site cohort: monotone additive model (alpha {predictor.alpha:g}, {predictor.knots} "
                               f"knots) + {predictor.trees} LightGBM trees of {predictor.leaves} leaves (learning rate "
                               f"{predictor.lr:g}), as `watchwait train` fits it")
    card["method"]["interval"] = predictor.interval_method_
    oo = figures["out_of_fold"]
    if oo is None:  # a refit requested without cross-validation: only apparent figures exist
        card["metrics_held_out"] = {"fused": figures["apparent"], "note": "apparent (fitted and measured on the same patients): optimistic"}
        card["warnings"] = ["This refit was not cross-validated: its figures are apparent (optimistic)."]
    else:
        card["metrics_held_out"] = {"fused": oo, "calibration_curve": figures["calibration_curve_out_of_fold"]}
        card["warnings"] = usability_warnings(n, oo["auc"])
    card["interval_coverage_held_out"] = interval_coverage(predictor, frame, None)
    card.pop("imaging_added", None)
