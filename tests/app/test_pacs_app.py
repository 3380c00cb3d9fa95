"""The Imaging screen's "From the hospital's PACS" against a real Orthanc (tests/pacs/orthanc_server.py), the PACS
set by the WATCHWAIT_PACS_* environment variables: search DEMO-01, the series listed in clinicians' words (no UID,
no patient name), its restaging series loaded through the upload's de-identification with the same radiomics as
its files; each failure a warning with its pinned message; nothing kept when another patient is opened."""

from __future__ import annotations

import sys

import pytest

from apptest_helpers import ROOT, goto, load_sample, new_app, texts
from components import imaging, state

sys.path.insert(0, str(ROOT / "tests" / "pacs"))
from orthanc_server import DEMO, free_port, start_orthanc, stop_orthanc  # noqa: E402


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))  # a failure, not a skip, when Orthanc is missing
    try:
        yield server
    finally:
        stop_orthanc(server)


@pytest.fixture
def pacs(orthanc, monkeypatch):
    for name, value in orthanc.env.items():
        monkeypatch.setenv(name, value)
    return orthanc


def _imaging(pid="DEMO-01"):
    at = new_app()
    load_sample(at, pid)
    goto(at, "imaging")
    return at


def _search(at, query):
    at.text_input(key=imaging.PACS_QUERY).input(query)
    at.button(key="imaging:pacs:search").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _warnings(at):
    from components.safe import unescape

    return [unescape(w.value) for w in at.warning]


def test_not_configured_is_one_caption(monkeypatch):
    for name in ("WATCHWAIT_PACS_URL", "WATCHWAIT_PACS_USER", "WATCHWAIT_PACS_PASSWORD", "WATCHWAIT_PACS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    at = _imaging()
    shown = texts(at)
    assert ("The hospital's PACS can be searched here once it is set up: url, and user with password (or token), "
            "under [pacs] in .streamlit/secrets.toml (or the WATCHWAIT_PACS_URL, WATCHWAIT_PACS_USER, "
            "WATCHWAIT_PACS_PASSWORD / WATCHWAIT_PACS_TOKEN environment variables).") in shown
    assert "From the hospital's PACS" not in shown
    assert not [b for b in at.button if str(b.key).startswith("imaging:pacs")]


def test_search_list_and_load_the_restaging_series(pacs):
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.radiomics import extract_features
    from watchwait.imaging.roi import load_roi

    at = _search(_imaging(), "DEMO-01")
    radio = at.radio(key=imaging.PACS_CHOICE)
    from components.safe import unescape

    labels = [unescape(o) for o in radio.options]
    assert sorted(labels) == [
        f"unknown date · MR · 12 images · “T2 TSE AX {visit} (synthetic)” · fit for the model · "
        "tumour ROI: SEG" for visit in ("baseline", "restaging")]
    shown = texts(at)
    assert "**2 image series** in 2 studies for **DEMO-01** (the PACS's own descriptions in quotes):" in shown
    import pydicom

    header = pydicom.dcmread(DEMO / "restaging" / "IM0001.dcm", stop_before_pixels=True)
    for uid in (header.StudyInstanceUID, header.SeriesInstanceUID):
        assert str(uid) not in shown  # never a UID on screen
    assert "DEMO-01^" not in shown  # nor the DICOM name
    assert at.button(key="imaging:pacs:load:restaging").disabled  # nothing chosen yet

    radio.set_value(next(i for i, label in enumerate(labels) if "restaging" in label)).run()
    at.button(key="imaging:pacs:load:restaging").click().run()
    assert not at.exception, [e.value for e in at.exception]
    b = at.session_state[state.IMAGING_VISITS]["restaging"]
    assert b.visit.label == "PACS series of unknown date, 12 images + tumour ROI"
    assert b.visit.error is None and b.visit.check.fit_for_model is True
    series = load_series(DEMO / "restaging")
    local = extract_features(series, load_roi(DEMO / "restaging_seg.dcm", series))
    assert b.visit.result.features == local.features  # identical to the files
    assert b.visit.series.patient_pseudonym == series.patient_pseudonym
    shown = texts(at)
    assert "source: PACS series of unknown date, 12 images + tumour ROI" in shown
    assert "Series check: fit for the model (T2-weighted axial pelvic MR)" in shown
    assert not _warnings(at) and not at.error


def test_the_secrets_pacs_section_is_read_first(orthanc, monkeypatch):
    monkeypatch.setenv("WATCHWAIT_PACS_URL", f"http://127.0.0.1:{free_port()}/dicom-web")  # not this one
    at = new_app()
    at.secrets["pacs"] = orthanc.config  # as [pacs] in .streamlit/secrets.toml
    load_sample(at, "DEMO-01")
    goto(at, "imaging")
    _search(at, "DEMO-01")
    assert len(at.radio(key=imaging.PACS_CHOICE).options) == 2 and not _warnings(at)


@pytest.mark.parametrize("setting, query, message", [
    ({}, "DEMO-99", "No study found for Patient ID or accession number 'DEMO-99' on the PACS at {url}. Check the "
                    "number (exactly as the PACS has it), or search by the other one."),
    ({"WATCHWAIT_PACS_PASSWORD": "wrong"}, "DEMO-01",
     "The PACS at {url} refused the credentials (HTTP 401). Check the user and password, or the token (pacs.user "
     "and pacs.password, or pacs.token; WATCHWAIT_PACS_USER, WATCHWAIT_PACS_PASSWORD, WATCHWAIT_PACS_TOKEN)."),
    ({"WATCHWAIT_PACS_URL": "down"}, "DEMO-01",
     "Cannot reach the PACS at {url}: the connection was refused or the address does not answer. Check the address "
     "(pacs.url, WATCHWAIT_PACS_URL), or ask IT whether the PACS is running."),
    ({}, "*", "A Patient ID or accession number is letters, digits and . _ - / ^ : + (at most 64); wildcards such "
              "as * and ? are not searched, so that a search finds one patient only."),
])
def test_failures_are_warnings_with_their_message(pacs, monkeypatch, setting, query, message):
    if setting.get("WATCHWAIT_PACS_URL") == "down":
        setting = {"WATCHWAIT_PACS_URL": f"http://127.0.0.1:{free_port()}/dicom-web"}
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    url = setting.get("WATCHWAIT_PACS_URL", pacs.url)
    at = _search(_imaging(), query)
    assert _warnings(at) == [message.format(url=url)]
    assert not at.radio and not at.error


def test_a_series_over_the_limit_is_a_warning_and_nothing_is_loaded(pacs, monkeypatch):
    at = _search(_imaging(), "DEMO-01")
    at.radio(key=imaging.PACS_CHOICE).set_value(0).run()
    monkeypatch.setenv("WATCHWAIT_PACS_MAX_IMAGES", "5")
    at.button(key="imaging:pacs:load:baseline").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _warnings(at) == [
        "This series is too large to retrieve here: 12 images; the limit is 5 images and 1024 MB (pacs.max_images "
        "and pacs.max_series_mb; WATCHWAIT_PACS_MAX_IMAGES, WATCHWAIT_PACS_MAX_SERIES_MB). Nothing was kept. Choose "
        "another series, or ask IT to raise the limit."]
    assert at.session_state[state.IMAGING_VISITS] == {}


def test_results_are_dropped_when_another_patient_is_opened(pacs):
    at = _search(_imaging(), "DEMO-01")
    assert at.radio(key=imaging.PACS_CHOICE).options
    load_sample(at, "DEMO-05")
    goto(at, "imaging")
    assert imaging.PACS_RESULTS not in at.session_state
    assert not at.radio
