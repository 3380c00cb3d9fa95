"""Evidence: the published trial arms, with the arms matching this patient's regimen highlighted."""

import pandas as pd
import streamlit as st

from components import cache, figures, patient, state, tables, views
from watchwait import evidence

a = views.patient_screen("Evidence")
large = state.presentation()
rec = a.record

arms = cache.evidence_table().copy()
arms["match"] = [evidence.match_level(r, rec) for r in arms.to_dict(orient="records")]
n_same = int((arms["match"] == evidence.MATCH_SAME).sum())
n_similar = int((arms["match"] == evidence.MATCH_SIMILAR).sum())
st.markdown(f"**This patient's regimen:** {evidence.regimen_text(rec)}. "
            f"**{n_same}** trial arm(s) used the same regimen, **{n_similar}** a similar one (same RT and immunotherapy class).")
st.caption("Rates are as reported by each trial (endpoints differ: pCR, cCR, CR, cCR+ncCR); they describe trial "
           "cohorts, not this patient. Source: review 000 Tables 1-2 and protocol 001 (evidence_trials.csv).")

only = st.toggle("Only arms with the same or a similar regimen", key="evidence_only_matching", value=False)
shown = arms[arms["match"] != ""] if only else arms
order = {evidence.MATCH_SAME: 0, evidence.MATCH_SIMILAR: 1, "": 2}
shown = shown.assign(_o=shown["match"].map(order)).sort_values(["_o", "rate_pct"], ascending=[True, False], kind="stable").drop(columns="_o")

unreported = arms[(arms["match"] != "") & arms["rate_pct"].isna()]
if len(unreported):
    st.info("Matching arms without a reported rate (ongoing trials; in the table, not the plot): "
            + "; ".join(f"{r.arm_label} ({r.registry_id or 'not registered'}, {r.status})" for r in unreported.itertuples()))
if shown["rate_pct"].notna().any():
    views.chart(figures.forest(shown, large=large), key="forest_plot")
else:
    st.info("No reported rates among the arms shown.")
st.dataframe(tables.evidence_table(shown), hide_index=True, width="stretch",
             column_config={"registry id": st.column_config.TextColumn(width="medium"),
                            "study": st.column_config.TextColumn(width="medium"),
                            "match": st.column_config.TextColumn(width="small")})

with st.expander("How drug names map to the data dictionary's immunotherapy classes"):
    st.dataframe(pd.DataFrame({"drug (evidence table)": list(evidence.DRUG_CLASS),
                               "immunotherapy class": list(evidence.DRUG_CLASS.values())}), hide_index=True)
    st.caption("An arm has the same regimen when RT, sequence and immunotherapy class are equal, systemic chemotherapy "
               "is compatible (capecitabine with long-course RT counts as radiosensitiser) and regorafenib matches; "
               "similar when RT and immunotherapy class are equal. Wilson 95% intervals use the reported rate and n.")
