"""Options: watch-and-wait, local excision, re-assessment and TME side by side, and the follow-up each starts."""

import streamlit as st

from components import fmt, state, views
from watchwait.suggest import all_surveillance

a = views.patient_screen("Options")

if not a.in_scope:
    views.suggestion(a)
    st.info("No options are compared for a patient outside the model's scope: the MDT decides on standard grounds.")
    st.stop()

large = state.presentation()
views.suggestion(a, brief=large, large=large)
st.markdown(f"Each figure says whom it counts: **patients like this one** (from the model's probability of complete "
            f"response, **{fmt.pct(a.probability)}**, interval {fmt.interval(a.interval)}) or the **published population** "
            "it was measured in, named under it. A published figure is shown only to a patient in the response category it "
            "was measured in. They inform; the MDT decides.")
st.warning(views.SYNTHETIC_SHORT if large else views.SYNTHETIC_NOTICE, icon=":material/science:")
views.options(a, large=large)
plans = all_surveillance()
suggested = a.suggestion.surveillance
for key, plan in plans.items():
    views.surveillance(plan)
    if plan != suggested:
        st.caption("Not the suggested pathway: shown for comparison.")
views.source_details(views.assessment_sources(a) + [p["source"] for p in plans.values()])
