"""Options: watch-and-wait, local excision and TME side by side, and the surveillance schedule."""

import streamlit as st

from components import fmt, views
from watchwait import evidence

a = views.patient_screen("Options")

if not a.in_scope:
    views.suggestion(a)
    st.info("No options are compared for a patient outside the model's scope: the MDT decides on standard grounds.")
    st.stop()

st.markdown(f"Figures are **x out of 100 patients like this one**, from the model's probability of complete response "
            f"**{fmt.pct(a.probability)}** (interval {fmt.interval(a.interval)}) and published rates; "
            f"the suggested pathway comes from rule `{a.suggestion.rule_id}`. They inform; the MDT decides.")
st.warning(views.SYNTHETIC_NOTICE, icon=":material/science:")
views.options(a)
plan = a.suggestion.surveillance
if plan is None:
    plan = evidence.surveillance_schedule()
    st.caption("Watch-and-wait is not the suggested pathway; the schedule it would start is shown for comparison.")
views.surveillance(plan)
