"""``assess`` (one patient, with explanations) and ``predict_frame`` (a cohort), sharing one pipeline:

validate -> derive -> scope rules -> the training cohort's support (brief rule 12) -> model (probability, interval)
-> :func:`watchwait.suggest.decide` (confirm notices, pathway, flags, context, conditional headline) -> "out of 100"
figures.

Outside the model's data (:mod:`watchwait.support`, :func:`_outside_data`): each input outside the training range is
named in a notice of its own (rule ``FLAG-outside-data``), the interval becomes the hull of the model's interval and
that of the same record with those inputs blank, and the headline is conditional; MRI measurements unlike the
training patients' taken together, or kept out by the series checks (the record's :data:`KEPT_OUT_COLUMN`), never
enter the model: probability, interval and explanations are computed with every radiomics column blank (rule
``FLAG-radiomics-not-used``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from watchwait import agreement
from watchwait.derive import CATEGORY_LABELS, columns_from_record, derived_columns
from watchwait.features import REGIMEN, display_value, modalities_not_tested
from watchwait.model import INTERVAL_LEVEL, missing_groups
from watchwait.rules import PATHWAY_LABELS, first_match, load_rules
from watchwait.suggest import Option, conditions, decide, fill, headline, options_for, regimen_context, surveillance_for
from watchwait.schema import MODALITIES, RADIOMICS_PREFIX
from watchwait.artifacts import ModelBundle, columns_of, load_model
from watchwait.support import Finding
from watchwait.validation import validate_record

#: The record's column saying why its MRI radiomics were kept out of the model by the series checks
#: (watchwait.imaging.series_check.KEPT_OUT_COLUMN; named here so that the engine imports no imaging code):
#: "<visit> MRI kept out of the model: <reason>", items separated by " | ". The engine blanks the radiomics of such
#: a row (whatever the cohort file holds) and shows the reason.
KEPT_OUT_COLUMN = "imaging_kept_out"


@dataclass
class Contribution:
    feature: str
    label: str
    modality: str
    value: str  # the patient's own input(s), in data-dictionary units
    shap_logit: float  # contribution on the calibrated log-odds scale
    shap_pp: float  # contribution in probability points (sums to p - p_base)
    not_tested: bool = False  # every input of this feature's modality is blank: what "not tested" does, not evidence


@dataclass
class Notice:
    rule_id: str
    severity: str  # scope | confirm | caution | discordance | info | context
    title: str
    message: str
    rationale: str
    source: str
    thresholds: list[str] = field(default_factory=list)  # each threshold the rule uses, said with its status
    qualifies_headline: bool = False  # this notice's condition is part of the headline


@dataclass
class Suggestion:
    pathway: str
    label: str  # the pathway, unconditional (PATHWAY_LABELS)
    rule_id: str
    rationale: str
    source: str
    flags: list[Notice]
    options: list[Option]
    surveillance: dict | None
    headline: str = ""  # what the screen shows: the label, or "<pathway> only after: ..." (brief rule 6)
    conditional: bool = False
    conditions: list[str] = field(default_factory=list)
    confirm: list[Notice] = field(default_factory=list)  # blank fields a scope rule needs (brief rule 10)
    context: list[Notice] = field(default_factory=list)  # fitness, sphincter, preference, biopsy (brief rule 9)
    thresholds: list[str] = field(default_factory=list)  # thresholds of the pathway rule, with their status


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
    outside_data: list[Finding] = field(default_factory=list)  # inputs outside the training data (brief rule 12)
    not_used: dict[str, str] = field(default_factory=dict)  # modality -> why its inputs were left out of the model

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


def _modalities_missing(cols, bundle: ModelBundle) -> list[list[str]]:
    """Per row: modalities the model uses whose every input is blank for this patient (not tested)."""
    blank = modalities_not_tested(bundle.predictor.features_, cols)
    names = list(blank)
    return [[m for m in names if blank[m][i]] for i in range(len(next(iter(cols.values()))))]


def _support(bundle: ModelBundle) -> dict | None:
    """The training cohort's regimen counts from the model card (None for a card without them)."""
    return bundle.card.get("training_data", {}).get("regimen_support")


