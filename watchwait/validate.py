"""Validation of a model on patients with known outcomes, as a clinical statistician reports it.

(Not :mod:`watchwait.validation`, which checks input records.)

:func:`validation_report` computes, from outcomes ``y`` (complete response or not) and the model's
probabilities ``p``, a plain dict (JSON-ready):

- **patients**: n, complete responses ("events"), prevalence;
- **discrimination**: AUC (the c-statistic) with a 95% CI by DeLong's method (DeLong, DeLong &
  Clarke-Pearson, Biometrics 1988; the fast algorithm of Sun & Xu, IEEE SPL 2014): AUC +- 1.96 SE, cut to [0, 1];
- **calibration**: calibration-in-the-large (the intercept of a logistic model of the outcome with
  logit(p) as offset; ideal 0) and the calibration slope (the coefficient of logit(p) in a logistic model;
  ideal 1), each with a Wald 95% CI from the observed information; the observed/expected ratio (CI with
  SE(ln O/E) = sqrt((1 - O/n) / O)); the Brier score and the scaled Brier score; a smoothed calibration
  curve (logistic regression of the outcome on a restricted cubic spline of logit(p), Harrell's knots)
  with a pointwise Wald 95% band, with its integrated calibration index (ICI, E50, E90: Austin & Steyerberg,
  Stat Med 2019); and grouped points (equal-size groups by predicted probability) with Wilson 95% intervals;
- **decision curve** (Vickers & Elkin, Med Decis Making 2006): the net benefit of "offer organ preservation
  (watch-and-wait or local excision) when p >= t" against offering it to everyone (treat all) and to no one
  (treat none), over the threshold range :data:`THRESHOLD_RANGE`, with a percentile bootstrap
  95% band (:data:`BOOTSTRAP_RESAMPLES` resamples, ``seed``);
- **per group** (regimen: immunotherapy or not, radiotherapy schedule): the same figures for each group
  with at least :data:`MIN_EVENTS_PER_GROUP` patients with a complete response and as many without; the
  others are listed as "too few patients to estimate";
- with ``oracle`` (a simulated cohort's true probabilities): the mean |p - true probability|.

Every figure is computed from ``y`` and ``p``; nothing is looked up. :func:`write_report` writes the
report folder (``validation.json``, a self-contained ``validation.html`` and ``calibration.png`` /
``decision_curve.png``, drawn with Pillow: no browser, no network), atomically.

The held-out report of ``train`` / ``update``, which the About screen shows from ``<model folder>/validation``::

    report = validation_report(y_held_out, p_held_out, groups=regimen_groups(frame_held_out),
                               oracle=p_oracle_held_out_or_None, model=bundle.card)
    write_report(report, artifact_folder / "validation")
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from watchwait.errors import WatchwaitError

SCHEMA_VERSION = 1
REPORT_FILES = ("validation.json", "validation.html", "calibration.png", "decision_curve.png")
HELD_OUT_LABEL = "held-out patients of the training cohort"
Z95 = 1.959963984540054

#: Thresholds an MDT would use (a design choice of this tool, not a published cut-off): see THRESHOLD_RATIONALE.
THRESHOLD_RANGE = (0.20, 0.80)
THRESHOLD_STEP = 0.01
THRESHOLD_TABLE = (0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80)
TREAT_MEANS = ("Treating = offering organ preservation (watch-and-wait or local excision) instead of total mesorectal "
               "excision. The event is a complete response, so a patient with a complete response who is offered organ "
               "preservation is a true positive (surgery spared); a patient with residual tumour who is offered it is a "
               "false positive (tumour left under surveillance, regrowth, salvage surgery later).")
THRESHOLD_RATIONALE = (
    "Design choice of this tool, not a published cut-off: thresholds from 20% to 80%. The threshold t is the probability "
    "of complete response at which the MDT and the patient are indifferent between organ preservation and surgery; its "
    "odds t/(1 - t) weigh a patient with residual tumour left under surveillance against a patient spared surgery. "
    "At 20% one would accept 4 patients with residual tumour under surveillance for each patient spared surgery "
    "(regrowth is mostly salvaged by surgery, but about 1 in 10 watch-and-wait patients develop distant metastases); "
    "at 80% organ preservation is offered only when 4 in 5 such patients have no tumour left. OPRA offered "
    "watch-and-wait to near-complete responders, of whom about 40% kept their rectum at 3 years, so thresholds well "
    "below 50% are in use. Below 20% or above 80% no MDT would choose this way. Review the range locally.")

MAX_VARIANCE = 100.0  # a coefficient with a standard error above 10 is not estimated (separation, or p without spread)
MIN_EVENTS_OVERALL = 100  # fewer events or non-events than this: a warning (Collins et al., Stat Med 2016: at least 100 of each)
MIN_EVENTS_PER_GROUP = 20  # per outcome: at least this many patients with a complete response AND without
TOO_FEW = "too few patients to estimate"
BOOTSTRAP_RESAMPLES = 1000
SMOOTH_POINTS = 101
MAX_GROUPED_POINTS = 10
MIN_PER_GROUPED_POINT = 30

METHODS = {
    "auc": "DeLong's method (fast algorithm of Sun & Xu 2014): AUC +- 1.96 standard errors, cut to 0-1",
    "calibration_intercept": "calibration-in-the-large: intercept of a logistic model of the outcome with logit(p) as offset "
                             "(slope fixed at 1); Wald 95% CI from the observed information",
    "calibration_slope": "coefficient of logit(p) in a logistic model of the outcome; Wald 95% CI from the observed information",
    "observed_expected": "observed complete responses / sum of predicted probabilities; 95% CI exp(ln(O/E) +- 1.96 "
                         "sqrt((1 - O/n) / O))",
    "brier": "mean of (p - outcome)^2; scaled Brier = 1 - Brier / (prevalence x (1 - prevalence))",
    "smoothed_curve": "logistic regression of the outcome on a restricted cubic spline of logit(p) (knots at Harrell's "
                      "quantiles: 4 knots, 3 when fewer than 100 patients are in the smaller outcome group), pointwise Wald "
                      "95% band, drawn between the 1st and 99th percentiles of p (no extrapolation); ICI = mean |smoothed "
                      "observed - p| over the patients, E50 / E90 its median and 90th percentile",
    "grouped_points": "equal-size groups of patients ordered by p (up to 10, at least 30 patients each); observed share "
                      "with a Wilson 95% interval",
    "net_benefit": "net benefit = true positives / n - false positives / n x t / (1 - t), offering organ preservation when "
                   "p >= t; treat all = prevalence - (1 - prevalence) x t / (1 - t); treat none = 0; 95% band: percentile "
                   f"bootstrap of {BOOTSTRAP_RESAMPLES} resamples of the patients",
}

EVENT_DEFINITION = "pCR at surgery (ypT0N0) or clinical complete response sustained >= 12 months without regrowth"
EVENT_TEXT = f"complete response: {EVENT_DEFINITION}"
METHOD_LABELS = {"auc": "AUC", "calibration_intercept": "Calibration-in-the-large", "calibration_slope": "Calibration slope",
                 "observed_expected": "Observed / expected", "brier": "Brier score", "smoothed_curve": "Smoothed calibration curve",
                 "grouped_points": "Grouped points", "net_benefit": "Net benefit"}


# ----------------------------------------------------------------------------- small statistics

def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-8, 1 - 1e-8)
    return np.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(x, float)))


def _logistic(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, max_iter: int = 100):
    """Maximum-likelihood logistic regression by Newton-Raphson with step halving.

    Returns (coefficients, covariance) or None when it does not converge (separation: a coefficient runs off)."""
    n, k = X.shape
    off = np.zeros(n) if offset is None else offset
    beta = np.zeros(k)

    def loglik(b):
        eta = off + X @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta)))

    ll = loglik(beta)
    for _ in range(max_iter):
        mu = _expit(off + X @ beta)
        w = mu * (1 - mu)
        H = X.T @ (X * w[:, None])
        g = X.T @ (y - mu)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while t > 1e-6:
            new = beta + t * step
            ll_new = loglik(new)
            if ll_new >= ll - 1e-12:
                break
            t /= 2
        beta, ll_old, ll = new, ll, ll_new
        if np.max(np.abs(t * step)) < 1e-9 or abs(ll - ll_old) < 1e-12:
            break
    else:
        return None
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 50:
        return None
    mu = _expit(off + X @ beta)
    H = X.T @ (X * (mu * (1 - mu))[:, None])
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)) or np.max(np.diag(cov)) > MAX_VARIANCE:
        return None  # (quasi-)separation, or no spread in logit(p): the estimate is not identified
    return beta, cov


def _estimate(value, se, *, transform=None, digits: int = 4) -> dict:
    if value is None or se is None or not np.isfinite(value) or not np.isfinite(se):
        return {"estimate": None, "ci": [None, None]}
    lo, hi = value - Z95 * se, value + Z95 * se
    if transform is not None:
        value, lo, hi = transform(value), transform(lo), transform(hi)
    return {"estimate": _r(value, digits), "ci": [_r(lo, digits), _r(hi, digits)]}


def _r(x, digits: int = 4):
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their mean rank (scipy.stats.rankdata's "average", without importing scipy.stats: 2 s)."""
    _, inv, counts = np.unique(np.asarray(x, float), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inv]


