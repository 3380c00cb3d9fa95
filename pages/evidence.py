"""Evidence: the published trial arms, with the arms matching this patient's regimen highlighted."""

import pandas as pd
import streamlit as st

from components import cache, figures, state, tables, views
from watchwait import evidence, references

a = views.patient_screen("Evidence")
large = state.presentation()
rec = a.record

arms = cache.evidence_table().copy()
arms["match"] = [evidence.match_level(r, rec) for r in arms.to_dict(orient="records")]
n_same = int((arms["match"] == evidence.MATCH_SAME).sum())
n_similar = int((arms["match"] == evidence.MATCH_SIMILAR).sum())
st.markdown(f"**This patient's regimen:** {evidence.regimen_text(rec)}. "
            f"**{n_same}** trial arm(s) used the same regimen, **{n_similar}** a similar one (same RT and immunotherapy class).")
st.caption("Each rate is of the endpoint the trial reported, shown next to it (endpoints differ: "
           + "; ".join(f"{k} = {v}" for k, v in tables.EVIDENCE_ENDPOINTS.items())
           + "). Rates of different endpoints are not comparable. They describe trial cohorts, not this patient. "
           "Source: " + references.BY_KEY["evidence table"].citation + ".")

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
table = tables.evidence_table(shown)
if large:  # the shared screen: an HTML table in the screen's 24 px type, every cell wrapped (as on What if); its
    # cells are the project's own evidence file, no typed text (st.table renders Markdown)
    st.table(table[tables.EVIDENCE_SHARED_COLUMNS], hide_index=True)
    st.caption(f"{len(tables.EVIDENCE_SHARED_COLUMNS)} of the table's {len(table.columns)} columns; the desk view "
               "(Presentation mode off) has all of them, with each row's source.")
else:
    st.dataframe(tables.safe_frame(table), hide_index=True, width="stretch",
                 column_config={"Registry ID": st.column_config.TextColumn(width="medium"),
                                "Trial": st.column_config.TextColumn(width="medium"),
                                "Match to this patient's regimen": st.column_config.TextColumn(width="medium"),
                                tables.PRESERVATION_DEFINITION_COLUMN: st.column_config.TextColumn(width="large")})
st.caption(f"'{tables.PRESERVATION_COLUMN}' is not the same measure in every trial: some report anal (sphincter) "
           "preservation, others the review's 'organ preservation rate', whose definitions vary (anal preservation "
           f"at surgery, at 1-3 years, or no stoma). Read each figure with '{tables.PRESERVATION_DEFINITION_COLUMN}' "
           "next to it.")

with st.expander("How drug names map to the data dictionary's immunotherapy classes"):
    st.dataframe(tables.safe_frame(pd.DataFrame({"drug (evidence table)": list(evidence.DRUG_CLASS),
                                                 "immunotherapy class": list(evidence.DRUG_CLASS.values())})),
                 hide_index=True)
    st.caption("An arm has the same regimen when RT, sequence and immunotherapy class are equal, systemic chemotherapy "
               "is compatible (capecitabine with long-course RT counts as radiosensitiser) and regorafenib matches; "
               "similar when RT and immunotherapy class are equal. Wilson 95% intervals use the reported rate and n.")
views.source_details(["evidence_trials.csv: review 000 Tables 1-2 and protocol 001"] + list(arms["source"]))
