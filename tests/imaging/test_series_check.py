"""Series checks before the model (issue 18 item 1, issue 16 case): what the headers say, the decision, and
the reasons in clinicians' words; a series that fails gives the model no radiomics.

Real series from ``../shared/testdata`` (skipped without it) and synthetic headers, one per refusal reason,
with each reason's text pinned.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging_testdata import MALFORMED, STS_IMAGES, STS_RTSTRUCT, needs_testdata
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.model_features import MODEL_COLUMNS
from watchwait.imaging.series_check import (
    AXIAL_TOLERANCE_DEG, KEPT_OUT_COLUMN, MAX_PIXEL_SPACING_MM, MAX_SLICE_THICKNESS_MM, T1_MAX_TE_MS, T1_MAX_TR_MS,
    T2_MIN_TE_MS, T2_MIN_TR_MS, check_series, description_terms, header_of, kept_out_cell, kept_out_reasons)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data" / "imaging"
AXIAL = [1, 0, 0, 0, 1, 0]
T1_REASON = "T1-weighted (its description says T1, no TR or TE recorded), not T2"


def _t2(**changes) -> dict:
    """Headers of a series fit for the model (the synthetic training images' own values), with ``changes``."""
    h = {"Modality": "MR", "RepetitionTime": 4000, "EchoTime": 100, "ScanningSequence": "SE",
         "ImageOrientationPatient": AXIAL, "SliceThickness": 3.0, "PixelSpacing": [0.8, 0.8]}
    h.update(changes)
    return {k: v for k, v in h.items() if v is not None}


def _tilted(axis: str, degrees: float) -> list[float]:
    """Image Orientation (Patient) of an axial plane rotated by ``degrees`` about the L-R ('x') or A-P ('y') axis."""
    a = math.radians(degrees)
    if axis == "x":  # rows stay L-R; columns tip towards the head-foot axis
        return [1, 0, 0, 0, math.cos(a), math.sin(a)]
    return [math.cos(a), 0, math.sin(a), 0, 1, 0]


# ----------------------------------------------------------------------------- thresholds

def test_the_thresholds_are_the_stated_constants():
    assert (T2_MIN_TR_MS, T2_MIN_TE_MS, T1_MAX_TR_MS, T1_MAX_TE_MS) == (1500, 60, 1000, 30)
    assert AXIAL_TOLERANCE_DEG == 30
    assert (MAX_SLICE_THICKNESS_MM, MAX_PIXEL_SPACING_MM) == (5.0, 1.2)


def test_the_models_own_images_are_fit():
    check = check_series(_t2())
    assert check.fit_for_model is True and check.reasons == []
    assert check.notes == ["T2-weighted (TR 4000 ms, TE 100 ms)", "axial", "slice thickness 3 mm", "pixels 0.8 mm"]
    assert check.facts["weighting"] == "T2-weighted" and check.facts["plane"] == "axial"
    assert check.summary().startswith("Fit for the model (T2-weighted axial pelvic MR): T2-weighted")


# ----------------------------------------------------------------------------- each refusal, its words

@pytest.mark.parametrize("headers, reason", [
    (_t2(RepetitionTime=450, EchoTime=15), "T1-weighted (TR 450 ms, TE 15 ms), not T2"),
    (_t2(RepetitionTime=450, EchoTime=15, SeriesDescription="T2 ax"),
     "T1-weighted (TR 450 ms, TE 15 ms; its description says T2), not T2"),
    (_t2(RepetitionTime=None, EchoTime=None, SeriesDescription="IBSI_1_STS_025_MR_T1_image"), T1_REASON),
    (_t2(ProtocolName="t1_vibe_fs_tra", RepetitionTime=None, EchoTime=None),
     "T1-weighted (its description says T1, no TR or TE recorded), not T2"),
    (_t2(ImageOrientationPatient=[0, 1, 0, 0, 0, -1]), "sagittal, not axial"),
    (_t2(ImageOrientationPatient=[1, 0, 0, 0, 0, -1]), "coronal, not axial"),
    (_t2(ImageOrientationPatient=_tilted("x", 45)), "oblique plane (45 degrees from axial), not axial"),
    (_t2(BodyPartExamined="KNEE"), "body part KNEE, not pelvis"),
    (_t2(BodyPartExamined="EXTREMITY"), "body part EXTREMITY, not pelvis"),
    (_t2(SliceThickness=8), "slice thickness 8 mm, above the 5 mm this model accepts "
                            "(its training images had 3 mm slices)"),
    (_t2(SliceThickness=None, SpacingBetweenSlices=6.5), "spacing between slices 6.5 mm, above the 5 mm this model "
                                                         "accepts (its training images had 3 mm slices)"),
    (_t2(PixelSpacing=[1.5, 1.5]), "pixels 1.5 mm, above the 1.2 mm this model accepts "
                                   "(its training images had 0.8 mm pixels)"),
    (_t2(Modality="CT"), "CT, not MR"),
    (_t2(SeriesDescription="ep2d_diff_b50_800_tra"), "diffusion-weighted (its description says DWI/ADC), not T2"),
    (_t2(ImageType=["DERIVED", "PRIMARY", "ADC"]), "diffusion-weighted (its description says DWI/ADC), not T2"),
    (_t2(DiffusionBValue=800, RepetitionTime=5000, EchoTime=70), "diffusion-weighted (b-value 800 s/mm2), not T2"),
    (_t2(ScanningSequence=["SE", "EP"], RepetitionTime=5000, EchoTime=70),
     "echo-planar (Scanning Sequence EP, as used for diffusion, TR 5000 ms, TE 70 ms), not a T2-weighted turbo spin "
     "echo"),
    (_t2(InversionTime=2500, ScanningSequence=["SE", "IR"]), "FLAIR (TI 2500 ms), not T2"),
    (_t2(InversionTime=160, ScanningSequence="IR"), "STIR (TI 160 ms), not T2"),
    (_t2(SeriesDescription="t2_tirm_cor"), "STIR (inversion recovery), not T2"),
    (_t2(ContrastBolusAgent="10 ml gadoterate"), "post-contrast (a contrast agent is recorded), not the unenhanced T2"),
    (_t2(SeriesDescription="T1 AX POST GD"), "post-contrast (its description says post-contrast), not the "
                                             "unenhanced T2"),
    (_t2(ScanningSequence="GR", RepetitionTime=5.5, EchoTime=2.8),
     "gradient echo (TR 5.5 ms, TE 2.8 ms), not a T2-weighted spin echo"),
    (_t2(RepetitionTime=700, EchoTime=40, SeriesDescription="PD"),
     "proton-density-weighted (its description says proton density, TR 700 ms, TE 40 ms), not T2"),
])
def test_each_refusal_says_why_in_words(headers, reason):
    check = check_series(headers)
    assert check.fit_for_model is False
    assert check.reasons == [reason]
    assert check.summary() == f"Not fit for the model (T2-weighted axial pelvic MR): {reason}."


def test_every_reason_is_given_not_only_the_first():
    check = check_series(_t2(RepetitionTime=450, EchoTime=15, ImageOrientationPatient=[0, 1, 0, 0, 0, -1],
                             BodyPartExamined="KNEE", SliceThickness=8))
    assert check.fit_for_model is False
    assert check.reasons == ["T1-weighted (TR 450 ms, TE 15 ms), not T2", "sagittal, not axial",
                             "body part KNEE, not pelvis",
                             "slice thickness 8 mm, above the 5 mm this model accepts (its training images had 3 mm "
                             "slices)"]


# ----------------------------------------------------------------------------- accepted, and said

@pytest.mark.parametrize("degrees", [12, 29])
def test_oblique_axial_within_the_tolerance_is_accepted_and_said(degrees):
    for axis in ("x", "y"):
        check = check_series(_t2(ImageOrientationPatient=_tilted(axis, degrees)))
        assert check.fit_for_model is True
        assert check.facts["plane"] == "oblique axial" and check.facts["tilt_from_axial_deg"] == pytest.approx(degrees)
        assert (f"oblique axial, {degrees} degrees from true axial (accepted up to 30: rectal MRI is often angled "
                "to the tumour)") in check.notes


def test_a_small_tilt_is_plain_axial():
    assert check_series(_t2(ImageOrientationPatient=_tilted("x", 4))).facts["plane"] == "axial"


@pytest.mark.parametrize("part", ["PELVIS", "RECTUM", "ABDOMEN", "ABDOMENPELVIS", "Abdomen Pelvis"])
def test_pelvic_body_parts_are_accepted(part):
    assert check_series(_t2(BodyPartExamined=part)).fit_for_model is True


def test_absent_body_part_decides_nothing():
    check = check_series(_t2())
    assert check.fit_for_model is True and check.facts["body_part"] is None


def test_a_t2_description_settles_timing_that_does_not():
    check = check_series(_t2(RepetitionTime=1200, EchoTime=90, SeriesDescription="T2W_TSE_AX"))
    assert check.fit_for_model is True
    assert "T2-weighted by its description (TR 1200 ms, TE 90 ms: not T2 or T1 by the timing alone)" in check.notes
    check = check_series(_t2(RepetitionTime=None, EchoTime=None, SeriesDescription="t2_tse_tra"))
    assert check.fit_for_model is True and "T2-weighted by its description (no TR or TE recorded)" in check.notes


# ----------------------------------------------------------------------------- undecided

@pytest.mark.parametrize("headers, reason", [
    (_t2(RepetitionTime=None, EchoTime=None),
     "the weighting cannot be read: no TR or TE recorded, and no T2 or T1 in its description"),
    (_t2(RepetitionTime=3000, EchoTime=20),
     "neither T2- nor T1-weighted by its timing (TR 3000 ms, TE 20 ms, which is proton-density-like), and no T2 in "
     "its description"),
    (_t2(RepetitionTime=1200, EchoTime=45),
     "neither T2- nor T1-weighted by its timing (TR 1200 ms, TE 45 ms), and no T2 in its description"),
    (_t2(SeriesDescription="T1 T2 mixed"),
     "the timing is T2-weighted (TR 4000 ms, TE 100 ms) but its description says T1"),
    (_t2(ImageOrientationPatient=None), "the slice orientation is not recorded"),
    (_t2(Modality=None), "the modality is not recorded (the model takes MR only)"),
    (_t2(PixelSpacing=None), "the pixel spacing is not recorded"),
    (_t2(SliceThickness=None), "the slice thickness is not recorded"),
    (_t2(SeriesDescription="T2 TSE FS"), "fat-suppressed (its description says so): the model's T2 images were not"),
])
def test_what_the_headers_cannot_settle_is_undecided_with_the_reason(headers, reason):
    check = check_series(headers)
    assert check.fit_for_model is None
    assert check.reasons == [reason]
    assert check.decision == "not settled by its headers"
    assert "kept out of the model unless a clinician confirms it" in check.summary()


def test_a_refusal_wins_over_what_is_undecided():
    check = check_series(_t2(ImageOrientationPatient=None, BodyPartExamined="HEAD"))
    assert check.fit_for_model is False
    assert check.reasons == ["body part HEAD, not pelvis", "the slice orientation is not recorded"]


def test_the_slice_spacing_of_a_loaded_series_stands_in_for_a_missing_thickness():
    check = check_series(_t2(SliceThickness=None), slice_spacing_mm=3.0)
    assert check.fit_for_model is True and "slice spacing 3 mm" in check.notes


# ----------------------------------------------------------------------------- reading headers

def test_description_words_are_a_fixed_vocabulary_never_the_text():
    assert description_terms("t2_tse_tra") == ("AXIAL", "T2", "TSE")
    assert description_terms("IBSI_1_STS_025_MR_T1_image") == ("T1",)
    assert description_terms(["ep2d_diff_b1000", "*tse2d1_15"]) == ("DWI", "TSE")
    assert description_terms("Smith John MRN 12345 pelvis") == ()
    assert description_terms(None) == ()
    header = header_of({"SeriesDescription": "T2 ax Smith^John 12345", "PatientName": "Smith^John",
                        "RepetitionTime": "4000", "EchoTime": "100"})
    assert "Smith" not in repr(header) and "12345" not in repr(header) and "PatientName" not in header
    assert header["description_terms"] == ["AXIAL", "T2"] and header["RepetitionTime"] == "4000"


def test_enhanced_mr_timing_and_geometry_come_from_the_functional_groups():
    ds = Dataset()
    ds.Modality = "MR"
    shared = Dataset()
    timing, echo, plane, pixels = Dataset(), Dataset(), Dataset(), Dataset()
    timing.RepetitionTime = 450
    echo.EffectiveEchoTime = 12
    plane.ImageOrientationPatient = AXIAL
    pixels.SliceThickness, pixels.PixelSpacing = 3, [0.7, 0.7]
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    shared.PlaneOrientationSequence = Sequence([plane])
    shared.PixelMeasuresSequence = Sequence([pixels])
    frame = Dataset()
    frame.MREchoSequence = Sequence([echo])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence([frame])
    check = check_series(ds)
    assert check.reasons == ["T1-weighted (TR 450 ms, TE 12 ms), not T2"]
    assert check.facts["plane"] == "axial" and check.facts["pixel_spacing_mm"] == [0.7, 0.7]


def test_kept_out_cell_and_reasons_round_trip():
    t1 = check_series(_t2(RepetitionTime=450, EchoTime=15, BodyPartExamined="KNEE"))
    unsure = check_series(_t2(ImageOrientationPatient=None))
    cell = kept_out_cell({"baseline": t1, "restaging": unsure, "other": check_series(_t2())})
    assert cell == ("baseline MRI kept out of the model: T1-weighted (TR 450 ms, TE 15 ms), not T2; body part KNEE, "
                    "not pelvis | restaging MRI kept out of the model: not settled by its headers: the slice "
                    "orientation is not recorded")
    assert kept_out_reasons(cell) == cell.split(" | ")
    assert kept_out_reasons("") == [] and kept_out_reasons(float("nan")) == [] and kept_out_reasons(None) == []


# ----------------------------------------------------------------------------- real series

@needs_testdata
def test_the_real_t1_sarcoma_series_is_refused_naming_t1_and_the_body_part():
    raw = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(STS_IMAGES.iterdir())]
    expected = [T1_REASON, "body part EXTREMITY, not pelvis"]
    assert check_series(raw).reasons == expected
    series = load_series(STS_IMAGES)  # de-identified on loading: the description is gone, its words are kept
    assert series.header["description_terms"] == ["AXIAL", "T1"]
    assert "SeriesDescription" not in series.header
    check = check_series(series)
    assert check.fit_for_model is False and check.reasons == expected
    assert check.facts["slice_thickness_mm"] == pytest.approx(3.27, abs=0.01)


