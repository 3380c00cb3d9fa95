"""The oracle of the simulated cohort: P(CR | every observed input), computed exactly from the stated model
(:mod:`watchwait.sim.model`) by integrating over the latent score s on a grid (and over the appearance on a grid of
its own, and over missing covariates that enter eta by Monte Carlo draws from their generative distribution). It is
written to a separate file and never used for training."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import expit

from watchwait.sim.common import (
    column,
    flag,
    interval_log_prob,
    level_index,
    lognorm_censored_loglik,
    numeric,
    ordinal_log_probs,
    whole_mm_log_bounds,
)
from watchwait.sim.model import (
    BIOPSY,
    CEA,
    CTDNA,
    READINGS,
    RESIDUAL,
    YMR_EMVI,
    YMR_N,
    _appearance_params,
    _bed_shift,
    _biopsy_done_p,
    _ctdna_log_mean,
    _draw_cea,
    _draw_pdl1,
    appearance_density,
    linear_predictor,
)


_S_GRID = np.arange(-16.0, 16.0, 0.08) + 0.04  # no grid point at exactly 0


# The restaging likelihoods are functions of the appearance a only. They are tabulated on a fixed grid of a (every
# categorical reading once per (group, level), gathered per row; the residual size per row), and the expectation over
# the appearance error, a = s + u with u two-piece (kinked at mu; see ``appearance_error``), is a
# matrix product with that density on the grid of s (one kernel per regimen group: no ICI, ICI). A fixed grid of a
# (step 0.05) resolves the readings' likelihoods (their narrowest width is 1) whatever the spread of u, which a
# Gauss rule in u (the earlier method) could not once sd_down was several times a reading's width.
_A_GRID = np.arange(-90.0, 30.0, 0.05) + 0.025


@lru_cache(maxsize=1)
def _a_kernel() -> np.ndarray:
    """Density of a given s on the grids, groups x A x G, each column summing to 1 (P(a | s) per grid point)."""
    mu, sd_up, sd_down, floor = (x[:, None, None] for x in _appearance_params(np.array([False, True])))
    u = _A_GRID[None, :, None] - _S_GRID[None, None, :]  # groups x A x G
    k = appearance_density(u, mu, sd_up, sd_down, floor)
    return np.ascontiguousarray(k / k.sum(axis=1, keepdims=True))


def _ordinal_log_table(cuts, noise: float, shift=(0.0, 0.0)) -> np.ndarray:
    """log P(level | a) of the reading a + shift[group] + N(0, noise) cut at ``cuts``: groups x levels x A."""
    a = _A_GRID[None, :] + np.asarray(shift, float)[:, None]
    return np.ascontiguousarray(ordinal_log_probs(cuts, a, noise).transpose(1, 0, 2))


@lru_cache(maxsize=None)
def _reading_table(col: str) -> np.ndarray:
    spec = READINGS[col]
    return _ordinal_log_table(spec["cuts"], spec["noise"], _bed_shift(np.array([False, True])))


@lru_cache(maxsize=1)
def _ymr_n_table() -> np.ndarray:
    """log P(ymr_n_stage | a, cN): cN (N0, N1, N2) x groups x levels x A."""
    return np.stack([_ordinal_log_table(np.array(YMR_N["cuts"]) - YMR_N["shift"][cn], YMR_N["noise"])
                     for cn in ("N0", "N1", "N2")])


@lru_cache(maxsize=1)
def _ymr_emvi_table() -> np.ndarray:
    """log P(ymr_emvi | a) after a baseline EMVI: groups x (True, False) x A."""
    return _ordinal_log_table(YMR_EMVI["cuts"], YMR_EMVI["noise"])


@lru_cache(maxsize=1)
def _biopsy_done_table() -> np.ndarray:
    """log P(biopsy not done / done | a): groups x (not_done, done) x A (the same for both groups)."""
    p = np.broadcast_to(_biopsy_done_p(_A_GRID), (2, len(_A_GRID)))
    return np.ascontiguousarray(np.log(np.stack([1 - p, p], axis=1)))


def _add_gathered(ll_a: np.ndarray, table: np.ndarray, *index: np.ndarray) -> None:
    """ll_a[i] += table[index[0][i], index[1][i], ...] for rows whose last index is known (>= 0)."""
    known = index[-1] >= 0
    if known.any():
        ll_a[known] += table[tuple(ix[known] for ix in index)]


def _add_residual_loglik(ll_a: np.ndarray, mm: np.ndarray, length_cm: np.ndarray) -> None:
    """ll_a += log P(residual_lesion_mm rounded to whole mm | a, tumour length), for rows where it is recorded."""
    r = RESIDUAL
    known = np.flatnonzero(~np.isnan(mm) & ~np.isnan(length_cm) & (np.nan_to_num(length_cm) > 0))
    if not len(known):
        return
    lo, hi = whole_mm_log_bounds(mm[known], r["high"])
    centre = np.log(10 * length_cm[known]) + r["log_frac"]
    shift = (r["gamma"] / r["sd"]) * _A_GRID[None, :]
    z_lo = ((lo - centre) / r["sd"])[:, None] + shift
    z_hi = ((hi - centre) / r["sd"])[:, None] + shift
    ll_a[known] += interval_log_prob(z_lo, z_hi)


def _lse_nodes(ll_a: np.ndarray, group: np.ndarray) -> np.ndarray:
    """log of the expectation over the appearance error given s: rows x A -> rows x G (``group``: 0 no ICI, 1 ICI)."""
    m = ll_a.max(axis=1, keepdims=True)
    e = np.exp(ll_a - m)
    out = np.empty((len(ll_a), len(_S_GRID)))
    kernel = _a_kernel()
    for g in (0, 1):
        rows = group == g
        if rows.any():
            out[rows] = e[rows] @ kernel[g]
    return m + np.log(np.maximum(out, 1e-300))



def oracle(frame: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator | None = None,
           n_draws: int = 96, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """P(CR | every observed input) for each row of a simulated cohort, and P(CR | covariates only).

    Integrates over the latent score s on a grid, over the appearance on a grid of its own (step 0.05;
    the two-piece error's density as a kernel from s to a), and over missing covariates that enter eta (PD-L1, CEA baseline,
    ECOG, EMVI, lateral nodes, circumferential extent) by ``n_draws`` draws from the simulator's
    own generative distribution (those covariates are drawn independently of the others). The
    version-2 restaging columns (ymr_n_stage, ymr_emvi, residual_lesion_mm, restaging_biopsy)
    enter through their likelihoods given s and the appearance; a frame without them (version 1)
    is treated as if they were blank. The decision-context columns carry no information about s
    beyond the observed covariates and are ignored.
    """
    rng = rng or np.random.default_rng(12345)
    n = len(frame)
    p_post = np.empty(n)
    p_prior = np.empty(n)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        p_post[sl], p_prior[sl] = _oracle_chunk(frame.iloc[sl].reset_index(drop=True), np.asarray(regimen)[sl], rng, n_draws)
    return p_post, p_prior


_ETA_IMPUTABLE = ("pdl1", "cea_baseline_ng_ml", "ecog", "emvi", "lateral_nodes", "circumferential_extent_pct")


def _covariate_draws(df: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator, n_draws: int):
    """eta, log CEA baseline and baseline EMVI (1.0/0.0) for each row and draw (rows x draws); one draw if nothing is missing."""
    n = len(df)
    base = df.copy()
    base["regimen"] = regimen
    missing = {
        "pdl1": base["pdl1_cps"].isna().to_numpy(),
        "cea_baseline_ng_ml": base["cea_baseline_ng_ml"].isna().to_numpy(),
        "ecog": base["ecog"].isna().to_numpy(),
        "emvi": base["emvi"].isna().to_numpy(),
        "lateral_nodes": base["lateral_nodes"].isna().to_numpy(),
        "circumferential_extent_pct": base["circumferential_extent_pct"].isna().to_numpy(),
    }
    any_missing = np.any(np.vstack(list(missing.values())), axis=0)
    d = n_draws if any_missing.any() else 1
    rep = base.loc[base.index.repeat(d)].reset_index(drop=True)
    m = len(rep)
    rows = np.repeat(np.arange(n), d)
    cps, tps = _draw_pdl1(rng, m)
    fill = {
        "pdl1_cps": (missing["pdl1"][rows], cps),
        "pdl1_tps_pct": (missing["pdl1"][rows], tps),
        "cea_baseline_ng_ml": (missing["cea_baseline_ng_ml"][rows], _draw_cea(rng, m)),
        "ecog": (missing["ecog"][rows], rng.choice([0, 1, 2], size=m, p=[0.70, 0.27, 0.03])),
        "emvi": (missing["emvi"][rows], rng.random(m) < 0.30),
        "lateral_nodes": (missing["lateral_nodes"][rows], rng.random(m) < 0.12),
        "circumferential_extent_pct": (missing["circumferential_extent_pct"][rows], np.round(rng.uniform(25, 100, m), 0)),
    }
    for col, (mask, draws) in fill.items():
        vals = rep[col].to_numpy(dtype=object).copy()
        vals[mask] = draws[mask]
        rep[col] = pd.to_numeric(pd.Series(vals), errors="coerce") if col not in ("emvi", "lateral_nodes") else vals.astype(float)
    for col in ("mrf_involved", "emvi", "lateral_nodes"):
        rep[col] = rep[col].astype(float)
    eta = linear_predictor(rep).reshape(n, d)
    log_cea = np.log(rep["cea_baseline_ng_ml"].to_numpy(float)).reshape(n, d)
    emvi = rep["emvi"].to_numpy(float).reshape(n, d)
    # rows with nothing missing: every draw is identical; keep them (cheap) for one code path
    return eta, log_cea, emvi


def _oracle_chunk(df: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator, n_draws: int):
    n = len(df)
    s = _S_GRID[None, :]  # 1 x G
    eta, log_cea, emvi_draws = _covariate_draws(df, regimen, rng, n_draws)  # n x D
    p_prior = expit(eta).mean(axis=1)

    # restaging: log-likelihood on the grid of the appearance a, then integrated over a given s (two kernels: no ICI, ICI)
    group = (df["immunotherapy"].to_numpy() != "none").astype(int)
    ll_a = np.zeros((n, len(_A_GRID)))
    for col, spec in READINGS.items():
        _add_gathered(ll_a, _reading_table(col), group, level_index(df[col].to_numpy(dtype=object), spec["levels"]))
    # version 2: restaging nodes given baseline cN (a blank cN: no term; the simulator never blanks it)
    cn = level_index(column(df, "cn_stage"), ("N0", "N1", "N2"))
    ymr_n = np.where(cn >= 0, level_index(column(df, "ymr_n_stage"), YMR_N["levels"]), -1)
    _add_gathered(ll_a, _ymr_n_table(), np.maximum(cn, 0), group, ymr_n)
    # residual lesion size, scaled with the baseline tumour length
    _add_residual_loglik(ll_a, numeric(df, "residual_lesion_mm"), numeric(df, "tumour_length_cm"))
    # biopsy done or not (a); its result depends on s itself (ll_s below)
    biopsy = level_index(column(df, "restaging_biopsy"), ("not_done", "negative", "positive"))
    _add_gathered(ll_a, _biopsy_done_table(), group, np.where(biopsy >= 0, np.minimum(biopsy, 1), -1))
    # ymr_emvi: P(. | a) after a baseline EMVI, a constant (baseline miss) without one; when the
    # baseline EMVI is blank, the likelihood depends on its draw (handled per draw below)
    y_emvi = level_index(column(df, "ymr_emvi"), YMR_EMVI["levels"])
    emvi0 = flag(column(df, "emvi"))
    log_p0 = np.log(np.array([YMR_EMVI["p_without_baseline"], 1 - YMR_EMVI["p_without_baseline"]]))
    with_baseline = (emvi0 == 1) & (y_emvi >= 0)
    _add_gathered(ll_a, _ymr_emvi_table(), group, np.where(with_baseline, y_emvi, -1))
    ll_restage = _lse_nodes(ll_a, group)  # n x G
    ambiguous = np.isnan(emvi0) & (y_emvi >= 0)
    if ambiguous.any():
        amb = np.flatnonzero(ambiguous)
        ll_emvi1 = _lse_nodes(ll_a[amb] + _ymr_emvi_table()[group[amb], y_emvi[amb]], group[amb])
        ll_emvi0 = ll_restage[amb] + log_p0[y_emvi[amb]][:, None]
    no_baseline = (emvi0 == 0) & (y_emvi >= 0)
    ll_restage[no_baseline] += log_p0[y_emvi[no_baseline]][:, None]  # a constant: kept for clarity
    if ambiguous.any():
        ll_restage[amb] = ll_emvi0

    # biopsy result given s: positive only with residual tumour (s < 0), with limited sensitivity
    sens = BIOPSY["sensitivity"]
    residual = (_S_GRID < 0)[None, :]
    ll_s = np.zeros((n, s.shape[1]))
    ll_s[biopsy == 1] = np.log(np.where(residual, 1 - sens, 1.0))
    ll_s[biopsy == 2] = np.where(residual, np.log(sens), -np.inf)

    # ctDNA: C1 observed whenever any timepoint is (simulator design)
    c = CTDNA
    c1 = pd.to_numeric(df["ctdna_baseline_mtm_ml"], errors="coerce").to_numpy(float)
    ll_ct = np.zeros((n, s.shape[1]))
    shed = np.nan_to_num(c1, nan=0.0) > 0
    log_c1 = np.log(np.where(shed, c1, 1.0))[:, None]
    for col, key in (("ctdna_post_rt_mtm_ml", "c2"), ("ctdna_post_treatment_mtm_ml", "c3")):
        obs = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        use = shed & ~np.isnan(obs)
        p = c[key]
        mean = _ctdna_log_mean(log_c1, s, p)
        ll = lognorm_censored_loglik(np.nan_to_num(obs, nan=0.0)[:, None], mean, p["sd"], c["log_lod"])
        ll_ct += np.where(use[:, None], ll, 0.0)

    # CEA post given s and CEA baseline (per covariate draw)
    cea_post = pd.to_numeric(df["cea_post_ng_ml"], errors="coerce").to_numpy(float)
    has_post = ~np.isnan(cea_post)
    log_post = np.log(np.where(has_post, cea_post, 1.0))[:, None, None]
    mean_post = CEA["a"] + CEA["b"] * log_cea[:, :, None] - CEA["rho"] * s[:, None, :]  # n x D x G
    z = (log_post - mean_post) / CEA["sd"]
    ll_cea = np.where(has_post[:, None, None], -0.5 * z * z, 0.0)

    # prior of s given eta (logistic density), per draw
    u = s[:, None, :] - eta[:, :, None]  # n x D x G
    log_prior = -u - 2 * np.log1p(np.exp(-u))
    log_joint = log_prior + ll_cea + (ll_restage + ll_ct + ll_s)[:, None, :]  # n x D x G
    if ambiguous.any():  # blank baseline EMVI: ymr_emvi's likelihood follows each draw of it
        log_joint[amb] += np.where(emvi_draws[amb][:, :, None] == 1, (ll_emvi1 - ll_emvi0)[:, None, :], 0.0)
    mx = log_joint.max(axis=(1, 2), keepdims=True)
    w = np.exp(log_joint - mx).sum(axis=1)  # n x G
    pos = _S_GRID > 0
    p_post = w[:, pos].sum(axis=1) / w.sum(axis=1)
    return p_post, p_prior


