"""The training cohort's support: where the model has seen data, and which inputs of a new patient lie outside it
(clinical brief, rule 12; issue 16, item 4).

:meth:`Support.fit` reads the training patients' feature matrix (as recorded, not the masked copies):

- per numeric feature, the observed range: minimum and maximum, and the 0.5% and 99.5% quantiles (what "most
  training patients" means on screen). A value beyond the minimum or the maximum is *outside*. For a single-input
  feature a grid maps the feature back to the input's own units, so the screen says "CEA at assessment 850 ng/ml;
  the training patients ranged from 0.4 to 96 ng/ml", never a log or a column name;
- per category feature (the regimen), the levels seen;
- jointly for the radiomics (``modality == "radiomics"``): a robust centre and covariance (a Ledoit-Wolf shrunk
  covariance, refitted on the 97.5% nearest; the deltas are exact differences of the visits, so an unshrunk or a
  minimum covariance determinant fit would be singular) of the imaged training patients' radiomics, on robustly
  standardised values (median, IQR), and the threshold of
  the robust Mahalanobis distance at the 99.5th percentile of the training patients' own distances. MRI
  measurements beyond it are unlike any combination the model was trained on, even when each one alone is not.

:meth:`Support.check` gives, per row, the :class:`Finding` list: each input outside, in clinicians' words
(:attr:`watchwait.features.Feature.label`, :mod:`watchwait.labels`), and whether the radiomics jointly are outside.

Every field of :class:`Support` is plain data (floats, ints, strings, lists, dicts with str keys, NumPy arrays):
a model file stores it as data, not as a pickle (the class registers itself with :mod:`watchwait.model_io` at import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

QUANTILES = (0.005, 0.995)  # "most training patients" on screen
JOINT_LEVEL = 0.995  # share of the imaged training patients within the radiomics threshold
MIN_JOINT_ROWS = 30  # fewer imaged training patients (or fewer than 3 per dimension): no joint check
_GRID = 4001


@dataclass
class Finding:
    """One input of one patient outside the training cohort's support, in clinicians' words."""

    feature: str  # model feature name (technical; for files and tests, never shown as such)
    label: str  # what a clinician calls the input (the feature's label)
    value: str  # the patient's value, in words and units
    training_range: str  # the training patients' range, in words and units ("" for the radiomics jointly)
    side: str  # "above" | "below" | "unseen" (a category level) | "joint" (the radiomics taken together)
    sources: tuple[str, ...] = ()  # data-dictionary columns behind it (blanked to widen the interval)
    modality: str = ""
    joint: bool = False  # the radiomics taken together are outside
    relative: bool = False  # no range in the input's units (a feature of several inputs): said relative to the patients

    @property
    def text(self) -> str:
        """The finding as one sentence for the screen."""
        if self.joint:
            return f"{self.label}: {self.value}"
        if self.side == "unseen" or self.relative:
            return f"{self.label}: {self.value}, {self.training_range}"
        return f"{self.label}: {self.value}, {self.side} the range of the training patients ({self.training_range})"


def _fmt(v: float) -> str:
    """A number as the screen writes a range bound: thousands separated, three significant digits below."""
    if not np.isfinite(v):
        return "not recorded"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == 0:
        return "0"
    return f"{float(f'{v:.3g}'):g}"


def _own_sources(f) -> tuple[str, ...]:
    """The inputs a feature is about (not the regimen that only gates it, e.g. immunotherapy for PD-L1)."""
    own = tuple(s for s in f.sources if not (s == "immunotherapy" and f.modality != "clinical"))
    return own or tuple(f.sources)


def _gated(f) -> bool:
    """A feature that takes the value NO_ICI for a patient without immunotherapy (its own level, never a range)."""
    return "immunotherapy" in f.sources and len(f.sources) > 1 and f.kind != "category"


def _unit(source: str) -> str:
    from watchwait.features import RADIOMIC_NAMES
    from watchwait.schema import BY_NAME, RADIOMICS_PREFIX

    if source in BY_NAME:
        u = BY_NAME[source].unit
        return "" if not u else (u if u == "%" else f" {u}")
    if source.startswith(RADIOMICS_PREFIX):
        name = source[len(RADIOMICS_PREFIX):].partition("_")[2]
        u = RADIOMIC_NAMES.get(name, ("", ""))[1]
        return f" {u}" if u else ""
    return ""


def _value_words(source: str, value: object) -> str:
    from watchwait.labels import value_text
    from watchwait.schema import BY_NAME

    if isinstance(value, float | int | np.floating | np.integer) and not isinstance(value, bool) and np.isfinite(value):
        f = BY_NAME.get(source)
        if f is None or f.kind in ("number", "integer"):
            return _fmt(float(value)) + _unit(source)
    return value_text(source, value)


def _inverse_grid(f) -> tuple[list[float], list[float]] | None:
    """(feature values, input values) along the domain of a feature computed from one numeric input, increasing in
    the feature, so that a range in the model's units reads back in the input's own units; None otherwise."""
    from watchwait.features import NO_ICI
    from watchwait.schema import BY_NAME

    own = _own_sources(f)
    if f.kind == "category" or len(own) != 1:
        return None
    src = own[0]
    field_ = BY_NAME.get(src)
    if field_ is not None and field_.kind not in ("number", "integer"):
        return None
    lo = field_.low if field_ is not None and field_.low is not None else -1e6
    hi = field_.high if field_ is not None and field_.high is not None else 1e6
    grid = np.unique(np.concatenate([np.linspace(lo, hi, _GRID),
                                     np.geomspace(max(lo, 1e-4), hi, _GRID) if hi > 0 else [],
                                     -np.geomspace(max(-hi, 1e-4), -lo, _GRID) if lo < 0 else []]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    cols = {s: np.full(len(grid), np.nan) for s in f.sources}
    if "immunotherapy" in f.sources:
        cols["immunotherapy"] = np.full(len(grid), "anti_pd1", dtype=object)
    cols[src] = grid
    try:
        with np.errstate(all="ignore"):
            y = np.asarray(f.compute(cols), dtype=float)
    except (KeyError, TypeError, ValueError):  # a feature that needs more than its input: no grid, the range stays relative
        return None
    ok = np.isfinite(y) & (y != NO_ICI)
    if ok.sum() < 2:
        return None
    y, x = y[ok], grid[ok]
    if not (np.all(np.diff(y) >= -1e-12) or np.all(np.diff(y) <= 1e-12)):
        return None
    order = np.argsort(y, kind="stable")
    y, x = y[order], x[order]
    keep = np.concatenate([[True], np.diff(y) > 1e-12])  # flat stretches (floors) keep their first input
    if keep.sum() < 2:
        return None
    return y[keep].tolist(), x[keep].tolist()


@dataclass
class Support:
    """The training cohort's support. Plain data only (a model file stores it as data)."""

    features: list[str] = field(default_factory=list)  # model feature names, in the model's column order
    kinds: list[str] = field(default_factory=list)
    n: int = 0  # training patients
    n_obs: list[int] = field(default_factory=list)  # per feature: training patients with a value
    vmin: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vmax: np.ndarray = field(default_factory=lambda: np.zeros(0))
    qlo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    qhi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    levels: dict[str, list[float]] = field(default_factory=dict)  # category features: the levels seen
    own_levels: dict[str, list[float]] = field(default_factory=dict)  # gated features: exact values that are levels
    radiomics: list[int] = field(default_factory=list)  # columns of the joint check
    joint_n: int = 0  # imaged training patients in the joint fit
    joint_center: np.ndarray = field(default_factory=lambda: np.zeros(0))  # robust standardisation: median
    joint_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))  # and scale (IQR / 1.349)
    joint_location: np.ndarray = field(default_factory=lambda: np.zeros(0))  # robust location (standardised units)
    joint_covariance: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # shrunk covariance
    joint_threshold: float = float("nan")  # squared robust distance at JOINT_LEVEL of the training patients
    joint_level: float = JOINT_LEVEL
    quantiles: list[float] = field(default_factory=lambda: list(QUANTILES))

    # ----------------------------------------------------------------- fit
    @classmethod
    def fit(cls, features: Sequence, X: np.ndarray, seed: int = 0) -> Support:
        """From the model's features (``predictor.features_``) and the training patients' matrix as recorded
        (``predictor.matrix(cols)``, not the masked copies)."""
        from watchwait.features import NO_ICI

        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(features):
            raise ValueError(f"X must have one column per feature ({len(features)}); got shape {X.shape} instead.")
        k = len(features)
        s = cls(features=[f.name for f in features], kinds=[f.kind for f in features], n=int(len(X)))
        s.vmin, s.vmax, s.qlo, s.qhi = (np.full(k, np.nan) for _ in range(4))
        s.n_obs = []
        for j, f in enumerate(features):
            col = X[:, j]
            col = col[np.isfinite(col)]
            if f.kind == "category":
                s.levels[f.name] = sorted(float(v) for v in np.unique(col))
                s.n_obs.append(int(len(col)))
                continue
            if _gated(f):
                s.own_levels[f.name] = [float(NO_ICI)] if np.any(col == NO_ICI) else []
                col = col[col != NO_ICI]
            s.n_obs.append(int(len(col)))
            if len(col):
                s.vmin[j], s.vmax[j] = float(col.min()), float(col.max())
                s.qlo[j], s.qhi[j] = (float(v) for v in np.quantile(col, QUANTILES))
        s.radiomics = [j for j, f in enumerate(features) if f.modality == "radiomics"]
        s._fit_joint(X, seed)
        return s

    def _fit_joint(self, X: np.ndarray, seed: int) -> None:
        from sklearn.covariance import LedoitWolf

        if not self.radiomics:
            return
        R = X[:, self.radiomics]
        R = R[np.isfinite(R).all(axis=1)]
        d = R.shape[1]
        if len(R) < max(MIN_JOINT_ROWS, 3 * d):
            return
        center = np.median(R, axis=0)
        q75, q25 = np.percentile(R, [75, 25], axis=0)
        scale = (q75 - q25) / 1.349
        scale = np.where(scale > 0, scale, np.maximum(R.std(axis=0), 1e-9))
        Z = (R - center) / scale
        # A shrunk covariance (Ledoit-Wolf) made robust by one reweighting step: the deltas are exact differences
        # of the two visits, so the plain covariance is singular and a minimum covariance determinant fit is not
        # defined; shrinkage keeps it invertible, and refitting on the 97.5% nearest patients keeps a few
        # extreme training patients from widening it.
        self.joint_n, self.joint_center, self.joint_scale = int(len(R)), center, scale
        lw = LedoitWolf().fit(Z)
        self.joint_location, self.joint_covariance = lw.location_, lw.covariance_
        d2 = self._distances(Z, np.ones(d, bool))
        core = d2 <= np.quantile(d2, 0.975)
        lw = LedoitWolf().fit(Z[core])
        self.joint_location, self.joint_covariance = lw.location_, lw.covariance_
        self.joint_threshold = float(np.quantile(self._distances(Z, np.ones(d, bool)), self.joint_level))

    def _distances(self, Z: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Squared robust Mahalanobis distances of standardised rows on the dimensions ``present``."""
        C = self.joint_covariance[np.ix_(present, present)]
        diff = Z[:, present] - self.joint_location[present]
        return np.einsum("ij,ij->i", diff @ np.linalg.inv(C), diff)

    def _joint_threshold(self, dims: int) -> float:
        """The threshold for ``dims`` of the radiomics: the same tail probability of the chi-square scale."""
        from scipy.stats import chi2

        full = len(self.radiomics)
        if dims == full:
            return self.joint_threshold
        tail = chi2.sf(self.joint_threshold, full)
        return float(chi2.isf(tail, dims))

    # ----------------------------------------------------------------- check
    def outside(self, X: np.ndarray) -> np.ndarray:
        """rows x features: True where the value lies outside the training patients' support."""
        X = np.asarray(X, dtype=float)
        out = np.zeros(X.shape, dtype=bool)
        for j, name in enumerate(self.features):
            col = X[:, j]
            known = np.isfinite(col)
            if self.kinds[j] == "category":
                out[:, j] = known & ~np.isin(col, self.levels.get(name, []))
                continue
            if name in self.own_levels:
                known &= ~np.isin(col, self.own_levels[name])
            lo, hi = self.vmin[j], self.vmax[j]
            if not np.isfinite(lo):
                continue
            tol = 1e-9 * max(1.0, abs(lo), abs(hi))
            with np.errstate(invalid="ignore"):
                out[:, j] = known & ((col < lo - tol) | (col > hi + tol))
        return out

    def joint_outside(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: (radiomics jointly outside, squared robust distance / threshold; NaN without radiomics)."""
        X = np.asarray(X, dtype=float)
        n = len(X)
        flag, ratio = np.zeros(n, dtype=bool), np.full(n, np.nan)
        if not self.joint_n:
            return flag, ratio
        R = X[:, self.radiomics]
        Z = (R - self.joint_center) / self.joint_scale
        present = np.isfinite(R)
        for pattern in {tuple(p) for p in present if p.any()}:
            mask = np.all(present == np.array(pattern), axis=1)
            pat = np.array(pattern)
            d2 = self._distances(Z[mask], pat)
            ratio[mask] = d2 / self._joint_threshold(int(pat.sum()))
        flag = np.nan_to_num(ratio) > 1.0
        return flag, ratio

    def check(self, X: np.ndarray, features: Sequence | None = None,
              cols: Mapping[str, np.ndarray] | None = None) -> list[list[Finding]]:
        """Per row: each input outside the training data, then (if so) the radiomics taken together.

        ``features`` (the model's, for their labels and sources; looked up by name when omitted) and ``cols``
        (the record's columns, so that the value on screen is the patient's own input) are optional."""
        from watchwait.features import RADIOMIC_NAMES  # noqa: F401 (import check: labels come from features)

        X = np.asarray(X, dtype=float)
        if X.shape[1] != len(self.features):
            raise ValueError(f"X has {X.shape[1]} columns; the support was fitted on {len(self.features)} features.")
        feats = list(features) if features is not None else _features_by_name(self.features)
        out = self.outside(X)
        joint, ratio = self.joint_outside(X)
        result: list[list[Finding]] = []
        for i in range(len(X)):
            row = [self._finding(feats[j], j, X[i, j], cols, i) for j in np.flatnonzero(out[i])]
            # a feature of several inputs (CEA change since baseline) outside only because one of its inputs is, which
            # is named on its own (CEA at assessment), is not named twice
            alone = {f.sources[0] for f in row if len(f.sources) == 1}
            row = [f for f in row if len(f.sources) == 1 or not (set(f.sources) & alone)]
            if joint[i]:
                row.append(self._joint_finding(feats, X[i], [f for f in row if f.modality == "radiomics"], cols, i))
            result.append(row)
        return result

    # ----------------------------------------------------------------- words
    def _inverse(self, f) -> tuple[list[float], list[float]] | None:
        """The feature's inverse grid, computed from the feature itself on first use and kept out of the model file
        (it is the same for every model: the feature specification's fingerprint guarantees it; stored, it was
        9.8 MB of the shipped model's 9.8 MB)."""
        cache = self.__dict__.setdefault("_inverse_cache", {})
        if f.name not in cache:
            cache[f.name] = _inverse_grid(f)
        return cache[f.name]

    def _to_input(self, f, v: float) -> float | None:
        inv = self._inverse(f)
        if inv is None or not np.isfinite(v):
            return None
        return float(np.interp(v, inv[0], inv[1]))

    def _patient_value(self, f, x: float, cols, i: int) -> str:
        from watchwait.features import display_value

        if cols is not None:
            rec = {s: (np.asarray(cols[s])[i] if s in cols else None) for s in f.sources}
            rec = {k: (None if isinstance(v, float) and v != v else (v.item() if isinstance(v, np.generic) else v))
                   for k, v in rec.items()}
            own = _own_sources(f)
            if len(own) == 1:
                return _value_words(own[0], rec.get(own[0]))
            return display_value(f, rec)
        back = self._to_input(f, x)
        return _fmt(x) if back is None else _value_words(_own_sources(f)[0], back)

    def _range_words(self, f, j: int) -> str:
        name = f.name
        if self._inverse(f) is not None:
            src = _own_sources(f)[0]
            lo, hi, qlo, qhi = (self._to_input(f, v) for v in (self.vmin[j], self.vmax[j], self.qlo[j], self.qhi[j]))
            text = f"from {_value_words(src, lo)} to {_value_words(src, hi)}"
            if qlo is not None and qhi is not None and (qlo > lo or qhi < hi):
                text += f"; 99% between {_value_words(src, qlo)} and {_value_words(src, qhi)}"
            return text
        return "a combination beyond every training patient's"

    def _finding(self, f, j: int, x: float, cols, i: int) -> Finding:
        value = self._patient_value(f, x, cols, i)
        if self.kinds[j] == "category":
            return Finding(feature=f.name, label=f.label, value=value, side="unseen", sources=_own_sources(f),
                           modality=f.modality,
                           training_range=f"unlike any of the {len(self.levels.get(f.name, []))} seen in the training patients")
        side = "above" if x > self.vmax[j] else "below"
        if self._inverse(f) is None:
            higher = "higher" if side == "above" else "lower"
            return Finding(feature=f.name, label=f.label, value=value, side=side, sources=_own_sources(f), modality=f.modality,
                           training_range=f"{higher} than in any of the {self.n_obs[j]:,} training patients with it recorded",
                           relative=True)
        return Finding(feature=f.name, label=f.label, value=value, side=side, sources=_own_sources(f), modality=f.modality,
                       training_range=self._range_words(f, j))

    def _joint_finding(self, feats, x: np.ndarray, singles: list[Finding], cols, i: int) -> Finding:
        """The radiomics taken together, with the (at most three) measurements furthest from the training patients'."""
        z = np.abs((x[self.radiomics] - self.joint_center) / self.joint_scale - self.joint_location)
        z = np.where(np.isfinite(z), z, -1.0)
        top = [self.radiomics[k] for k in np.argsort(-z, kind="stable")[:3] if z[k] >= 0]
        parts = []
        for j in top:
            f = feats[j]
            lo, hi = self._to_input(f, self.vmin[j]), self._to_input(f, self.vmax[j])
            src = _own_sources(f)[0]
            rng = "" if lo is None or hi is None else f" (training patients {_value_words(src, lo)} to {_value_words(src, hi)})"
            parts.append(f"{f.label} {self._patient_value(f, x[j], cols, i)}{rng}")
        value = (f"taken together they lie further from the {self.joint_n:,} imaged training patients' than "
                 f"{100 * self.joint_level:g}% of those patients do; furthest: " + "; ".join(parts))
        return Finding(feature="radiomics", label="MRI measurements (radiomics)", value=value, training_range="",
                       side="joint", sources=tuple(s for j in self.radiomics for s in feats[j].sources),
                       modality="radiomics", joint=True)

    # ----------------------------------------------------------------- data
    def to_dict(self) -> dict:
        """Plain data (lists and numbers) for a model file."""
        d = asdict(self)
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping) -> Support:
        arrays = {"vmin", "vmax", "qlo", "qhi", "joint_center", "joint_scale", "joint_location", "joint_covariance"}
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: (np.asarray(v, dtype=float) if k in arrays else v) for k, v in d.items() if k in known})


def _features_by_name(names: Sequence[str]) -> list:
    from watchwait.features import BASE_FEATURES, radiomics_features
    from watchwait.schema import RADIOMICS_PREFIX

    known = {f.name: f for f in BASE_FEATURES}
    known.update({f.name: f for f in radiomics_features([RADIOMICS_PREFIX + n.split("__", 1)[1] for n in names
                                                          if n.startswith("radiomics__")])})
    return [known[n] for n in names]


def _register() -> None:
    """Allow :class:`Support` in a model file (watchwait.model_io's registry), when that module exists."""
    try:
        from watchwait import model_io
    except ImportError:  # pragma: no cover (an install without model files as data)
        return
    register = getattr(model_io, "register", None)
    if callable(register):
        register(Support)


_register()