@needs_testdata
@pytest.mark.parametrize("name, fit, reasons", [
    ("pydicom/MR_small.dcm", True, []),
    ("pydicom_data/MR-SIEMENS-DICOM-WithOverlays.dcm", False,
     ["post-contrast (a contrast agent is recorded), not the unenhanced T2"]),
    ("pydicom_data/MR2_J2KI.dcm", False,
     ["T1-weighted (TR 350 ms, TE 27 ms), not T2", "oblique plane (90 degrees from axial), not axial",
      "slice thickness 6 mm, above the 5 mm this model accepts (its training images had 3 mm slices)"]),
])
def test_the_real_mr_files_of_the_shared_testdata(name, fit, reasons):
    check = check_series(pydicom.dcmread(MALFORMED / name, stop_before_pixels=True))
    assert check.fit_for_model is fit and check.reasons == reasons


@pytest.mark.parametrize("pid", ["DEMO-01", "DEMO-05", "DEMO-09"])
def test_the_sample_images_are_fit(pid):
    for visit in ("baseline", "restaging"):
        check = check_series(load_series(SAMPLES / pid / visit))
        assert check.fit_for_model is True, check.reasons


@needs_testdata
def test_a_ct_is_refused_as_ct_not_asked_its_weighting():
    from imaging_testdata import CT_SOURCE

    ct = sorted(p for p in CT_SOURCE.iterdir() if p.is_file())[0]
    check = check_series(pydicom.dcmread(ct, stop_before_pixels=True))
    assert check.fit_for_model is False
    assert check.reasons[0] == "CT, not MR" and not any("weighting" in r for r in check.reasons)
    assert check.facts["weighting"] is None


