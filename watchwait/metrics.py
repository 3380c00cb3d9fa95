"""Discrimination, calibration and interval-coverage metrics (pure NumPy / scikit-learn)."""

from __future__ import annotations

import numpy as np

ECE_BINS = 10


def _lp(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope: logistic regression of y on logit(p). Intercept: calibration-in-the-large, i.e. the
    intercept of that regression with the slope fixed at 1 (logit(p) as offset). Ideal: 1 and 0."""
    from scipy.optimize import brentq
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, bool)
    lp = _lp(p)
    slope = float(LogisticRegression(C=1e9, max_iter=1000).fit(lp[:, None], y).coef_[0, 0])
    intercept = float(brentq(lambda a: np.sum(y - expit(a + lp)), -20, 20))
    return slope, intercept


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: 10 equal-width bins, |mean p - event rate| weighted by bin size."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(p))


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, bool)
    p = np.asarray(p, float)
    slope, intercept = calibration_slope_intercept(y, p)
    return {
        "n": int(len(y)),
        "prevalence": round(float(y.mean()), 4),
        "auc": round(float(roc_auc_score(y, p)), 4),
        "brier": round(float(np.mean((p - y) ** 2)), 4),
        "calibration_slope": round(slope, 3),
        "calibration_intercept": round(intercept, 3),
        "ece": round(ece(y, p), 4),
    }


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Mean predicted vs observed rate per equal-width bin (for the model card's calibration plot)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    return [{"bin": b, "n": int((idx == b).sum()), "mean_predicted": round(float(p[idx == b].mean()), 4),
             "observed": round(float(y[idx == b].mean()), 4)} for b in range(bins) if (idx == b).any()]
