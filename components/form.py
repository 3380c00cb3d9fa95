"""The patient form: one widget per data-dictionary field, grouped as a clinician thinks.

Numbers are typed as text so that any entry can be explained: blank = not available; an invalid entry
is shown inline with the validator's own message (column, value, allowed values). ``state.RAW`` is the
single source of truth: each run sets every widget from it, and an edit is written back to it by the
widget's ``on_change`` callback, before the run that shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import streamlit as st

from components import state
from components.safe import md
from watchwait.errors import FieldIssue
from watchwait.schema import (BY_NAME, FIELDS, G_BIO, G_BLOOD, G_CONTEXT, G_FOLLOW, G_ID, G_IMG, G_OUT, G_RESTAGE, G_TREAT,
                              G_TUMOUR, Field)
from components.values import is_blank
from components.fmt import issue_text
from watchwait.labels import code_text

NOT_AVAILABLE = "not available"
MODEL_GROUPS = (G_TUMOUR, G_BIO, G_BLOOD, G_TREAT, G_RESTAGE, G_CONTEXT)
# Groups shown folded: not needed for a suggestion.
FOLDED = (G_IMG, G_OUT, G_FOLLOW)


def label(f: Field) -> str:
    """Label with unit and allowed range, e.g. 'Age (years, 18-100)'."""
    if f.kind in ("integer", "number"):
        unit = f"{f.unit}, " if f.unit else ""
        return f"{f.label} ({unit}{f.low:g}-{f.high:g})"
    if f.required:
        return f"{f.label} (required)"
    return f.label


def _help(f: Field) -> str:
    parts = []
    if f.kind in ("integer", "number"):
        unit = f" {f.unit}" if f.unit and f.unit != "%" else (f.unit or "")
        parts.append(f"Enter a {'whole number' if f.kind == 'integer' else 'number'} from {f.low:g} to {f.high:g}{unit}"
                     + (", with a decimal point (4.5, not 4,5)." if f.kind == "number" else "."))
    if f.help:
        parts.append(_words(f, f.help))
    if f.name.startswith("ctdna_"):
        parts.append("A result below the assay's detection limit (for example <0.01) is entered as 0.")
    if not f.required and f.kind != "text":
        parts.append("Leave blank if not available.")
    return " ".join(parts)


def _words(f: Field, text: str) -> str:
    """Help text with the codes it names in words ("pd1_ctla4 covers ..." -> "anti-PD-1 + anti-CTLA-4 covers ...")."""
    import re

    for code in f.categories:
        if "_" in code:
            text = re.sub(rf"\b{re.escape(code)}\b", code_text(f.name, code), text)
    return text


def _bool_format(v: str) -> str:
    return {"": NOT_AVAILABLE, "true": "yes", "false": "no"}[v]


def _initial(f: Field, current: object) -> str:
    value = "" if is_blank(current) else str(current).strip()
    if f.kind == "category" and value not in ("",) + f.categories:
        return ""
    if f.kind == "boolean":
        value = {"1": "true", "yes": "true", "0": "false", "no": "false"}.get(value.lower(), value.lower())
        return value if value in ("", "true", "false") else ""
    return value


def widget(f: Field, key: str, current: object, on_change: Callable[[object], None]) -> object:
    """One field's widget showing ``current`` (the stored raw value); an edit calls ``on_change(value)``
    before the next run. Returns the raw value shown."""
    st.session_state[key] = _initial(f, current)
    kw = dict(key=key, help=_help(f), on_change=lambda: on_change(st.session_state[key]))
    lab = label(f)
    if f.kind == "category":
        return st.selectbox(lab, ("",) + f.categories,
                            format_func=lambda v, name=f.name: NOT_AVAILABLE if v == "" else code_text(name, v), **kw)
    if f.kind == "boolean":
        return st.selectbox(lab, ("", "true", "false"), format_func=_bool_format, **kw)
    placeholder = "blank = not available" if not f.required else ""
    if f.name.startswith("ctdna_"):
        placeholder = "0 = not detected; blank = not tested"
    # no max_chars: Streamlit ignores a pasted value longer than it, silently; the validator's message names the limit
    return st.text_input(lab, placeholder=placeholder, **kw)


def field_issue(f: Field, value: object, show_required: bool = True) -> FieldIssue | None:
    """The validator's own issue for one entry (None when valid, or blank and not required)."""
    if is_blank(value) and not (f.required and show_required):
        return None
    from watchwait.validation import check_cell  # imports pandas: not needed for an empty form

    return check_cell(f, value)[1]


def _store(name: str):
    return lambda value: state.set_field(name, None if is_blank(value) else value)


def _render_field(f: Field, issues: dict[str, FieldIssue], show_required: bool, scope: str) -> None:
    value = widget(f, state.field_key(f.name, scope), state.raw().get(f.name), _store(f.name))
    issue = field_issue(f, value, show_required)
    if issue is not None:
        st.error(md(issue_text(issue)), icon=":material/error:")
        issues[f.name] = issue


def _grid(fields: Iterable[Field], ncols: int, issues: dict, show_required: bool, scope: str) -> None:
    fields = list(fields)
    for start in range(0, len(fields), ncols):
        cols = st.columns(ncols)
        for col, f in zip(cols, fields[start:start + ncols]):
            with col:
                _render_field(f, issues, show_required, scope)


def _blood_grid(issues: dict, show_required: bool, scope: str) -> None:
    """ctDNA as a timepoint grid: C1 | C2 | C3."""
    st.caption("C1: before any treatment · C2: after radiotherapy · C3: at response assessment. "
               "ctDNA in mean tumour molecules per mL (tumour-informed MRD assay).")
    cols = st.columns(3)
    for col, name in zip(cols, ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")):
        with col:
            _render_field(BY_NAME[name], issues, show_required, scope)


# The data dictionary's sections, in its order (version 2).
GROUP_TITLES = {
    G_ID: "Identification",
    G_TUMOUR: "Patient and tumour at baseline (staging MRI)",
    G_BIO: "Biomarkers: PD-L1 and CEA",
    G_BLOOD: "ctDNA (tumour-informed assay), three timepoints",
    G_TREAT: "Neoadjuvant treatment",
    G_RESTAGE: "Response assessment (restaging)",
    G_CONTEXT: "Decision context (shown and used by the rules; never changes the probability)",
    G_IMG: "Imaging files (optional)",
    G_OUT: "Outcome (training cohorts only; never used for a prediction)",
    G_FOLLOW: "Follow-up (entered after the decision)",
}


def render(groups: Iterable[str] | None = None, ncols: int = 3, show_required: bool = True,
           scope: str = "patient") -> dict[str, FieldIssue]:
    """Render the form (all groups by default); returns the inline issues shown, by column."""
    issues: dict[str, FieldIssue] = {}
    wanted = list(groups) if groups is not None else list(GROUP_TITLES)
    for g in wanted:
        fields = [f for f in FIELDS if f.group == g]
        box = st.expander(GROUP_TITLES[g], expanded=False) if g in FOLDED else st.container(border=True)
        with box:
            if g not in FOLDED:
                st.markdown(f"**{GROUP_TITLES[g]}**")
            if g == G_BLOOD:
                _blood_grid(issues, show_required, scope)
            else:
                _grid(fields, ncols if g != G_ID else 2, issues, show_required, scope)
    return issues
