"""Error boundaries: only what third-party readers raise on bad input becomes "invalid DICOM".

A bug in the project's own code (de-identification, geometry, rasterising, SEG frame mapping)
must surface as itself, with its own type, through the public API, even when that type is one
the boundary catches for third-party calls (ValueError, TypeError, KeyError...). Malformed files
still get their plain messages.
"""

from __future__ import annotations

import struct
import zlib

import highdicom as hd
import pydicom
import pytest
from imaging_testdata import (
    CT_SOURCE,
    MALFORMED,
    SEG_DIR,
    STS_IMAGES,
    STS_RTSTRUCT,
    needs_testdata,
)
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.sequence import Sequence

from watchwait.errors import ImagingError
from watchwait.imaging import _frames, _rtstruct, _seg, deid, dicom_io
from watchwait.imaging._reading import (
    DECODER_ERRORS,
    DICOM_ERRORS,
    decode_header,
    guard,
    parse,
)
from watchwait.imaging.dicom_io import list_series, load_series
from watchwait.imaging.errors import DicomFileError, RoiError
from watchwait.imaging.roi import load_roi, mask_from_rtstruct


class ProjectBug(Exception):
    """Stands for a bug: a type no reader raises."""


def _raise(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc
    return fail


# --------------------------------------------------------------------------- guard itself


def test_the_boundary_types_are_named_not_catch_alls():
    for types in (DICOM_ERRORS, DECODER_ERRORS):
        assert Exception not in types and BaseException not in types
        for bug in (ProjectBug, ZeroDivisionError, ArithmeticError, AssertionError, NameError, MemoryError,
                    RecursionError if types is DICOM_ERRORS else ProjectBug, ImagingError):
            assert not issubclass(bug, types), bug
    assert not issubclass(RuntimeError, DICOM_ERRORS)  # pixel decoding and highdicom only
    assert issubclass(RuntimeError, DECODER_ERRORS)


@pytest.mark.parametrize("exc", [InvalidDicomError("no DICM"), BytesLengthException("b'Doe^John'"),
                                 struct.error("unpack requires a buffer of 4 bytes"), EOFError("ended"),
                                 zlib.error("invalid block"), NotImplementedError("Unknown VR 'ZZ'"),
                                 OSError("premature end"), KeyError((0x0028, 0x0010))])
def test_guard_turns_reader_errors_into_a_file_error(exc):
    with pytest.raises(DicomFileError, match=r"^x\.dcm: invalid DICOM content \(.+\)$") as info, guard("x.dcm"):
        raise exc
    assert "Doe" not in str(info.value)  # a wrong-length value's bytes are not quoted
    with pytest.raises(RoiError, match=r"^r\.dcm: not a valid DICOM SEG \("), \
            guard("r.dcm", RoiError, what="not a valid DICOM SEG"):
        raise exc


@pytest.mark.parametrize("exc", [ProjectBug("bug"), ZeroDivisionError("division by zero"), RuntimeError("bug"),
                                 AssertionError("invariant"), MemoryError(), DicomFileError("x.dcm", "own message")])
def test_guard_lets_everything_else_through_unchanged(exc):
    with pytest.raises(type(exc)) as info, guard("x.dcm"):
        raise exc
    assert info.value is exc


def test_runtime_errors_are_caught_only_where_the_decoders_raise_them():
    with pytest.raises(DicomFileError, match=r"^x\.dcm: pixel data cannot be decoded \(all plugins failed\)$"), \
            guard("x.dcm", what="pixel data cannot be decoded", catch=DECODER_ERRORS):
        raise RuntimeError("all plugins failed")


# --------------------------------------------------------------------------- decoding at the boundary


@pytest.mark.parametrize("vr, value", [("OB", b"\x00\x01"), ("LO", "not a sequence")])
def test_decode_header_refuses_a_sequence_stored_as_something_else(vr, value):
    ds = Dataset()
    ds.add_new(0x52009229, vr, value)  # Shared Functional Groups Sequence
    with pytest.raises(DicomFileError, match=rf"^x\.dcm: element \(5200,9229\) has Value Representation {vr}, "
                                             r"not SQ$"):
        decode_header(ds, "x.dcm")


def test_de_identification_does_not_trust_the_files_vr():
    """Names, UIDs and dates are found by the dictionary too; new values get the VR they need."""
    ds = Dataset()
    ds.add_new(0x00100020, "DS", "12345")  # Patient ID stored as a number
    ds.add_new(0x00120062, "SH", "NO")  # Patient Identity Removed, stored as SH
    ds.add_new(0x0020000D, "LO", "1.2.826.0.1.99")  # Study Instance UID stored as LO
    ds.add_new(0x0008009C, "LO", "Smith^Physician")  # Consulting Physician's Name (Z) stored as LO
    ds.add_new(0x00080020, "LO", "20240301")  # Study Date stored as LO
    ds.add_new(0x00080018, "OB", b"1.2.826.0.1.77\x00")  # SOP Instance UID stored as bytes
    d = deid.Deidentifier(b"k")
    d.apply(ds)
    assert ds["PatientID"].VR == "LO" and ds.PatientID.startswith("WW-")
    assert ds["PatientIdentityRemoved"].VR == "CS" and ds.PatientIdentityRemoved == "YES"
    assert ds["StudyInstanceUID"].VR == "UI" and ds.StudyInstanceUID == d.uid("1.2.826.0.1.99")
    assert ds["SOPInstanceUID"].VR == "UI" and ds.SOPInstanceUID == d.uid("1.2.826.0.1.77")
    assert ds["ConsultingPhysicianName"].VR == "PN" and str(ds.ConsultingPhysicianName) == ""
    assert ds["StudyDate"].VR == "DA" and ds.StudyDate not in ("", "20240301")
    assert "Smith" not in str(ds) and "1.2.826.0.1" not in str(ds)


def test_decode_header_refuses_absurdly_deep_nesting():
    ds = inner = Dataset()
    for _ in range(80):
        item = Dataset()
        inner.ReferencedSeriesSequence = Sequence([item])
        inner = item
    with pytest.raises(RoiError, match=r"^x\.dcm: sequences nested more than 64 levels deep$"):
        decode_header(ds, "x.dcm", RoiError)


@needs_testdata
def test_a_parsed_file_holds_decoded_values_only():
    result = parse(STS_RTSTRUCT.read_bytes(), "RS.dcm")
    assert result.error is None and result.dataset is not None
    raw = [elem.tag for elem in _all_elements(result.dataset) if elem.is_raw]
    assert raw and {int(t) for t in raw} == {0x30060050}  # only Contour Data stays encoded


def _all_elements(ds):
    for tag in list(ds.keys()):
        elem = ds.get_item(tag)
        yield elem
        if not elem.is_raw and elem.VR == "SQ":
            for item in elem.value:
                yield from _all_elements(item)


def _with_replaced_bytes(tmp_path, old: bytes, new: bytes, name: str):
    data = (MALFORMED / "pydicom" / "MR_small.dcm").read_bytes()
    assert data.count(old) == 1
    path = tmp_path / name
    path.write_bytes(data.replace(old, new))
    return path


@needs_testdata
def test_an_element_pydicom_cannot_decode_is_invalid_dicom_content(tmp_path):
    # Modality (0008,0060) with its VR bytes "CS" overwritten by "ZZ" (same header layout)
    path = _with_replaced_bytes(tmp_path, b"\x08\x00\x60\x00CS", b"\x08\x00\x60\x00ZZ", "bad_vr.dcm")
    with pytest.raises(DicomFileError, match=r"^bad_vr\.dcm: invalid DICOM content \(Unknown Value "
                                             r"Representation 'ZZ' in tag \(0008,0060\)\)$"):
        load_series(path)


@needs_testdata
def test_a_value_of_the_wrong_length_is_named_without_quoting_it(tmp_path):
    # Rows (0028,0010): 2 bytes, declared FD (8 bytes a value)
    path = _with_replaced_bytes(tmp_path, b"\x28\x00\x10\x00US", b"\x28\x00\x10\x00FD", "bad_len.dcm")
    with pytest.raises(DicomFileError, match=r"^bad_len\.dcm: invalid DICOM content \(the value of element "
                                             r"\(0028,0010\) does not fit its Value Representation FD\)$"):
        load_series(path)


@needs_testdata
@pytest.mark.parametrize("name, message", [
    ("pydicom/no_meta.dcm", r"not a DICOM file \(no 'DICM' marker, and the content does not parse"),
    ("pydicom/meta_missing_tsyntax.dcm", r"the file meta information has no Transfer Syntax UID \(0002,0010\)"),
    ("pydicom/MR_truncated.dcm", r"pixel data is truncated \(expected 8192 bytes, found 8130\)"),
    ("pydicom_data/emri_small_jpeg_2k_lossless_too_short.dcm",
     r"the file ends inside the Pixel Data \(truncated file"),
])
def test_malformed_files_keep_their_plain_messages(name, message):
    path = MALFORMED / name
    with pytest.raises(DicomFileError, match="^" + path.name.replace(".", r"\.") + ": " + message):
        load_series(path)


@needs_testdata
def test_a_pixel_decoder_failure_is_still_a_file_error(monkeypatch):
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array",
                        property(_raise(RuntimeError("Unable to decode as exceptions were raised by all "
                                                     "available plugins:\n  pylibjpeg: bad stream"))))
    with pytest.raises(DicomFileError, match=r"^MR_small\.dcm: pixel data cannot be decoded \(Explicit VR Little "
                                             r"Endian\): pylibjpeg: bad stream$"):
        load_series(MALFORMED / "pydicom" / "MR_small.dcm")


