"""Patient: load a sample, import one row of a cohort CSV, or type; blanks = not available."""

import streamlit as st

from components import cache, fmt, form, identity, layout, patient, state
from components.safe import md
from watchwait import CohortFileError, RecordError
from watchwait.schema import MODALITIES

#: The uploader's own limit (checked in the browser), watchwait.validation.MAX_FILE_BYTES in MB (importing it here would
#: import pandas before the first screen is out; tests/unit/test_bounded_input.py holds the two equal).
COHORT_UPLOAD_MB = 256

layout.header("Patient")


def _open(record: dict, source: dict) -> None:
    """Open another patient (asks first when unsaved edits would go)."""
    identity.request_switch(*patient.record_to_raw(record), source)


def _load_sample() -> None:
    cache.wait_for_warmup()  # callbacks run before the page: no heavy import alongside the warm-up
    pid = st.session_state[state.SAMPLE_CHOICE]
    _open(cache.sample_records()[pid], {"kind": "sample", "name": pid, "file": cache.SAMPLE_FILE.name})


def _clear() -> None:
    identity.request_switch({}, {}, {"kind": "typed"})


# The picker shows the open sample patient, also after a trip to another screen (its widget state is gone then).
_src = st.session_state.get(state.PATIENT_SOURCE) or {}
if state.SAMPLE_CHOICE not in st.session_state and _src.get("kind") == "sample" and _src.get("name") in cache.sample_ids():
    st.session_state[state.SAMPLE_CHOICE] = _src["name"]

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
                              key=state.upload_key(), max_upload_size=COHORT_UPLOAD_MB)
with src_clear:
    st.button("Clear", key="clear_patient", on_click=_clear, width="stretch",
              help="Start a new, empty record (asks first if there are unsaved changes).")
identity.pending_prompt()
if _src.get("kind") == "sample" and _src.get("name") == state.identity()[1]:  # what identity.sync_url puts in the URL
    st.caption(f"The address bar names {md(_src.get('name'))}: a reload reopens this sample patient as shipped "
               "(changes made here are not kept). To keep an imported or typed record, save it to the case store "
               "(Meeting or Cases screen).")

if upload is not None:
    from watchwait.validation import frame_to_records, read_cohort

    upload.seek(0)
    try:
        cohort = frame_to_records(read_cohort(upload, source=upload.name))
    except RecordError as exc:
        st.error(f"**{md(upload.name)} was not imported**: {len(exc.issues)} invalid value(s). Fix them and upload "
                 "again:\n\n" + "\n".join(f"- {md(i)}" for i in exc.issues[:30])
                 + ("\n- ..." if len(exc.issues) > 30 else ""))
    except CohortFileError as exc:
        st.error(f"**The file was not imported.** {md(exc)}")
    else:
        by_id = {str(r["patient_id"]): r for r in cohort}
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        # no user text in a widget label: a label's raw text is also its accessible name (escapes would be read out)
        c1.selectbox(f"Patient from the uploaded file ({len(by_id)} rows)", list(by_id), key=state.UPLOAD_CHOICE,
                     help="File: " + md(upload.name))
        c2.button("Import this patient", key="import_row", width="stretch",
                  on_click=lambda: _open(by_id[st.session_state[state.UPLOAD_CHOICE]],
                                         {"kind": "cohort", "name": st.session_state[state.UPLOAD_CHOICE],
                                          "file": upload.name}))

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
                 "fixed. " + " ".join(md(fmt.issue_text(i)) for i in cur.issues))
    elif cur.error:
        st.error(md(cur.error))
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
