"""The right patient, always (issue 9): switch patients in every order, leaving from every screen, and check that
nothing of the previous patient is left anywhere: not on any screen (text, banner, charts, tables, widgets), not
in the session (images, radiomics, scenarios, memo). Also: unsaved edits are never discarded without a
confirmation, the picker shows the open patient, the banner names the source of every imported value, a reload
reopens the sample patient the URL names, and a changed pseudonym drops the images of the old one."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from apptest_helpers import errors, goto, load_sample, new_app, texts
from components import state
from components.safe import unescape

# two patients with sample images, one without, one out of scope
PATIENTS = ["DEMO-05", "DEMO-09", "DEMO-02", "DEMO-11"]
SCREENS = ["patient", "assessment", "what_if", "trajectories", "evidence", "options", "imaging", "about_model"]
STATIC = "Sample images exist only for the sample patients DEMO-01, DEMO-05, DEMO-09"


def every_ordered_pair(n: int) -> list[int]:
    """A walk over 0..n-1 that takes every ordered pair (a, b), a != b, exactly once (an Eulerian circuit of the
    complete directed graph, Hierholzer)."""
    out_edges = {a: [b for b in range(n) if b != a] for a in range(n)}
    stack, walk = [0], []
    while stack:
        v = stack[-1]
        if out_edges[v]:
            stack.append(out_edges[v].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def shown(at) -> str:
    """Everything on screen: texts, the facts banner's HTML, chart specs, table cells and widget values."""
    parts = [texts(at)]
    parts += [h.proto.body for h in at.get("html")]
    parts += [el.proto.spec for el in at.get("plotly_chart")]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [str(w.value) for w in list(at.text_input) + list(at.selectbox) + list(at.multiselect)]
    return "\n".join(parts).replace(STATIC, "")


def _strings(obj, seen=None):
    """Every str (and number, as text) held in the session state, numpy arrays left out (pixels, masks)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, np.ndarray):
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, (int, float)):
        yield repr(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k, seen)
            yield from _strings(v, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _strings(v, seen)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from _strings(getattr(obj, f.name), seen)


def session_strings(at) -> set[str]:
    return set(_strings(dict(at.session_state.to_dict())))


def cohort_uploader(at):
    return next(w for w in at.file_uploader if str(w.key).startswith(state.UPLOAD + ":"))


def open_patient(at, pid: str) -> None:
    """Load ``pid`` on the Patient screen, confirming the discard of unsaved edits if asked."""
    goto(at, "patient")
    at.selectbox(key=state.SAMPLE_CHOICE).select(pid)
    at.button(key="load_sample").click().run()
    if any(b.key == "confirm_switch" for b in at.button):
        at.button(key="confirm_switch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="field:patient:patient_id").value == pid


def use_every_screen(at, pid: str, start: int) -> None:
    """Visit every screen (starting at screen ``start``), leaving state behind where a screen keeps any: this
    patient's images and their radiomics, a what-if scenario."""
    for screen in SCREENS[start:] + SCREENS[:start]:
        goto(at, screen)
        if screen == "imaging" and any(b.key == "imaging_load_sample" for b in at.button):
            at.button(key="imaging_load_sample").click().run()
            at.button(key="imaging_use_radiomics").click().run()
        if screen == "what_if" and any(getattr(w, "key", None) == state.scenario_key(2, "fields") for w in at.multiselect):
            at.multiselect(key=state.scenario_key(2, "fields")).select("cea_post_ng_ml").run()
        assert not at.exception, (pid, screen, [e.value for e in at.exception])


def test_switching_patients_in_every_order_from_every_screen_leaves_nothing_of_the_previous_one(sample_records):
    from components.patient import record_to_raw

    at = new_app()
    walk = every_ordered_pair(len(PATIENTS))
    assert len(walk) == len(PATIENTS) * (len(PATIENTS) - 1) + 1
    pairs = set()
    for step, i in enumerate(walk):
        pid = PATIENTS[i]
        open_patient(at, pid)
        prev = PATIENTS[walk[step - 1]] if step else None
        if prev:
            pairs.add((prev, pid))
        raw, _ = record_to_raw(sample_records[pid])
        for screen in SCREENS:  # every screen shows this patient, and nothing of the previous one
            goto(at, screen)
            everything = shown(at)
            assert not at.exception, (prev, pid, screen)
            if prev:
                assert prev not in everything, f"{prev} still shown on {screen} after switching to {pid}"
            if screen == "patient":
                for name, value in raw.items():  # every form field holds this patient's value
                    w = f"field:patient:{name}"
                    shown_value = next((x.value for x in list(at.text_input) + list(at.selectbox) if x.key == w), None)
                    if shown_value is not None:
                        assert str(shown_value) == str(value or "").strip() or (value is None and shown_value == ""), (pid, name)
            if screen not in ("patient", "imaging", "about_model") and pid != "DEMO-11":
                assert f"<b>Patient:</b> {pid}" in everything, (pid, screen)  # the banner names this patient
            if screen == "imaging":
                assert not at.get("plotly_chart"), (pid, "images shown before any were loaded for this patient")
        if prev:
            assert prev not in session_strings(at), f"{prev} still held in the session after switching to {pid}"
        own = {k: v for k, v in sample_records[pid].items() if str(k).startswith("radiomics_") and v is not None}
        held = {k: v for k, v in at.session_state[state.EXTRA].items() if str(k).startswith("radiomics_")}
        assert held == own, (prev, pid)  # this patient's own radiomics only, none from the previous one's images
        assert not at.session_state[state.IMAGING_VISITS]
        assert at.session_state[state.scenario_changes_key(2)] == {}  # the custom scenario starts empty again
        use_every_screen(at, pid, start=step % len(SCREENS))
    assert pairs == {(a, b) for a in PATIENTS for b in PATIENTS if a != b}


