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
    basic = Deidentifier(b"k", shift_dates=False, clean_descriptors=False).apply(pydicom.dcmread(MALFORMED / "pydicom" / "MR_small.dcm"))
    assert [c.CodeValue for c in basic.DeidentificationMethodCodeSequence] == ["113100"]  # the profile alone
    assert list(basic.DeidentificationMethod) == ["PS3.15 E.1-1 (2024b) Basic Application Confidentiality Profile",
                                                  "watchwait: also private, every PN, UID, date"]


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


# ----------------------------------------------------------------------------- the standard's whole table (issue 18)

import json  # noqa: E402
import re  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pydicom.dataelem import DataElement  # noqa: E402
from pydicom.datadict import dictionary_VR  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

from watchwait.imaging import deid as deid_module  # noqa: E402
from watchwait.imaging.deid import (  # noqa: E402
    CLEAN_VOCABULARY, NEUTRAL, NEUTRAL_WORDS, TABLE, TABLE_PATH, clean_text, entry_for, resolve_action,
)

#: A concrete tag for each group-mask row of the table.
MASK_EXAMPLES = {"(50xx,xxxx)": 0x50003000, "(60xx,3000)": 0x60023000, "(60xx,4000)": 0x60004000}
ODD_GROUP = "(GGGG,EEEE) WHERE GGGG IS ODD"
TEXT = "tumour Smith MRN 8675309"
TEXT_VRS = ("LO", "SH", "LT", "ST", "UT", "UC")


def test_the_committed_table_is_the_standards_table_e1_1():
    data = json.loads(TABLE_PATH.read_text())
    assert data["source"]["repository"] == "https://github.com/innolitics/dicom-standard"
    assert data["source"]["standard_revision"] == "2024b" and data["generated_by"] == "scripts/make_deid_table.py"
    assert len(TABLE) == len(data["attributes"]) == 621
    assert len({e.tag for e in TABLE}) == 621  # one row per attribute
    assert {e.basic for e in TABLE} == {"X", "Z", "D", "U", "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"}
    assert sum(e.options.get("cleanDescOpt") == "C" for e in TABLE) == 125
    for e in TABLE:  # every row names a tag of the dictionary, or is one of the group masks
        if e.tag in MASK_EXAMPLES or e.tag == ODD_GROUP:
            continue
        assert re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", e.tag), e.tag
        assert e.keyword and entry_for(int(e.tag[1:5] + e.tag[6:10], 16)) is e, e


def _tag(entry) -> int:
    if entry.tag in MASK_EXAMPLES:
        return MASK_EXAMPLES[entry.tag]
    return int(entry.tag[1:5] + entry.tag[6:10], 16)


def _vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return "OB"  # curve data, overlay data


def _value(vr: str):
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.7"
    item.ReferringPhysicianName = "Smith^Johanna"  # Z
    item.TextValue = TEXT
    return {"SQ": lambda: Sequence([item]), "PN": lambda: "Smith^Johanna", "UI": lambda: "1.2.826.0.1.3680043.99.1",
            "DA": lambda: "20240301", "DT": lambda: "20240301120000", "TM": lambda: "120000", "CS": lambda: "SMITH",
            "AS": lambda: "045Y", "AE": lambda: "SMITHAE", "IS": lambda: "12", "DS": lambda: "1.5",
            "UR": lambda: "http://smith.example", "AT": lambda: 0x00100010,
            "US": lambda: 7, "SS": lambda: 7, "UL": lambda: 7, "SL": lambda: 7, "UV": lambda: 7, "SV": lambda: 7,
            "FL": lambda: 7.0, "FD": lambda: 7.0}.get(vr, lambda: TEXT if vr in TEXT_VRS else b"\x01\x02")()


