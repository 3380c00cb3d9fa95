"""From derived values (and the model's probability) to the suggestion: one vectorised decision for
one patient or a whole cohort, so that ``assess`` and ``predict_frame`` cannot disagree.

Order (clinical brief): scope rules (first match; the patient gets no probability) -> "confirm"
notices for blank fields a scope rule needs (rule 10) -> pathway from the response category (first
match) -> every flag and context notice. The headline is conditional whenever a confirm notice, the
pathway rule or a flag carries a condition for that pathway (rule 6): "Watch-and-wait only after:
...". Figures for the options come from ``data/outcomes_v2.json``, each applied only to the
population it was measured in.

Pure: NumPy and pandas only.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from watchwait.derive import present
from watchwait.rules import PATHWAY_LABELS, PATHWAY_SHORT, Rule, RuleSet, check_names, first_match, rule_mask

OPTION_ORDER = ("watch_and_wait", "local_excision", "reassess", "tme")
PREFERENCE_TEXT = {"organ_preservation": "organ preservation", "surgery": "surgery", "undecided": "undecided",
                   "not_discussed": "not yet discussed with the patient"}
# Support below which a regimen value counts as unseen in training (clinical brief, rule 10).
MIN_REGIMEN_SUPPORT = 20
REGIMEN_WORDS = {
    "rt_schedule": {"none": "no radiotherapy", "SCRT": "short-course radiotherapy", "LCRT": "long-course chemoradiotherapy"},
    "immunotherapy": {"none": "no immunotherapy", "anti_pd1": "anti-PD-1", "anti_pdl1": "anti-PD-L1", "pd1_ctla4": "PD-1/CTLA-4"},
    "sequence": {"none": "no sequence (radiotherapy alone)", "consolidation": "consolidation sequence",
                 "induction": "induction sequence", "concurrent": "concurrent sequence"},
    "chemotherapy": {"none": "no systemic chemotherapy", "CAPOX": "CAPOX", "FOLFOX": "FOLFOX", "capecitabine": "capecitabine"},
}


@lru_cache(maxsize=1)
def outcomes() -> dict:
    return json.loads(resources.files("watchwait").joinpath("data/outcomes_v2.json").read_text())


def regimen_context(cols: Mapping[str, np.ndarray], support: Mapping[str, Mapping[str, int]] | None, n: int) -> dict[str, np.ndarray]:
    """``regimen_outside_training`` (1/0; NaN when the model card has no regimen counts) and
    ``regimen_unseen`` (the unseen values in words) per row."""
    if not support:
        return {"regimen_outside_training": np.full(n, np.nan), "regimen_unseen": np.full(n, "", dtype=object)}
    text = np.full(n, "", dtype=object)
    for name, counts in support.items():
        values = np.asarray(cols[name], dtype=object) if name in cols else np.full(n, None, dtype=object)
        seen = [k for k, v in counts.items() if v >= MIN_REGIMEN_SUPPORT]
        rows = np.flatnonzero(present(values) & ~np.isin(values.astype(str), seen))
        words = np.array([REGIMEN_WORDS.get(name, {}).get(str(v), str(v)) for v in values[rows]], dtype=object)
        text[rows] = np.where(text[rows] == "", words, text[rows] + ", " + words) if len(rows) else text[rows]
    return {"regimen_outside_training": (text != "").astype(float), "regimen_unseen": text}


@dataclass
class Decision:
    """The rule outcome for every row (vectorised)."""

    scope_idx: np.ndarray  # index into rules.scope, -1 = in scope
    pathway: np.ndarray  # pathway id per row
    path_idx: np.ndarray  # index into rules.pathway (-1 out of scope or no match)
    confirm: dict[str, np.ndarray]  # rule id -> mask
    flags: dict[str, np.ndarray]
    context: dict[str, np.ndarray]
    conditional: np.ndarray  # bool per row

    def ids(self, kind: str, i: int) -> list[str]:
        return [rid for rid, m in getattr(self, kind).items() if m[i]]


def _qualifies(rule: Rule, pathway: np.ndarray) -> np.ndarray:
    if not rule.condition:
        return np.zeros(len(pathway), dtype=bool)
    if not rule.qualifies:
        return np.isin(pathway, list(PATHWAY_SHORT))
    return np.isin(pathway, list(rule.qualifies))


_NAMES_CHECKED: set[tuple[int, frozenset]] = set()


def _check_names_once(rules: RuleSet, ctx: Mapping[str, np.ndarray]) -> None:
    """Every name the rules read is a record column (the data dictionary's, even if this input lacks it), a value
    the engine derives, or ``pathway``; checked once per rule set and set of context names."""
    key = (id(rules), frozenset(ctx))
    if key in _NAMES_CHECKED:
        return
    from watchwait.schema import COLUMNS

    check_names(rules, set(ctx) | set(COLUMNS) | {"pathway"} | _Row.OWN_NAMES)
    _NAMES_CHECKED.add(key)


def decide(ctx: dict[str, np.ndarray], rules: RuleSet, n: int) -> Decision:
    """Scope, confirm notices, pathway, flags, context and whether the headline is conditional.

    ``ctx`` holds the record columns, the derived values, ``p``, ``interval_width`` and
    ``missing_modalities`` (NaN where out of scope) and the regimen context. It gains ``pathway``."""
    _check_names_once(rules, ctx)
    th = rules.thresholds
    scope_idx = first_match(rules.scope, ctx, th, n)
    in_scope = scope_idx < 0
    path_idx = first_match(rules.pathway, ctx, th, n)
    pathway = np.array([r.pathway for r in rules.pathway] + ["complete_restaging"], dtype=object)[path_idx]
    pathway[~in_scope] = np.array([r.pathway for r in rules.scope], dtype=object)[scope_idx[~in_scope]]
    path_idx = np.where(in_scope, path_idx, -1)
    ctx["pathway"] = pathway
    confirm = {r.id: rule_mask(r, ctx, th, n) & in_scope for r in rules.confirm}
    flags = {r.id: rule_mask(r, ctx, th, n) & in_scope for r in rules.flags}
    context = {r.id: rule_mask(r, ctx, th, n) & in_scope for r in rules.context}
    conditional = np.zeros(n, dtype=bool)
    for r in rules.confirm + rules.flags:
        conditional |= (confirm.get(r.id) if r.kind == "confirm" else flags[r.id]) & _qualifies(r, pathway)
    for k, r in enumerate(rules.pathway):
        if r.condition:
            conditional |= (path_idx == k) & _qualifies(r, pathway)
    return Decision(scope_idx=scope_idx, pathway=pathway, path_idx=path_idx, confirm=confirm, flags=flags,
                    context=context, conditional=conditional & in_scope)


class _Row(string.Formatter):
    """Formats a rule's template with one row's values; a missing or blank value reads 'not recorded'."""

    OWN_NAMES = frozenset({"patient_preference_text"})  # placeholders this formatter writes itself

    def __init__(self, ctx: Mapping[str, np.ndarray], i: int):
        self.ctx, self.i = ctx, i

    def get_value(self, key, args, kwargs):
        if key == "patient_preference_text":
            v = self.ctx.get("patient_preference")
            return PREFERENCE_TEXT.get(None if v is None else v[self.i], "not recorded")
        col = self.ctx.get(key)
        if col is None:
            return "not recorded"
        v = col[self.i]
        return "not recorded" if v is None or (isinstance(v, float) and np.isnan(v)) else v


def fill(template: str, ctx: Mapping[str, np.ndarray], i: int) -> str:
    return _Row(ctx, i).format(template) if "{" in template else template


def conditions(decision: Decision, rules: RuleSet, ctx: Mapping[str, np.ndarray], i: int) -> list[str]:
    """The conditions of row ``i``'s headline, in order: confirm notices, the pathway rule, flags."""
    pw = decision.pathway[i]
    out = []
    for r in rules.confirm:
        if decision.confirm[r.id][i] and _qualifies(r, np.array([pw], dtype=object))[0]:
            out.append(fill(r.condition, ctx, i))
    k = decision.path_idx[i]
    if k >= 0 and rules.pathway[k].condition and _qualifies(rules.pathway[k], np.array([pw], dtype=object))[0]:
        out.append(fill(rules.pathway[k].condition, ctx, i))
    for r in rules.flags:
        if decision.flags[r.id][i] and _qualifies(r, np.array([pw], dtype=object))[0]:
            out.append(fill(r.condition, ctx, i))
    return list(dict.fromkeys(out))  # one condition said once, even when two rules ask for it


def headline(pathway: str, conds: list[str]) -> str:
    """The suggested next step as the screen says it: the pathway, or "<pathway> only after: ..." (rule 6)."""
    if not conds:
        return PATHWAY_LABELS[pathway]
    if pathway == "complete_restaging":
        return "Complete the restaging before deciding, including: " + "; ".join(conds)
    return f"{PATHWAY_SHORT[pathway]} only after: " + "; ".join(conds)


# ----------------------------------------------------------------------------- figures

@dataclass
class Figure:
    id: str
    label: str
    kind: str  # model (from p) | published (a measured rate) | definition
    n_out_of_100: int | None
    denominator: str  # "out of 100 <denominator>"
    population: str  # who the figure was measured in
    source: str
    # a model figure while the number and the clinical picture disagree (brief rule 3, third case): shown as disputed
    disputed: bool = False


def _clauses_hold(groups: list, one: Mapping[str, np.ndarray], rules: RuleSet) -> bool:
    """Any of ``groups`` (each a list of clauses that must all hold) holds for the one-row context ``one``."""
    from watchwait.rules import clause_mask

    for clauses in groups:
        m = np.ones(1, dtype=bool)
        for c in clauses:
            m &= clause_mask(one, tuple(c), rules.thresholds, 1)
        if m[0]:
            return True
    return False


@dataclass
class Option:
    pathway: str
    label: str
    suggested: bool
    figures: list[Figure]
    not_applicable: list[str]  # why a figure is missing for this patient, in words
    criteria: str = ""


def options_for(pathway: str, category: str, p: float | None, ctx: Mapping[str, np.ndarray], rules: RuleSet,
                i: int = 0) -> list[Option]:
    """Every local-treatment option side by side, each with only the figures whose population
    includes this patient's response category (and none of whose exclusions hold)."""
    spec = outcomes()["options"]
    one = {k: np.asarray(v)[i:i + 1] for k, v in ctx.items()}  # row i, sliced once for every figure's clauses
    disputed = bool("number_picture_disagree" in one and one["number_picture_disagree"][0] == 1)
    out = []
    for key in OPTION_ORDER:
        o = spec[key]
        figs, missing = [], []
        for f in o["figures"]:
            if category not in f["categories"]:
                continue
            if f.get("when") and not _clauses_hold([f["when"]], one, rules):
                continue
            if f.get("unless") and _clauses_hold(f["unless"], one, rules):
                if f.get("instead"):
                    missing.append(f["instead"])
                continue
            n = None
            if f["kind"] == "model":
                if p is None:
                    continue
                n = int(round(100 * f["rate"] * (p if f["of"] == "p" else 1 - p)))
            elif f["rate"] is not None:
                n = int(round(100 * f["rate"]))
            figs.append(Figure(id=f["id"], label=f["label"], kind=f["kind"], n_out_of_100=n, denominator=f["denominator"],
                               population=f["population"], source=f["source"],
                               disputed=disputed and f["kind"] == "model"))
        missing += [x["text"] for x in o.get("no_figure", []) if category in x["categories"]]
        criteria = o.get("criteria", "").format(**rules.thresholds) if o.get("criteria") else ""
        suggested = key == pathway or (pathway == "reassess_or_tme" and key in ("reassess", "tme"))
        out.append(Option(pathway=key, label=o["label"], suggested=suggested, figures=figs, not_applicable=missing,
                          criteria=criteria))
    return out


def surveillance_for(pathway: str) -> dict | None:
    """The follow-up plan a pathway starts (clinical brief, rule 5), or None."""
    return outcomes()["surveillance"].get(pathway)


def all_surveillance() -> dict:
    return outcomes()["surveillance"]