# ----------------------------------------------------------------------------- unsaved edits

def _edit_age(at, value="70"):
    at.text_input(key="field:patient:age_years").input(value).run()


@pytest.mark.parametrize("action", ["load", "clear", "import"])
def test_unsaved_edits_are_never_discarded_without_a_confirmation(action):
    at = new_app()
    load_sample(at, "DEMO-01")
    _edit_age(at)

    def act():
        if action == "load":
            at.selectbox(key=state.SAMPLE_CHOICE).select("DEMO-05")
            at.button(key="load_sample").click().run()
        elif action == "clear":
            at.button(key="clear_patient").click().run()
        else:
            csv = "patient_id,mmr_status\nIMP-1,pMMR\n"
            cohort_uploader(at).upload("cohort.csv", io.BytesIO(csv.encode()).getvalue(), "text/csv")
            at.run()
            at.button(key="import_row").click().run()

    act()
    assert at.text_input(key="field:patient:patient_id").value == "DEMO-01"  # nothing replaced yet
    assert at.text_input(key="field:patient:age_years").value == "70"
    warning = [w.value for w in at.warning if "Unsaved changes" in w.value]
    assert len(warning) == 1 and "Age" in warning[0]
    at.button(key="cancel_switch").click().run()  # keep editing: still the same record, edit kept
    assert not [w for w in at.warning if "Unsaved changes" in w.value]
    assert at.text_input(key="field:patient:age_years").value == "70"
    assert at.selectbox(key=state.SAMPLE_CHOICE).value == "DEMO-01"  # the picker names the open patient again
    act()
    at.button(key="confirm_switch").click().run()  # discard: now the other patient
    expected = {"load": "DEMO-05", "clear": "", "import": "IMP-1"}[action]
    assert at.text_input(key="field:patient:patient_id").value == expected
    assert at.text_input(key="field:patient:age_years").value != "70"


def test_without_edits_the_switch_needs_no_confirmation_and_reloading_the_same_patient_keeps_its_images():
    at = new_app()
    load_sample(at, "DEMO-05")
    goto(at, "imaging")
    at.button(key="imaging_load_sample").click().run()
    goto(at, "patient")
    at.selectbox(key=state.SAMPLE_CHOICE).select("DEMO-05")
    at.button(key="load_sample").click().run()  # the same patient, unchanged: nothing happens
    assert set(at.session_state[state.IMAGING_VISITS]) == {"baseline", "restaging"}
    at.selectbox(key=state.SAMPLE_CHOICE).select("DEMO-09")
    at.button(key="load_sample").click().run()
    assert not [w for w in at.warning if "Unsaved changes" in w.value]
    assert at.text_input(key="field:patient:patient_id").value == "DEMO-09"
    assert not at.session_state[state.IMAGING_VISITS]


def test_using_image_radiomics_is_an_unsaved_edit():
    at = new_app()
    load_sample(at, "DEMO-05")
    goto(at, "imaging")
    at.button(key="imaging_load_sample").click().run()
    at.button(key="imaging_use_radiomics").click().run()
    goto(at, "patient")
    at.button(key="clear_patient").click().run()
    warning = [w.value for w in at.warning if "Unsaved changes" in w.value]
    assert len(warning) == 1 and "radiomics" in warning[0]


# ----------------------------------------------------------------------------- picker, banner, reload, renaming

def test_the_picker_shows_the_open_patient_after_a_trip_to_another_screen():
    at = new_app()
    load_sample(at, "DEMO-05")
    goto(at, "assessment")
    goto(at, "patient")
    assert at.selectbox(key=state.SAMPLE_CHOICE).value == "DEMO-05"


def _banner(at) -> str:
    return next(h.proto.body for h in at.get("html") if 'class="ww-facts"' in h.proto.body)