@pytest.mark.parametrize("clean, shift", [(True, True), (False, False), (True, False), (False, True)])
def test_every_attribute_of_table_e1_1_gets_its_action(clean, shift):
    """Each row of the table, alone in a data set, comes out as its resolved action says (all 621 rows)."""
    d = Deidentifier(b"table", clean_descriptors=clean, shift_dates=shift)
    offset = d.date_offset_days("P1")
    seen = {}
    for entry in TABLE:
        if entry.tag == ODD_GROUP:
            tag, vr = 0x00091010, "LO"
        else:
            tag = _tag(entry)
            vr = _vr(tag)
        ds = Dataset()
        ds.PatientID = "P1"
        original = _value(vr)
        ds.add(DataElement(tag, vr, original))
        action = resolve_action(entry, clean_descriptors=clean, shift_dates=shift) if entry.tag != ODD_GROUP else "X"
        pid = str(ds.PatientID)
        d.apply(ds)
        seen[action] = seen.get(action, 0) + 1
        where = (entry.tag, entry.name, entry.basic, action, vr)
        if entry.keyword in ("PatientID", "PatientName"):
            assert str(ds[tag].value).rstrip("^") == d.pseudonym(pid), where
            continue
        if action == "C-dates":
            if vr in ("DA", "DT"):
                assert ds[tag].value == deid_module._shift_one(original, offset) != original, where
                continue
            if vr == "TM":
                assert ds[tag].value == original, where  # a whole-day shift leaves times as they are
                continue
            action = deid_module.COMBINED.get(entry.basic, entry.basic)
        if action == "C" and vr not in (*TEXT_VRS, "CS", "SQ"):
            action = deid_module.COMBINED.get(entry.basic, entry.basic)
        if action == "X" or 0x5000 <= tag >> 16 <= 0x60FF:
            assert tag not in ds, where
        elif action == "Z":
            assert tag in ds and not ds[tag].value, where
        elif action == "D" and vr != "SQ":
            assert tag in ds and ds[tag].value not in ("", b"", None) and ds[tag].value != original, where
        elif action == "C" and vr in TEXT_VRS:
            assert ds[tag].value == clean_text(TEXT, NEUTRAL_WORDS.get(entry.keyword, NEUTRAL)) == "tumour", where
        elif action == "C" and vr == "CS":
            assert ds[tag].value == "REMOVED", where
        elif vr == "SQ":  # U (X/Z/U*), D or C on a sequence: the items kept, each de-identified
            item = ds[tag].value[0]
            assert item.ReferencedSOPInstanceUID == d.uid("1.2.826.0.1.3680043.99.7"), where
            assert str(item.ReferringPhysicianName) == "" and (item.TextValue == "tumour" if clean else "Smith" in item.TextValue)
        elif action == "U":
            assert ds[tag].value == d.uid(original), where
        else:
            raise AssertionError(f"no outcome checked for {where}")
    assert sum(seen.values()) == 621
    assert set(seen) <= {"X", "Z", "D", "U", "C", "C-dates"}
    assert ("C" in seen) is clean and ("C-dates" in seen) is shift


def test_combined_actions_resolve_as_documented():
    by_tag = {e.tag: e for e in TABLE}
    assert resolve_action(by_tag["(0008,0080)"]) == "Z"  # Institution Name X/Z/D
    assert resolve_action(by_tag["(0008,1070)"]) == "Z"  # Operators' Name X/Z/D
    assert resolve_action(by_tag["(0010,0020)"]) == "D"  # Patient ID Z/D: the pseudonym
    assert resolve_action(by_tag["(0070,0084)"]) == "Z"  # Content Creator's Name Z/D
    assert resolve_action(by_tag["(0008,1140)"]) == "U"  # Referenced Image Sequence X/Z/U*
    assert resolve_action(by_tag["(0008,2112)"]) == "U"  # Source Image Sequence X/Z/U*
    assert resolve_action(by_tag["(0018,700A)"]) == "X"  # Detector ID X/D
    assert resolve_action(by_tag["(0018,1030)"]) == "C"  # Protocol Name X/D, C under Clean Descriptors
    assert resolve_action(by_tag["(0018,1030)"], clean_descriptors=False) == "X"
    assert resolve_action(by_tag["(0008,0021)"]) == "C-dates"  # Series Date X/D, C under Modified Dates
    assert resolve_action(by_tag["(0008,0021)"], shift_dates=False) == "X"
    assert resolve_action(by_tag["(0010,0030)"]) == "Z"  # Patient's Birth Date: no option covers it


# ----------------------------------------------------------------------------- each action on real files