@dataclass
class _Outside:
    """Per row: what lies outside the model's data and what the model is given instead (brief rule 12)."""

    X: np.ndarray  # the matrix the model sees (radiomics blank where they are not used)
    cols: dict  # the columns behind it
    findings: list[list[Finding]]  # inputs outside that stay in the model (the probability is the model's own)
    radiomics_reason: np.ndarray  # "" or why the radiomics were not used
    joint: list[Finding | None]  # the radiomics taken together, when outside

    def flag_rows(self) -> np.ndarray:
        return np.array([bool(f) for f in self.findings], dtype=bool)


def _blank(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    v = np.asarray(values)
    if v.dtype.kind == "f":
        v = v.copy()
        v[rows] = np.nan
    else:
        v = v.astype(object)
        v[rows] = None
    return v


def _kept_out(cols, n: int) -> np.ndarray:
    """Per row: the series checks' reasons for keeping the radiomics out ("" when none)."""
    if KEPT_OUT_COLUMN not in cols:
        return np.full(n, "", dtype=object)
    out = []
    for v in np.asarray(cols[KEPT_OUT_COLUMN], dtype=object):
        text = "" if v is None or (isinstance(v, float) and v != v) else str(v).strip()
        out.append(" · ".join(p.strip().replace(" MRI kept out of the model: ", " MRI: ") for p in text.split(" | ") if p.strip()))
    return np.array(out, dtype=object)


def _radiomics_reason(kept_out: np.ndarray, joint: list[Finding | None]) -> np.ndarray:
    """Per row: why the radiomics are left out of the model ("" when they are not): the series checks' reasons, or
    the measurements furthest from the training patients' when they are unlike them taken together."""
    return np.array([(("Series checks: " + k) if k else ("" if j is None else j.value[:1].upper() + j.value[1:])).rstrip(". ")
                     for k, j in zip(kept_out, joint)], dtype=object)


def _radiomics_short(out: _Outside) -> np.ndarray:
    return np.array(["" if not r else ("unlike any in the model's training data" if out.joint[i] is not None and
                                       not r.startswith("Series checks: ") else "kept out by the series checks")
                     for i, r in enumerate(out.radiomics_reason)], dtype=object)


def _outside_data(pred, X: np.ndarray, cols, n: int) -> _Outside:
    """Compare each row with the training cohort's support (``pred.support_``; a model without one is not checked)."""
    support = getattr(pred, "support_", None)
    found = support.check(X, pred.features_, cols) if support is not None else [[] for _ in range(n)]
    kept_out = _kept_out(cols, n)
    joint = [next((f for f in row if f.joint), None) for row in found]
    reason = _radiomics_reason(kept_out, joint)
    drop = reason != ""
    rad = [j for j, f in enumerate(pred.features_) if f.modality == "radiomics"]
    if drop.any():
        X = X.copy()
        if rad:
            X[np.ix_(drop, rad)] = np.nan
        cols = dict(cols)
        for c in list(cols):
            if c.startswith(RADIOMICS_PREFIX):
                cols[c] = _blank(cols[c], drop)
    singles = [[f for f in row if not f.joint and not (drop[i] and f.modality == "radiomics")] for i, row in enumerate(found)]
    return _Outside(X=X, cols=cols, findings=singles, radiomics_reason=reason, joint=joint)


def _widened(pred, out: _Outside, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hull of the model's interval and the interval of the same record with its inputs outside the training
    data left blank (as the masked training copies left tests blank): honest about what the model does not know.
    ``rows``: indices into ``out`` of the rows that ``lo``/``hi`` hold (in order)."""
    lo, hi = lo.copy(), hi.copy()
    for k, i in enumerate(rows):
        if not out.findings[i]:
            continue
        one = {c: np.asarray(v)[i:i + 1] for c, v in out.cols.items()}
        for f in out.findings[i]:
            for s in f.sources:
                if s in one:
                    one[s] = _blank(one[s], np.array([0]))
        Xb = pred.matrix(one)
        Db = pred._design(Xb)
        lqb = pred._logit(Xb, Db)
        lob, hib = pred.interval(Xb, logit_q=lqb, groups=missing_groups(one), D=Db)
        lo[k], hi[k] = min(lo[k], float(lob[0])), max(hi[k], float(hib[0]))
    return lo, hi


def _outside_context(out: _Outside, n: int, regimen_outside: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The rule context of :func:`_outside_data`: ``outside_data``, ``outside_inputs``, ``outside_condition``,
    ``radiomics_not_used`` and its reasons. A regimen already named by ``FLAG-extrapolation`` is not named twice."""
    names = np.full(n, "", dtype=object)
    cond = np.full(n, "", dtype=object)
    flag = np.zeros(n)
    for i, row in enumerate(out.findings):
        row = _shown(row, None if regimen_outside is None else regimen_outside[i])
        if not row:
            continue
        labels = list(dict.fromkeys(f.label for f in row))
        flag[i] = 1.0
        names[i] = "; ".join(labels)
        cond[i] = (f"{labels[0]} is checked (outside the model's training data)" if len(labels) == 1 else
                   f"{', '.join(labels[:-1])} and {labels[-1]} are checked (outside the model's training data)")
    short = _radiomics_short(out)
    kept = np.array([r.startswith("Series checks: ") for r in out.radiomics_reason], dtype=bool)
    # the notice's head: why, in a few words, and for the series checks their reasons (what a CLI user reads);
    # its reason: the measurements furthest from the training patients'
    head = np.where(kept, np.array(["kept out by the series checks (" + r[len("Series checks: "):] + ")" for r in out.radiomics_reason],
                                   dtype=object), short)
    detail = np.where(kept | (out.radiomics_reason == ""), "",
                      np.array([f"{r}. " for r in out.radiomics_reason], dtype=object))
    return {"outside_data": flag, "outside_inputs": names, "outside_condition": cond,
            "radiomics_not_used": (out.radiomics_reason != "").astype(float),
            "radiomics_not_used_reason": out.radiomics_reason, "radiomics_not_used_short": short,
            "radiomics_not_used_head": head.astype(object), "radiomics_not_used_detail": detail.astype(object)}


def _shown(row: list[Finding], regimen_outside) -> list[Finding]:
    """The findings named on screen: a regimen unlike the training data's has its own notice (FLAG-extrapolation)."""
    if regimen_outside is not None and regimen_outside == 1:
        return [f for f in row if not set(f.sources) <= set(REGIMEN)]
    return row


def _context(cols, derived, p, lo, hi, n_missing, support, n) -> dict[str, np.ndarray]:
    ctx = dict(cols)
    ctx.update(derived)
    ctx.update(regimen_context(cols, support, n))
    ctx["p"] = p
    ctx["interval_width"] = hi - lo
    ctx["missing_modalities"] = n_missing.astype(float)
    th = load_rules().thresholds
    ctx.update(agreement.context(ctx, th["disagree_gap"], n, th["p_high"]))  # brief rule 3, third case
    return ctx


def _notice(rule, ctx, i: int, rules, qualifies: bool = False) -> Notice:
    severity = rule.severity or rule.kind
    message = fill(rule.message or rule.rationale, ctx, i)
    return Notice(rule_id=rule.id, severity=severity, title=fill(rule.title, ctx, i) or message, message=message,
                  rationale=fill(rule.rationale, ctx, i), source=rule.source, qualifies_headline=qualifies,
                  thresholds=[rules.threshold_info[t].text() for t in rule.thresholds])


OUTSIDE_RULE = "FLAG-outside-data"


def _outside_notices(rule, ctx, i: int, rules, qualifies: bool, findings: list[Finding]) -> list[Notice]:
    """``FLAG-outside-data`` as one notice per input outside the training data, each naming the input, the patient's
    value and the training patients' range (brief rule 12)."""
    base = _notice(rule, ctx, i, rules, qualifies)
    if not findings:
        return [base]
    return [Notice(rule_id=rule.id, severity=base.severity, title=f"Outside the model's training data: {f.label}",
                   message=f"{f.text}.", rationale=base.rationale, source=rule.source, qualifies_headline=qualifies)
            for f in findings]


def _suggestion(dec, rules, ctx, i: int, category: str, p: float | None, outside: list[Finding] | None = None) -> Suggestion:
    """Row ``i``'s suggestion: pathway, headline, notices, options and follow-up plan (``outside``: the inputs named
    by ``FLAG-outside-data``, one notice each)."""
    pathway = str(dec.pathway[i])
    if dec.scope_idx[i] >= 0:
        rule = rules.scope[dec.scope_idx[i]]
        return Suggestion(pathway=pathway, label=PATHWAY_LABELS[pathway], rule_id=rule.id, rationale=rule.rationale,
                          source=rule.source, flags=[], options=[], surveillance=None, headline=PATHWAY_LABELS[pathway])
    rule = rules.pathway[dec.path_idx[i]] if dec.path_idx[i] >= 0 else None
    conds = conditions(dec, rules, ctx, i)
    cond_texts = set(conds)

    def notices(kind):
        out = []
        for r in getattr(rules, kind):
            if not getattr(dec, kind)[r.id][i]:
                continue
            q = bool(r.condition) and fill(r.condition, ctx, i) in cond_texts
            out += (_outside_notices(r, ctx, i, rules, q, outside or []) if r.id == OUTSIDE_RULE
                    else [_notice(r, ctx, i, rules, qualifies=q)])
        return out

    thresholds = [] if rule is None else [rules.threshold_info[t[2][1:]].text() for t in rule.when
                                          if isinstance(t[2], str) and t[2].startswith("$")]
    return Suggestion(pathway=pathway, label=PATHWAY_LABELS[pathway], rule_id="" if rule is None else rule.id,
                      rationale="" if rule is None else fill(rule.rationale, ctx, i), source="" if rule is None else rule.source,
                      flags=notices("flags"), confirm=notices("confirm"), context=notices("context"),
                      options=options_for(pathway, category, p, ctx, rules, i),
                      surveillance=surveillance_for("local_excision" if pathway == "local_excision" else pathway),
                      headline=headline(pathway, conds), conditional=bool(dec.conditional[i]), conditions=conds,
                      thresholds=thresholds)


def suggestion_for(record: dict, probability: float | None, interval: tuple[float, float] | None = None,
                   missing_modalities: int = 0, regimen_support: dict | None = None,
                   outside: list[str] | None = None) -> tuple[str, Suggestion]:
    """The rules alone, for a record and a given probability: (response category, suggestion).

    The same code :func:`assess` runs after the model; here the probability, its interval, the number of
    modalities with every input blank, the training cohort's regimen counts and the labels of the inputs outside the
    training data (``outside``) are given, so that the clinical vignettes (tests/clinical) pin the rules without
    depending on a trained model. The record's :data:`KEPT_OUT_COLUMN` is read as :func:`assess` reads it."""
    rec = validate_record(record)
    rules = load_rules()
    cols = columns_from_record(rec)
    derived = derived_columns(cols, rules.thresholds)
    p = np.array([np.nan if probability is None else probability])
    lo, hi = (np.array([np.nan]), np.array([np.nan])) if interval is None else (np.array([interval[0]]), np.array([interval[1]]))
    ctx = _context(cols, derived, p, lo, hi, np.array([float(missing_modalities)]), regimen_support, 1)
    findings = [Finding(feature="", label=label, value="given", training_range="given", side="above", relative=True)
                for label in outside or []]
    reason = _kept_out(cols, 1)
    out = _Outside(X=np.zeros((1, 0)), cols=cols, findings=[findings],
                   radiomics_reason=_radiomics_reason(reason, [None]), joint=[None])
    ctx.update(_outside_context(out, 1, ctx["regimen_outside_training"]))
    dec = decide(ctx, rules, 1)
    category = str(derived["category"][0])
    return category, _suggestion(dec, rules, ctx, 0, category, None if dec.scope_idx[0] >= 0 else probability,
                                 _shown(findings, ctx["regimen_outside_training"][0]))


def assess(record: dict, model: ModelBundle | str | None = None) -> Assessment:
    """Assess one patient record (a missing key or None = not available).

    Raises :class:`watchwait.RecordError` for an invalid record.
    """
    bundle = model if isinstance(model, ModelBundle) else load_model(model)
    rec = validate_record(record)
    rules = load_rules()
    cols = columns_from_record(rec)
    derived = derived_columns(cols, rules.thresholds)
    scope_idx = first_match(rules.scope, {**cols, **derived}, rules.thresholds, 1)[0]
    category = str(derived["category"][0])
    restaging = {k: rec.get(k) for k in ("endoscopy", "dre", "mr_trg", "dwi_restriction", "ymr_n_stage", "restaging_biopsy")}
    ctdna = {k: (None if np.isnan(v[0]) else float(v[0])) for k, v in derived.items()
             if k.startswith("ctdna_") and np.asarray(v).dtype.kind == "f"}
    common = dict(patient_id=str(rec["patient_id"]), category=category, category_label=CATEGORY_LABELS[category],
                  restaging=restaging, ctdna=ctdna, model_version=bundle.version, ruleset_version=rules.version,
                  synthetic_training=bool(bundle.card["training_data"].get("synthetic", False)), record=rec,
                  reminders=list(rules.unchecked_exclusions), interval_level=INTERVAL_LEVEL)
    pred = bundle.predictor
    X = pred.matrix(cols)
    missing = _modalities_missing(cols, bundle)[0]
    if scope_idx >= 0:
        ctx = _context(cols, derived, np.full(1, np.nan), np.full(1, np.nan), np.full(1, np.nan), np.array([len(missing)]), _support(bundle), 1)
        nothing = _Outside(X=np.zeros((1, 0)), cols=cols, findings=[[]], radiomics_reason=np.array([""], dtype=object),
                           joint=[None])  # out of scope: no probability, so nothing is outside its data
        ctx.update(_outside_context(nothing, 1, ctx["regimen_outside_training"]))
        dec = decide(ctx, rules, 1)
        rule = rules.scope[scope_idx]
        return Assessment(in_scope=False, scope_notices=[_notice(rule, ctx, 0, rules)], probability=None, interval=None,
                          base_probability=None, contributions=[], modality_contributions={},
                          missing_modalities=missing, suggestion=_suggestion(dec, rules, ctx, 0, category, None), **common)

    out = _outside_data(pred, X, cols, 1)
    X = out.X
    reason = out.radiomics_reason[0]
    reason = reason[len("Series checks: "):] if reason.startswith("Series checks: ") else reason  # said once, by the short form
    not_used = ({"radiomics": f"{_radiomics_short(out)[0]}: {reason}"} if out.radiomics_reason[0] else {})
    D = pred._design(X)
    expl = pred.explain(X, D)
    logit_p = expl.base_logit + float(expl.contributions_logit[0].sum())
    p = float(1 / (1 + np.exp(-logit_p)))
    lo, hi = pred.interval(X, logit_q=np.array([logit_p]), groups=missing_groups(out.cols), D=D)
    lo, hi = _widened(pred, out, np.array([0]), lo, hi)
    missing = _modalities_missing(out.cols, bundle)[0]
    p_base = float(1 / (1 + np.exp(-expl.base_logit)))
    phi = expl.contributions_logit[0]
    total = phi.sum()
    # probability points: p - p_base shared in proportion to the logit contributions (exact sum)
    pp = phi * ((p - p_base) / total) if abs(total) > 1e-12 else np.zeros_like(phi)
    contributions = sorted(
        (Contribution(feature=f.name, label=f.label, modality=f.modality, value=display_value(f, rec),
                      shap_logit=float(phi[j]), shap_pp=float(pp[j] * 100), not_tested=f.modality in missing)
         for j, f in enumerate(pred.features_)),
        key=lambda c: -abs(c.shap_pp))
    by_mod: dict[str, dict] = {}
    for c in contributions:
        m = by_mod.setdefault(c.modality, {"label": MODALITIES[c.modality], "shap_logit": 0.0, "shap_pp": 0.0})
        m["shap_logit"] += c.shap_logit
        m["shap_pp"] += c.shap_pp
    for m in missing:
        by_mod.setdefault(m, {"label": MODALITIES[m], "shap_logit": 0.0, "shap_pp": 0.0})["missing"] = True
        if m in not_used:
            by_mod[m]["not_used"] = not_used[m]

    n_missing = len([m for m in missing if m not in not_used])  # measurements left out are not tests to do
    ctx = _context(cols, derived, np.array([p]), lo, hi, np.array([n_missing]), _support(bundle), 1)
    ctx.update(_outside_context(out, 1, ctx["regimen_outside_training"]))
    dec = decide(ctx, rules, 1)
    shown = _shown(out.findings[0], ctx["regimen_outside_training"][0])
    suggestion = _suggestion(dec, rules, ctx, 0, category, p, shown)
    _name_drivers(suggestion, ctx, p, (float(lo[0]), float(hi[0])), by_mod, contributions, bundle.card,
                  non_shedder=derived["ctdna_detected_c1"][0] == 0)
    return Assessment(in_scope=True, scope_notices=[], probability=p, interval=(float(lo[0]), float(hi[0])),
                      base_probability=p_base, contributions=contributions, modality_contributions=by_mod,
                      missing_modalities=missing, suggestion=suggestion,
                      outside_data=out.findings[0] + [j for j in out.joint[:1] if j is not None], not_used=not_used, **common)


def _name_drivers(suggestion: Suggestion, ctx, p: float, interval: tuple[float, float], by_mod: dict, contributions,
                  card: dict, non_shedder: bool) -> None:
    """``FLAG-number-vs-picture`` with its drivers: the modalities pushing the number away from the picture, each with
    what it is worth on its own (brief rule 3, third case). Only :func:`assess` has the explanations to name them."""
    for k, n in enumerate(suggestion.flags):
        if n.rule_id != agreement.RULE_ID:
            continue
        found, restaging = agreement.drivers(p, float(ctx["picture_rate"][0]), by_mod, contributions, card, MODALITIES)
        message = agreement.explanation(p, interval, str(ctx["picture_words"][0]), str(ctx["picture_rate_text"][0]),
                                        found, restaging, non_shedder)
        suggestion.flags[k] = replace(n, message=message, thresholds=n.thresholds + [agreement.DESIGN_CHOICES])


def predict_frame(frame: pd.DataFrame, model: ModelBundle | str | None = None) -> pd.DataFrame:
    """Vectorised predictions for a validated cohort frame (no SHAP): one row per patient.

    ``flags`` holds the ids of every confirm notice and flag that fired (";"-joined); ``conditional`` is
    true when the suggested next step is conditional on them (clinical brief, rule 6)."""
    bundle = model if isinstance(model, ModelBundle) else load_model(model)
    rules = load_rules()
    n = len(frame)
    cols = columns_of(frame)
    derived = derived_columns(cols, rules.thresholds)
    scope_idx = first_match(rules.scope, {**cols, **derived}, rules.thresholds, n)
    in_scope = scope_idx < 0
    pred = bundle.predictor
    X = pred.matrix(cols)
    p = np.full(n, np.nan)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    out = _outside_data(pred, X, cols, n)
    if in_scope.any():
        X_in = out.X[in_scope]
        D = pred._design(X_in)
        lq = pred._logit(X_in, D)
        p[in_scope] = 1 / (1 + np.exp(-lq))
        rows = np.flatnonzero(in_scope)
        lo_in, hi_in = pred.interval(X_in, logit_q=lq, groups=missing_groups(out.cols)[in_scope], D=D)
        lo[in_scope], hi[in_scope] = _widened(pred, out, rows, lo_in, hi_in)
    n_missing = np.sum(list(modalities_not_tested(pred.features_, cols).values()), axis=0).astype(float).reshape(n)
    ctx = _context(cols, derived, p, lo, hi, n_missing, _support(bundle), n)
    ctx.update(_outside_context(out, n, ctx["regimen_outside_training"]))
    dec = decide(ctx, rules, n)
    rule_id = np.array([r.id for r in rules.pathway] + [""], dtype=object)[dec.path_idx]
    rule_id[~in_scope] = np.array([r.id for r in rules.scope], dtype=object)[scope_idx[~in_scope]]
    flags = np.full(n, "", dtype=object)
    for rid, hit in list(dec.confirm.items()) + list(dec.flags.items()):  # ";"-joined ids of every notice that fired
        flags[hit] = np.where(flags[hit] == "", rid, flags[hit] + ";" + rid)
    return pd.DataFrame({
        "patient_id": frame["patient_id"].to_numpy(),
        "p_complete_response": np.round(p, 4),
        "p_lower": np.round(lo, 4),
        "p_upper": np.round(hi, 4),
        "category": derived["category"],
        "pathway": dec.pathway,
        "flags": flags,
        "rule_id": rule_id,
        "conditional": dec.conditional,
        "model_version": bundle.version,
    })