def test_the_banner_names_the_source_of_every_imported_value():
    at = new_app()
    load_sample(at, "DEMO-05")
    b = _banner(at)
    assert "Record: sample patient DEMO-05 from sample_patients.csv (synthetic), opened 20" in b
    assert "Radiomics: from the cohort file sample_patients.csv" in b and "changed here" not in b
    at.text_input(key="field:patient:cea_post_ng_ml").input("7.5").run()
    assert "changed here since: CEA" in _banner(at)
    load_sample(at, "DEMO-02")
    at.button(key="confirm_switch").click().run()
    assert "Radiomics: none" in _banner(at)
    csv = "patient_id,mmr_status\nIMP-7,pMMR\n"
    cohort_uploader(at).upload("site.csv", csv.encode(), "text/csv")
    at.run()
    at.button(key="import_row").click().run()
    assert "Record: patient IMP-7 from the cohort file site.csv, imported 20" in _banner(at)
    at.button(key="clear_patient").click().run()
    at.text_input(key="field:patient:patient_id").input("NEW-1").run()
    at.selectbox(key="field:patient:mmr_status").select("pMMR").run()
    assert "Record: entered on this screen (not saved anywhere)" in _banner(at)


def test_a_reload_reopens_the_sample_patient_the_url_names():
    from streamlit.testing.v1 import AppTest

    from apptest_helpers import ROOT, TIMEOUT

    at = new_app()
    load_sample(at, "DEMO-05")
    assert at.query_params == {"patient": "DEMO-05"}
    reload = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)  # a new session, same URL
    reload.query_params = dict(at.query_params)
    reload.run()
    assert not reload.exception
    assert reload.text_input(key="field:patient:patient_id").value == "DEMO-05"
    assert reload.selectbox(key=state.SAMPLE_CHOICE).value == "DEMO-05"
    assert "sample patient DEMO-05" in _banner(reload)
    at.button(key="clear_patient").click().run()  # not a sample any more: the URL no longer names one
    assert at.query_params == {}


def test_a_url_naming_no_sample_patient_opens_nothing_and_says_so_literally():
    from streamlit.testing.v1 import AppTest

    from apptest_helpers import ROOT, TIMEOUT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params = {"patient": "![x](http://127.0.0.1:9/beacon.png)"}
    at.run()
    assert not at.exception
    assert at.text_input(key="field:patient:patient_id").value == ""
    notice = [w.value for w in at.warning if "not one of the sample patients" in w.value]
    assert notice and "\\!\\[x\\]\\(http" in notice[0]  # escaped: shown as text, never an image
    assert "![x](http://127.0.0.1:9/beacon.png)" in unescape(notice[0])
    assert at.query_params == {}


def test_changing_the_pseudonym_drops_the_images_and_image_radiomics_of_the_old_one(sample_records):
    at = new_app()
    load_sample(at, "DEMO-05")
    goto(at, "imaging")
    at.button(key="imaging_load_sample").click().run()
    at.button(key="imaging_use_radiomics").click().run()
    goto(at, "patient")
    at.text_input(key="field:patient:patient_id").input("DEMO-55").run()
    assert not at.session_state[state.IMAGING_VISITS]
    from_file = {k: v for k, v in sample_records["DEMO-05"].items() if k.startswith("radiomics_") and v is not None}
    held = {k: v for k, v in at.session_state[state.EXTRA].items() if k.startswith("radiomics_")}
    assert held == from_file  # the image radiomics are out; those the record was opened with are back
    assert at.session_state[state.RADIOMICS_SOURCE] == {"kind": "file", "name": "sample_patients.csv"}
    assert "Radiomics: from the cohort file sample_patients.csv" in _banner(at)
    assert any("The images of DEMO-05 were closed" in w for w in [x.value.replace("\\", "") for x in at.warning])
    goto(at, "imaging")
    assert not at.get("plotly_chart") and "DEMO-05" not in shown(at)
    assert not errors(at)


def test_opening_a_sample_after_a_cohort_row_leaves_nothing_of_the_cohort_patient():
    at = new_app()
    csv = "patient_id,mmr_status,age_years\nCOH-1,pMMR,66\nCOH-2,pMMR,70\n"
    cohort_uploader(at).upload("site.csv", csv.encode(), "text/csv")
    at.run()
    at.selectbox(key=state.UPLOAD_CHOICE).select("COH-2")
    at.button(key="import_row").click().run()
    assert at.text_input(key="field:patient:patient_id").value == "COH-2"
    at.selectbox(key=state.SAMPLE_CHOICE).select("DEMO-05")
    at.button(key="load_sample").click().run()
    assert at.text_input(key="field:patient:patient_id").value == "DEMO-05"
    assert not cohort_uploader(at).value  # the file of other patients is gone with the patient imported from it
    for screen in SCREENS:
        goto(at, screen)
        assert "COH-" not in shown(at), screen
    assert not [s for s in session_strings(at) if "COH-" in s]


def test_the_reload_note_names_the_sample_only_while_the_url_does():
    at = new_app()
    load_sample(at, "DEMO-05")
    assert "a reload reopens this sample patient" in texts(at) and at.query_params == {"patient": "DEMO-05"}
    at.text_input(key="field:patient:patient_id").input("DEMO-55").run()
    assert "a reload reopens this sample patient" not in texts(at) and at.query_params == {}