def test_each_action_on_the_real_sts_series_and_its_rtstruct():
    d = Deidentifier(b"real")
    originals = [pydicom.dcmread(p) for p in sorted(STS_IMAGES.glob("*.dcm"))]
    images = [d.apply(pydicom.dcmread(p)) for p in sorted(STS_IMAGES.glob("*.dcm"))]
    rs0 = pydicom.dcmread(STS_RTSTRUCT)
    rs = d.apply(pydicom.dcmread(STS_RTSTRUCT))
    first, before = images[0], originals[0]
    # X (Clean Descriptors off): Derivation Description and Series Description removed
    basic = Deidentifier(b"real", clean_descriptors=False).apply(pydicom.dcmread(STS_IMAGES / "000000.dcm"))
    assert "DerivationDescription" not in basic and "SeriesDescription" not in basic and "StudyDescription" not in basic
    assert [c.CodeValue for c in basic.DeidentificationMethodCodeSequence] == ["113100", "113107"]
    # Z: Accession Number, Study ID emptied (present)
    assert before.AccessionNumber and first.AccessionNumber == "" and first.StudyID == ""
    # D: Patient ID and Patient's Name, the keyed pseudonym, the same in the images and the RTSTRUCT
    assert first.PatientID == rs.PatientID == d.pseudonym("STS_025") and str(first.PatientName) == first.PatientID + "^"
    # U: every instance, series, study and frame of reference UID remapped, consistently across files
    assert {i.SeriesInstanceUID for i in images} == {d.uid(before.SeriesInstanceUID)}
    assert first.FrameOfReferenceUID == d.uid(before.FrameOfReferenceUID)
    assert [i.SOPInstanceUID for i in images] == [d.uid(o.SOPInstanceUID) for o in originals]
    assert first.SOPClassUID == before.SOPClassUID  # a DICOM-defined UID is kept
    refs = rs.ReferencedFrameOfReferenceSequence[0]
    assert refs.FrameOfReferenceUID == rs.StructureSetROISequence[0].ReferencedFrameOfReferenceUID == d.uid(
        rs0.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID)
    # C (Clean Descriptors): only the vocabulary's words are left
    assert first.SeriesDescription == "MR_T1_image" and first.StudyDescription == "MR_T1"  # 'IBSI_1_STS_025_MR_T1...'
    assert first.DerivationDescription == "Image Image"  # "Image data converted from DICOM." twice
    assert rs.StructureSetROISequence[0].ROIName == "GTV_Mass_MR_T1"  # every word is the vocabulary's
    assert rs.StructureSetLabel == "RTstruct" and rs.StructureSetName == "RTstruct"  # 'RTstruct_AlignedT1toPET'
    assert rs.RTROIObservationsSequence[0].ROIObservationLabel == "GTV_Mass"
    # C (Modified Dates): every date moved by the patient's offset, times kept
    from datetime import date, timedelta

    study = date(int(before.StudyDate[:4]), int(before.StudyDate[4:6]), int(before.StudyDate[6:]))
    assert first.StudyDate == (study + timedelta(days=d.date_offset_days("STS_025"))).strftime("%Y%m%d")
    assert first.get("StudyTime") == before.get("StudyTime")
    assert first.LongitudinalTemporalInformationModified == "MODIFIED"
    # beyond the table: unlisted free text cleaned (Manufacturer), unlisted coded concepts of DCM kept
    assert first.Manufacturer == "removed" and rs.Manufacturer == "removed"
    # the method records exactly what was applied
    assert [c.CodeValue for c in first.DeidentificationMethodCodeSequence] == ["113100", "113105", "113107"]


def test_the_rtstruct_roi_loads_the_same_after_cleaning_and_by_number(sts_series):
    roi = load_roi(STS_RTSTRUCT, sts_series)
    assert roi.name == "GTV_Mass_MR_T1" and roi.voxel_count == 9655
    assert load_roi(STS_RTSTRUCT, sts_series, roi_name="#1").voxel_count == 9655
    assert load_roi(STS_RTSTRUCT, sts_series, roi_name="GTV_Mass_MR_T1 (Dr Smith)").voxel_count == 9655
    with pytest.raises(Exception, match=r"^RS\.dcm: no ROI number 7; the ROI numbers are 1$"):
        load_roi(STS_RTSTRUCT, sts_series, roi_name="#7")


