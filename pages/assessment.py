"""Assessment: scope and warnings first, then the probability with its interval, the suggestion and why."""

import streamlit as st

from components import form, layout, meeting, patient, state, views

layout.header("Assessment")
large = state.presentation()

if not patient.is_empty() and not large:
    with st.expander("Edit inputs here (the same record as on the Patient screen)", icon=":material/edit:"):
        form.render(groups=form.MODEL_GROUPS, ncols=4, scope="assessment")

a = patient.require_assessment()
layout.facts_banner(a.record)
views.notices(a, with_reminders=not large, compact=large)

if a.in_scope:
    left, middle, right = st.columns([0.75, 1.2, 1.35] if large else [1.05, 1.0, 1.25], gap="medium")
    with left:
        views.probability(a, large=large)
        views.category(a)
    with middle:
        if large:  # the shared screen: the top five reasons in the first screen; the icon array follows below
            views.top_reasons(a)
        else:
            views.icon_array(a)
    with right:
        views.suggestion(a, large=large)
        if large:
            views.reminders(a)
        views.missing_modalities(a)
    if large:
        views.icon_array(a, large=True)
    views.explanations(a, large=large)
else:
    views.category(a)
    views.suggestion(a, brief=True)  # its reason is the scope notice's, said once above
views.source_details(views.assessment_sources(a))
meeting.keep_shown_prediction(a)  # a stored case, unchanged: the prediction shown is kept with it
