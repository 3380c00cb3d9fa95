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


def notices(a, with_reminders: bool = True, compact: bool = False) -> None:
    """Scope notices (they replace the probability), discordance flags, then reminders.

    ``compact`` (presentation mode): one line per flag (message and rule); the rationale and source stay
    on the normal view."""
    for n in a.scope_notices:
        st.error(f"**{n.title}**\n\n{n.rationale}\n\nNo probability is given. Rule `{n.rule_id}`; source: {n.source}.",
                 icon=":material/block:")
    for f in a.suggestion.flags:
        text = (f"**{f.message}** (rule `{f.rule_id}`)" if compact
                else f"**{f.message}**\n\n{f.rationale}\n\nRule `{f.rule_id}`; source: {f.source}.")
        if f.severity == "info":
            st.info(text, icon=":material/info:")
        else:
            st.warning(text, icon=":material/warning:")
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
    s = a.suggestion
    with st.container(border=True, key="ww-suggestion"):
        st.markdown(f"#### Suggested: {s.label}")
        st.markdown(f"Rule `{s.rule_id}`: {s.rationale}")
        st.caption(f"Source: {s.source}")
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
    """Watch-and-wait, local excision and TME side by side with their 'out of 100' figures."""
    cols = st.columns(len(a.suggestion.options))
    for col, opt in zip(cols, a.suggestion.options):
        with col, st.container(border=True):
            st.markdown(f"#### {opt.label}")
            if opt.suggested:
                st.markdown(":blue-background[**Suggested by rule " + a.suggestion.rule_id + "**]")
            for f in opt.figures:
                if f.n_out_of_100 is None:
                    st.markdown(f"- **no figure**: {f.label}")
                else:
                    kind = "" if f.kind == "patient" else " *(published rate for the group, not personalised)*"
                    st.markdown(f"- **{f.n_out_of_100} out of 100** {f.label}{kind}")
                st.caption(f"Source: {f.source}" + (f" · formula: {f.formula}" if f.formula else ""))


def surveillance(plan: dict) -> None:
    st.subheader("Surveillance that watch-and-wait would start")
    st.table([{"period": s["period"], "what": s["what"]} for s in plan["schedule"]])
    st.caption(f"Source: {plan['source']}")
    if plan.get("alternative"):
        st.caption(f"Alternative schedule: {plan['alternative']}")


def presentation_mode() -> bool:
    return state.presentation()
