"""Renderers of an assessment: notices, the probability, the suggestion, explanations, options.

Order on every screen: scope notices and warnings first, then any number.
"""

from __future__ import annotations

import streamlit as st

from components import figures, fmt, state, tables
from watchwait import agreement, present
from watchwait.references import plain
from watchwait.schema import MODALITIES

SYNTHETIC_NOTICE = ("**Synthetic training data.** The model behind this number was trained on a simulated cohort "
                    "calibrated to published figures; it has not been validated on real patients.")
_CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def chart(fig, key: str) -> None:
    # theme=None: Streamlit's chart theme would replace the figure's fonts (presentation mode's 24 px) and colours
    st.plotly_chart(fig, width="stretch", config=_CHART_CONFIG, key=key, theme=None)


SYNTHETIC_SHORT = "**Synthetic training data:** this model has not been validated on real patients."


def patient_screen(title: str):
    """Open a screen about the current patient: header, facts banner and notices (before any number).

    Returns the current assessment; when there is none (or the record is invalid) the page says why and stops.
    """
    from components import layout, patient

    layout.header(title)
    a = patient.require_assessment()
    layout.facts_banner(a.record)
    notices(a, with_reminders=False, compact=state.presentation())
    return a


def notice_text(n, compact: bool, prefix: str = "") -> str:
    """One notice as the screen says it (its words: :func:`watchwait.present.notice`): what (bold), why, where from
    (source and rule), any threshold with its status (published or a design choice of this tool, clinical brief
    rule 11), and whether it conditions the suggested next step. Presentation mode keeps one line of reason; the
    thresholds stay in both modes."""
    v = present.notice(n)
    lines = [f"**{prefix}{v.head}**"]
    if v.why:
        lines.append(f"Why: {present.one_line(v.why) if compact else v.why}")
    conditions = " · :material/arrow_forward: the suggested next step is conditional on this" if v.conditions_suggestion else ""
    lines.append(f"Source: {v.source} · rule {v.rule_id}" + ("" if compact else conditions))
    if v.thresholds:
        threshold = "Threshold used: " + "; ".join(v.thresholds)
        if compact:  # the shared screen: source and threshold on one line
            lines[-1] += " · " + threshold
        else:
            lines.append(threshold)
    return "  \n".join(lines)


#: (group, level) of a notice (watchwait.present.NoticeText) -> its icon
_ICONS = {("scope", "error"): ":material/block:", ("confirm", "warning"): ":material/help:",
          ("flag", "warning"): ":material/warning:", ("flag", "info"): ":material/info:",
          ("context", "info"): ":material/person:"}


def _item(v, compact: bool) -> tuple:
    """A notice as a box of the grid: (Streamlit's box of its level, its text, its icon)."""
    return getattr(st, v.level), notice_text(v, compact), _ICONS[v.group, v.level]


def _notice_grid(items: list[tuple], compact: bool, columns: int = 2) -> None:
    """Notices one under the other; on the shared screen (``compact``) in two columns, each notice going
    to the shorter one (first two side by side), each cut to its first two lines (layout.py, ``ww-notices``:
    a visual cut only, the whole text stays on the page for a screen reader), so that the number, the reasons
    and the suggestion still show on a 1920x1080 screen when several notices fire (DEMO-13 has four)."""
    if not compact:
        for show, text, icon in items:
            show(text, icon=icon)
        return
    with st.container(key="ww-notices"):
        if len(items) < 2:
            for show, text, icon in items:
                show(text, icon=icon)
            return
        stacks: list[list[tuple]] = [[] for _ in range(columns)]
        load = [0] * columns
        for item in items:
            k = load.index(min(load))  # the shorter column (the first of equals): first items side by side
            stacks[k].append(item)
            load[k] += 1
        for col, stack in zip(st.columns(columns, gap="small"), stacks):
            with col:
                for show, text, icon in stack:
                    show(text, icon=icon)


def _full_notices(notes: list) -> None:
    """The shared screen's notices in full (reason, source, threshold, whether they condition the suggested
    next step), one click away: the screen itself shows the first two lines of each."""
    with st.expander(f"The {len(notes)} notice{'s' if len(notes) != 1 else ''} above in full: reason, source, threshold",
                     icon=":material/unfold_more:", key="ww-notices-full"):
        st.markdown("\n\n".join(notice_text(n, compact=False) for n in notes))


