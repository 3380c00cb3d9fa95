"""What the two simulated populations (:mod:`watchwait.sim.generator` and :mod:`watchwait.sim.alt`) share: the cohort
container and its CSV cells, the drawing helpers, the decision context (drawn from recorded covariates only, the same
in both), and the pieces of their exact oracles that are the same computation (reading a recorded level, the
likelihood of an ordinal reading, of a censored log-normal level and of a size rounded to whole millimetres)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, ndtr

from watchwait.schema import COLUMNS


@dataclass
class Cohort:
    """A simulated cohort: the cohort file frame and the hidden truth (latent score, oracle)."""

    frame: pd.DataFrame  # data-dictionary columns (+ complete_response)
    truth: pd.DataFrame  # patient_id, regimen, eta, latent_score, p_prior, p_oracle


def to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Cohort frame as cells for a CSV: booleans as true/false, blanks empty."""
    out = frame.copy()
    for col in out.columns:
        vals = out[col].to_numpy(dtype=object)
        out[col] = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else
                    ("true" if v is True or v is np.True_ else "false" if v is False or v is np.False_ else v)
                    for v in vals]
    return out


def cohort_frame(df: pd.DataFrame, id_prefix: str, seed: int, site: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The cohort file frame (patient ids ``<id_prefix>-<seed>-<row>``, the site, the data-dictionary columns in their
    order) and the regimen of each row, taken out of ``df``."""
    df.insert(0, "patient_id", [f"{id_prefix}-{seed}-{i:06d}" for i in range(len(df))])
    df.insert(1, "site", site)
    regimen = df.pop("regimen").to_numpy()
    return df[[c for c in COLUMNS if c in df.columns]], regimen


# --------------------------------------------------------------------------- drawing

def choice(rng: np.random.Generator, table, n):
    """``n`` draws from a table of (value, weight)."""
    names, probs = zip(*table)
    return rng.choice(np.array(names, dtype=object), size=n, p=np.array(probs) / sum(probs))


def categorical(rng: np.random.Generator, probs: np.ndarray, levels) -> np.ndarray:
    """One draw per row from per-row category probabilities (rows x levels)."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    idx = (rng.random(len(probs))[:, None] > cum).sum(axis=1)
    return np.array(levels, dtype=object)[np.minimum(idx, len(levels) - 1)]


def draw_ordinal(rng: np.random.Generator, mean: np.ndarray, noise: float, cuts, levels) -> np.ndarray:
    """An ordinal reading: ``mean + noise * N(0, 1)`` cut at ``cuts`` into ``levels`` (as objects)."""
    reading = mean + noise * rng.normal(size=len(mean))
    return np.array(levels, dtype=object)[np.searchsorted(np.array(cuts), reading)]


def round_sig(x: np.ndarray, sig: int = 4) -> np.ndarray:
    """``x`` rounded to ``sig`` significant digits (0 stays 0)."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(x > 0, np.floor(np.log10(np.abs(x))), 0)
    factor = 10.0 ** (sig - 1 - mag)
    return np.round(x * factor) / factor


def blank(df: pd.DataFrame, cols, mask: np.ndarray) -> None:
    """Blank (None) the rows of ``mask`` in each of ``cols``."""
    for col in cols:
        df[col] = df[col].astype(object)
        df.loc[mask, col] = None


def start(n: int, seed: int, covariates: Callable[[np.random.Generator, int], pd.DataFrame],
          linear_predictor: Callable[[pd.DataFrame], np.ndarray]
          ) -> tuple[np.random.Generator, pd.DataFrame, np.ndarray]:
    """The beginning of a simulation: ``n`` checked, the generator seeded with ``seed``, ``n`` patients' covariates
    and their linear predictor eta (every later draw comes from the same generator, in a fixed order)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of patients; got {n} instead.")
    rng = np.random.default_rng(seed)
    df = covariates(rng, n)
    return rng, df, linear_predictor(df)


def draw_staging(rng: np.random.Generator, df: pd.DataFrame, ct_stages, cn_stages) -> None:
    """pMMR, M0; cT and cN from the population's (stage, weight) tables; MRF involved in 45% of cT3c-cT4a and 10% of
    the others (overall ~23%, Korea 22.7%)."""
    n = len(df)
    df["mmr_status"] = "pMMR"
    df["ct_stage"] = choice(rng, ct_stages, n)
    df["cn_stage"] = choice(rng, cn_stages, n)
    df["cm_stage"] = "M0"
    t_adv = df["ct_stage"].isin(["T3c", "T3d", "T4a"]).to_numpy()
    df["mrf_involved"] = rng.random(n) < np.where(t_adv, 0.45, 0.10)


def draw_regimen(rng: np.random.Generator, regimens: dict[str, dict], n: int) -> np.ndarray:
    """``n`` regimen names drawn with the regimens' weights."""
    names = list(regimens)
    weights = np.array([regimens[r]["weight"] for r in names])
    return rng.choice(np.array(names, dtype=object), size=n, p=weights / weights.sum())


def draw_regimen_fields(rng: np.random.Generator, df: pd.DataFrame, regimens: dict[str, dict]) -> None:
    """The treatment fields of each row's regimen, and its weeks from the end of RT to assessment (normal, the
    regimen's mean and SD, rounded, within 4-40)."""
    regimen = df["regimen"].to_numpy()
    for col in ("rt_schedule", "sequence", "immunotherapy", "chemotherapy", "systemic_cycles", "regorafenib"):
        df[col] = [regimens[r]["fields"][col] for r in regimen]
    mean = np.array([regimens[r]["weeks"][0] for r in regimen], float)
    sd = np.array([regimens[r]["weeks"][1] for r in regimen], float)
    df["weeks_rt_to_assessment"] = np.round(np.clip(rng.normal(mean, sd), 4, 40), 0)


def solve_intercepts(regimens: dict[str, dict], covariates: Callable[[np.random.Generator, int], pd.DataFrame],
                     eta_wo_intercept: Callable[[pd.DataFrame], np.ndarray],
                     p_cr: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Each regimen's intercept, so that its marginal P(CR) (the mean of ``p_cr(intercept + eta_wo_intercept)``)
    equals its ``target``, on a fixed reference sample of 40,000 covariate draws (seed 0): deterministic."""
    rng = np.random.default_rng(0)
    ref = covariates(rng, 40_000)
    out = {}
    for name, spec in regimens.items():
        sub = ref.assign(regimen=name, **spec["fields"])
        mean, sd = spec["weeks"]
        sub["weeks_rt_to_assessment"] = np.round(np.clip(rng.normal(mean, sd, len(sub)), 4, 40), 0)
        x = eta_wo_intercept(sub)
        lo, hi = -8.0, 8.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if p_cr(mid + x).mean() < spec["target"]:
                lo = mid
            else:
                hi = mid
        out[name] = (lo + hi) / 2
    return out


# --------------------------------------------------------------------------- decision context
# Drawn from recorded covariates only (never from s; the oracles need no term for them). Distance
# enters eta but is never blank, so sphincter involvement (and preference through it) is independent
# of CR given the observed inputs.
# sphincter_involved: by distal edge (distance from the anal verge, cm): assumption (the sphincter
# complex spans the lowest 3-4 cm; a distal edge <= 3 cm often involves it).
SPHINCTER = ((2.0, 0.55), (3.0, 0.35), (5.0, 0.08), (np.inf, 0.01))  # (distance upper bound, P): assumption
# fit_for_major_surgery (yes, no, uncertain): assumption. Frail = age >= 80 or ECOG >= 2 as recorded
# (a blank ECOG counts as not >= 2, so fitness never carries information about an unrecorded ECOG).
FITNESS = dict(fit=(0.92, 0.02, 0.06), frail=(0.45, 0.25, 0.30))  # assumption
# patient_preference (organ_preservation, surgery, undecided, not_discussed): assumption; a patient
# facing an abdominoperineal resection (sphincter involved) prefers organ preservation more often.
PREFERENCE = dict(levels=("organ_preservation", "surgery", "undecided", "not_discussed"),
                  default=(0.35, 0.15, 0.20, 0.30), sphincter=(0.55, 0.07, 0.18, 0.20))  # assumption
DECISION_CONTEXT = ("sphincter_involved", "fit_for_major_surgery", "patient_preference")


def draw_decision_context(rng: np.random.Generator, df: pd.DataFrame, missing: dict[str, float]) -> None:
    """Decision context from *recorded* covariates only (call after the blanks are applied), then its own blanks
    (completely at random, with the rates in ``missing``)."""
    n = len(df)
    dist = pd.to_numeric(df["distance_from_anal_verge_cm"], errors="coerce").to_numpy(float)
    bounds = np.array([b for b, _ in SPHINCTER])
    p_sph = np.array([p for _, p in SPHINCTER])[np.minimum(np.searchsorted(bounds, np.nan_to_num(dist, nan=10.0)),
                                                           len(bounds) - 1)]
    sphincter = rng.random(n) < p_sph
    df["sphincter_involved"] = sphincter
    ecog = pd.to_numeric(df["ecog"], errors="coerce").to_numpy(float)
    frail = (df["age_years"].to_numpy(float) >= 80) | (np.nan_to_num(ecog, nan=0.0) >= 2)
    p_fit = np.where(frail[:, None], np.array(FITNESS["frail"])[None, :], np.array(FITNESS["fit"])[None, :])
    df["fit_for_major_surgery"] = categorical(rng, p_fit, ("yes", "no", "uncertain"))
    pr = PREFERENCE
    p_pref = np.where(sphincter[:, None], np.array(pr["sphincter"])[None, :], np.array(pr["default"])[None, :])
    df["patient_preference"] = categorical(rng, p_pref, pr["levels"])
    for col in DECISION_CONTEXT:
        blank(df, [col], rng.random(n) < missing[col])


# --------------------------------------------------------------------------- oracle pieces

def _norm_level(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool):
        return int(v)
    return v


def level_index(values, levels) -> np.ndarray:
    """Index of each value in ``levels`` (-1 = blank or unknown)."""
    lut = {lvl: i for i, lvl in enumerate(levels)}
    return np.array([lut.get(_norm_level(v), -1) for v in values], dtype=int)


def flag(values) -> np.ndarray:
    """A recorded yes/no as 1.0 / 0.0, NaN when blank."""
    return np.array([np.nan if _norm_level(v) is None else float(_norm_level(v)) for v in values])


def column(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as objects; all blank when the frame has none (a version-1 frame)."""
    return df[col].to_numpy(dtype=object) if col in df.columns else np.full(len(df), None, dtype=object)


def numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as floats (NaN when blank, or when the frame has no such column)."""
    return pd.to_numeric(pd.Series(column(df, col)), errors="coerce").to_numpy(float)


def ordinal_log_probs(cuts, mean: np.ndarray, noise: float) -> np.ndarray:
    """log P(level | mean) of a reading ``mean + noise * N(0, 1)`` cut at ``cuts``: levels x mean's shape."""
    c = np.concatenate([[-np.inf], np.asarray(cuts, float), [np.inf]]).reshape((-1,) + (1,) * np.ndim(mean))
    cdf = ndtr((c - np.asarray(mean)[None]) / noise)
    return np.log(np.clip(cdf[1:] - cdf[:-1], 1e-300, 1.0))


def lognorm_censored_loglik(obs: np.ndarray, mean: np.ndarray, sd: float, log_lod: float) -> np.ndarray:
    """log-likelihood of a ctDNA value: density of log value if > 0, P(below limit) if 0."""
    with np.errstate(divide="ignore"):
        logv = np.log(np.where(obs > 0, obs, 1.0))
    z = (logv - mean) / sd
    dens = -0.5 * z * z - np.log(sd)
    cens = log_ndtr((log_lod - mean) / sd)
    return np.where(obs > 0, dens, cens)


def whole_mm_log_bounds(mm: np.ndarray, high: float) -> tuple[np.ndarray, np.ndarray]:
    """log of the interval a size rounded to whole mm (within 0 and ``high``) stands for: (lower, upper)."""
    k = np.round(mm)
    with np.errstate(divide="ignore"):
        lo = np.where(k <= 0, -np.inf, np.log(np.maximum(k - 0.5, 1e-300)))
        hi = np.where(k >= high, np.inf, np.log(k + 0.5))
    return lo, hi


def interval_log_prob(z_lo: np.ndarray, z_hi: np.ndarray) -> np.ndarray:
    """log P(z_lo < Z < z_hi), Z ~ N(0, 1); both bounds in the upper tail: reflected, Phi(-z_lo) - Phi(-z_hi) (no
    cancellation near 1)."""
    sign = np.where(z_lo > 0, -1.0, 1.0)
    p = sign * (ndtr(sign * z_hi) - ndtr(sign * z_lo))
    return np.log(np.clip(p, 1e-300, 1.0))
