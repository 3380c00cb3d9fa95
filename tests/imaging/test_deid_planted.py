"""Planted identifiers (issue 18, item 2): a name and a record number typed into every free-text attribute of real
MR series, their SEG and an RTSTRUCT, and into the names of the uploaded files, reach no byte on disk, no line of
``watchwait radiomics`` output and no log record. (The Imaging screen: tests/app/test_deid_planted_app.py.)

Planted: "Smith^Johanna MRN 8675309" in every element whose VR is LO, LT, SH, ST, UT, UC or PN, at any depth of
nested sequence items, plus Content Label (CS, "SMITH 8675309"); the attributes the brief names are added first
where the file lacks them. Not planted, because reading the image needs them as they are: none of these VRs
carries geometry or pixels. The search is case-insensitive for "smith", "johanna" and "8675309".
"""

from __future__ import annotations

import io
import json
import logging
import warnings
import zipfile
from pathlib import Path

import pydicom
import pytest
from imaging_testdata import STS_IMAGES, STS_RTSTRUCT, needs_testdata
from pydicom.dataset import Dataset

from watchwait.imaging.deid import Deidentifier
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.ingest import private_folder, store_roi_upload, store_series_upload
from watchwait.imaging.roi import load_roi

pytestmark = needs_testdata

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "sample_data" / "imaging" / "DEMO-01"
PLANT = "Smith^Johanna MRN 8675309"
PLANT_CS = "SMITH 8675309"
SECRETS = ("smith", "johanna", "8675309")
FILE_STEM = "Smith_Johanna_MRN8675309"
TEXT_VRS = {"LO", "LT", "SH", "ST", "UT", "UC", "PN"}
#: The attributes the brief names, added where a file lacks them (then planted like every other text element).
NAMED = ("SeriesDescription", "StudyDescription", "ProtocolName", "ImageComments", "InstitutionName", "OperatorsName",
         "PatientComments", "AccessionNumber")