def notices(a, with_reminders: bool = True, compact: bool = False) -> None:
    """Scope notices (they replace the probability), fields to confirm, flags, then context and reminders (their
    words: :func:`watchwait.present.notices`).

    Every notice keeps its reason and its source; ``compact`` (presentation mode) shows the first two lines of
    each confirm notice and flag (what to do), with the full text one click away, and context in one line each."""
    said = present.notices(a)
    for v in said.scope:
        st.error(notice_text(v, compact) + ("" if compact else "  \nNo probability is given."), icon=_ICONS["scope", "error"])
    items = [_item(v, compact) for v in said.cautions]
    if compact and len(items) + len(said.context) > 4:  # the shared screen with many notices: three columns, the
        # context among them (each cut to two lines like the others), so the number and the suggestion stay on screen
        items += [_item(v, compact) for v in said.context]
        _notice_grid(items, compact, columns=3)
        _full_notices([*said.cautions, *said.context])
    elif compact:  # the shared screen: context (shown, never used) in one line each, after the flags
        _notice_grid(items, compact)
        if items:
            _full_notices(list(said.cautions))
        for v in said.context:
            st.markdown(f"{_ICONS['context', 'info']} **{v.head}** {present.one_line(v.why)} (source: {v.source} · rule {v.rule_id})")
    else:
        items += [_item(v, compact) for v in said.context]
        _notice_grid(items, compact)
    if with_reminders:
        reminders(a)


def missing_modalities(a) -> None:
    from watchwait.schema import MODALITIES

    not_used = getattr(a, "not_used", {}) or {}
    blank = [m for m in a.missing_modalities if m not in not_used]
    if blank:
        st.caption("Not available (all inputs blank): " + "; ".join(MODALITIES.get(m, m) for m in blank)
                   + ". The probability is estimated without them; the interval shows how certain that estimate is.")
    if not_used:
        st.caption("Measured but not used (the notice above says why): "
                   + "; ".join(MODALITIES.get(m, m) for m in not_used) + ". The probability is estimated without them.")


def probability(a, large: bool = False) -> None:
    """The number, its interval, the synthetic-data notice and the model version, together."""
    st.metric("Probability of complete response", fmt.pct(a.probability),
              help="P(no viable tumour remains): pCR at surgery (ypT0N0) or cCR sustained >= 12 months. "
                   "The 90% interval shows where the probability for a patient with exactly these findings lies, given "
                   "how much the model could be wrong (wider when tests are missing or the patient is unlike most training patients).")
    st.markdown(f"**{fmt.level(a.interval_level)} interval: {fmt.interval(a.interval)}**")
    outside = [f for f in getattr(a, "outside_data", []) if not f.joint]
    if outside:  # brief rule 12: the interval is widened, and the screen says so beside it
        names = "; ".join(dict.fromkeys(f.label for f in outside))
        st.caption(f":material/open_in_full: Interval widened for {names} (outside the model's training data)" if large else
                   f":material/open_in_full: Interval widened: it also covers the estimate with {names} left blank "
                   "(outside the model's training data; notices above).")
    if present.disputed(a):  # brief rule 3, third case: never a plain number beside the picture
        st.error(agreement.DISPUTED_SHORT if large else agreement.DISPUTED + ".", icon=":material/balance:")
    if a.synthetic_training:
        st.warning(SYNTHETIC_SHORT if large else SYNTHETIC_NOTICE, icon=":material/science:")
    if not large:  # the version is on About the model; the shared screen keeps the room for the reasons
        st.caption(f"Model `{a.model_version}` · rules {a.ruleset_version}")


def icon_array(a, large: bool = False, key: str = "icons") -> None:
    p, (lo, hi) = a.probability, a.interval
    yes, no, band = present.about(p), present.about(p, complement=True), present.count_range(lo, hi)
    if present.disputed(a):  # brief rule 3, third case: not a plain count
        st.markdown(f"**Disputed** (the number and the clinical picture disagree): the model says that out of 100 "
                    f"patients like this one, {yes} have no tumour left (interval {band}); {no} "
                    "have residual tumour.")
    else:
        st.markdown(f"**Out of 100 patients like this one, {yes} have no tumour left** "
                    f"(interval {band}); {no} have residual tumour.")
    chart(figures.icon_array(a.probability, a.interval, large=large), key=key)


def top_reasons(a, n: int = present.N_REASONS) -> None:
    """The ``n`` inputs that moved this patient's probability most (:func:`watchwait.present.top_reasons`), each
    with its points and, when short, this patient's value: the reasons an MDT reads on the shared screen."""
    reasons = present.top_reasons(a, n)
    st.markdown(f"**Top {len(reasons.shown)} reasons** (probability points; recorded values)")
    lines = []
    for r in reasons.shown:
        arrow = ":material/arrow_upward:" if r.raises else ":material/arrow_downward:"
        value = f": {r.short}" if len(r.short) <= 40 else ""
        lines.append(f"- {arrow} **{r.points_text}** {r.label}{value}")
    st.markdown("\n".join(lines))
    if reasons.not_tested:
        st.caption("Not tested (not evidence): " + "; ".join(reasons.not_tested))
    if reasons.not_used:
        st.caption("Measured, not used (notice above): " + "; ".join(reasons.not_used))


