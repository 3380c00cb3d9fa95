"""The case store's checks of what it is given (pseudonyms, texts, versions, follow-up, figures) and the small
helpers its queries share (time stamps, hashes, field-level changes). Pure functions; :mod:`watchwait.store.store`
holds the Store that uses them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping

import numpy as np

from watchwait.errors import RecordError, quoted
from watchwait.labels import code_text
from watchwait.schema import BY_NAME, COLUMNS, FOLLOW_UP
from watchwait.store.entities import FieldChange, InvalidEntry
from watchwait.store.identity import require, who
from watchwait.timetext import utc_minute


#: The MDT's choices (the clinical brief's three pathways), with the project's codes.
PATHWAYS: tuple[str, ...] = ("watch_and_wait", "local_excision", "tme")
PSEUDONYM_RE = re.compile(BY_NAME["patient_id"].pattern)
MAX_TEXT = 4000
MAX_NAME = 200
MAX_PRESENT = 60
MAX_PAGE_SIZE = 200
_CHUNK = 500


def pathway_label(code: str) -> str:
    return code_text("management", code)


# ----------------------------------------------------------------------------- small helpers

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _when(ts: str | None) -> str:
    """'2026-11-30 14:03 UTC' for a stored time."""
    return utc_minute(ts, "an unknown time")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, dt.date | dt.datetime):
        return o.isoformat()
    return str(o)


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_json_default)


def record_hash(record: Mapping) -> str:
    """sha256 of the record's canonical JSON (sorted keys): the ``input_hash`` of a prediction."""
    return hashlib.sha256(_dumps(dict(record)).encode()).hexdigest()


def _pseudonym(value: object) -> str:
    f = BY_NAME["patient_id"]
    if isinstance(value, str) and PSEUDONYM_RE.fullmatch(value):
        return value
    raise InvalidEntry(f"{f.label} must be {f.allowed()}; got {quoted(value)} instead.")


def _text(label: str, value: object, *, required: bool, limit: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            raise InvalidEntry(f"{label} is required; it was left blank.")
        return None
    if not isinstance(value, str):
        raise InvalidEntry(f"{label} must be text; got {quoted(value)} instead.")
    value = value.strip()
    if len(value) > limit:
        raise InvalidEntry(f"{label} must be at most {limit:,} characters; got {len(value):,}.")
    return value


def _who(actor: object, screen: object) -> tuple[str, str]:
    return (_text("Who made the change (actor)", actor, required=True, limit=MAX_NAME),  # type: ignore[return-value]
            _text("The screen it was made on", screen, required=True, limit=100))


def _permit(actor: object, action: str, doing: str | None = None) -> tuple[object, str | None]:
    """Before anything else in a write: a :class:`~watchwait.store.identity.Person` without a role for ``action``
    is refused (:class:`~watchwait.store.entities.NotPermitted`); returns (the name to store, the subject to
    store). A plain str passes unchecked (local mode) with no subject; :func:`_who` checks the name as before."""
    require(actor, action, doing)
    return who(actor)


def _meeting_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidEntry(f"The meeting must be given by its number (a whole number from 1); got {quoted(value)} instead.")
    return int(value)


def _version_arg(label: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidEntry(f"{label} must be a version number (a whole number from 1) or None; got {quoted(value)} instead.")
    return int(value)


def _validate_follow_up(follow_up: object) -> dict:
    if not isinstance(follow_up, Mapping):
        raise InvalidEntry(f"Follow-up must be a mapping of follow-up column to value; got {type(follow_up).__name__} instead.")
    from watchwait.validation import check_cell

    unknown = [k for k in follow_up if k not in FOLLOW_UP]
    if unknown:
        raise InvalidEntry(f"Follow-up takes only the follow-up columns ({', '.join(FOLLOW_UP)}); got "
                           f"{', '.join(quoted(k) for k in unknown[:5])}.")
    out, issues = {}, []
    for name in FOLLOW_UP:
        if name not in follow_up:
            continue
        value, issue = check_cell(BY_NAME[name], follow_up[name])
        if issue:
            issues.append(issue)
        elif value is not None:
            out[name] = value
    if issues:
        raise RecordError(issues, context="follow-up")
    if not out:
        raise InvalidEntry("Follow-up needs at least one value (" + ", ".join(BY_NAME[n].label for n in FOLLOW_UP) + ").")
    return out


def _changes(before: Mapping | None, after: Mapping | None) -> tuple[FieldChange, ...]:
    before, after = dict(before or {}), dict(after or {})
    order = {c: i for i, c in enumerate(COLUMNS)}
    keys = sorted(set(before) | set(after), key=lambda k: (order.get(k, len(order)), k))
    out = []
    for k in keys:
        b, a = before.get(k), after.get(k)
        if b != a:
            out.append(FieldChange(k, BY_NAME[k].label if k in BY_NAME else k, b, a))
    return tuple(out)


def _finite(label: str, value: object, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not math.isfinite(float(value)) \
            or not low <= float(value) <= high:
        raise InvalidEntry(f"{label} must be a number from {low:g} to {high:g}; got {quoted(value)} instead.")
    return float(value)


def _str_list(label: str, values: object, limit: int = 200) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidEntry(f"{label} must be a list of texts; got {quoted(values)} instead.")
    out = []
    for v in values:
        if not isinstance(v, str) or len(v) > limit:
            raise InvalidEntry(f"{label} must be a list of texts of at most {limit} characters; got {quoted(v)}.")
        out.append(v)
    return out


# ----------------------------------------------------------------------------- engine Assessment -> prediction

def prediction_fields(assessment, bundle) -> dict:
    """Keyword arguments of :meth:`Store.record_prediction` from a :class:`watchwait.engine.Assessment`
    and the :class:`watchwait.artifacts.ModelBundle` that made it (actor and screen are the caller's)."""
    s = assessment.suggestion
    rule_ids = [n.rule_id for n in assessment.scope_notices] + ([s.rule_id] if s.rule_id else [])
    flags = [n.rule_id for n in (*s.confirm, *s.flags)]
    return dict(
        model_version=bundle.version,
        model_hash=str(bundle.card.get("artifact", {}).get("sha256", "")),
        input_hash=record_hash(assessment.record),
        probability=assessment.probability,
        interval=assessment.interval,
        contributions=[{"feature": c.feature, "label": c.label, "modality": c.modality, "value": c.value,
                        "shap_pp": round(float(c.shap_pp), 6), "not_tested": bool(c.not_tested)}
                       for c in assessment.contributions],
        category=assessment.category,
        suggestion=s.pathway,
        rule_ids=rule_ids,
        flags=flags,
    )


# ----------------------------------------------------------------------------- the store
