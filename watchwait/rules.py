"""The suggestion rule set (kept as data in ``data/rules_v1.json``) and its evaluation.

Rules are evaluated on *columns* (one row or a whole cohort) so that batch prediction stays fast.
A clause on a blank value is false. Scope rules first (first match, replaces the probability);
then the pathway from the response category (first match); then every matching flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

_OPS = ("==", "!=", "in", ">", ">=", "<", "<=", "is_true", "is_false")

PATHWAY_LABELS = {
    "watch_and_wait": "Watch-and-wait with surveillance",
    "local_excision": "Transanal local excision, or re-assessment in 6-12 weeks",
    "tme": "Total mesorectal excision (TME)",
    "systemic": "Guideline systemic treatment and MDT re-discussion",
    "complete_restaging": "Complete the restaging before deciding",
    "out_of_scope": "Outside this tool's scope: MDT decision on standard grounds",
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


@dataclass(frozen=True)
class RuleSet:
    version: str
    thresholds: dict
    scope: tuple[Rule, ...]
    pathway: tuple[Rule, ...]
    flags: tuple[Rule, ...]
    unchecked_exclusions: tuple[dict, ...]

    def by_id(self, rule_id: str) -> Rule:
        for r in self.scope + self.pathway + self.flags:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


@lru_cache(maxsize=1)
def load_rules() -> RuleSet:
    data = json.loads(resources.files("watchwait").joinpath("data/rules_v1.json").read_text())

    def make(kind: str, item: dict) -> Rule:
        when = tuple(tuple(c) for c in item["when"])
        for field, op, _ in when:
            if op not in _OPS:
                raise ValueError(f"rule {item['id']}: operator must be one of {_OPS}; got {op!r} instead.")
        return Rule(id=item["id"], kind=kind, when=when, pathway=item.get("pathway"), rationale=item["rationale"],
                    source=item["source"], title=item.get("title", ""), message=item.get("message", ""),
                    severity=item.get("severity", ""))

    return RuleSet(version=data["version"],
                   thresholds={k: v for k, v in data["thresholds"].items() if not k.startswith("_")},
                   scope=tuple(make("scope", r) for r in data["scope"]),
                   pathway=tuple(make("pathway", r) for r in data["pathway"]),
                   flags=tuple(make("flag", r) for r in data["flags"]),
                   unchecked_exclusions=tuple(data.get("unchecked_exclusions", [])))


def clause_mask(ctx: dict[str, np.ndarray], clause: tuple, thresholds: dict, n: int) -> np.ndarray:
    field, op, value = clause
    if isinstance(value, str) and value.startswith("$"):
        value = thresholds[value[1:]]
    col = ctx.get(field)
    if col is None:
        return np.zeros(n, dtype=bool)
    col = np.asarray(col)
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
