"""A clinician's confirmation of a series its headers cannot settle is recorded with who and when (issue 18 item 1)
not only in the session but in the case saved to the store, beside the radiomics it let into the model."""

from __future__ import annotations

from apptest_helpers import goto, new_app
from components import state
from apptest_helpers import upload_imaging as _upload
from test_imaging_page import SAMPLES, _without_timing
from test_meeting import db, meeting_with_cases, ok  # noqa: F401  (db: the fixture)
from watchwait.imaging.series_check import CONFIRMED_COLUMN, confirmed_cell

REASON = "the weighting cannot be read: no TR or TE recorded, and no T2 or T1 in its description"


def test_the_cell_names_each_confirmed_visit_who_when_and_why():
    checks = {
        "baseline": {"fit_for_model": None, "reasons": [REASON], "confirmed": {"by": "Dr A.  Example", "at": "2026-12-07 22:01 UTC"}},
        "restaging": {"fit_for_model": True, "reasons": [], "confirmed": None},
    }
    assert confirmed_cell(checks) == ("baseline MRI confirmed as a T2-weighted axial pelvic MR series by Dr A. Example on "
                                      f"2026-12-07 22:01 UTC (its headers could not settle it: {REASON})")
    checks["restaging"] = {"fit_for_model": None, "reasons": ["the slice orientation is not recorded"],
                           "confirmed": {"by": "Dr B|C", "at": "2026-12-07 22:05 UTC"}}
    assert confirmed_cell(checks).split(" | ")[1] == (
        "restaging MRI confirmed as a T2-weighted axial pelvic MR series by Dr B/C on 2026-12-07 22:05 UTC (its headers "
        "could not settle it: the slice orientation is not recorded)")
    assert confirmed_cell({"baseline": {"fit_for_model": None, "reasons": [REASON], "confirmed": None}}) == ""
    assert confirmed_cell({"baseline": {"fit_for_model": False, "reasons": ["CT, not MR"],
                                        "confirmed": {"by": "Dr A", "at": "x"}}}) == ""  # a refusal is never confirmed


def test_the_saved_case_carries_the_confirmation_with_who_and_when(db):  # noqa: F811
    at = new_app()
    meeting_with_cases(at, db, n=1)  # DEMO-01 stored, "Dr Chair" signed with the session's name
    goto(at, "cases")
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-01").run()
    at.button(key=state.cases_key("open_button")).click().run()
    goto(ok(at), "imaging")
    for visit in ("baseline", "restaging"):
        seg = SAMPLES / "DEMO-01" / f"{visit}_seg.dcm"
        _upload(at, visit, _without_timing("DEMO-01", visit), seg.name, seg.read_bytes())
        at.button(key=f"imaging:{visit}:confirm").click().run()
    at.button(key="imaging_use_radiomics").click().run()
    confirmed = ok(at).session_state["imaging:confirmed"]
    times = sorted(v["at"] for v in confirmed.values())
    goto(at, "cases")
    at.button(key=state.cases_key("save")).click().run()
    latest = db.assessments("DEMO-01")[-1]
    assert (latest.version, latest.actor) == (2, "Dr Chair")
    items = latest.record[CONFIRMED_COLUMN].split(" | ")
    assert [i.split(" MRI ")[0] for i in items] == ["baseline", "restaging"]
    for item, at_time in zip(items, times):
        assert item == (f"{item.split(' ')[0]} MRI confirmed as a T2-weighted axial pelvic MR series by Dr Chair on "
                        f"{at_time} (its headers could not settle it: {REASON})")
    assert any(k.startswith("radiomics_") for k in latest.record)
