"""Imaging: the open patient's baseline and restaging MR side by side with the tumour outline, and their radiomics."""

import streamlit as st

from components import imaging, layout, state

layout.header("Imaging")
st.caption(imaging.DEID_NOTE + " Sample images are synthetic.")

if not imaging.source_picker():
    st.stop()
bound = state.imaging_visits()
if not bound:
    st.info("No images yet. Load this patient's sample images, or upload a series and its tumour ROI for each visit.")
    st.stop()

cols = st.columns(2, gap="medium")
for col, visit in zip(cols, imaging.VISITS):
    with col:
        imaging.viewer(visit, bound.get(visit), large=state.presentation())
imaging.features(imaging.loaded())