@needs_testdata
def test_highdicom_refusing_a_seg_is_still_a_roi_error(monkeypatch):
    ct = load_series(CT_SOURCE, allow_gaps=True)
    monkeypatch.setattr(hd.seg.Segmentation, "from_dataset", _raise(ValueError("Dataset is not a Segmentation.")))
    with pytest.raises(RoiError, match=r"^seg_image_ct_binary\.dcm: not a valid DICOM SEG \(Dataset is not a "
                                       r"Segmentation\.\)$"):
        load_roi(SEG_DIR / "seg_image_ct_binary.dcm", ct)


# --------------------------------------------------------------------------- the project's own bugs


@pytest.fixture(scope="module")
def ct_series():
    return load_series(CT_SOURCE, allow_gaps=True)


BUGS = [ValueError("bug"), TypeError("bug"), KeyError("bug"), AttributeError("bug"), RuntimeError("bug"),
        ZeroDivisionError("bug"), ProjectBug("bug")]


@needs_testdata
@pytest.mark.parametrize("exc", BUGS, ids=lambda e: type(e).__name__)
def test_a_bug_in_de_identification_surfaces_as_itself(monkeypatch, exc, sts_series):
    monkeypatch.setattr(deid.Deidentifier, "_clean", _raise(exc))
    for call in (lambda: load_series(STS_IMAGES), lambda: list_series(STS_IMAGES),
                 lambda: load_roi(STS_RTSTRUCT, sts_series)):
        with pytest.raises(type(exc)) as info:
            call()
        assert info.value is exc


