"""Trajectories: ctDNA (log scale, detection limit marked) and CEA across the three timepoints."""

import streamlit as st

from components import figures, state, tables, views
from watchwait.schema import CTDNA_COLUMNS

a = views.patient_screen("Trajectories")
large = state.presentation()
rec = a.record


def _table(df) -> None:
    """A small table; on the shared screen as HTML, in the screen's 24 px type (a dataframe is drawn on a canvas)."""
    if large:
        st.table(df, hide_index=True)
    else:
        st.dataframe(tables.safe_frame(df), hide_index=True, width="stretch")


left, right = st.columns(2, gap="large")
with left:
    st.subheader("ctDNA (tumour-informed MRD assay)")
    views.chart(figures.ctdna_trajectory([rec.get(c) for c in CTDNA_COLUMNS], large=large), key="ctdna_chart")
    _table(tables.ctdna_table(rec))
    k = a.ctdna
    cleared = {1.0: "yes (detected at C1, not detected at C3)", 0.0: "no (still detected at C3)"}.get(
        k.get("ctdna_cleared"), "not assessable (needs C1 detected and C3 tested)")
    fold = k.get("ctdna_log10_fold_c3")
    st.markdown(f"**Cleared by response assessment:** {cleared}" +
                (f" · **C3/C1 change:** {fold:+.2f} log10" if fold is not None and k.get("ctdna_detected_c1") == 1.0 else ""))
    st.caption(f"0 = tested, not detected: drawn below the detection limit ({figures.CTDNA_DETECTION_LIMIT:g} MTM/mL, "
               "an assumed assay limit) with an open triangle. Blank = not tested: not drawn.")
with right:
    st.subheader("CEA")
    views.chart(figures.cea_trajectory(rec.get("cea_baseline_ng_ml"), rec.get("cea_post_ng_ml"), large=large), key="cea_chart")
    _table(tables.cea_table(rec))
