"""Patient: load a sample, import one row of a cohort CSV, or type; blanks = not available."""

import streamlit as st

from components import cache, fmt, form, layout, patient, state
from watchwait import CohortFileError, RecordError
from watchwait.schema import MODALITIES

layout.header("Patient")


def _load(record: dict) -> None:
    state.replace_patient(*patient.record_to_raw(record))


def _load_sample() -> None:
    cache.wait_for_warmup()  # callbacks run before the page: no heavy import alongside the warm-up
    _load(cache.sample_records()[st.session_state[state.SAMPLE_CHOICE]])


src_sample, src_file, src_clear = st.columns([2, 3, 1], vertical_alignment="bottom")
with src_sample:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.selectbox("Sample patient (synthetic)", cache.sample_ids(), key=state.SAMPLE_CHOICE,
                 help="15 synthetic patients shipped with the app (sample_data/README.md says what each shows); "
                      "none is a real person. DEMO-11 (dMMR) and DEMO-12 (new distant metastasis) are outside the "
                      "model's scope.")
    c2.button("Load", key="load_sample", on_click=_load_sample, type="primary", width="stretch")
with src_file:
    upload = st.file_uploader("Import one patient from a cohort CSV (data-dictionary columns)", type=["csv"],
                              key=state.UPLOAD)
with src_clear:
    st.button("Clear", key="clear_patient", on_click=state.clear_patient, width="stretch",
              help="Start a new, empty record.")

if upload is not None:
    from watchwait.validation import frame_to_records, read_cohort

    upload.seek(0)
    try:
        cohort = frame_to_records(read_cohort(upload, source=upload.name))
    except RecordError as exc:
        st.error(f"**{upload.name} was not imported**: {len(exc.issues)} invalid value(s). Fix them and upload again:\n\n"
                 + "\n".join(f"- {i}" for i in exc.issues[:30]) + ("\n- ..." if len(exc.issues) > 30 else ""))
    except CohortFileError as exc:
        st.error(f"**The file was not imported.** {exc}")
    else:
        by_id = {str(r["patient_id"]): r for r in cohort}
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.selectbox(f"Patient from {upload.name} ({len(by_id)} rows)", list(by_id), key=state.UPLOAD_CHOICE)
        c2.button("Import this patient", key="import_row", width="stretch",
                  on_click=lambda: _load(by_id[st.session_state[state.UPLOAD_CHOICE]]))

empty = patient.is_empty()
status = st.container()
form.render(show_required=not empty)

with status:
    cur = patient.current()
    if cur.record is None:
        st.info("Empty record: load a sample patient, import a row of a cohort CSV, or type. "
                "Patient pseudonym and MMR status are required; every other field may be left blank (not available).")
    elif cur.issues:
        st.error(f"{len(cur.issues)} invalid entr{'y' if len(cur.issues) == 1 else 'ies'}: nothing is calculated until "
                 "fixed. " + " ".join(i.message for i in cur.issues))
    elif cur.error:
        st.error(cur.error)
    else:
        a = cur.assessment
        layout.facts_banner(cur.record)
        missing = [MODALITIES[m] for m in a.missing_modalities]
        present = [MODALITIES[m] for m in MODALITIES if m not in a.missing_modalities
                   and m in cache.model_bundle().card.get("modalities_with_data", [])]
        st.markdown("**Modalities available:** " + (", ".join(present) or "none") + " · **not available:** "
                    + (", ".join(missing) or "none"))
        if a.in_scope:
            s = a.suggestion
            # the headline, never the bare pathway while a caution makes it conditional (clinical brief, rule 6)
            step = f"suggested, with conditions: **{s.headline}**" if s.conditional else f"suggested: **{s.headline}**"
            st.success(f"Assessed: probability of complete response **{fmt.pct(a.probability)}** "
                       f"({fmt.interval(a.interval)}); {a.category_label}; {step} "
                       f"(rule {s.rule_id}). See **Assessment** for the reasons"
                       + (f" and the {len(s.confirm) + len(s.flags)} notice(s) to read first." if s.confirm or s.flags else "."))
        else:
            st.error(f"**{a.scope_notices[0].title}.** No probability is given. See **Assessment**.")
