"""Renderers of an assessment: notices, the probability, the suggestion, explanations, options.

Order on every screen: scope notices and warnings first, then any number.
"""

from __future__ import annotations

import streamlit as st

from components import figures, fmt, state, tables

SYNTHETIC_NOTICE = ("**Synthetic training data.** The model behind this number was trained on a simulated cohort "
                    "calibrated to published figures; it has not been validated on real patients.")
_CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, width="stretch", config=_CHART_CONFIG, key=key)


SYNTHETIC_SHORT = "**Synthetic training data:** this model has not been validated on real patients."


def patient_screen(title: str):
    """Open a screen about the current patient: header, facts banner and notices (before any number).

    Returns the current assessment; when there is none (or the record is invalid) the page says why and stops.
    """
    from components import layout, patient

    layout.header(title)
    a = patient.require_assessment()
    layout.facts_banner(a.record)
    notices(a, with_reminders=False)
    return a


def _one_line(text: str) -> str:
    """The first sentence: the one-line reason presentation mode keeps."""
    text = " ".join(str(text).split())
    for stop in (". ", "; "):
        i = text.find(stop)
        if 0 < i < 160:
            return text[:i + 1].rstrip(";") if stop == ". " else text[:i]
    return text


def notice_text(n, compact: bool, prefix: str = "") -> str:
    """One notice as the screen says it: what, why, and where from. Presentation mode keeps one line of
    each (the reason and the source); the normal view adds the design-choice thresholds."""
    head = f"**{prefix}{n.message if n.severity != 'scope' else n.title}**"
    if compact:
        return f"{head}  \nWhy: {_one_line(n.rationale)} · Source: {n.source}"
    parts = [head, n.rationale if n.rationale != n.message else "", f"Source: {n.source}. Rule {n.rule_id}."]
    if n.thresholds:
        parts.append("Threshold used: " + "; ".join(n.thresholds) + ".")
    if n.qualifies_headline:
        parts.append("The suggested next step is conditional on this.")
    return "\n\n".join(p for p in parts if p)


def notices(a, with_reminders: bool = True, compact: bool = False) -> None:
    """Scope notices (they replace the probability), fields to confirm, flags, then context and reminders.

    Every notice keeps its reason and its source; ``compact`` (presentation mode) keeps one line of each."""
    for n in a.scope_notices:
        st.error(notice_text(n, compact) + ("" if compact else "\n\nNo probability is given."), icon=":material/block:")
    s = a.suggestion
    for n in s.confirm:
        st.warning(notice_text(n, compact, prefix="Confirm: "), icon=":material/help:")
    for f in s.flags:
        if f.severity == "info":
            st.info(notice_text(f, compact), icon=":material/info:")
        else:
            st.warning(notice_text(f, compact), icon=":material/warning:")
    for c in s.context:
        st.info(notice_text(c, compact), icon=":material/person:")
    if with_reminders:
        for r in a.reminders:
            st.caption(f":material/checklist: **Check:** {r['text']} ({r['source']})")


def missing_modalities(a) -> None:
    from watchwait.schema import MODALITIES

    if a.missing_modalities:
        st.caption("Not available (all inputs blank): " + "; ".join(MODALITIES.get(m, m) for m in a.missing_modalities)
                   + ". The interval shows where the probability could move once they are known.")


def probability(a, large: bool = False) -> None:
    """The number, its interval, the synthetic-data notice and the model version, together."""
    st.metric("Probability of complete response", fmt.pct(a.probability),
              help="P(no viable tumour remains): pCR at surgery (ypT0N0) or cCR sustained >= 12 months. "
                   "The interval shows where it could land once missing inputs are known.")
    st.markdown(f"**{fmt.level(a.interval_level)} interval: {fmt.interval(a.interval)}**")
    if a.synthetic_training:
        st.warning(SYNTHETIC_SHORT if large else SYNTHETIC_NOTICE, icon=":material/science:")
    st.caption(f"Model `{a.model_version}` · rules {a.ruleset_version}")


def icon_array(a, large: bool = False, key: str = "icons") -> None:
    n = fmt.out_of_100(a.probability)
    lo, hi = fmt.out_of_100(a.interval[0]), fmt.out_of_100(a.interval[1])
    st.markdown(f"**Out of 100 patients like this one, about {n} have no tumour left** "
                f"(interval {lo} to {hi}); about {100 - n} have residual tumour.")
    chart(figures.icon_array(a.probability, a.interval, large=large), key=key)