def category(a) -> None:
    if a.in_scope:
        st.markdown(f"**Response category:** {a.category_label}")
    else:  # the local response does not set the pathway of a patient outside the scope: never read as a cCR decision
        st.markdown(f"**Local response at restaging:** {a.category_label}. It does not set the next step: this patient "
                    "is outside the tool's scope (above).")


def caution_label(n: int) -> str:
    """The shared screen's link from the suggestion to the cautions it rests on (their rules are inside, in full)."""
    return ("**Why these conditions:** the caution above, in full" if n == 1 else
            f"**Why these conditions:** the {n} cautions above, in full")


def suggestion(a, brief: bool = False, large: bool = False) -> None:
    """The suggested next step (its words: :func:`watchwait.present.suggestion`): conditional whenever one of its
    own notices asks for something first (clinical brief, rule 6), its conditions one per line, with the rule, its
    reason, its source and its thresholds (each saying whether it is published or a design choice of this tool,
    rule 11).

    ``brief`` (the Options screen on the shared screen, where the cards matter): the headline, its
    conditions, the rule and its source; the reason stays on the Assessment screen. ``large`` (the
    shared screen): the box "with conditions" says it, so the line saying so again is left out."""
    s = present.suggestion(a)
    quals = s.conditioning
    # the shared screen with a long list of conditions: the pathway's reason goes into the cautions' fold, so the box
    # stays on one screen
    folded = large and s.conditional and len(s.conditions) > 2 and bool(quals)
    with st.container(border=True, key="ww-suggestion"):
        if s.conditional:
            st.markdown(f"#### Suggested, with conditions: {s.lead}")
            if s.conditions:
                st.markdown("\n".join(f"- **{c}**" for c in s.conditions))
            if not (brief or large):
                st.caption("Not an unqualified suggestion: each condition comes from a notice on this screen.")
            elif large:  # the shared screen cuts the notices to two lines: the box names the cautions it rests on,
                # each in full one click away
                if quals:
                    with st.expander(caution_label(len(quals)), icon=":material/warning:", key="ww-suggestion-cautions"):
                        if folded and s.rationale:
                            st.markdown(f"**Why this pathway:** {plain(s.rationale)}")
                        st.markdown("\n\n".join(notice_text(n, compact=False) for n in quals))
        else:
            st.markdown(f"#### Suggested: {s.lead}")
        if not brief and not folded:
            st.markdown(f"Why: {plain(s.rationale)}")
        st.caption(f"Source: {s.source} · rule {s.rule_id}")
        if s.thresholds:
            st.caption("Threshold used: " + "; ".join(s.thresholds))
        if s.in_scope and not (brief or large):
            st.caption("The response category sets the pathway; the model qualifies it. The MDT decides.")


def reminders(a) -> None:
    for r in a.reminders:
        st.caption(f":material/checklist: **Check:** {plain(r['text'])} ({plain(r['source'])})")


def explanations(a, large: bool = False) -> None:
    """Per-modality contributions and the SHAP waterfall, both with their tables."""
    st.subheader("Why: contributions in probability points")
    st.caption(f"From the model's average patient ({fmt.pct(a.base_probability)}) to this patient "
               f"({fmt.pct(a.probability)}). Contributions are exact TreeSHAP values of the model, shared out in "
               "probability points; they explain the model, not the biology.")
    mods = tables.modality_rows(a.modality_contributions)
    chart(figures.modality_bars(mods, large=large), key="modality_chart")
    not_used = getattr(a, "not_used", {}) or {}
    why_not = tables.not_tested_text(a.contributions, not_used)
    if why_not:
        st.markdown(f":material/block: {why_not}")
    if not_used:
        st.markdown(f":material/block: {tables.not_used_text(not_used)}")
    with st.expander("Per-modality contributions as a table"):
        st.dataframe(tables.safe_frame(tables.modality_table(a.modality_contributions)), hide_index=True, width="stretch")
    rows = tables.waterfall_rows(a.contributions)
    nt = tables.not_tested(a.contributions)
    start_label = ("Average patient without " + " or ".join(MODALITIES.get(m, m) for m in nt)) if nt else "Average patient (model baseline)"
    technical = _technical_names()
    st.markdown("**Every input, largest effect first** (SHAP waterfall; each bar names this patient's value)")
    chart(figures.waterfall(rows, a.probability, large=large, start_label=start_label,
                            hover=[_hover(a, f, technical) for f in rows["feature"]]),
          key="shap_waterfall")
    st.caption("The axis is spaced as the model adds its contributions (the odds scale, labelled in probability), so "
               "every point of the running total is a probability, and the ends (1% and 99%) are spread out. "
               "A bar's length is its contribution; its number is the contribution in probability points, as in the "
               "table below.")
    with st.expander("Every input's contribution as a table (largest first), with its technical name"):
        st.dataframe(tables.safe_frame(tables.contributions_table(a.contributions, technical, not_used)), hide_index=True, width="stretch")


