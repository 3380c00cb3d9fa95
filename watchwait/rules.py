"""The suggestion rule set (kept as data in ``data/rules_v2.json``) and its evaluation.

Rules are evaluated on *columns* (one row or a whole cohort) so that batch prediction stays fast.
A clause on a blank value is false, except ``is_blank`` (true on a blank value or a column the
input does not have). Scope rules first (first match, replaces the probability); then "confirm"
notices for blank fields a scope rule needs; then the pathway from the response category (first
match); then every matching flag and context notice. A pathway rule or flag with a ``condition``
qualifies the headline (clinical brief, rule 6): :func:`headline` writes "X only after: ...".

Thresholds are data too: each has a value, a unit, a plain label, why it has that value, and
whether it is a design choice of this tool (clinical brief, rule 11) or a published criterion that
a site may edit (rule 7).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

_OPS = ("==", "!=", "in", ">", ">=", "<", "<=", "is_true", "is_false", "is_blank")
SEVERITIES = ("caution", "confirm", "discordance", "info")

PATHWAY_LABELS = {
    "watch_and_wait": "Watch-and-wait with surveillance",
    "local_excision": "Transanal local excision, or re-assessment in 6-12 weeks",
    "reassess": "Re-assessment in 6-12 weeks",
    "reassess_or_tme": "Re-assessment in 6-12 weeks, or TME (not local excision)",
    "tme": "Total mesorectal excision (TME)",
    "systemic": "Guideline systemic treatment and MDT re-discussion",
    "complete_restaging": "Complete the restaging before deciding",
    "out_of_scope": "Outside this tool's scope: MDT decision on standard grounds",
}
# The pathway's name at the start of a conditional headline: "<short> only after: ...".
PATHWAY_SHORT = {
    "watch_and_wait": "Watch-and-wait",
    "local_excision": "Transanal local excision",
    "reassess": "Re-assessment in 6-12 weeks",
    "reassess_or_tme": "Re-assessment in 6-12 weeks or TME",
    "tme": "TME",
    "complete_restaging": "A decision",
}


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # scope | pathway | flag
    when: tuple[tuple, ...]
    pathway: str | None
    rationale: str
    source: str
    title: str = ""
    message: str = ""
    severity: str = ""
    condition: str = ""  # non-empty: the headline reads "<pathway> only after: <condition>"
    qualifies: tuple[str, ...] = ()  # pathways whose headline the condition qualifies (empty = every pathway)
    thresholds: tuple[str, ...] = ()  # design-choice or site-editable thresholds the rule uses
    field: str = ""  # confirm rules: the blank field to confirm


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    unit: str
    label: str
    why: str
    design_choice: bool
    site_editable: bool

    def text(self) -> str:
        """How the screen says it: value, what it is, and whether it is a design choice or a published default."""
        kind = "design choice of this tool, not a published cut-off" if self.design_choice else "published criterion, site-editable default"
        shown = f"{self.value * 100:g}%" if self.unit == "probability" and self.value < 1 else f"{self.value:g} {self.unit}"
        return f"{self.label}: {shown} ({kind})"


@dataclass(frozen=True)
class RuleSet:
    version: str
    thresholds: dict
    threshold_info: dict
    scope: tuple[Rule, ...]
    confirm: tuple[Rule, ...]
    pathway: tuple[Rule, ...]
    flags: tuple[Rule, ...]
    context: tuple[Rule, ...]
    unchecked_exclusions: tuple[dict, ...]
    enforced_by_validation: tuple[dict, ...]

    def all_rules(self) -> tuple[Rule, ...]:
        return self.scope + self.confirm + self.pathway + self.flags + self.context

    def by_id(self, rule_id: str) -> Rule:
        for r in self.all_rules():
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


RULES_FILE = "data/rules_v2.json"
SCHEMA_FILE = "data/rules.schema.json"


class RulesFileError(ValueError):
    """The rules file breaks its schema, or a rule reads a name that no record column or derived value has."""


def check_schema(data: object) -> None:
    """Refuse a rules file that breaks ``data/rules.schema.json`` (every object closed: a misspelt key, an unknown
    operator or pathway, a clause of the wrong shape), naming each problem and where it is."""
    import jsonschema  # only when a rules file is read (once per process)

    schema = json.loads(resources.files("watchwait").joinpath(SCHEMA_FILE).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = [f"{'/'.join(str(p) for p in e.absolute_path) or 'the top level'}: {e.message}" for e in errors[:10]]
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise RulesFileError(f"The rules file does not follow its schema ({SCHEMA_FILE}): " + "; ".join(where) + more
                             + ". Nothing was loaded; correct the file.")


def names_read(rule: Rule) -> set[str]:
    """Every name a rule reads from the record and its derived values: its clauses' fields, a confirm rule's field,
    and the ``{placeholders}`` of its texts."""
    names = {c[0] for c in rule.when}
    if rule.field:
        names.add(rule.field)
    for text in (rule.title, rule.message, rule.rationale, rule.condition):
        names.update(f for _, f, _, _ in string.Formatter().parse(text or "") if f)
    return names


def unknown_names(rules: RuleSet, known: Iterable[str]) -> list[str]:
    """``"<rule id>: <name>"`` for every name a rule reads that is not in ``known`` (a misspelt field would never
    fire: a clause on a column the input does not have is false, except is_blank, which would always fire)."""
    known = set(known)
    return [f"{r.id}: {name}" for r in rules.all_rules() for name in sorted(names_read(r) - known)]


def check_names(rules: RuleSet, known: Iterable[str]) -> None:
    """Raise :class:`RulesFileError` naming each rule that reads an unknown name (see :func:`unknown_names`)."""
    unknown = unknown_names(rules, known)
    if unknown:
        raise RulesFileError("The rules file reads names that no record column or derived value has ("
                             + "; ".join(unknown) + "): such a rule would never fire (or, with is_blank, always). "
                             "Correct the names; the data dictionary lists the record's columns.")


def parse_rules(data: dict) -> RuleSet:
    """A rule set from its JSON form (a site may keep its own copy; see README, clinical rules), checked against
    ``data/rules.schema.json`` first."""
    check_schema(data)
    info = {k: Threshold(name=k, value=float(v["value"]), unit=v.get("unit", ""), label=v["label"], why=v["why"],
                         design_choice=bool(v.get("design_choice")), site_editable=bool(v.get("site_editable")))
            for k, v in data["thresholds"].items()}

    def make(kind: str, item: dict) -> Rule:
        when = tuple(tuple(c) for c in item["when"])
        for _field, op, value in when:
            if op not in _OPS:
                raise ValueError(f"rule {item['id']}: operator must be one of {_OPS}; got {op!r} instead.")
            if isinstance(value, str) and value.startswith("$") and value[1:] not in info:
                raise ValueError(f"rule {item['id']}: threshold {value!r} is not defined; defined: {sorted(info)}.")
        severity = item.get("severity", "")
        if kind == "flag" and severity not in SEVERITIES:
            raise ValueError(f"rule {item['id']}: severity must be one of {SEVERITIES}; got {severity!r} instead.")
        return Rule(id=item["id"], kind=kind, when=when, pathway=item.get("pathway"),
                    rationale=item.get("rationale", item.get("message", "")), source=item["source"],
                    title=item.get("title", ""), message=item.get("message", ""), severity=severity,
                    condition=item.get("condition", ""), qualifies=tuple(item.get("qualifies", ())),
                    thresholds=tuple(item.get("thresholds", ())), field=item.get("field", ""))

    return RuleSet(version=data["version"], thresholds={k: t.value for k, t in info.items()}, threshold_info=info,
                   scope=tuple(make("scope", r) for r in data["scope"]),
                   confirm=tuple(make("confirm", r) for r in data.get("confirm", [])),
                   pathway=tuple(make("pathway", r) for r in data["pathway"]),
                   flags=tuple(make("flag", r) for r in data["flags"]),
                   context=tuple(make("context", r) for r in data.get("context", [])),
                   unchecked_exclusions=tuple(data.get("unchecked_exclusions", [])),
                   enforced_by_validation=tuple(data.get("enforced_by_validation", [])))


@lru_cache(maxsize=1)
def load_rules() -> RuleSet:
    return parse_rules(json.loads(resources.files("watchwait").joinpath(RULES_FILE).read_text()))


def clause_mask(ctx: dict[str, np.ndarray], clause: tuple, thresholds: dict, n: int) -> np.ndarray:
    field, op, value = clause
    if isinstance(value, str) and value.startswith("$"):
        value = thresholds[value[1:]]
    col = ctx.get(field)
    if col is None:
        return np.full(n, op == "is_blank", dtype=bool)
    col = np.asarray(col)
    if op == "is_blank":
        return np.asarray(pd.isna(col), dtype=bool)
    if col.dtype == object:
        known = ~pd.isna(col)
        if op == "==":
            return known & (col == value)
        if op == "!=":
            return known & (col != value)
        if op == "in":
            return known & np.isin(col, list(value))
        col = pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(dtype=float)
    col = col.astype(float)
    with np.errstate(invalid="ignore"):
        if op == "is_true":
            return col == 1.0
        if op == "is_false":
            return col == 0.0
        if op == "==":
            return col == value
        if op == "!=":
            return ~np.isnan(col) & (col != value)
        if op == "in":
            return np.isin(col, list(value))
        return {">": col > value, ">=": col >= value, "<": col < value, "<=": col <= value}[op]


def rule_mask(rule: Rule, ctx: dict[str, np.ndarray], thresholds: dict, n: int) -> np.ndarray:
    m = np.ones(n, dtype=bool)
    for clause in rule.when:
        m &= clause_mask(ctx, clause, thresholds, n)
    return m


def first_match(rules: tuple[Rule, ...], ctx: dict[str, np.ndarray], thresholds: dict, n: int) -> np.ndarray:
    """Index of the first matching rule per row, -1 if none."""
    out = np.full(n, -1)
    for i, rule in enumerate(rules):
        hit = (out == -1) & rule_mask(rule, ctx, thresholds, n)
        out[hit] = i
    return out
