"""The Imaging screen's PACS search in a real Chromium, against a real PACS (Orthanc with DICOMweb,
tests/pacs/orthanc_server.py): DEMO-01 open, its Patient ID searched, the restaging series chosen in the list and
loaded; its series check and radiomics are shown, nothing identifying beyond what was typed."""

from __future__ import annotations

import re
import sys

import pytest
from playwright.sync_api import Page, expect

from e2e_server import ROOT, serving
from st_helpers import T, go, load_sample, open_app, settle, shot

sys.path.insert(0, str(ROOT / "tests" / "pacs"))
from orthanc_server import start_orthanc, stop_orthanc  # noqa: E402

pytestmark = pytest.mark.e2e
SCREENSHOT = "/tmp/pacs_e2e.png"


@pytest.fixture(scope="module")
def pacs_server(tmp_path_factory):
    """The app, served as in tests/e2e/conftest.py, with the PACS set by its environment variables."""
    orthanc = start_orthanc(tmp_path_factory.mktemp("orthanc"))  # a failure, not a skip, when Orthanc is missing
    try:
        with serving(tmp_path_factory.mktemp("streamlit-pacs"), orthanc.env) as url:
            yield url
    finally:
        stop_orthanc(orthanc)


def test_search_the_pacs_and_load_demo01s_restaging_series(page: Page, pacs_server, shots):
    import pydicom

    header = pydicom.dcmread(ROOT / "sample_data" / "imaging" / "DEMO-01" / "restaging" / "IM0001.dcm",
                             stop_before_pixels=True)
    assert header.PatientID == "DEMO-01"  # the sample files' DICOM Patient ID: what the clinician types
    page.set_viewport_size({"width": 1600, "height": 1000})
    open_app(page, pacs_server)
    load_sample(page, "DEMO-01")
    go(page, "Imaging")
    expect(page.get_by_text("From the hospital's PACS")).to_be_visible(timeout=T)
    box = page.get_by_label("Patient ID or accession number", exact=True)
    box.fill(header.PatientID)
    box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Search the PACS").click()
    settle(page)
    expect(page.get_by_text("2 image series")).to_be_visible(timeout=T)
    choice = page.get_by_text(
        re.compile(r"“T2 TSE AX restaging \(synthetic\)” · fit for the model · tumour ROI: SEG"))
    expect(choice).to_be_visible()
    body = page.locator("[data-testid='stMain']").inner_text()
    for secret in (str(header.StudyInstanceUID), str(header.SeriesInstanceUID), "DEMO-01^"):
        assert secret not in body
    choice.click()
    settle(page)
    page.get_by_role("button", name="Load this series for restaging").click()
    settle(page)
    expect(page.get_by_text("source: PACS series of unknown date, 12 images + tumour ROI")).to_be_visible(timeout=T)
    expect(page.get_by_text("Series check: fit for the model (T2-weighted axial pelvic MR)")).to_be_visible()
    expect(page.get_by_role("heading", name="Radiomics (pyradiomics)")).to_be_visible()
    expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=T)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    shot(page, SCREENSHOT)
    shot(page, shots / "20_imaging_pacs_DEMO-01.png")
