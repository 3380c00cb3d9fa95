"""About the model: the model card of the model in use."""

import streamlit as st

from components import cache, cases, figures, layout, state, tables, validation_view, views
from components.safe import md
from watchwait import ModelArtifactError, model_card
from watchwait.references import plain

layout.header("About the model")
try:
    bundle = cache.model_bundle()
    card = bundle.card
except ModelArtifactError as exc:
    st.error(f"The model could not be loaded: {md(exc)}")
    st.stop()

td = card["training_data"]
st.markdown(f"### Model `{card['model_version']}`")
if td.get("synthetic"):
    st.warning(views.SYNTHETIC_NOTICE + " A hospital replaces it by training on its own cohort (same data dictionary) "
               "with `watchwait train`; the app then shows that model's card.", icon=":material/science:")
else:
    st.info("Trained on a site cohort (not synthetic): " + md(td.get("source_file", "")))

c1, c2 = st.columns(2, gap="large")
with c1:
    st.markdown(f"**Target:** {plain(card['target'])}")
    st.markdown(f"**Intended use:** {plain(card['intended_use'])}")
    st.markdown("**Not for:**\n" + "\n".join(f"- {plain(x)}" for x in card["not_for"]))
with c2:
    st.markdown(f"**Training data:** {td['n_patients']} patients ({td['n_train']} fitted, {td['n_held_out']} held out); "
                f"complete-response prevalence {100 * td['prevalence']:.1f}%."
                + (" A simulated cohort calibrated to published figures." if td.get("synthetic") else ""))
    st.markdown("**Limitations:**\n" + "\n".join(f"- {plain(x)}" for x in card["limitations"]))
    st.caption(f"Created {card.get('created', '')}. The model file is checked against its card when it is loaded.")

st.subheader("Held-out performance, with the oracle and the baselines")
st.dataframe(tables.safe_frame(tables.metrics_table(card["metrics_held_out"])), hide_index=True, width="stretch")
st.caption("Oracle: the simulator's true probability given every input except the MRI images (it exists only for "
           "synthetic data). Clinical nomogram: logistic regression on baseline staging and treatment. "
           "'<modality> only': the model's own branch for one modality, on its own.")
for note in tables.metric_notes(card):
    st.markdown(f":material/info: {note}")

c1, c2 = st.columns([1, 1], gap="large")
with c1:
    st.subheader("Calibration (held-out)")
    curve = card["metrics_held_out"].get("calibration_curve", [])
    views.chart(figures.calibration(curve, large=state.presentation()), key="calibration_plot")
with c2:
    st.subheader("Calibration bins")
    st.dataframe(tables.safe_frame(tables.calibration_table(curve)), hide_index=True, width="stretch")

cov = card["interval_coverage_held_out"]
st.subheader("Interval coverage")
if cov.get("coverage") is not None:
    st.markdown(f"For **{100 * cov['coverage']:.1f}%** of {cov['n']} held-out patients, the probability a perfect model would give "
                f"(known here because the cohort is simulated) fell inside their {100 * cov['nominal']:.0f}% interval.")
else:
    st.markdown(f"This cohort has no known true probabilities, so the interval's coverage cannot be measured; "
                f"its median width on {cov['n']} held-out patients is {100 * cov['median_width']:.0f} percentage points.")
with st.expander("How the interval is made"):
    st.markdown(cov["method"])
st.dataframe(tables.safe_frame(tables.coverage_table(cov)), hide_index=True, width="stretch")

# the stored validation report (watchwait validate; train and update write the held-out one), or how to make one
validation_view.section(card, bundle.path, large=state.presentation())

with st.expander("Method and features"):
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}:** {model_card.method_text(v)}" for k, v in card["method"].items()))
    st.dataframe(tables.safe_frame([{"feature": f["label"], "modality": f["modality"], "inputs": ", ".join(f["inputs"])}
                                    for f in card["features"]]), hide_index=True, width="stretch")
with st.expander("Technical details (files, versions, checksums)"):
    st.markdown(f"- Model version: `{card['model_version']}`; watchwait {md(card.get('watchwait_version', ''))}\n"
                f"- Artifact sha256: `{card.get('artifact', {}).get('sha256', '')}` (verified at load)\n"
                f"- Training cohort sha256: `{td.get('cohort_sha256', '')}`; file {md(td.get('source_file', ''))}\n"
                f"- Generator: {md(td.get('generator', ''))}")

# the models trained at this site and which one each stored prediction used (the case store)
cases.site_models_section(card["model_version"])