def category(a) -> None:
    st.markdown(f"**Response category:** {a.category_label}")


def suggestion(a) -> None:
    """The suggested next step: conditional whenever one of its own notices asks for something first
    (clinical brief, rule 6), with the rule, its reason, its source and its thresholds."""
    s = a.suggestion
    with st.container(border=True, key="ww-suggestion"):
        if s.conditional:
            st.markdown(f"#### Suggested, with conditions: {s.headline}")
            st.markdown("Not an unqualified suggestion: each condition comes from a notice on this screen.")
        else:
            st.markdown(f"#### Suggested: {s.headline}")
        st.markdown(f"Why: {s.rationale}")
        st.caption(f"Source: {s.source}. Rule {s.rule_id}.")
        if s.thresholds:
            st.caption("Threshold used: " + "; ".join(s.thresholds) + ".")
        if a.in_scope:
            st.caption("The response category sets the pathway; the model qualifies it. The MDT decides.")


def reminders(a) -> None:
    for r in a.reminders:
        st.caption(f":material/checklist: **Check:** {r['text']} ({r['source']})")


def explanations(a, large: bool = False) -> None:
    """Per-modality contributions and the SHAP waterfall, both with their tables."""
    st.subheader("Why: contributions in probability points")
    st.caption(f"From the model's average patient ({a.base_probability * 100:.0f}%) to this patient "
               f"({a.probability * 100:.0f}%). Contributions are exact TreeSHAP values of the model, shared out in "
               "probability points; they explain the model, not the biology.")
    mods = tables.modality_rows(a.modality_contributions)
    chart(figures.modality_bars(mods, large=large), key="modality_chart")
    with st.expander("Per-modality contributions as a table"):
        st.dataframe(tables.modality_table(a.modality_contributions), hide_index=True, width="stretch")
    rows = tables.waterfall_rows(a.contributions)
    st.markdown("**Every input, largest effect first** (SHAP waterfall; each bar names this patient's value)")
    chart(figures.waterfall(rows, 100 * a.base_probability, 100 * a.probability, large=large), key="shap_waterfall")
    st.caption("Points are the model's log-odds contributions rescaled to add up to the change in probability, so the "
               "running total may pass below 0% or above 100% part-way; only the last bar is a probability.")
    with st.expander("Every input's contribution as a table (largest first)"):
        st.dataframe(tables.contributions_table(a.contributions), hide_index=True, width="stretch")


def options(a) -> None:
    """Every option side by side. Each figure says whom it counts ("out of 100 <who>"), the population it
    was measured in and its source; where no figure fits this patient, the card says so."""
    opts = a.suggestion.options
    cols = st.columns(len(opts))
    for col, opt in zip(cols, opts):
        with col, st.container(border=True, key=f"ww-option-{opt.pathway}"):
            st.markdown(f"#### {opt.label}")
            if opt.suggested:
                st.markdown(":blue-background[**Suggested" + (", with conditions" if a.suggestion.conditional else "") + "**]")
            if opt.criteria:
                st.caption(f"Criteria: {opt.criteria}")
            for f in opt.figures:
                st.markdown(f"**{f.n_out_of_100} out of 100** {f.denominator} {f.label}")
                if f.kind == "published":
                    st.caption(f"Measured in: {f.population}. Not personalised. Source: {f.source}")
                elif f.kind == "model":
                    st.caption(f"From the model's probability for patients like this one (synthetic training data). Source: {f.source}")
                else:
                    st.caption(f"By definition. Source: {f.source}")
            for text in opt.not_applicable:
                st.caption(f":material/block: {text}")


def surveillance(plan: dict) -> None:
    """One follow-up plan with its source (clinical brief, rule 5: schedules vary)."""
    st.subheader(plan["title"])
    st.table([{"When": s["period"], "What": s["what"]} for s in plan["schedule"]])
    st.caption(f"Source: {plan['source']}")
    if plan.get("alternative"):
        st.caption(f"Another published schedule: {plan['alternative']}")


def presentation_mode() -> bool:
    return state.presentation()
