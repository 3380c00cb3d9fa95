"""What if: change several inputs at once, and compare the scenarios side by side with the current patient."""

import streamlit as st

from components import figures, fmt, form, patient, state, tables, views
from components.safe import md
from watchwait import whatif
from watchwait.references import plain
from watchwait.schema import BY_NAME, FIELDS, G_FOLLOW, G_ID, G_IMG, G_OUT
from watchwait.validation import is_blank

a = views.patient_screen("What if")

# Follow-up is entered after the decision: it cannot change a suggestion, so it is not offered here.
CHANGEABLE = [f.name for f in FIELDS if f.group not in (G_ID, G_IMG, G_OUT, G_FOLLOW)]
CUSTOM = "(custom: choose inputs below)"
DEFAULTS = [list(whatif.PRESETS)[0], list(whatif.PRESETS)[1], CUSTOM]
NAMES = ["Scenario A", "Scenario B", "Scenario C"]


def _apply_preset(i: int) -> None:
    name = st.session_state[state.scenario_key(i, "preset")]
    changes = {k: patient.to_raw(v) for k, v in whatif.PRESETS.get(name, {}).items()}
    st.session_state[state.scenario_changes_key(i)] = changes
    st.session_state[state.scenario_key(i, "fields")] = list(changes)


def _suggested(sg) -> None:
    """The scenario's suggested next step as the Assessment screen says it: the headline, marked as
    conditional whenever a notice qualifies it (clinical brief, rule 6), never the bare pathway then."""
    lead = "Suggested, with conditions:" if sg.conditional else "Suggested:"
    st.markdown(f"{lead} **{sg.headline}** (rule `{sg.rule_id}`)")
    for n in sg.confirm:
        st.caption(f":material/help: Confirm: {n.rule_id}: {plain(n.message)}")
    for f in sg.flags:
        st.caption(f":material/warning: {f.rule_id}: {plain(f.message)}")


def _store(i: int, name: str):
    def set_value(value: object) -> None:
        state.scenario_changes(i)[name] = None if is_blank(value) else value
    return set_value


st.caption("Each scenario starts from the current patient and changes only the inputs listed in it. "
           "Blank = not available.")
scenarios = []
for i, col in enumerate(st.columns(state.SCENARIO_COUNT, gap="medium")):
    with col, st.container(border=True):
        if state.scenario_key(i, "init") not in st.session_state:
            st.session_state[state.scenario_key(i, "init")] = True
            st.session_state[state.scenario_key(i, "preset")] = DEFAULTS[i]
            _apply_preset(i)
        st.markdown(f"**{NAMES[i]}**")
        st.selectbox("Start from", [CUSTOM] + list(whatif.PRESETS), key=state.scenario_key(i, "preset"),
                     on_change=_apply_preset, args=(i,))
        if st.session_state[state.scenario_key(i, "preset")] != CUSTOM and len(st.session_state[state.scenario_key(i, "preset")]) > 28:
            # a long name is cut in the picker: in full here
            st.caption(st.session_state[state.scenario_key(i, "preset")])
        chosen = st.multiselect("Inputs to change", CHANGEABLE, key=state.scenario_key(i, "fields"),
                                format_func=lambda n: BY_NAME[n].label)
        saved = state.scenario_changes(i)
        changes = {name: saved.get(name, patient.to_raw(a.record.get(name))) for name in chosen}
        st.session_state[state.scenario_changes_key(i)] = changes
        for name in chosen:
            form.widget(BY_NAME[name], state.scenario_key(i, f"value:{name}"), changes[name], _store(i, name))
        preset = st.session_state[state.scenario_key(i, "preset")]
        label = NAMES[i] + ("" if preset == CUSTOM or changes != {k: patient.to_raw(v) for k, v in whatif.PRESETS[preset].items()}
                            else f": {preset}")
        if changes:
            scenarios.append(whatif.Scenario(label, changes))

results = whatif.compare(a.record, scenarios, assess=patient.assess)

st.subheader("Side by side")
cols = st.columns(len(results))
base_p = results[0].assessment.probability if results[0].assessment is not None else None
for col, r in zip(cols, results):
    with col, st.container(border=True):
        s = r.assessment
        if s is None:
            st.markdown(f"**{r.name}**")
            st.error("Invalid scenario: " + " ".join(md(fmt.issue_text(i)) for i in r.issues))
        elif not s.in_scope:
            st.markdown(f"**{r.name}**")
            st.error(f"{s.scope_notices[0].title}: no probability.")
            _suggested(s.suggestion)
        else:
            delta = None if (base_p is None or r is results[0]) else f"{100 * (s.probability - base_p):+.0f} points"
            st.markdown(f"**{md(r.name)}**")  # the whole title (a metric label is cut to one line with "...")
            st.metric("Probability of complete response", fmt.pct(s.probability), delta=delta, delta_color="off",
                      delta_arrow="off" if delta is None or delta.startswith(("+0 ", "-0 ")) else "auto",
                      delta_description="vs current patient" if delta else None)
            st.caption(f"interval {fmt.interval(s.interval)} · {s.category_label}")
            _suggested(s.suggestion)

if any(r.assessment is not None and r.assessment.in_scope for r in results):
    views.chart(figures.scenario_points(tables.scenario_points_rows(results), large=state.presentation()), key="scenario_chart")
table = tables.scenario_table(results)
if state.presentation():
    # the shared screen: an HTML table takes the screen's 24 px type and wraps every cell (a dataframe is drawn
    # on a canvas at its own small size). st.table renders Markdown: its cells here are field labels and validated
    # values, never free text. The row names are a column with a header of its own (an index column's empty header
    # cell is an empty table header for a screen reader: axe's empty-table-header)
    st.table(table.rename_axis(tables.SCENARIO_CORNER).reset_index(), hide_index=True)
else:
    # wide columns, so that headlines and categories are not cut (a dataframe never renders user text as Markdown)
    st.dataframe(tables.safe_frame(table), width="stretch",
                 column_config={c: st.column_config.TextColumn(width="large") for c in table.columns})
if a.synthetic_training:
    st.warning(views.SYNTHETIC_NOTICE, icon=":material/science:")