def delong_auc(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong standard error (midranks: ties count one half)."""
    y = np.asarray(y, bool)
    p = np.asarray(p, float)
    pos, neg = p[y], p[~y]
    m, n = len(pos), len(neg)
    tx, ty = rankdata(pos), rankdata(neg)
    tz = rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:m] - tx) / n          # per positive: share of negatives below it
    v10 = 1 - (tz[m:] - ty) / m      # per negative: share of positives above it
    s01 = np.var(v01, ddof=1) if m > 1 else 0.0
    s10 = np.var(v10, ddof=1) if n > 1 else 0.0
    return float(auc), float(math.sqrt(s01 / m + s10 / n))


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    phat = k / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _rcs_knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    q = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.50, 0.725, 0.95)}[n_knots]
    return np.unique(np.quantile(x, q))


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Design matrix [1, x, nonlinear terms] of a restricted cubic spline (linear beyond the outer knots)."""
    cols = [np.ones_like(x), x]
    k = len(knots)
    if k >= 3:
        t = knots
        scale = (t[-1] - t[0]) ** 2
        for j in range(k - 2):
            cols.append((np.maximum(x - t[j], 0) ** 3
                         - np.maximum(x - t[-2], 0) ** 3 * (t[-1] - t[j]) / (t[-1] - t[-2])
                         + np.maximum(x - t[-1], 0) ** 3 * (t[-2] - t[j]) / (t[-1] - t[-2])) / scale)
    return np.column_stack(cols)


# ----------------------------------------------------------------------------- the pieces of the report

def discrimination(y: np.ndarray, p: np.ndarray) -> dict:
    auc, se = delong_auc(y, p)
    out = _estimate(auc, se)
    out["ci"] = [None if v is None else min(1.0, max(0.0, v)) for v in out["ci"]]
    out["estimate"] = _r(auc)
    return {"auc": out, "auc_se": _r(se, 5), "method": METHODS["auc"]}


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> dict:
    fit = _logistic(np.ones((len(y), 1)), y.astype(float), offset=_logit(p))
    if fit is None:
        return {"estimate": None, "ci": [None, None]}
    b, cov = fit
    return _estimate(b[0], math.sqrt(cov[0, 0]))


def calibration_slope(y: np.ndarray, p: np.ndarray) -> dict:
    lp = _logit(p)
    fit = _logistic(np.column_stack([np.ones_like(lp), lp]), y.astype(float))
    if fit is None:
        return {"estimate": None, "ci": [None, None]}
    b, cov = fit
    return _estimate(b[1], math.sqrt(cov[1, 1]))


def observed_expected(y: np.ndarray, p: np.ndarray) -> dict:
    o, e, n = float(y.sum()), float(p.sum()), len(y)
    if o == 0 or e == 0:
        return {"estimate": None, "ci": [None, None], "observed": int(o), "expected": _r(e, 1)}
    se = math.sqrt((1 - o / n) / o)
    out = _estimate(math.log(o / e), se, transform=math.exp, digits=3)
    return {**out, "observed": int(o), "expected": _r(e, 1)}


def smoothed_calibration(y: np.ndarray, p: np.ndarray) -> dict | None:
    """Logistic regression of y on a restricted cubic spline of logit(p), with a pointwise Wald band."""
    lp = _logit(p)
    smaller = int(min(y.sum(), (~y).sum()))
    n_knots = 4 if smaller >= 100 else 3
    knots = _rcs_knots(lp, n_knots)
    fit = _logistic(_rcs_basis(lp, knots), y.astype(float)) if len(knots) >= 3 else None
    if fit is None:  # too few distinct probabilities for a spline (or separation): a straight line on the logit scale
        knots = np.array([])
        fit = _logistic(_rcs_basis(lp, knots), y.astype(float))
    if fit is None:
        return None
    beta, cov = fit
    lo_p, hi_p = np.quantile(p, [0.01, 0.99]) if len(p) >= 100 else (p.min(), p.max())
    grid = np.linspace(lo_p, hi_p, SMOOTH_POINTS)
    B = _rcs_basis(_logit(grid), knots)
    eta = B @ beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", B, cov, B), 0))
    at_patients = _expit(_rcs_basis(lp, knots) @ beta)
    gap = np.abs(at_patients - p)
    return {
        "method": METHODS["smoothed_curve"],
        "knots_logit": [_r(k) for k in knots],
        "p": [_r(v) for v in grid],
        "observed": [_r(v) for v in _expit(eta)],
        "lower": [_r(v) for v in _expit(eta - Z95 * se)],
        "upper": [_r(v) for v in _expit(eta + Z95 * se)],
        "ici": _r(gap.mean()), "e50": _r(np.median(gap)), "e90": _r(np.quantile(gap, 0.9)),
    }


def grouped_points(y: np.ndarray, p: np.ndarray) -> list[dict]:
    n = len(p)
    k = max(1, min(MAX_GROUPED_POINTS, n // MIN_PER_GROUPED_POINT))
    order = np.argsort(p, kind="stable")
    out = []
    for i, idx in enumerate(np.array_split(order, k)):
        events = int(y[idx].sum())
        lo, hi = wilson(events, len(idx))
        out.append({"group": i + 1, "n": int(len(idx)), "events": events,
                    "p_from": _r(p[idx].min()), "p_to": _r(p[idx].max()),
                    "mean_predicted": _r(p[idx].mean()), "observed": _r(events / len(idx)),
                    "lower": _r(lo), "upper": _r(hi)})
    return out


def thresholds() -> np.ndarray:
    lo, hi = THRESHOLD_RANGE
    return np.round(np.arange(lo, hi + THRESHOLD_STEP / 2, THRESHOLD_STEP), 4)


def net_benefit(y: np.ndarray, p: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Net benefit of offering organ preservation when p >= t (per patient, at each threshold in ``t``)."""
    y = np.asarray(y, bool)
    p = np.asarray(p, float)
    t = np.atleast_1d(np.asarray(t, float))
    treat = p[:, None] >= t[None, :]
    n = len(y)
    tp = (treat & y[:, None]).sum(0)
    fp = (treat & ~y[:, None]).sum(0)
    return tp / n - fp / n * t / (1 - t)


def treat_all(prevalence: float, t: np.ndarray | float) -> np.ndarray:
    t = np.atleast_1d(np.asarray(t, float))
    return prevalence - (1 - prevalence) * t / (1 - t)


def _bootstrap_net_benefit(y: np.ndarray, p: np.ndarray, t: np.ndarray, seed: int, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """Percentile 95% band of the model's net benefit: patients resampled with replacement (as counts)."""
    rng = np.random.default_rng(seed)
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order].astype(np.int64)
    n = len(ps)
    start = np.searchsorted(ps, t, side="left")  # patients from `start` on have p >= t
    w = t / (1 - t)
    out = np.empty((resamples, len(t)))
    chunk = max(1, min(resamples, 4_000_000 // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)
        tail_all = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
        tail_y = np.cumsum((counts * ys)[:, ::-1], axis=1)[:, ::-1]
        tail_all = np.concatenate([tail_all, np.zeros((b, 1), np.int64)], axis=1)
        tail_y = np.concatenate([tail_y, np.zeros((b, 1), np.int64)], axis=1)
        tp = tail_y[:, start]
        fp = tail_all[:, start] - tp
        out[done:done + b] = tp / n - fp / n * w
        done += b
    return np.quantile(out, 0.025, axis=0), np.quantile(out, 0.975, axis=0)


def decision_curve(y: np.ndarray, p: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    t = thresholds()
    prev = float(y.mean())
    nb = net_benefit(y, p, t)
    lo, hi = _bootstrap_net_benefit(y, p, t, seed, resamples)
    ta = treat_all(prev, t)
    return {
        "treat_means": TREAT_MEANS,
        "threshold_range": list(THRESHOLD_RANGE),
        "threshold_rationale": THRESHOLD_RATIONALE,
        "method": METHODS["net_benefit"],
        "thresholds": [_r(v) for v in t],
        "model": [_r(v) for v in nb],
        "model_lower": [_r(v) for v in lo],
        "model_upper": [_r(v) for v in hi],
        "treat_all": [_r(v) for v in ta],
        "treat_none": [0.0] * len(t),
        "model_best_share": _r(float(np.mean(nb >= np.maximum(ta, 0) - 1e-12))),
        "table": _net_benefit_table(t, nb, ta),
    }


def _net_benefit_table(t: np.ndarray, nb: np.ndarray, ta: np.ndarray) -> list[dict]:
    rows = []
    for x in THRESHOLD_TABLE:
        i = int(np.argmin(np.abs(t - x)))
        best = max(ta[i], 0.0)
        rows.append({"threshold": _r(t[i]), "model": _r(nb[i]), "treat_all": _r(ta[i]), "treat_none": 0.0,
                     "model_minus_best_default": _r(nb[i] - best)})
    return rows


# ----------------------------------------------------------------------------- the report

def _model_facts(model) -> dict:
    card = getattr(model, "card", model) if model is not None else None
    if not isinstance(card, Mapping):
        return {"model_version": None, "synthetic_training_data": None}
    td = card.get("training_data", {}) or {}
    return {"model_version": card.get("model_version"), "created": card.get("created"),
            "watchwait_version": card.get("watchwait_version"),
            "synthetic_training_data": bool(td.get("synthetic")) if "synthetic" in td else None,
            "training_cohort_file": td.get("source_file"), "training_patients": td.get("n_patients"),
            "generator": td.get("generator")}


def _summary(y: np.ndarray, p: np.ndarray, oracle: np.ndarray | None, seed: int, resamples: int, full: bool) -> dict:
    n, events = len(y), int(y.sum())
    prev = events / n
    brier = float(np.mean((p - y) ** 2))
    out = {
        "n": n, "events": events, "non_events": n - events, "prevalence": _r(prev),
        "discrimination": discrimination(y, p),
        "calibration": {
            "intercept": calibration_in_the_large(y, p),
            "slope": calibration_slope(y, p),
            "observed_expected": observed_expected(y, p),
            "brier": _r(brier),
            "brier_scaled": _r(1 - brier / (prev * (1 - prev))) if 0 < prev < 1 else None,
            "mean_predicted": _r(p.mean()),
        },
    }
    if full:
        out["calibration"]["smoothed"] = smoothed_calibration(y, p)
        out["calibration"]["grouped"] = grouped_points(y, p)
        out["decision_curve"] = decision_curve(y, p, seed, resamples)
    else:  # a group: its net benefit at the table's thresholds, with the bootstrap band
        t = np.array(THRESHOLD_TABLE)
        nb = net_benefit(y, p, t)
        lo, hi = _bootstrap_net_benefit(y, p, t, seed, resamples)
        ta = treat_all(prev, t)
        out["decision_curve"] = [{"threshold": _r(t[i]), "model": _r(nb[i]), "model_lower": _r(lo[i]), "model_upper": _r(hi[i]),
                                  "treat_all": _r(ta[i]), "treat_none": 0.0, "model_minus_best_default": _r(nb[i] - max(ta[i], 0))}
                                 for i in range(len(t))]
    if oracle is not None:
        gap = np.abs(p - oracle)
        out["oracle"] = {"mean_abs_gap": _r(gap.mean()), "p90_abs_gap": _r(np.quantile(gap, 0.9))}
    return out


def _estimable(y: np.ndarray) -> bool:
    return int(y.sum()) >= MIN_EVENTS_PER_GROUP and int((~y).sum()) >= MIN_EVENTS_PER_GROUP


def _group_rows(y, p, oracle, groups, seed, resamples) -> list[dict]:
    if groups is None:
        return []
    if not isinstance(groups, Mapping):
        groups = {"Group": groups}
    rows = []
    for gi, (grouping, labels) in enumerate(groups.items()):
        labels = np.array(["not recorded" if v is None or (isinstance(v, float) and v != v) or str(v) == "" else str(v)
                           for v in labels], dtype=object)
        if len(labels) != len(y):
            raise ValueError(f"groups[{grouping!r}] has {len(labels)} labels for {len(y)} patients")
        values, counts = np.unique(labels, return_counts=True)
        for value in values[np.argsort(-counts, kind="stable")]:
            m = labels == value
            row = {"grouping": str(grouping), "group": str(value), "n": int(m.sum()), "events": int(y[m].sum()),
                   "non_events": int((~y[m]).sum())}
            if _estimable(y[m]):
                row.update({"estimable": True, **_summary(y[m], p[m], None if oracle is None else oracle[m],
                                                          seed + 1 + gi, resamples, full=False)})
            else:
                row.update({"estimable": False, "note": TOO_FEW})
            rows.append(row)
    return rows


def validation_report(y, p, groups=None, oracle=None, label: str = HELD_OUT_LABEL, seed: int = 0, *,
                      model=None, cohort: Mapping | None = None, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """The validation report of probabilities ``p`` against outcomes ``y`` (1 = complete response).

    ``groups``: {grouping title: one label per patient} (e.g. :func:`regimen_groups`), or one array of labels.
    ``oracle``: the true probabilities of a simulated cohort. ``label``: whom the figures are about, in words
    (default: held-out patients of the training cohort). ``model``: the model card (or a bundle with ``.card``),
    whose version and training-data facts the report carries. ``cohort``: facts about the patients to record
    (file name, patients left out and why). Raises :class:`WatchwaitError` when ``y`` lacks one of the outcomes.
    """
    y = np.asarray(y)
    p = np.asarray(p, float)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"y and p must be 1-d and of the same length; got {y.shape} and {p.shape}")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p must hold probabilities from 0 to 1 (no blanks)")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise WatchwaitError(f"{len(y)} patients, {int(y.sum())} with a complete response and {int((~y).sum())} without; "
                             "validation needs at least one of each (AUC and calibration compare the two groups).")
    orc = None if oracle is None else np.asarray(oracle, float)
    facts = _model_facts(model)
    report = {
        "report": "watchwait validation report", "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "model": facts,
        "source": {"label": label, "held_out_from_training": label == HELD_OUT_LABEL, **dict(cohort or {})},
        "outcome": EVENT_TEXT, "outcome_definition": EVENT_DEFINITION,
        "seed": seed, "bootstrap_resamples": resamples, "min_events_per_group": MIN_EVENTS_PER_GROUP,
        "min_events_rule": f"A group is estimated when it has at least {MIN_EVENTS_PER_GROUP} patients with a complete "
                           f"response and {MIN_EVENTS_PER_GROUP} without; below that it is listed as '{TOO_FEW}'",
        "methods": METHODS,
        **_summary(y, p, orc, seed, resamples, full=True),
        "groups": _group_rows(y, p, orc, groups, seed, resamples),
    }
    smaller = min(report["events"], report["non_events"])
    report["warnings"] = ([f"Only {smaller} patients {'with' if report['events'] == smaller else 'without'} a complete response: "
                           f"validation needs at least {MIN_EVENTS_OVERALL} with and {MIN_EVENTS_OVERALL} without (Collins et al., "
                           "Stat Med 2016) for calibration to be judged; these estimates are imprecise."]
                          if smaller < MIN_EVENTS_OVERALL else [])
    report["tripod_ai"] = tripod_checklist(report)
    return report


def regimen_groups(frame) -> dict[str, list[str]]:
    """The regimen groupings of a cohort frame, in clinicians' words: immunotherapy (any vs none) and the
    radiotherapy schedule. A blank cell is "not recorded"."""
    from watchwait.labels import code_text

    out: dict[str, list[str]] = {}
    if "immunotherapy" in frame.columns:
        out["Immunotherapy"] = ["not recorded" if not isinstance(v, str) or v == "" else
                                "no immunotherapy" if v == "none" else "immunotherapy (any)"
                                for v in frame["immunotherapy"].tolist()]
    if "rt_schedule" in frame.columns:
        out["Radiotherapy"] = ["not recorded" if not isinstance(v, str) or v == "" else code_text("rt_schedule", v)
                               for v in frame["rt_schedule"].tolist()]
    return out


# ----------------------------------------------------------------------------- TRIPOD+AI

def tripod_checklist(report: dict) -> list[dict]:
    """The TRIPOD+AI items (Collins et al., BMJ 2024;385:e078378) on model evaluation, and where this report answers them."""
    groups = report.get("groups", [])
    n_est = sum(1 for g in groups if g.get("estimable"))
    synthetic = report["model"].get("synthetic_training_data")
    src = report["source"]
    left_out = [f"{src[k]} {what}" for k, what in (("n_outcome_unknown_left_out", "with the outcome not yet known"),
                                                  ("n_out_of_scope_left_out", "out of the model's scope")) if src.get(k)]
    smaller = min(report["events"], report["non_events"])
    items = [
        ("6c", "Treatments received, and how they were handled", "partly" if groups else "not in this report",
         "Performance is reported per regimen group (immunotherapy or not, radiotherapy schedule)." if groups
         else "No regimen groups were given."),
        ("8a", "Outcome and time horizon", "reported", f"The outcome is defined: {EVENT_TEXT}."),
        ("10", "Sample size", "partly",
         f"{smaller:,} patients in the smaller outcome group" + (f" (fewer than {MIN_EVENTS_OVERALL}: flagged as imprecise)."
                                                              if smaller < MIN_EVENTS_OVERALL else f" (at least {MIN_EVENTS_OVERALL}).")
         + " No sample size calculation."),
        ("11", "Missing data", "partly",
         "Patients whose outcome is not yet known are left out and counted; missing inputs are handled by the model itself."),
        ("12e", "Measures and plots used to evaluate performance, with their rationale", "reported",
         "Discrimination (AUC), calibration (calibration-in-the-large, slope, O/E, smoothed curve, grouped points), "
         "Brier score and clinical utility (decision curve); methods listed under Methods."),
        ("12f", "Model updating arising from the evaluation", "not in this report",
         "Any updating (recalibration, revision) is recorded on the model card (watchwait update)."),
        ("12g", "How the predictions were calculated for the evaluation", "reported" if report["model"].get("model_version") else "partly",
         "By the model named above (version " + str(report["model"].get("model_version")) + "), as watchwait predict computes them."),
        ("14", "Fairness", "partly" if groups else "not in this report",
         f"Performance per regimen group ({n_est} of {len(groups)} groups estimable); sociodemographic groups are not examined."
         if groups else "No groups were given."),
        ("16", "Differences between development and evaluation data", "not in this report",
         "Compare the cohort with the model card's training data (regimens, missing inputs)."),
        ("20a", "Participants: flow, numbers with and without the outcome", "reported",
         f"{report['n']:,} patients, {report['events']:,} with a complete response and {report['non_events']:,} without"
         + ("; left out: " + ", ".join(left_out) if left_out else "") + "."),
        ("20c", "Comparison with the development data", "not in this report",
         "The distribution of predictors is not compared with the training cohort here."),
        ("21", "Participants and outcome events in each analysis", "reported",
         "Patients and complete responses are given overall and for every regimen group."),
        ("23a", "Performance estimates with confidence intervals, including key subgroups; plots", "reported",
         "Every estimate has a 95% CI; calibration plot and decision curve; regimen subgroups where the number of events "
         "allows (sociodemographic subgroups are not examined)."),
        ("23b", "Heterogeneity across clusters", "not in this report", "One cohort; performance across centres is not examined."),
        ("24", "Model updating: results", "not in this report", "Any updating (recalibration, revision) is recorded on the model card."),
        ("26", "Limitations", "partly",
         ("The model was trained on synthetic data: these figures say how it performs on data like its simulator's, not on real patients."
          if synthetic else "Limitations of the model are on its model card.")
         + (" The patients are held out from the training cohort (internal validation)." if src.get("held_out_from_training") else "")),
    ]
    return [{"item": i, "topic": t, "status": s, "where": w} for i, t, s, w in items]


# ----------------------------------------------------------------------------- drawing (Pillow, no browser)

_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")
_BLUE, _SKY, _VERM, _ORANGE, _GREY, _LIGHT, _BLACK = "#0072B2", "#56B4E9", "#D55E00", "#E69F00", "#767676", "#DDDDDD", "#000000"


def _font(size: int):
    from PIL import ImageFont

    for f in _FONT_FILES:
        try:
            return ImageFont.truetype(f, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _rgba(hex_colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), alpha


class _Canvas:
    """A plot area with axes on a white image, drawn at twice the size and reduced (smooth lines)."""

    S = 2

    def __init__(self, width: int, height: int, x_range, y_range, *, title: str, x_title: str, y_title: str,
                 x_ticks, y_ticks, x_tick_text=None, y_tick_text=None, margins=(150, 40, 80, 150)):
        from PIL import Image, ImageDraw

        s = self.S
        self.W, self.H = width * s, height * s
        self.img = Image.new("RGBA", (self.W, self.H), (255, 255, 255, 255))
        self.draw = ImageDraw.Draw(self.img)
        left, right, top, bottom = (m * s for m in margins)
        self.box = (left, top, self.W - right, self.H - bottom)
        self.xr, self.yr = x_range, y_range
        self.layer = Image.new("RGBA", (self.W, self.H), (0, 0, 0, 0))
        self.ldraw = ImageDraw.Draw(self.layer)
        f_tick, f_title = _font(17 * s), _font(19 * s)
        x0, y0, x1, y1 = self.box
        for v, text in zip(y_ticks, y_tick_text or [f"{v:g}" for v in y_ticks]):
            py = self.py(v)
            self.draw.line([(x0, py), (x1, py)], fill=_LIGHT, width=s)
            self.draw.text((x0 - 10 * s, py), text, fill=_BLACK, font=f_tick, anchor="rm")
        for v, text in zip(x_ticks, x_tick_text or [f"{v:g}" for v in x_ticks]):
            px = self.px(v)
            self.draw.line([(px, y0), (px, y1)], fill=_LIGHT, width=s)
            self.draw.multiline_text((px, y1 + 10 * s), text, fill=_BLACK, font=f_tick, anchor="ma", align="center", spacing=2 * s)
        self.draw.rectangle(self.box, outline=_GREY, width=s)
        self.draw.text((self.W // 2, 14 * s), title, fill=_BLACK, font=_font(22 * s), anchor="ma")
        self.draw.multiline_text(((x0 + x1) // 2, self.H - 12 * s), x_title, fill=_BLACK, font=f_title, anchor="md",
                                 align="center", spacing=4 * s)
        # the y title, rotated
        bbox = self.draw.textbbox((0, 0), y_title, font=f_title)
        tmp = Image.new("RGBA", (bbox[2] + 4 * s, bbox[3] + 8 * s), (255, 255, 255, 0))
        ImageDraw.Draw(tmp).text((2 * s, 2 * s), y_title, fill=_BLACK, font=f_title)
        tmp = tmp.rotate(90, expand=True)
        self.img.alpha_composite(tmp, (12 * s, max(0, (y0 + y1) // 2 - tmp.height // 2)))

    def px(self, x: float) -> float:
        x0, _, x1, _ = self.box
        return x0 + (x - self.xr[0]) / (self.xr[1] - self.xr[0]) * (x1 - x0)

    def py(self, y: float) -> float:
        _, y0, _, y1 = self.box
        return y1 - (y - self.yr[0]) / (self.yr[1] - self.yr[0]) * (y1 - y0)

    def band(self, xs, lo, hi, colour, alpha=70):
        pts = [(self.px(x), self.py(v)) for x, v in zip(xs, lo) if v is not None]
        pts += [(self.px(x), self.py(v)) for x, v in reversed(list(zip(xs, hi))) if v is not None]
        if len(pts) >= 3:
            from PIL import Image, ImageDraw

            band = Image.new("RGBA", (self.W, self.H), (0, 0, 0, 0))
            ImageDraw.Draw(band).polygon(pts, fill=_rgba(colour, alpha))
            self.layer.alpha_composite(band)

    def line(self, xs, ys, colour, width=3, dash: int | None = None):
        pts = [(self.px(x), self.py(y)) for x, y in zip(xs, ys) if y is not None]
        w = width * self.S
        if dash is None:
            self.ldraw.line(pts, fill=_rgba(colour), width=w, joint="curve")
            return
        d = dash * self.S
        phase = 0.0  # distance along the whole line: the dashes run on across short segments
        for a, b in zip(pts, pts[1:]):
            length = math.hypot(b[0] - a[0], b[1] - a[1])
            pos = 0.0
            while pos < length:
                on = int(phase // d) % 2 == 0
                step = min(d - phase % d, length - pos)
                if on:
                    f0, f1 = pos / length, (pos + step) / length
                    self.ldraw.line([(a[0] + (b[0] - a[0]) * f0, a[1] + (b[1] - a[1]) * f0),
                                     (a[0] + (b[0] - a[0]) * f1, a[1] + (b[1] - a[1]) * f1)], fill=_rgba(colour), width=w)
                pos += step
                phase += step

    def points(self, xs, ys, lo, hi, colour, radius=6):
        s = self.S
        for x, y, a, b in zip(xs, ys, lo, hi):
            px, py = self.px(x), self.py(y)
            self.ldraw.line([(px, self.py(a)), (px, self.py(b))], fill=_rgba(colour), width=2 * s)
            for yy in (a, b):
                self.ldraw.line([(px - 5 * s, self.py(yy)), (px + 5 * s, self.py(yy))], fill=_rgba(colour), width=2 * s)
            r = radius * s
            self.ldraw.ellipse([px - r, py - r, px + r, py + r], fill=_rgba("#FFFFFF"), outline=_rgba(colour), width=3 * s)

    def legend(self, entries, corner="top-left"):
        """entries: (text, colour, kind) with kind 'line', 'dash', 'band', 'point'."""
        s = self.S
        f = _font(16 * s)
        x0, y0, x1, y1 = self.box
        h = 26 * s
        width = max(self.draw.textlength(t, font=f) for t, _, _ in entries) + 60 * s
        bx = x0 + 14 * s if corner.endswith("left") else x1 - 14 * s - width
        by = y0 + 14 * s if corner.startswith("top") else y1 - 14 * s - h * len(entries) - 10 * s
        self.ldraw.rectangle([bx, by, bx + width, by + h * len(entries) + 10 * s], fill=(255, 255, 255, 235), outline=_rgba(_LIGHT), width=s)
        for i, (text, colour, kind) in enumerate(entries):
            cy = by + 5 * s + h * i + h / 2
            if kind == "band":
                self.ldraw.rectangle([bx + 8 * s, cy - 8 * s, bx + 44 * s, cy + 8 * s], fill=_rgba(colour, 90))
            elif kind == "point":
                self.ldraw.ellipse([bx + 20 * s, cy - 6 * s, bx + 32 * s, cy + 6 * s], fill=_rgba("#FFFFFF"), outline=_rgba(colour), width=3 * s)
            elif kind == "dash":
                for k in range(3):
                    self.ldraw.line([(bx + (8 + 13 * k) * s, cy), (bx + (16 + 13 * k) * s, cy)], fill=_rgba(colour), width=3 * s)
            else:
                self.ldraw.line([(bx + 8 * s, cy), (bx + 44 * s, cy)], fill=_rgba(colour), width=3 * s)
            self.ldraw.text((bx + 52 * s, cy), text, fill=_rgba(_BLACK), font=f, anchor="lm")

    def png(self) -> bytes:
        from PIL import Image

        from PIL import ImageChops

        x0, y0, x1, y1 = (int(v) for v in self.box)
        clip = Image.new("L", (self.W, self.H), 0)
        clip.paste(255, (x0, y0, x1 + 1, y1 + 1))
        self.layer.putalpha(ImageChops.multiply(self.layer.getchannel("A"), clip))  # data drawn outside the axes is cut
        self.img.alpha_composite(self.layer)
        out = self.img.convert("RGB").resize((self.W // self.S, self.H // self.S), Image.LANCZOS)
        buf = io.BytesIO()
        out.save(buf, format="PNG", optimize=True)
        return buf.getvalue()


def calibration_png(report: dict) -> bytes:
    """The calibration plot: smoothed observed vs predicted with its 95% band, grouped points with Wilson intervals."""
    cal = report["calibration"]
    sm = cal.get("smoothed")
    ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    c = _Canvas(900, 820, (0, 1), (0, 1), title="Calibration: predicted against observed complete response",
                x_title="predicted probability of complete response", y_title="observed share with a complete response",
                x_ticks=ticks, y_ticks=ticks, x_tick_text=[f"{100 * v:.0f}%" for v in ticks],
                y_tick_text=[f"{100 * v:.0f}%" for v in ticks], margins=(110, 40, 70, 110))
    c.line([0, 1], [0, 1], _GREY, width=2, dash=8)
    entries = [("perfect calibration", _GREY, "dash")]
    if sm:
        c.band(sm["p"], sm["lower"], sm["upper"], _SKY, alpha=90)
        c.line(sm["p"], sm["observed"], _BLUE, width=3)
        entries += [("smoothed calibration curve", _BLUE, "line"), ("its 95% confidence band", _SKY, "band")]
    g = cal.get("grouped") or []
    if g:
        c.points([r["mean_predicted"] for r in g], [r["observed"] for r in g], [r["lower"] for r in g],
                 [r["upper"] for r in g], _VERM)
        entries.append((f"groups of about {g[0]['n']} patients (95% interval)", _VERM, "point"))
    c.legend(entries, corner="top-left")
    return c.png()


def _odds_text(t: float) -> str:
    w = t / (1 - t)
    return "1:1" if abs(w - 1) < 1e-9 else (f"1:{1 / w:.2g}" if w < 1 else f"{w:.2g}:1")


def decision_curve_png(report: dict) -> bytes:
    dc = report["decision_curve"]
    t = dc["thresholds"]
    prev = report["prevalence"]
    top = max([prev] + [v for v in dc["model_upper"] if v is not None])
    step = 0.05 if top <= 0.4 else 0.1
    y_hi = math.ceil(top * 1.08 / step) * step
    y_lo = -step
    yt = [round(y_lo + step * i, 4) for i in range(int(round((y_hi - y_lo) / step)) + 1)]
    xt = [x for x in THRESHOLD_TABLE if THRESHOLD_RANGE[0] - 1e-9 <= x <= THRESHOLD_RANGE[1] + 1e-9]
    c = _Canvas(1000, 760, tuple(THRESHOLD_RANGE), (y_lo, y_hi),
                title="Decision curve: offer organ preservation when the probability is at least the threshold",
                x_title="threshold probability of complete response\n"
                        "(below it: the weight of residual tumour left under surveillance : surgery spared)",
                y_title="net benefit (net share of patients spared surgery)",
                x_ticks=xt, y_ticks=yt, x_tick_text=[f"{100 * x:.0f}%\n{_odds_text(x)}" for x in xt],
                y_tick_text=[f"{v:.2f}" for v in yt], margins=(110, 40, 70, 150))
    c.band(t, dc["model_lower"], dc["model_upper"], _SKY, alpha=80)
    c.line(t, dc["treat_none"], _BLACK, width=2)
    c.line(t, dc["treat_all"], _ORANGE, width=3, dash=10)
    c.line(t, dc["model"], _BLUE, width=3)
    c.legend([("the model: organ preservation when p >= threshold", _BLUE, "line"), ("its 95% bootstrap band", _SKY, "band"),
              ("organ preservation for everyone (treat all)", _ORANGE, "dash"),
              ("organ preservation for no one (treat none)", _BLACK, "line")], corner="top-right")
    return c.png()


# ----------------------------------------------------------------------------- HTML

def _pct(x, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _num(x, digits: int = 3, sign: bool = False) -> str:
    return "-" if x is None else (f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}")


def _ci(e: dict, digits: int = 3, sign: bool = False) -> str:
    if e.get("estimate") is None:
        return "not estimable"
    lo, hi = e["ci"]
    return f"{_num(e['estimate'], digits, sign)} (95% CI {_num(lo, digits, sign)} to {_num(hi, digits, sign)})"


def _h(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return ("<table><thead><tr>" + "".join(f"<th scope='col'>{_h(c)}</th>" for c in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in r) + "</tr>" for r in rows) + "</tbody></table>")


def _ci_short(e: dict, digits: int = 3, sign: bool = False) -> str:
    if e.get("estimate") is None:
        return "not estimable"
    lo, hi = e["ci"]
    return f"{_num(e['estimate'], digits, sign)} ({_num(lo, digits, sign)} to {_num(hi, digits, sign)})"


def group_table_rows(report: dict) -> list[list[str]]:
    """One row per regimen group (also used by the About screen): estimates with their 95% CIs in brackets."""
    rows = []
    for g in report.get("groups", []):
        if not g.get("estimable"):
            rows.append([g["grouping"], g["group"], f"{g['n']:,}", f"{g['events']:,}", TOO_FEW, "", "", "", ""])
            continue
        cal = g["calibration"]
        at50 = next((r for r in g["decision_curve"] if abs(r["threshold"] - 0.5) < 1e-9), None)
        rows.append([g["grouping"], g["group"], f"{g['n']:,}", f"{g['events']:,}", _ci_short(g["discrimination"]["auc"]),
                     _ci_short(cal["intercept"], 2, sign=True), _ci_short(cal["slope"], 2), _ci_short(cal["observed_expected"], 2),
                     "-" if at50 is None else f"{_num(at50['model'], 3)} ({_num(at50['treat_all'], 3)})"])
    return rows


GROUP_HEAD = ["grouping", "group", "patients", "complete responses", "AUC", "calibration-in-the-large", "calibration slope",
              "observed / expected", "net benefit at 50%"]
GROUP_NOTE = "95% confidence intervals in brackets; net benefit at a 50% threshold, with organ preservation for everyone in brackets."

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;color:#000;max-width:1240px;margin:24px auto;padding:0 16px;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.92em} th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2} .warn{background:#fff4e0;border-left:5px solid #E69F00;padding:8px 12px}
.note{color:#595959;font-size:0.92em} img{max-width:100%;height:auto;border:1px solid #eee}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px} dt{font-weight:bold}
"""


def render_html(report: dict, images: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page (images inline as base64 PNG; no scripts, no external files)."""
    m, src, cal, disc = report["model"], report["source"], report["calibration"], report["discrimination"]
    dc = report["decision_curve"]
    sm = cal.get("smoothed") or {}

    def img(name, alt):
        data = images.get(name)
        if not data:
            return ""
        return f"<p><img src='data:image/png;base64,{base64.b64encode(data).decode('ascii')}' alt='{_h(alt)}'></p>"

    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
             f"<title>Validation report: model {_h(m.get('model_version'))}</title><style>{_CSS}</style></head><body>",
             f"<h1>Validation report: model {_h(m.get('model_version') or 'not named')}</h1>",
             f"<p>The model's probability of a complete response ({_h(report.get('outcome_definition', report['outcome']))}), "
             f"checked against the outcomes of {report['n']:,} {_h(src.get('label'))}. "
             f"Created {_h(str(report['created'])[:16].replace('T', ' '))} UTC.</p>"]
    if m.get("synthetic_training_data"):
        parts.append("<p class='warn'><strong>Synthetic training data.</strong> This model was trained on a simulated cohort "
                     "calibrated to published figures. It has not been validated on real patients"
                     + (": these figures come from held-out simulated patients." if src.get("held_out_from_training") else ".")
                     + "</p>")
    for w in report.get("warnings", []):
        parts.append(f"<p class='warn'><strong>Warning.</strong> {_h(w)}</p>")
    facts = [("Model version", m.get("model_version")), ("Model created", m.get("created")),
             ("Training data", "synthetic (simulated cohort)" if m.get("synthetic_training_data") else
              "site cohort (not synthetic)" if m.get("synthetic_training_data") is False else "not recorded"),
             ("Training cohort file", m.get("training_cohort_file")), ("Patients checked", src.get("label")),
             ("Cohort file", src.get("cohort_file"))]
    parts.append("<dl>" + "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in facts if v not in (None, "")) + "</dl>")

    parts.append("<h2>Patients</h2>")
    left = []
    if src.get("n_outcome_unknown_left_out"):
        left.append(f"{src['n_outcome_unknown_left_out']} left out because their outcome is not yet known")
    if src.get("n_out_of_scope_left_out"):
        left.append(f"{src['n_out_of_scope_left_out']} left out because they are outside the model's scope (no probability)")
    parts.append(f"<p>{report['n']:,} patients: {report['events']:,} with a complete response and {report['non_events']:,} without "
                 f"(complete response in {_pct(report['prevalence'])})." + (" " + _h("; ".join(left)) + "." if left else "") + "</p>")

    parts.append("<h2>Discrimination</h2>")
    parts.append(f"<p>AUC (c-statistic): <strong>{_h(_ci(disc['auc']))}</strong>. The chance that a patient with a complete "
                 "response gets a higher probability than one without; 0.5 is chance, 1 is perfect.</p>"
                 f"<p class='note'>{_h(disc['method'])}.</p>")

    parts.append("<h2>Calibration</h2>")
    rows = [["calibration-in-the-large (ideal 0)", _ci(cal["intercept"], 3, sign=True),
             "above 0: the model's probabilities are too low on average; below 0: too high"],
            ["calibration slope (ideal 1)", _ci(cal["slope"], 3), "below 1: the probabilities are too extreme (overfitted); above 1: too modest"],
            ["observed / expected complete responses (ideal 1)", _ci(cal["observed_expected"], 3),
             f"{cal['observed_expected'].get('observed')} observed, {cal['observed_expected'].get('expected')} expected"],
            ["Brier score (lower is better)", _num(cal["brier"], 4), f"scaled Brier {_num(cal['brier_scaled'], 3)} (1 is perfect, 0 is no better than the prevalence)"],
            ["integrated calibration index (ICI)", _num(sm.get("ici"), 4), f"E50 {_num(sm.get('e50'), 4)}, E90 {_num(sm.get('e90'), 4)}: mean, median and 90th percentile of |smoothed observed - predicted|"]]
    if report.get("oracle"):
        rows.append(["mean |p - true probability| (simulated cohort only)", _num(report["oracle"]["mean_abs_gap"], 4),
                     f"90th percentile {_num(report['oracle']['p90_abs_gap'], 4)}"])
    parts.append(_table(["measure", "estimate", "reading"], rows))
    parts.append(img("calibration.png", "Calibration plot: smoothed observed share of complete responses against the predicted "
                                        "probability, with its 95% band, and grouped points with 95% intervals"))
    g = cal.get("grouped") or []
    if g:
        parts.append("<details><summary>Grouped points</summary>" + _table(
            ["group", "patients", "predicted from", "predicted to", "mean predicted", "observed", "95% interval"],
            [[r["group"], r["n"], _pct(r["p_from"]), _pct(r["p_to"]), _pct(r["mean_predicted"]), _pct(r["observed"]),
              f"{_pct(r['lower'])} to {_pct(r['upper'])}"] for r in g]) + "</details>")
    parts.append(f"<p class='note'>Smoothed curve: {_h(sm.get('method', 'not estimable'))}. Grouped points: {_h(METHODS['grouped_points'])}.</p>")

    parts.append("<h2>Clinical usefulness: decision curve</h2>")
    parts.append(f"<p>{_h(dc['treat_means'])}</p><p>{_h(dc['threshold_rationale'])}</p>")
    parts.append(img("decision_curve.png", "Decision curve: net benefit of the model against organ preservation for everyone and for no one"))
    parts.append(_table(["threshold", "the model", "organ preservation for everyone (treat all)", "for no one (treat none)",
                         "the model minus the better of the two", "per 100 patients"],
                        [[_pct(r["threshold"], 0), _num(r["model"]), _num(r["treat_all"]), _num(r["treat_none"]),
                          _num(r["model_minus_best_default"], 3, sign=True),
                          f"{100 * r['model_minus_best_default']:+.1f} net patients spared surgery" if r["model_minus_best_default"] is not None else "-"]
                         for r in dc["table"]]))
    parts.append(f"<p class='note'>{_h(dc['method'])}. The model is at least as good as both defaults at "
                 f"{_pct(dc.get('model_best_share'), 0)} of the thresholds from {_pct(THRESHOLD_RANGE[0], 0)} to {_pct(THRESHOLD_RANGE[1], 0)}.</p>")

    parts.append("<h2>By regimen group</h2>")
    if report.get("groups"):
        parts.append(f"<p>{_h(report['min_events_rule'])}. {_h(GROUP_NOTE)}</p>" + _table(GROUP_HEAD, group_table_rows(report)))
    else:
        parts.append("<p>No regimen groups were given.</p>")

    parts.append("<h2>TRIPOD+AI checklist (model evaluation items)</h2>")
    parts.append("<p class='note'>Items of TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) that concern the evaluation of a model, "
                 "and what this report holds for each.</p>")
    parts.append(_table(["item", "topic", "in this report", "where / what"],
                        [[r["item"], r["topic"], r["status"], r["where"]] for r in report["tripod_ai"]]))

    parts.append("<h2>Methods</h2><ul>" + "".join(f"<li><strong>{_h(METHOD_LABELS.get(k, k.replace('_', ' ')))}:</strong> {_h(v)}</li>"
                                                 for k, v in report["methods"].items()) + "</ul>")
    parts.append(f"<p class='note'>Bootstrap: {report['bootstrap_resamples']} resamples, seed {report['seed']}. "
                 f"watchwait validation report, schema version {report['schema_version']}.</p></body></html>")
    return "".join(parts)


# ----------------------------------------------------------------------------- writing

def is_report_folder(path: Path) -> bool:
    """A folder :func:`write_report` wrote (it may be replaced by a new report)."""
    return (Path(path) / "validation.json").is_file()


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_report(report: dict, out_dir: str | os.PathLike) -> Path:
    """Write the report folder: validation.json, validation.html, calibration.png, decision_curve.png.

    The folder is built next to ``out_dir`` and renamed into place (:func:`watchwait.atomic.atomic_directory`):
    a failed run leaves nothing, and an earlier report there is replaced whole. A folder holding anything else
    is refused. Returns the folder."""
    from watchwait.atomic import atomic_directory

    out = Path(out_dir)
    images = {"calibration.png": calibration_png(report), "decision_curve.png": decision_curve_png(report)}
    text = json.dumps(_jsonable(report), indent=1, ensure_ascii=False, allow_nan=False)
    page = render_html(report, images)
    with atomic_directory(out, permissions=0o755, replace_if=is_report_folder) as tmp:
        (tmp / "validation.json").write_text(text, encoding="utf-8")
        (tmp / "validation.html").write_text(page, encoding="utf-8")
        for name, data in images.items():
            (tmp / name).write_bytes(data)
    return out


# ----------------------------------------------------------------------------- the command

def run_validate(cohort, model=None, out=None, truth=None, jobs: int = 1, seed: int = 0,
                 dask_address: str | None = None) -> tuple[dict, Path]:
    """``watchwait validate``: read and check the cohort as ``evaluate`` does, predict, report by regimen group,
    write the report folder (default ``./validation-<model version>``). Returns (report, folder)."""
    from watchwait.csvfiles import read_truth
    from watchwait.cohort import read_model_cohort
    from watchwait.engine import predict_frame
    from watchwait.training import known_outcomes, load_model

    name = Path(cohort).name
    bundle = load_model(model)
    target = Path(out) if out else Path(f"validation-{bundle.version}")
    _check_out(target, [("--cohort", cohort), ("--truth", truth)])
    frame = read_model_cohort(cohort, n_jobs=jobs, dask_address=dask_address)
    if len(frame) == 0:
        raise WatchwaitError(f"{name}: no patients (a header row only); validate needs patients with outcomes of both kinds "
                             "(complete response and not).")
    n_all = len(frame)
    frame, y, n_unknown = known_outcomes(frame)
    pred = predict_frame(frame, bundle)
    p = pred["p_complete_response"].to_numpy(float)
    ok = np.isfinite(p)
    n_cr, n_other = int(y[ok].sum()), int((~y[ok]).sum())
    if n_cr == 0 or n_other == 0:
        raise WatchwaitError(f"{name}: {int(ok.sum())} in-scope patient{'s' if ok.sum() != 1 else ''} with a probability, {n_cr} "
                             f"with a complete response and {n_other} without; validate needs at least one of each (AUC and "
                             "calibration compare the two groups).")
    oracle = None
    if truth:
        oracle = read_truth(truth, frame).set_index("patient_id")["p_oracle"].reindex(frame["patient_id"]).to_numpy(float)[ok]
    kept = frame[ok].reset_index(drop=True)
    facts = {"cohort_file": name, "n_in_file": n_all, "n_outcome_unknown_left_out": n_unknown,
             "n_out_of_scope_left_out": int((~ok).sum())}
    report = validation_report(y[ok], p[ok], groups=regimen_groups(kept), oracle=oracle,
                               label=f"patients of the cohort file {name}", seed=seed, model=bundle.card, cohort=facts)
    return report, write_report(report, target)


def _check_out(target: Path, inputs) -> None:
    if str(target).strip() == "":
        raise WatchwaitError("--out is empty; give a folder for the validation report.")
    if target.exists() and not target.is_dir():
        raise WatchwaitError(f"--out {target} is a file, not a folder; validate writes a report folder "
                             f"({', '.join(REPORT_FILES)}). Choose a folder path.")
    if not target.resolve().parent.is_dir():
        raise WatchwaitError(f"--out {target}: the folder {target.resolve().parent} does not exist; create it first or choose another path.")
    for opt, source in inputs:
        if source is not None and target.exists() and target.resolve() in Path(source).resolve().parents:
            raise WatchwaitError(f"--out {target} holds {opt} {source}; the report folder is replaced whole. "
                                 "Choose another folder for the report.")
    if target.is_dir() and any(target.iterdir()) and not is_report_folder(target):
        raise WatchwaitError(f"--out {target} is a folder holding other files, not a validation report; the report folder "
                             "is replaced whole. Choose a new or empty folder.")


def summary_lines(report: dict, folder: Path) -> list[str]:
    """What ``watchwait validate`` prints."""
    cal = report["calibration"]
    dc = {r["threshold"]: r for r in report["decision_curve"]["table"]}
    lines = [f"model {report['model'].get('model_version')} on {report['n']} patients ({report['events']} with a complete response; "
             f"{_pct(report['prevalence'])})",
             f"  AUC {_ci(report['discrimination']['auc'])} [DeLong]",
             f"  calibration-in-the-large {_ci(cal['intercept'], 2, sign=True)}; slope {_ci(cal['slope'], 2)}; "
             f"observed/expected {_ci(cal['observed_expected'], 2)}; Brier {_num(cal['brier'], 4)}",
             "  net benefit (model vs treat all) at " + ", ".join(
                 f"{_pct(t, 0)}: {_num(dc[t]['model'])} vs {_num(dc[t]['treat_all'])}" for t in (0.3, 0.5, 0.7) if t in dc)]
    if report.get("oracle"):
        lines.append(f"  mean |p - true probability| {_num(report['oracle']['mean_abs_gap'], 4)}")
    est = [g for g in report.get("groups", []) if g.get("estimable")]
    few = [g for g in report.get("groups", []) if not g.get("estimable")]
    for g in est:
        lines.append(f"  {g['grouping']}: {g['group']} (n {g['n']}): AUC {_ci(g['discrimination']['auc'])}, "
                     f"slope {_ci(g['calibration']['slope'], 2)}")
    for g in few:
        lines.append(f"  {g['grouping']}: {g['group']} (n {g['n']}, {g['events']} complete responses): {TOO_FEW}")
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    lines.append(f"report written to {folder}/ ({', '.join(REPORT_FILES)})")
    return lines