@needs_testdata
def test_an_upload_keeps_the_description_words_read_before_de_identification(tmp_path):
    from watchwait.imaging.ingest import store_series_upload

    stored = store_series_upload([(p.name, p.read_bytes()) for p in sorted(STS_IMAGES.iterdir())], tmp_path / "s")
    assert list(stored.terms.values()) == [("AXIAL", "T1")]
    # the stored copy keeps only the Clean Descriptors vocabulary of its description (PS3.15 option 113105)
    assert {pydicom.dcmread(p, stop_before_pixels=True).SeriesDescription
            for p in sorted((tmp_path / "s").iterdir())} == {"MR_T1_image"}
    from watchwait.imaging.deid import default_deidentifier

    class Stored:  # the stored copy is de-identified already (as components.imaging reads it)
        def apply(self, ds):
            return ds

        def __getattr__(self, name):
            return getattr(default_deidentifier(), name)

    series = load_series(tmp_path / "s", deidentifier=Stored())
    check = check_series(series, terms=stored.terms[series.series_instance_uid])
    assert check.reasons == [T1_REASON, "body part EXTREMITY, not pelvis"]


# ----------------------------------------------------------------------------- issue 16's case, through the model path

def _demo13_with_t1(tmp_path) -> pd.DataFrame:
    """DEMO-13's row without its radiomics, its mri_* columns pointing at the T1 series + RTSTRUCT (both visits)."""
    from watchwait.validation import read_cohort

    sample = pd.read_csv(ROOT / "sample_data" / "sample_patients.csv", dtype=str, keep_default_na=False)
    row = sample[sample["patient_id"] == "DEMO-13"].drop(columns=[c for c in sample if c.startswith("radiomics_")])
    row = row.assign(mri_baseline_dir=str(STS_IMAGES), mri_baseline_roi=str(STS_RTSTRUCT),
                     mri_restaging_dir=str(STS_IMAGES), mri_restaging_roi=str(STS_RTSTRUCT))
    path = tmp_path / "demo13_t1.csv"
    row.to_csv(path, index=False)
    return read_cohort(path)