@needs_testdata
@pytest.mark.parametrize("target", [
    (dicom_io, "check_image_object"),  # which objects are images
    (_frames, "_frame"),  # plane geometry
    (dicom_io, "_check_consistent"),  # series geometry checks
    (_frames, "_expected_bytes"),  # pixel data size, inside decode()
    (dicom_io, "_drop_duplicates"),
])
@pytest.mark.parametrize("exc", [TypeError("bug"), ZeroDivisionError("bug")], ids=lambda e: type(e).__name__)
def test_a_bug_in_series_assembly_surfaces_as_itself(monkeypatch, target, exc):
    monkeypatch.setattr(*target, _raise(exc))
    with pytest.raises(type(exc)) as info:
        load_series(STS_IMAGES)
    assert info.value is exc


@needs_testdata
@pytest.mark.parametrize("target", ["_fill", "_points", "_choose_roi", "slice_index", "inplane_indices"])
@pytest.mark.parametrize("exc", [ValueError("bug"), RuntimeError("bug"), ZeroDivisionError("bug")],
                         ids=lambda e: type(e).__name__)
def test_a_bug_in_the_rtstruct_rasteriser_surfaces_as_itself(monkeypatch, sts_series, target, exc):
    monkeypatch.setattr(_rtstruct, target, _raise(exc))
    with pytest.raises(type(exc)) as info:
        load_roi(STS_RTSTRUCT, sts_series)
    assert info.value is exc
    with pytest.raises(type(exc)):  # a data set passed in directly (de-identified like the series): the same
        mask_from_rtstruct(deid.deidentify(pydicom.dcmread(STS_RTSTRUCT)), sts_series)


@needs_testdata
@pytest.mark.parametrize("target", ["_paste", "_referenced_slice", "_segment_number", "_check_planes",
                                    "slice_index"])
@pytest.mark.parametrize("exc", [KeyError("bug"), RuntimeError("bug"), ZeroDivisionError("bug")],
                         ids=lambda e: type(e).__name__)
def test_a_bug_in_seg_frame_mapping_surfaces_as_itself(monkeypatch, ct_series, target, exc):
    monkeypatch.setattr(_seg, target, _raise(exc))
    with pytest.raises(type(exc)) as info:
        load_roi(SEG_DIR / "seg_image_ct_binary.dcm", ct_series)
    assert info.value is exc


@needs_testdata
def test_the_same_bugs_leave_the_files_loadable_once_fixed(sts_series, ct_series):
    """The monkeypatched functions are the real path: unpatched, both ROIs load."""
    assert load_roi(STS_RTSTRUCT, sts_series).voxel_count == 9655
    assert load_roi(SEG_DIR / "seg_image_ct_binary.dcm", ct_series).voxel_count == 638