def test_two_rois_whose_names_coincide_once_cleaned_are_chosen_by_number(tmp_path, sts_series):
    import copy

    ds = pydicom.dcmread(STS_RTSTRUCT)
    ds.StructureSetROISequence[0].ROIName = "tumour Smith"
    second = copy.deepcopy(ds.StructureSetROISequence[0])
    second.ROINumber, second.ROIName = 2, "tumour Johanna"
    ds.StructureSetROISequence.append(second)
    contours = copy.deepcopy(ds.ROIContourSequence[0])
    contours.ReferencedROINumber = 2
    ds.ROIContourSequence.append(contours)
    ds.save_as(tmp_path / "two.dcm")
    with pytest.raises(Exception, match=r"^two\.dcm: 2 ROIs are named 'tumour' \(ROI numbers 1, 2\); choose one by "
                                        r"number \('#1'\)$"):
        load_roi(tmp_path / "two.dcm", sts_series, roi_name="tumour")
    assert load_roi(tmp_path / "two.dcm", sts_series, roi_name="#2").voxel_count == 9655


def test_the_sample_segs_load_the_same_roi():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "sample_data" / "imaging"
    counts = {}
    for seg in sorted(root.glob("*/*_seg.dcm")):
        series = load_series(seg.parent / seg.name.replace("_seg.dcm", ""))
        roi = load_roi(seg, series)
        counts[f"{seg.parent.name}/{seg.name}"] = (roi.name, roi.voxel_count, roi.warnings)
    assert {k: v[0] for k, v in counts.items()} == {k: "tumour" for k in counts} and len(counts) == 6
    assert all(v[2] == () for v in counts.values())  # every frame matched by its (remapped) source image reference


# ----------------------------------------------------------------------------- fuzz: cleaned text is vocabulary only

_NEUTRALS = {NEUTRAL, *NEUTRAL_WORDS.values()}
_WORDS = st.sampled_from(sorted(CLEAN_VOCABULARY) + ["Smith", "Johanna", "8675309", "MRN", "Dr", "Müller", "ÅSA",
                                                    "T2W", "t2", "GTV", "O'Brien", "1958", "Ⅷ", "ＧＴＶ"])
_TEXTS = st.one_of(st.text(max_size=80),
                   st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=12).map(
                       lambda ws: "".join(w + s for w, s in zip(ws, [" ", "_", "^", "-", "/", "\n", "(", ".:"] * 3))))


def _only_vocabulary(out) -> bool:
    if isinstance(out, (list, pydicom.multival.MultiValue)):  # a value with a backslash is several values
        return all(_only_vocabulary(v) for v in out)
    out = str(out)
    if out in _NEUTRALS or out == "":
        return True
    words = re.findall(r"[^\W_]+", out)
    rest = re.sub(r"[^\W_]+", "", out)
    return bool(words) and all(w.isascii() and w.lower() in CLEAN_VOCABULARY for w in words) and set(rest) <= set(
        " _-/.,+:")


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_cleaned_text_is_made_only_of_vocabulary_words_or_the_neutral_word(text):
    out = clean_text(text)
    assert _only_vocabulary(out), (text, out)
    assert not re.search(r"\d{3,}", out) and "smith" not in out.lower()
    assert len(out) <= max(len(text), len(NEUTRAL))
    assert (out == "") == (text.strip(" \x00") == "")


@settings(max_examples=60, deadline=None)
@given(st.lists(_TEXTS, min_size=4, max_size=4))
def test_every_clean_descriptor_of_a_real_rtstruct_comes_out_vocabulary_only(texts):
    d = Deidentifier(b"fuzz")
    ds = pydicom.dcmread(STS_RTSTRUCT, stop_before_pixels=True)
    roi = ds.StructureSetROISequence[0]
    ds.StructureSetLabel, ds.StructureSetName, roi.ROIName, ds.SeriesDescription = texts
    ds.StudyDescription = texts[0] + texts[1]
    d.apply(ds)
    for keyword in ("StructureSetLabel", "StructureSetName", "SeriesDescription", "StudyDescription"):
        assert _only_vocabulary(ds.get(keyword, "")), (keyword, ds.get(keyword))
    assert _only_vocabulary(roi.ROIName), roi.ROIName
    for elem in ds.iterall():  # and every other text element of the file
        if elem.VR in TEXT_VRS and elem.keyword not in ("PatientID", "DeidentificationMethod", "CodeMeaning", "CodeValue",
                                                         "CodingSchemeDesignator", "CodingSchemeVersion"):
            assert _only_vocabulary(elem.value), (elem.keyword, elem.value)  # codes: DCM's, kept; the rest cleaned
