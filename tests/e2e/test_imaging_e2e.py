"""The Imaging screen in a real Chromium: a sample's baseline and restaging side by side, the slice slider, a bad upload."""

from __future__ import annotations

import zipfile

import pytest
from playwright.sync_api import Page, expect

from e2e_server import ROOT
from st_helpers import T, go, load_sample, open_app, settle, shot

pytestmark = pytest.mark.e2e


def _features(pid: str, visit: str):
    from e2e_server import ROOT
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.radiomics import extract_features
    from watchwait.imaging.roi import load_roi

    folder = ROOT / "sample_data" / "imaging" / pid
    series = load_series(folder / visit)
    roi = load_roi(folder / f"{visit}_seg.dcm", series)
    return roi, extract_features(series, roi)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "testdata").exists(), reason="shared test data (../shared/testdata) not found")
def test_imaging_sample_side_by_side_slice_slider_and_bad_upload(page: Page, server, shots, tmp_path):
    from components import imaging_figures as fig

    open_app(page, server)
    load_sample(page, "DEMO-05")  # images belong to the open patient: its own sample images are offered
    go(page, "Imaging")
    page.get_by_role("button", name="Load DEMO-05's sample images").click()
    settle(page)
    plots = page.locator(".js-plotly-plot")
    expect(plots).to_have_count(2, timeout=T)
    expect(plots.first).to_contain_text("tumour ROI outline")
    expect(page.get_by_role("heading", name="Baseline (before treatment)")).to_be_visible()
    expect(page.get_by_role("heading", name="Restaging (response assessment)")).to_be_visible()
    expect(page.get_by_text("Identifiers removed on ingest (DICOM PS3.15 Basic Profile, every attribute of its table, with the Clean Descriptors option)").first).to_be_visible()
    roi, _ = _features("DEMO-05", "baseline")  # table values are drawn on a canvas: checked exactly in tests/app
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_text(f"{roi.voxel_count:,} voxels").first).to_be_visible()
    expect(page.get_by_text("for patient DEMO-05 (the open patient)")).to_have_count(2)
    shot(page, shots / "13_imaging_DEMO-05.png")

    # the baseline slice slider: from the largest tumour section one slice up, with the keyboard
    slider = page.get_by_role("slider", name="Slice (1-12)").first
    start = fig.best_slice(roi.mask) + 1
    expect(slider).to_have_value(str(start))
    slider.focus()
    page.keyboard.press("ArrowRight")
    settle(page)
    expect(slider).to_have_value(str(start + 1), timeout=T)
    shot(page, shots / "13_imaging_DEMO-05_slice_moved.png", full=False)

    # a truncated DICOM file in a zip: the library's plain message, no traceback
    from e2e_server import ROOT

    bad = tmp_path / "MR_truncated.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.write(ROOT.parent / "shared" / "testdata" / "malformed" / "pydicom" / "MR_truncated.dcm", "MR_truncated.dcm")
    page.get_by_text("Upload a series and its tumour ROI").click()
    inputs = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    inputs.nth(0).set_input_files(str(bad))
    settle(page)
    inputs.nth(1).set_input_files(str(ROOT / "sample_data" / "imaging" / "DEMO-05" / "baseline_seg.dcm"))
    settle(page)
    page.get_by_role("button", name="Use these files for baseline").click()
    settle(page)
    message = ("The series could not be used. 00001.dcm: pixel data is truncated "
               "(expected 8192 bytes, found 8130)")
    expect(page.get_by_text(message)).to_be_visible(timeout=T)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    shot(page, shots / "13_imaging_bad_upload.png")


STS = ROOT.parent / "shared" / "testdata" / "mr" / "sts_025_t1" / "dicom"


@pytest.mark.skipif(not STS.is_dir(), reason="shared test data (../shared/testdata) not found")
def test_a_t1_series_is_shown_but_kept_out_of_the_model_with_its_reason_on_screen(page: Page, server, shots, tmp_path):
    """Issue 18, done when: a T1 series is shown but kept out of the model with its reason on screen (Imaging and
    Assessment), in Chromium; the uploaded files' names (often the patient's) appear nowhere."""
    series = tmp_path / "Smith_Johanna_T1.zip"
    with zipfile.ZipFile(series, "w") as zf:
        for p in sorted((STS / "image").iterdir()):
            zf.write(p, p.name)
    open_app(page, server)
    load_sample(page, "DEMO-13")
    go(page, "Imaging")  # nothing loaded yet: the upload section is open
    inputs = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    for visit, (series_input, roi_input) in (("baseline", (0, 1)), ("restaging", (2, 3))):
        if visit == "restaging":  # a visit is loaded: the upload section has closed
            page.locator("[data-testid='stExpander'] summary").filter(has_text="Upload a series").click()
            settle(page)
        inputs.nth(series_input).set_input_files(str(series))
        settle(page)
        inputs.nth(roi_input).set_input_files(str(STS / "mask" / "RS.dcm"))
        settle(page)
        page.get_by_role("button", name=f"Use these files for {visit}").click()
        settle(page)
    refusal = page.get_by_text("Not used by the model.")
    expect(refusal).to_have_count(2, timeout=T)
    expect(page.get_by_text("T1-weighted (its description says T1, no TR or TE recorded), not T2")).to_have_count(2)
    expect(page.get_by_text("body part EXTREMITY, not pelvis")).to_have_count(2)
    expect(page.locator(".js-plotly-plot")).to_have_count(2)  # both still viewable
    expect(page.get_by_role("button", name="Use these radiomics")).to_have_count(0)
    expect(page.get_by_text("source: uploaded series 1, 25 files + tumour ROI")).to_be_visible()
    shot(page, shots / "18_imaging_T1_kept_out.png")
    # the uploader lets go of the files once they are used: their names (often the patient's) stay nowhere
    expect(page.get_by_text("Smith_Johanna")).to_have_count(0)
    assert "Smith_Johanna" not in page.content()
    go(page, "Assessment")
    expect(page.get_by_text("kept out by the series checks").first).to_be_visible(timeout=T)
    expect(page.get_by_text("T1-weighted").first).to_be_visible()
    shot(page, shots / "18_assessment_T1_kept_out.png")