@needs_testdata
def test_issue_16_a_t1_limb_series_gives_the_model_no_radiomics_and_says_why(tmp_path):
    from watchwait.cohort import add_radiomics

    frame = add_radiomics(_demo13_with_t1(tmp_path), base_dir=tmp_path)
    assert all(c in frame.columns for c in MODEL_COLUMNS)
    assert frame[list(MODEL_COLUMNS)].isna().all().all()  # nothing of the T1 series reaches the model
    cell = frame.loc[0, KEPT_OUT_COLUMN]
    assert kept_out_reasons(cell) == [
        f"{visit} MRI kept out of the model: {T1_REASON}; body part EXTREMITY, not pelvis"
        for visit in ("baseline", "restaging")]
    prov = frame.attrs["radiomics_provenance"]
    kept = prov["kept_out"]["DEMO-13"]
    assert set(kept) == {"baseline", "restaging"}
    assert kept["baseline"]["fit_for_model"] is False and kept["baseline"]["facts"]["weighting"] == "T1-weighted"
    assert prov["cases"]["DEMO-13"]["baseline"]["used_by_model"] is False
    assert prov["visits_extracted"] == 0
    from watchwait.validation import frame_to_records

    record = frame_to_records(frame)[0]  # what the engine gets for one patient
    assert kept_out_reasons(record[KEPT_OUT_COLUMN])[0].startswith("baseline MRI kept out of the model: T1-weighted")