def leaks(data: bytes | str) -> list[str]:
    """Which of the planted identifiers ``data`` holds (case-insensitive)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return [s for s in SECRETS if s in text.lower()]


def _plant_items(ds: Dataset) -> int:
    n = 0
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                n += _plant_items(item)
        elif elem.VR in TEXT_VRS:
            ds[elem.tag].value = PLANT
            n += 1
    return n


def planted(path: Path) -> Dataset:
    """``path`` read, the named attributes added, then every free-text element (nested too) set to PLANT."""
    ds = pydicom.dcmread(path)
    for keyword in NAMED:
        setattr(ds, keyword, "x")
    if ds.Modality == "SEG":
        ds.SegmentSequence[0].SegmentDescription = "x"
        ds.ContentLabel = PLANT_CS
    if ds.Modality == "RTSTRUCT":
        ds.StructureSetDescription = "x"
    n = _plant_items(ds)
    assert n > 10, n
    return ds


def _bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's remarks on the over-long planted values
        ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _texts_of(ds: Dataset) -> list[str]:
    return [str(e.value) for e in ds.iterall() if e.VR in TEXT_VRS | {"CS"}]


CASES = {
    # series folder, its ROI, voxels of the ROI on the unplanted series
    "DEMO-01 restaging + SEG": (DEMO / "restaging", DEMO / "restaging_seg.dcm"),
    "STS_025 + RTSTRUCT": (STS_IMAGES, STS_RTSTRUCT),
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request):
    images, roi = CASES[request.param]
    slices = [_bytes(planted(p)) for p in sorted(images.glob("*.dcm"))]
    roi_bytes = _bytes(planted(roi))
    assert all(leaks(s) == list(SECRETS) for s in slices) and leaks(roi_bytes) == list(SECRETS)  # planted for real
    expected = load_roi(roi, load_series(images)).voxel_count  # the unplanted ROI on the unplanted series
    return request.param, slices, roi_bytes, expected


def _zip(slices: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i, data in enumerate(slices):
            zf.writestr(f"{FILE_STEM}/{FILE_STEM}_{i:03d}.dcm", data)
    return buffer.getvalue()


def test_an_upload_with_planted_identifiers_writes_none_to_disk(case, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    name, slices, roi_bytes, expected = case
    deid = Deidentifier(b"planted-test-key")
    session = tmp_path / "session"
    visit = private_folder(session, "baseline")
    # a zip named after the patient, whose members are too; and the same files uploaded one by one
    stored = store_series_upload([(f"{FILE_STEM}.zip", _zip(slices))], visit / "series", deidentifier=deid)
    loose = store_series_upload([(f"{FILE_STEM}_{i}.dcm", s) for i, s in enumerate(slices)], visit / "loose",
                                deidentifier=deid)
    roi = store_roi_upload(f"{FILE_STEM}_roi.dcm", roi_bytes, visit / "roi", deidentifier=deid)
    written = [p for p in session.rglob("*")]
    assert len([p for p in written if p.is_file()]) == 2 * len(slices) + 1
    for p in written:
        assert not leaks(str(p.relative_to(tmp_path))), p
        if p.is_file():
            assert not leaks(p.read_bytes()), (name, p.name, leaks(p.read_bytes()))
    assert stored.warnings == loose.warnings == ()
    # what was planted in the descriptors is cleaned, not merely absent: the method says so
    ds = pydicom.dcmread(roi)
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113105", "113107"]
    texts = _texts_of(ds)
    if ds.Modality == "RTSTRUCT":
        assert ds.StructureSetROISequence[0].ROIName == "ROI" and ds.StructureSetLabel == "structure set"
    else:
        assert ds.SegmentSequence[0].SegmentLabel == "ROI" and ds.ContentLabel == "ROI"
    assert not any(leaks(t) for t in texts)
    # the ROI still matches its images: UIDs remapped alike in series and ROI
    series = load_series(stored.path, deidentifier=deid)
    mask = load_roi(roi, series, deidentifier=deid)
    assert mask.voxel_count == expected and mask.name == "ROI"
    on_screen = " ".join([repr(series), mask.name, *series.warnings, *mask.warnings, *stored.warnings])
    assert not leaks(on_screen) and not leaks(caplog.text)


def test_refusals_of_an_upload_name_no_uploaded_file(case, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    _, slices, roi_bytes, _ = case
    not_dicom = b"%PDF-1.4 report of Smith^Johanna MRN 8675309"
    stored = store_series_upload([(f"{FILE_STEM}.zip", _zip(slices[:2])), (f"{FILE_STEM}.pdf", not_dicom)],
                                 tmp_path / "s")
    assert stored.warnings == ("file 2 of the upload: not a DICOM file (no 'DICM' marker, and the content does not "
                               "parse as a DICOM data set); not stored",)
    from watchwait.errors import ImagingError

    with pytest.raises(ImagingError) as refused:
        store_roi_upload(f"{FILE_STEM}.dcm", slices[0], tmp_path / "r")
    assert str(refused.value) == ("the ROI file: not a ROI file: modality 'MR' (expected a DICOM SEG, an RTSTRUCT or "
                                  "a NIfTI mask)")
    unsafe = io.BytesIO()
    with zipfile.ZipFile(unsafe, "w") as zf:
        zf.writestr(f"../{FILE_STEM}.dcm", slices[0])
        zf.writestr(f".{FILE_STEM}", b"hidden")
    with pytest.raises(ImagingError) as refused:
        store_series_upload([(f"{FILE_STEM}.zip", unsafe.getvalue())], tmp_path / "u")
    assert str(refused.value) == ("file 1 of the upload: 1 member name(s) point outside the archive (absolute, or "
                                  "with '..'): member 1 of the archive; refused (the series would load with missing "
                                  "slices)")
    hidden = io.BytesIO()
    with zipfile.ZipFile(hidden, "w") as zf:
        zf.writestr(f"{FILE_STEM}.dcm", slices[0])
        zf.writestr(f".{FILE_STEM}", b"hidden")
    stored = store_series_upload([(f"{FILE_STEM}.zip", hidden.getvalue())], tmp_path / "h")
    assert stored.warnings == ("file 1 of the upload, member 1 of the archive: hidden or system file; not read; "
                               "not stored",)
    assert not leaks(caplog.text)


def test_radiomics_cli_output_has_no_planted_identifier(case, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    name, slices, roi_bytes, expected = case
    series = tmp_path / "series"  # paths the user types may be shown: these are neutral
    series.mkdir()
    for i, data in enumerate(slices):
        (series / f"{i:03d}.dcm").write_bytes(data)
    roi = tmp_path / "roi.dcm"
    roi.write_bytes(roi_bytes)
    from watchwait.cli import main

    assert main(["radiomics", "--series", str(series), "--roi", str(roi)]) == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["provenance"]["mask_voxels"] == expected and payload["provenance"]["roi"]["name"] == "ROI"
    assert not leaks(out) and not leaks(err) and not leaks(caplog.text), (leaks(out), leaks(caplog.text))
    # a ROI asked for by a name with the patient's in it is found by its cleaned name, and the refusal quotes
    # only the cleaned name
    if "RTSTRUCT" in name:
        assert main(["radiomics", "--series", str(series), "--roi", str(roi), "--roi-name", "ROI Smith"]) == 0
        capsys.readouterr()
        assert main(["radiomics", "--series", str(series), "--roi", str(roi), "--roi-name", "GTV Smith 8675309"]) == 2
        out, err = capsys.readouterr()
        assert err == "watchwait radiomics: roi.dcm: no ROI named 'GTV'; the ROIs are 'ROI'\n"
