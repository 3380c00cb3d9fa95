"""Imaging: baseline and restaging MR side by side with the tumour outline, and their radiomics with provenance."""

import streamlit as st

from components import imaging, layout, state

layout.header("Imaging")
st.caption(imaging.DEID_NOTE + " Sample images are synthetic.")

imaging.source_picker()
visits = {visit: imaging.load_visit(visit) for visit in imaging.VISITS}
if all(v is None for v in visits.values()):
    st.info("No images yet. Load a sample's images, or upload a series and its tumour ROI for each visit.")
    st.stop()

imaging.same_patient_check(visits)
cols = st.columns(2, gap="medium")
for col, visit in zip(cols, imaging.VISITS):
    with col:
        imaging.viewer(visit, visits[visit], large=state.presentation())
imaging.features(visits)