@needs_testdata
def test_a_kept_out_row_does_not_stop_the_others(tmp_path):
    """A cohort with one T1 row and one row of the model's own kind: the T2 row gets its columns, the T1 row none,
    and no error (a series the check refuses is not a failure of the file)."""
    from watchwait.imaging.model_features import radiomics_columns

    demo = SAMPLES / "DEMO-01"
    frame = pd.DataFrame({
        "patient_id": ["T1-LIMB", "DEMO-01"],
        "mri_baseline_dir": [str(STS_IMAGES), str(demo / "baseline")],
        "mri_baseline_roi": [str(STS_RTSTRUCT), str(demo / "baseline_seg.dcm")],
        "mri_restaging_dir": ["", str(demo / "restaging")],
        "mri_restaging_roi": ["", str(demo / "restaging_seg.dcm")],
    })
    out = radiomics_columns(frame, tmp_path)
    values = out[list(MODEL_COLUMNS)].to_numpy()
    assert np.isnan(values[0]).all() and np.isfinite(values[1]).all()
    assert out[KEPT_OUT_COLUMN].tolist() == [
        f"baseline MRI kept out of the model: {T1_REASON}; body part EXTREMITY, not pelvis", ""]
    prov = out.attrs["provenance"]
    assert prov["cases"]["DEMO-01"]["restaging"]["series_check"]["fit_for_model"] is True


# ----------------------------------------------------------------------------- any header

_values = st.one_of(st.none(), st.text(max_size=12), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.lists(st.floats(-2, 2), max_size=7),
                    st.lists(st.text(max_size=4), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["Modality", "RepetitionTime", "EchoTime", "InversionTime", "DiffusionBValue",
                                        "ScanningSequence",
                                        "SequenceVariant", "ContrastBolusAgent", "BodyPartExamined", "SliceThickness",
                                        "SpacingBetweenSlices", "PixelSpacing", "ImageOrientationPatient",
                                        "SeriesDescription", "ProtocolName", "SequenceName", "ImageType"]),
                       _values))
def test_any_header_gives_a_decision_and_never_an_exception(headers):
    check = check_series(headers)
    assert check.fit_for_model in (True, False, None)
    assert bool(check.reasons) == (check.fit_for_model is not True)
    assert all(isinstance(r, str) and r and "|" not in r for r in check.reasons)
