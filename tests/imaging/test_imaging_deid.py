"""De-identification (PS3.15 Annex E basic profile) on ingest, and no identifier in the logs."""

from __future__ import annotations

import logging

import pydicom
import pytest
from imaging_testdata import MALFORMED, SEG_DIR, STS_IMAGES, STS_RTSTRUCT, needs_testdata
from pydicom.dataset import Dataset

from watchwait.imaging.deid import ACTIONS, Deidentifier
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.roi import load_roi

pytestmark = needs_testdata

IDENTIFIERS = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-0012345",
    "PatientBirthDate": "19580214",
    "OtherPatientIDs": "NHS-999-111-2222",
    "InstitutionName": "St Elsewhere General Hospital",
    "ReferringPhysicianName": "Kildare^James",
    "AccessionNumber": "ACC778899",
    "StudyID": "RECTUM-77",
    "PatientAddress": "12 Orchard Lane",
    "StudyDescription": "MRI pelvis Jane Doe",
}


def _identified(path, **extra) -> Dataset:
    ds = pydicom.dcmread(path)
    for keyword, value in {**IDENTIFIERS, **extra}.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00091010, "LO", "private note: Jane Doe")
    item = Dataset()
    item.PerformingPhysicianName = "House^Gregory"
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence = [item]
    return ds


def test_basic_profile_removes_identifiers_and_records_itself():
    ds = _identified(MALFORMED / "pydicom" / "MR_small.dcm", StudyDate="20240301", SeriesDate="20240315")
    original_sop = ds.SOPInstanceUID
    Deidentifier(b"k1").apply(ds)
    text = str(ds)
    for value in IDENTIFIERS.values():
        assert value not in text, value
    assert "House^Gregory" not in text and "private note" not in text
    assert ds.PatientID.startswith("WW-") and len(ds.PatientID) == 15
    assert str(ds.PatientName) == ds.PatientID + "^"
    assert ds.PatientBirthDate == "" and "OtherPatientIDs" not in ds and ds.InstitutionName == ""  # X/Z/D: Z
    assert ds.AccessionNumber == "" and ds.StudyID == "" and ds.ReferringPhysicianName == ""
    assert ds.PatientIdentityRemoved == "YES"
    codes = [(c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning) for c in ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM", "Basic Application Confidentiality Profile"),
                     ("113105", "DCM", "Clean Descriptors Option"),
                     ("113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option")]
    assert list(ds.DeidentificationMethod) == [
        "PS3.15 E.1-1 (2024b) Basic Application Confidentiality Profile", "Clean Descriptors Option",
        "Retain Longitudinal Temporal Information Modified Dates Option",
        "watchwait: also private, every PN, UID, date, free text"]
    assert ds.StudyDescription == "MRI pelvis"  # "MRI pelvis Jane Doe", cleaned
    assert not any(elem.tag.is_private for elem in ds.iterall())
    # UIDs replaced consistently, references included; standard UIDs kept
    assert ds.SOPInstanceUID != original_sop and ds.SOPInstanceUID.startswith("2.25.")
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    # dates shifted by one per-patient offset: the interval between visits survives
    from datetime import date
    study = date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]), int(ds.StudyDate[6:]))
    series = date(int(ds.SeriesDate[:4]), int(ds.SeriesDate[4:6]), int(ds.SeriesDate[6:]))
    assert ds.StudyDate != "20240301" and (series - study).days == 14


def test_uid_and_pseudonym_mapping_is_keyed_and_stable():
    a, b = Deidentifier(b"key-a"), Deidentifier(b"key-b")
    uid = "1.2.826.0.1.3680043.2.1143.1590429688519720198888333603882344634"
    assert a.uid(uid) == Deidentifier(b"key-a").uid(uid) != b.uid(uid)
    assert len(a.uid(uid)) <= 64
    assert a.pseudonym("MRN-0012345") == Deidentifier(b"key-a").pseudonym("MRN-0012345") != b.pseudonym("MRN-0012345")
    assert -3650 <= a.date_offset_days("x") <= -366