def _hover(a, feature: str, technical: dict[str, str]) -> str:
    """A bar's hover: this patient's full value and the input's technical name."""
    c = next((c for c in a.contributions if c.feature == feature), None)
    parts = [] if c is None else [f"value: {c.value}"]
    if feature in technical:
        parts.append("technical name: " + technical[feature])
    return "<br>".join(parts)


def _technical_names() -> dict[str, str]:
    from components import cache

    # the model is loaded (there is an assessment on screen)
    return tables.technical_names(cache.model_bundle().predictor.features_)


def options(a, large: bool = False) -> None:
    """Every option in its own column, as PREDICT lays them out (:func:`watchwait.present.options`): first this
    patient's figures (from the model), each with an icon array of 100; then, visibly apart, the published cohort
    figures, each naming the population it was measured in (not personalised). Where no figure fits this patient,
    the card says so in words, never as a figure."""
    opts = present.options(a)
    cols = st.columns(len(opts), gap="small")
    for col, opt in zip(cols, opts):
        with col, st.container(border=True, key=f"ww-option-{opt.pathway}"):
            st.markdown(f"#### {opt.label}")
            if opt.suggested:
                st.markdown(f":blue-background[**{opt.badge}**]")
            else:
                st.caption("Not the suggested next step for this patient: the reason is in the suggestion above.")
            if opt.criteria:
                st.caption(f"Criteria: {opt.criteria}")
            with st.container(key=f"ww-opt-mine-{opt.pathway}"):
                st.markdown("**For patients like this one**")
                for f in opt.mine:
                    if f.disputed:  # brief rule 3: not a plain count beside a surgical headline
                        st.markdown(f"**Disputed:** the model's {f.count} {f.of_whom}")
                    else:
                        st.markdown(f"**{f.count}** {f.of_whom}")
                    if f.kind == "model":
                        chart(figures.option_icons(f.n_out_of_100, f.band, large=large), key=f"icons:{opt.pathway}:{f.id}")
                    st.caption(f.note)
                if not opt.mine:
                    st.caption("No figure from the model for this option.")
            with st.container(border=True, key=f"ww-opt-cohort-{opt.pathway}"):
                st.markdown("**Published cohorts** (not personalised)")
                for f in opt.cohort:
                    st.markdown(f"{f.count} {f.of_whom}")
                    st.caption(f.note)
                for text in opt.not_applicable:
                    st.caption(f":material/block: {text}")
                if not opt.cohort and not opt.not_applicable:
                    st.caption("No published figure for this option in this tool's sources.")


def surveillance(plan: dict) -> None:
    """One follow-up plan with its source (clinical brief, rule 5: schedules vary)."""
    st.subheader(plan["title"])
    st.table([{"When": s["period"], "What": s["what"]} for s in plan["schedule"]], hide_index=True)
    st.caption(f"Source: {plain(plan['source'])}")
    if plan.get("alternative"):
        st.caption(f"Another published schedule: {plain(plan['alternative'])}")


def presentation_mode() -> bool:
    return state.presentation()


def assessment_sources(a) -> list[str]:
    """Every source the screens of this assessment cite, as the data files write them."""
    s = a.suggestion
    out = [n.source for n in a.scope_notices] + [n.source for n in s.confirm] + [f.source for f in s.flags]
    out += [c.source for c in s.context] + [r["source"] for r in a.reminders] + [s.source]
    for opt in s.options:
        out += [f.source for f in opt.figures]
    return out


def source_details(sources) -> None:
    """The technical details of the sources cited on this screen (file names, hashes, sections, evidence
    grades), one click away; the screen itself cites them as clinicians know them (watchwait.references)."""
    from watchwait import references

    rows = references.technical(sources)
    if not rows:
        return
    with st.expander("Sources: technical details (files, sections, evidence grades)", icon=":material/description:"):
        st.dataframe(tables.safe_frame(rows), hide_index=True, width="stretch")
        st.caption("References: " + "; ".join(f"{r.citation}: {r.document}" for r in references.REFERENCES))
