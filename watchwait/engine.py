"""``assess`` (one patient, with explanations) and ``predict_frame`` (a cohort), sharing one pipeline:

validate -> derive -> scope rules -> model (probability, interval) -> pathway rules -> flags
-> "out of 100" figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from watchwait.derive import CATEGORY_LABELS, columns_from_record, derived_columns
from watchwait.features import display_value
from watchwait.model import INTERVAL_LEVEL
from watchwait.rules import PATHWAY_LABELS, first_match, load_rules, rule_mask
from watchwait.schema import MODALITIES
from watchwait.training import ModelBundle, columns_of, load_model, load_runtime
from watchwait.validation import validate_record


@dataclass
class Contribution:
    feature: str
    label: str
    modality: str
    value: str  # the patient's own input(s), in data-dictionary units
    shap_logit: float  # contribution on the calibrated log-odds scale
    shap_pp: float  # contribution in probability points (sums to p - p_base)


@dataclass
class Figure:
    id: str
    label: str
    kind: str  # patient (uses p) | cohort (published, not personalised)
    n_out_of_100: int | None
    formula: str | None
    source: str


@dataclass
class Option:
    pathway: str
    label: str
    suggested: bool
    figures: list[Figure]


@dataclass
class Notice:
    rule_id: str
    severity: str
    title: str
    message: str
    rationale: str
    source: str


@dataclass
class Suggestion:
    pathway: str
    label: str
    rule_id: str
    rationale: str
    source: str
    flags: list[Notice]
    options: list[Option]
    surveillance: dict | None


@dataclass
class Assessment:
    patient_id: str
    in_scope: bool
    scope_notices: list[Notice]
    reminders: list[dict]
    probability: float | None
    interval: tuple[float, float] | None
    interval_level: float
    base_probability: float | None
    contributions: list[Contribution]
    modality_contributions: dict[str, dict]
    category: str
    category_label: str
    restaging: dict[str, object]
    ctdna: dict[str, float | None]
    missing_modalities: list[str]
    suggestion: Suggestion
    model_version: str
    ruleset_version: str
    synthetic_training: bool
    record: dict = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("record")
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)


def _json_default(o):
    if isinstance(o, np.floating | np.integer):
        return o.item()
    raise TypeError(type(o).__name__)


@lru_cache(maxsize=1)
def _outcomes() -> dict:
    return json.loads(resources.files("watchwait").joinpath("data/outcomes_v1.json").read_text())


def _figures(pathway: str, p: float | None) -> list[Figure]:
    spec = _outcomes()["pathways"].get(pathway)
    if spec is None:
        return []
    out = []
    for f in spec["figures"]:
        n = None
        if f["rate"] is not None and (p is not None or f["of"] is None):
            of = {"p": p, "1-p": None if p is None else 1 - p, None: 1.0}[f["of"]]
            n = int(round(100 * of * f["rate"]))
        out.append(Figure(id=f["id"], label=f["label"], kind=f["kind"], n_out_of_100=n, formula=f["formula"], source=f["source"]))
    return out


def options_for(pathway: str, p: float | None) -> list[Option]:
    """The three local-treatment options side by side, the suggested one marked."""
    spec = _outcomes()["pathways"]
    return [Option(pathway=k, label=spec[k]["label"], suggested=(k == pathway), figures=_figures(k, p))
            for k in ("watch_and_wait", "local_excision", "tme")]


def _modalities_missing(X: np.ndarray, bundle: ModelBundle) -> list[list[str]]:
    """Per row: modalities with data in the model but every input blank for this patient."""
    feats = bundle.predictor.features_
    present = sorted({f.modality for f in feats})
    out = []
    for i in range(X.shape[0]):
        out.append([m for m in present if np.isnan(X[i, [j for j, f in enumerate(feats) if f.modality == m]]).all()])
    return out


def _context(cols, derived, p, lo, hi, n_missing) -> dict[str, np.ndarray]:
    ctx = dict(cols)
    ctx.update(derived)
    ctx["p"] = p
    ctx["interval_width"] = hi - lo
    ctx["missing_modalities"] = n_missing.astype(float)
    return ctx


def _notice(rule, kind: str) -> Notice:
    return Notice(rule_id=rule.id, severity=rule.severity or kind, title=rule.title or rule.message, message=rule.message or rule.rationale,
                  rationale=rule.rationale, source=rule.source)


def assess(record: dict, model: ModelBundle | str | None = None) -> Assessment:
    """Assess one patient record (a missing key or None = not available).

    Raises :class:`watchwait.RecordError` for an invalid record.
    """
    bundle = model if isinstance(model, ModelBundle) else load_model(model)
    rec = validate_record(record)
    rules = load_rules()
    cols = columns_from_record(rec)
    derived = derived_columns(cols)
    scope_idx = first_match(rules.scope, {**cols, **derived}, rules.thresholds, 1)[0]
    category = str(derived["category"][0])
    restaging = {k: rec.get(k) for k in ("endoscopy", "dre", "mr_trg", "dwi_restriction")}
    ctdna = {k: (None if np.isnan(v[0]) else float(v[0])) for k, v in derived.items() if k.startswith("ctdna_")}
    common = dict(patient_id=str(rec["patient_id"]), category=category, category_label=CATEGORY_LABELS[category],
                  restaging=restaging, ctdna=ctdna, model_version=bundle.version, ruleset_version=rules.version,
                  synthetic_training=bool(bundle.card["training_data"].get("synthetic", False)), record=rec,
                  reminders=list(rules.unchecked_exclusions), interval_level=INTERVAL_LEVEL)
    if scope_idx >= 0:
        rule = rules.scope[scope_idx]
        pathway = rule.pathway or "out_of_scope"
        suggestion = Suggestion(pathway=pathway, label=PATHWAY_LABELS[pathway], rule_id=rule.id, rationale=rule.rationale,
                                source=rule.source, flags=[], options=[], surveillance=None)
        return Assessment(in_scope=False, scope_notices=[_notice(rule, "scope")], probability=None, interval=None,
                          base_probability=None, contributions=[], modality_contributions={},
                          missing_modalities=_modalities_missing(bundle.predictor.matrix(cols), bundle)[0],
                          suggestion=suggestion, **common)

    pred = bundle.predictor
    X = pred.matrix(cols)
    expl = pred.explain(X)
    logit_p = expl.base_logit + float(expl.contributions_logit[0].sum())
    p = float(1 / (1 + np.exp(-logit_p)))
    lo, hi = pred.interval(X, logit_q=np.array([logit_p]))
    p_base = float(1 / (1 + np.exp(-expl.base_logit)))
    phi = expl.contributions_logit[0]
    total = phi.sum()
    # probability points: p - p_base shared in proportion to the logit contributions (exact sum)
    pp = phi * ((p - p_base) / total) if abs(total) > 1e-12 else np.zeros_like(phi)
    contributions = sorted(
        (Contribution(feature=f.name, label=f.label, modality=f.modality, value=display_value(f, rec),
                      shap_logit=float(phi[j]), shap_pp=float(pp[j] * 100)) for j, f in enumerate(pred.features_)),
        key=lambda c: -abs(c.shap_pp))
    by_mod: dict[str, dict] = {}
    for c in contributions:
        m = by_mod.setdefault(c.modality, {"label": MODALITIES[c.modality], "shap_logit": 0.0, "shap_pp": 0.0})
        m["shap_logit"] += c.shap_logit
        m["shap_pp"] += c.shap_pp
    missing = _modalities_missing(X, bundle)[0]
    for m in missing:
        by_mod.setdefault(m, {"label": MODALITIES[m], "shap_logit": 0.0, "shap_pp": 0.0})["missing"] = True

    ctx = _context(cols, derived, np.array([p]), lo, hi, np.array([len(missing)]))
    path_rule = rules.pathway[first_match(rules.pathway, ctx, rules.thresholds, 1)[0]]
    flags = [_notice(r, "flag") for r in rules.flags if rule_mask(r, ctx, rules.thresholds, 1)[0]]
    pathway = path_rule.pathway
    surveillance = _outcomes()["surveillance"] if pathway == "watch_and_wait" else None
    suggestion = Suggestion(pathway=pathway, label=PATHWAY_LABELS[pathway], rule_id=path_rule.id, rationale=path_rule.rationale,
                            source=path_rule.source, flags=flags, options=options_for(pathway, p), surveillance=surveillance)
    return Assessment(in_scope=True, scope_notices=[], probability=p, interval=(float(lo[0]), float(hi[0])),
                      base_probability=p_base, contributions=contributions, modality_contributions=by_mod,
                      missing_modalities=missing, suggestion=suggestion, **common)


def predict_frame(frame: pd.DataFrame, model: ModelBundle | str | None = None) -> pd.DataFrame:
    """Vectorised predictions for a validated cohort frame (no SHAP): one row per patient."""
    bundle = model if isinstance(model, ModelBundle) else load_runtime(model)
    rules = load_rules()
    n = len(frame)
    cols = columns_of(frame)
    derived = derived_columns(cols)
    scope_idx = first_match(rules.scope, {**cols, **derived}, rules.thresholds, n)
    in_scope = scope_idx < 0
    pred = bundle.predictor
    X = pred.matrix(cols)
    p = np.full(n, np.nan)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    if in_scope.any():
        lq = pred._logit(X[in_scope])
        p[in_scope] = 1 / (1 + np.exp(-lq))
        lo[in_scope], hi[in_scope] = pred.interval(X[in_scope], logit_q=lq)
    feats = pred.features_
    mods = sorted({f.modality for f in feats})
    n_missing = np.zeros(n)
    for m in mods:
        n_missing += np.isnan(X[:, [j for j, f in enumerate(feats) if f.modality == m]]).all(axis=1)
    ctx = _context(cols, derived, p, lo, hi, n_missing)
    path_idx = first_match(rules.pathway, ctx, rules.thresholds, n)
    # rule index -> pathway / id by lookup tables (index -1 = no rule matched)
    pathway = np.array([r.pathway for r in rules.pathway] + ["complete_restaging"], dtype=object)[path_idx]
    rule_id = np.array([r.id for r in rules.pathway] + [""], dtype=object)[path_idx]
    pathway[~in_scope] = np.array([r.pathway for r in rules.scope], dtype=object)[scope_idx[~in_scope]]
    rule_id[~in_scope] = np.array([r.id for r in rules.scope], dtype=object)[scope_idx[~in_scope]]
    flags = np.full(n, "", dtype=object)
    for r in rules.flags:  # ";"-joined ids of every flag that fired
        hit = rule_mask(r, ctx, rules.thresholds, n) & in_scope
        flags[hit] = np.where(flags[hit] == "", r.id, flags[hit] + ";" + r.id)
    return pd.DataFrame({
        "patient_id": frame["patient_id"].to_numpy(),
        "p_complete_response": np.round(p, 4),
        "p_lower": np.round(lo, 4),
        "p_upper": np.round(hi, 4),
        "category": derived["category"],
        "pathway": pathway,
        "flags": flags,
        "rule_id": rule_id,
        "model_version": bundle.version,
    })