def test_the_profile_table_covers_the_common_identifiers():
    for keyword in IDENTIFIERS:
        assert keyword in ACTIONS, keyword
    assert ACTIONS["PatientName"] == "Z" and ACTIONS["ROIName"] == "Z" and ACTIONS["SeriesDescription"] == "X"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's remarks while the test edits the headers
def test_reader_deidentifies_before_anything_else_and_logs_no_identifier(tmp_path, caplog):
    for path in sorted(STS_IMAGES.glob("*.dcm")):
        _identified(path).save_as(tmp_path / path.name)
    caplog.set_level(logging.DEBUG)
    deid = Deidentifier(b"site-key")
    series = load_series(tmp_path, deidentifier=deid)
    roi = load_roi(STS_RTSTRUCT, series, deidentifier=deid)
    assert roi.voxel_count == 9655  # UIDs of images and RTSTRUCT were mapped the same way
    assert series.patient_pseudonym == deid.pseudonym("MRN-0012345")
    everything = caplog.text + repr(series) + " ".join(series.warnings) + " ".join(roi.warnings)
    for value in [*IDENTIFIERS.values(), "STS_025", "House^Gregory"]:
        assert value not in everything, value
    original = pydicom.dcmread(STS_IMAGES / "000000.dcm")
    assert original.SeriesInstanceUID not in everything
    assert "loaded series 2.25." in caplog.text


def test_seg_references_survive_deidentification():
    deid = Deidentifier(b"another-key")
    ct = load_series(SEG_DIR / "ct_image.dcm", deidentifier=deid)
    roi = load_roi(SEG_DIR / "seg_image_ct_binary_single_frame.dcm", ct, deidentifier=deid)
    assert roi.voxel_count == 1832 and roi.warnings == ()  # matched by (de-identified) reference


def test_dates_can_be_emptied_instead_of_shifted():
    ds = pydicom.dcmread(MALFORMED / "pydicom" / "MR_small.dcm")
    ds.StudyDate = "20240301"
    Deidentifier(b"k", shift_dates=False).apply(ds)
    assert ds.StudyDate == "" and ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113105"]  # no 113107
    assert "Retain Longitudinal Temporal Information Modified Dates Option" not in ds.DeidentificationMethod


def test_a_date_the_shift_would_carry_before_year_one_is_emptied_not_a_crash():
    # found by the ROI fuzzer: a damaged file's 00010105 shifted back a year is outside Python's dates
    ds = pydicom.dcmread(MALFORMED / "pydicom" / "MR_small.dcm")
    ds.StudyDate, ds.SeriesDate = "00010105", "20240301"
    Deidentifier(b"k").apply(ds)
    assert ds.StudyDate == ""
    assert len(ds.SeriesDate) == 8 and ds.SeriesDate < "20240301"  # an ordinary date is still shifted


@pytest.mark.parametrize("name", ["MR-SIEMENS-DICOM-WithOverlays.dcm"])
def test_overlays_are_removed(name):
    ds = pydicom.dcmread(MALFORMED / "pydicom_data" / name)
    assert any(0x6000 <= e.tag.group <= 0x60FF for e in ds)
    Deidentifier(b"k").apply(ds)
    assert not any(0x6000 <= e.tag.group <= 0x60FF for e in ds)


def test_public_elements_written_as_un_are_still_cleaned(tmp_path):
    from pydicom.dataelem import DataElement

    ds = pydicom.dcmread(MALFORMED / "pydicom" / "MR_small.dcm")
    ds.add(DataElement(0x00081070, "UN", b"Smith^Operator"))  # Operators' Name, encoded as UN
    ds.add(DataElement(0x00400006, "UN", b"Who^Requested"))  # Scheduled Performing Physician (PN), as UN
    ds.save_as(tmp_path / "un.dcm")
    clean = Deidentifier(b"k").apply(pydicom.dcmread(tmp_path / "un.dcm"))
    assert "Smith" not in str(clean) and "Requested" not in str(clean)
