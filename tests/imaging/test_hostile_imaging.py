"""The imaging reader against hostile input (issue 10): decompression bombs refused in bounded memory,
unsafe archive member names refused, nothing skipped silently, one series = one patient, study and
frame of reference, absurd pixel headers refused before decoding, uploads de-identified before any
byte reaches disk (files 0600 in a 0700 folder)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pydicom
import pytest
from imaging_testdata import MALFORMED, STS_IMAGES, STS_NIFTI_MASK, STS_RTSTRUCT, needs_testdata

from watchwait.errors import ImagingError
from watchwait.imaging import _frames, _reading, dicom_io
from watchwait.imaging._reading import InputLimitError
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.errors import DicomFileError, RoiError, SeriesError
from watchwait.imaging.ingest import private_folder, store_roi_upload, store_series_upload
from watchwait.imaging.roi import load_roi

MiB = 1024**2
STS_FILES = sorted(STS_IMAGES.glob("*.dcm"))


# --------------------------------------------------------------------------- bombs, built in the test

def gzip_of_zeros(n_mib: int) -> bytes:
    """A valid gzip stream of ``n_mib`` MiB of zeros, built without compressing them all: after a full
    flush the deflate output of each further MiB of zeros is the same block, so it is repeated."""
    zero = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH) == block
    end = c.flush(zlib.Z_FINISH)[:-8]  # final empty block; the trailer is written below for n_mib MiB
    crc = 0
    for _ in range(n_mib):
        crc = zlib.crc32(zero, crc)
    return first + block * (n_mib - 1) + end + struct.pack("<II", crc, (n_mib * MiB) & 0xFFFFFFFF)


def test_the_bomb_builder_makes_a_real_gzip():
    import gzip

    assert gzip.decompress(gzip_of_zeros(5)) == bytes(5 * MiB)


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def _peak_while(fn) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        try:
            fn()
        except ImagingError as exc:
            caught = exc
        else:
            raise AssertionError("not refused")
        return caught, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def bomb_gz() -> bytes:
    return gzip_of_zeros(2200)  # 2.2 GiB of zeros in about 2.2 MB


def test_a_37_kb_zip_holding_a_22_gb_gzip_is_refused_in_bounded_memory(tmp_path, bomb_gz):
    archive = _zip(tmp_path / "bomb.zip", {"slice.dcm.gz": bomb_gz})
    assert archive.stat().st_size < 8_000  # the 3.7 KB zip of the issue
    start = time.perf_counter()
    exc, peak = _peak_while(lambda: load_series(archive))
    assert isinstance(exc, InputLimitError)
    assert str(exc) == (f"bomb.zip: the archive expands more than 100 times its size ({archive.stat().st_size / 1024:.3g} "
                        "KiB gives more than 8.18 MiB; limit MAX_RATIO): refused as a possible zip bomb")
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert time.perf_counter() - start < 5


def test_a_stored_gzip_bomb_in_a_zip_and_a_bare_gz_are_refused_while_decompressing(tmp_path, bomb_gz):
    stored = _zip(tmp_path / "stored.zip", {"slice.dcm.gz": bomb_gz}, compression=zipfile.ZIP_STORED)
    exc, peak = _peak_while(lambda: load_series(stored))
    assert str(exc) == ("stored.zip:slice.dcm.gz: gzip-compressed file expands more than 100 times (9.14 KiB gave 9 MiB; "
                        "limit MAX_RATIO): refused as a possible decompression bomb")
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"
    bare = tmp_path / "slice.dcm.gz"
    bare.write_bytes(bomb_gz)
    exc, peak = _peak_while(lambda: load_series(bare))
    assert str(exc) == ("slice.dcm.gz: gzip-compressed file expands more than 100 times (9.14 KiB gave 9 MiB; limit "
                        "MAX_RATIO): refused as a possible decompression bomb")
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_two_large_zero_members_are_refused_quickly(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in ("a.dcm", "b.dcm"):
            with zf.open(name, "w", force_zip64=True) as fh:
                for _ in range(64):
                    fh.write(bytes(MiB))
    start = time.perf_counter()
    exc, peak = _peak_while(lambda: load_series(path))
    assert str(exc).startswith("two.zip:a.dcm: member expands more than 100 times (")
    assert time.perf_counter() - start < 5 and peak < 24 * MiB, (str(exc), peak)


def test_many_entries_are_refused_from_the_end_record_before_reading_the_directory(tmp_path, monkeypatch):
    path = _zip(tmp_path / "many.zip", {f"{k}.dcm": b"x" for k in range(12)})
    monkeypatch.setattr(_reading, "MAX_FILES", 10)
    with pytest.raises(InputLimitError, match=r"^many\.zip: the archive holds 12 entries, more than 10 \(limit MAX_FILES\)$"):
        load_series(path)
    monkeypatch.setattr(zipfile, "ZipFile", None)  # the count comes from the end record alone
    with pytest.raises(InputLimitError, match=r"holds 12 entries"):
        load_series(path)


@needs_testdata
def test_the_total_decompressed_size_is_bounded(sts_copy, monkeypatch):
    monkeypatch.setattr(_reading, "MAX_TOTAL_BYTES", 100_000)
    with pytest.raises(InputLimitError, match=r"^sts: more than 97.7 KiB of files once decompressed \(limit "
                                              r"MAX_TOTAL_BYTES\); load one series at a time$"):
        load_series(sts_copy)


# --------------------------------------------------------------------------- names: nothing dropped silently

@needs_testdata
@pytest.mark.parametrize("bad", ["../000002.dcm", "/abs/000002.dcm", "a/../../000002.dcm", "C:/000002.dcm"])
def test_members_outside_the_archive_refuse_it(tmp_path, bad):
    members = {p.name: p.read_bytes() for p in STS_FILES if p.name != "000002.dcm"}
    members[bad] = (STS_IMAGES / "000002.dcm").read_bytes()
    path = _zip(tmp_path / "series.zip", members)
    with pytest.raises(InputLimitError) as err:
        load_series(path)
    assert str(err.value) == (f"series.zip: 1 member name(s) point outside the archive (absolute, or with '..'): {bad!r}; "
                              "refused (the series would load with missing slices)")


@needs_testdata
def test_half_the_slices_behind_dotdot_names_no_longer_load_as_a_thinner_series(tmp_path):
    """The issue's case: every other slice named ../..., the rest loaded at double spacing without a word."""
    members = {(f"../{p.name}" if k % 2 else p.name): p.read_bytes() for k, p in enumerate(STS_FILES)}
    with pytest.raises(InputLimitError, match=r"^series\.zip: 12 member name\(s\) point outside the archive"):
        load_series(_zip(tmp_path / "series.zip", members))


@needs_testdata
def test_a_link_member_refuses_the_archive(tmp_path):
    path = tmp_path / "links.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for p in STS_FILES:
            zf.write(p, p.name)
        link = zipfile.ZipInfo("000099.dcm")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InputLimitError, match=r"^links\.zip: 1 member\(s\) are symbolic links \('000099\.dcm'\); archives "
                                              r"of a series hold plain files only$"):
        load_series(path)


@needs_testdata
def test_hidden_system_and_nested_members_are_listed_in_the_warnings(tmp_path):
    members = {p.name: p.read_bytes() for p in STS_FILES}
    members["__MACOSX/._000001.dcm"] = b"resource fork"
    members[".DS_Store"] = b"finder"
    members["inner.zip"] = _zip(tmp_path / "inner.zip", {"x.dcm": b"x"}).read_bytes()
    import gzip

    members["twice.dcm.gz"] = gzip.compress(gzip.compress(STS_FILES[0].read_bytes()))
    series = load_series(_zip(tmp_path / "series.zip", members))
    assert series.shape == (25, 55, 75)
    for expected in ("series.zip:.DS_Store: hidden or system file; not read",
                     "series.zip:__MACOSX/._000001.dcm: hidden or system file; not read",
                     "series.zip:inner.zip: an archive inside the archive; not opened (extract it and load its files)",
                     "series.zip:twice.dcm.gz: compressed file inside a compressed file; not opened (decompress it first)"):
        assert expected in series.warnings


@needs_testdata
def test_hidden_files_of_a_folder_are_listed(sts_copy):
    (sts_copy / ".hidden.dcm").write_bytes(STS_FILES[0].read_bytes())
    assert ".hidden.dcm: hidden or system file; not read" in load_series(sts_copy).warnings


# --------------------------------------------------------------------------- one patient, one study, one frame

def _rewrite(path: Path, **values) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


@needs_testdata
@pytest.mark.parametrize("keyword, value, what", [
    ("PatientID", "OTHER-PATIENT", "patient (Patient ID)"),
    ("StudyInstanceUID", "1.2.826.0.1.3680043.2.1125.1", "study (Study Instance UID)"),
    ("FrameOfReferenceUID", "1.2.826.0.1.3680043.2.1125.2", "frame of reference (Frame of Reference UID)"),
])
def test_a_series_mixing_patients_studies_or_frames_is_refused(sts_copy, keyword, value, what):
    files = sorted(sts_copy.glob("*.dcm"))
    for p in files[1::2]:
        _rewrite(p, **{keyword: value})
    with pytest.raises(SeriesError) as err:
        load_series(sts_copy)
    message = str(err.value)
    assert message == ("one series must be one patient, one study and one frame of reference; this series mixes 2 "
                       f"different values of the {what}: 13 files (e.g. 000000.dcm) vs 12 files (e.g. 000001.dcm). "
                       "Refused: load each patient's series separately")
    assert "OTHER-PATIENT" not in message and "STS_025" not in message


@needs_testdata
def test_all_three_mixed_at_once_are_all_named(sts_copy):
    for p in sorted(sts_copy.glob("*.dcm"))[1::2]:
        _rewrite(p, PatientID="X", StudyInstanceUID="1.2.3.4", FrameOfReferenceUID="1.2.3.5")
    with pytest.raises(SeriesError, match=r"mixes 2 different values of the patient \(Patient ID\): .*; 2 different "
                                          r"values of the study .*; 2 different values of the frame of reference"):
        load_series(sts_copy)


# --------------------------------------------------------------------------- pixel headers

@needs_testdata
def test_an_rle_file_declaring_more_pixels_than_its_data_can_hold_is_refused(tmp_path):
    path = tmp_path / "rle.dcm"
    shutil.copy(MALFORMED / "pydicom" / "MR_small_RLE.dcm", path)
    _rewrite(path, Rows=2048, Columns=2048)
    with pytest.raises(DicomFileError, match=r"^rle\.dcm: RLE pixel data of 6,128 bytes cannot hold the 8,388,608 bytes "
                                             r"the header declares \(Rows, Columns, Number of Frames\); not decoded$"):
        load_series(path)


@needs_testdata
def test_a_huge_pixel_header_is_refused_before_decoding_without_allocating(tmp_path):
    path = tmp_path / "huge.dcm"
    shutil.copy(MALFORMED / "pydicom" / "MR_small_RLE.dcm", path)
    _rewrite(path, Rows=65535, Columns=65535)
    exc, peak = _peak_while(lambda: load_series(path))
    assert str(exc) == ("the series declares 1 slices of 65535 x 65535, 4,294,836,225 voxels: more than the 67,108,864 "
                        "allowed (limit MAX_SERIES_VOXELS); not decoded")
    assert peak < 16 * MiB
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 1000
    with pytest.raises(DicomFileError, match=r"^huge\.dcm: the header declares 1000 frame\(s\) of 65535 x 65535 at 16 "
                                             r"bits, 8,589,672,450,000 bytes of pixels: more than the 536,870,912 allowed "
                                             r"for one image object \(limit MAX_PIXEL_BYTES\); not decoded$"):
        _frames.decode(ds, "huge.dcm")


def test_the_limits_are_documented_settings():
    assert (_reading.MAX_FILE_BYTES, _reading.MAX_TOTAL_BYTES, _reading.MAX_FILES, _reading.MAX_RATIO) == (
        512 * MiB, 1024 * MiB, 10_000, 100)
    assert _frames.MAX_PIXEL_BYTES == 512 * MiB and dicom_io.MAX_SERIES_VOXELS == 64 * MiB


# --------------------------------------------------------------------------- uploads: de-identified before disk

def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@needs_testdata
def test_an_uploaded_zip_is_deidentified_before_any_byte_is_written(tmp_path):
    upload = _zip(tmp_path / "upload.zip", {p.name: p.read_bytes() for p in STS_FILES}).read_bytes()
    assert upload.count(b"STS_025") == 0 and b"STS_025" in b"".join(p.read_bytes() for p in STS_FILES)
    session = tmp_path / "session"
    visit = private_folder(session, "baseline")
    stored = store_series_upload([("upload.zip", upload)], visit / "series")
    roi = store_roi_upload("RS.dcm", STS_RTSTRUCT.read_bytes(), visit / "roi")
    written = _all_bytes(session)
    for identifier in (b"STS_025", b"20001004", b"1.3.6.1.4.1.14519"):
        assert identifier not in written, identifier
    assert stored.n_files == 25 and stored.warnings == ()
    for folder in (session, visit, visit / "series", visit / "roi"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    for p in session.rglob("*"):
        if p.is_file():
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    series = load_series(stored.path)
    assert series.shape == (25, 55, 75) and series.patient_pseudonym.startswith("WW-")
    assert load_roi(roi, series).voxel_count == 9655  # references still match after de-identification


@needs_testdata
def test_uploaded_files_that_are_not_dicom_are_never_written(tmp_path):
    files = [(p.name, p.read_bytes()) for p in STS_FILES] + [("report.pdf", b"%PDF-1.4 Patient STS_025")]
    stored = store_series_upload(files, tmp_path / "series")
    assert stored.n_files == 25 and b"STS_025" not in _all_bytes(tmp_path)
    # an uploaded file is named by its place in the upload, never by its name (often the patient's)
    assert stored.warnings == ("file 26 of the upload: not a DICOM file (no 'DICM' marker, and the content does not "
                               "parse as a DICOM data set); not stored",)
    with pytest.raises(ImagingError, match=r"^upload: no DICOM file to store \(file 1 of the upload: not a DICOM file"):
        store_series_upload([("notes.txt", b"Patient STS_025")], tmp_path / "other")
    assert not (tmp_path / "other").exists()


@needs_testdata
def test_an_uploaded_bomb_or_unsafe_zip_writes_nothing(tmp_path, bomb_gz):
    with pytest.raises(InputLimitError, match=r"^file 1 of the upload: the archive expands more than 100 times its size"):
        store_series_upload([("upload.zip", _zip(tmp_path / "b.zip", {"slice.dcm.gz": bomb_gz}).read_bytes())],
                            tmp_path / "series")
    with pytest.raises(InputLimitError, match=r"^file 1 of the upload: 1 member name\(s\) point outside the archive "
                                              r"\(absolute, or with '\.\.'\): member 1 of the archive; refused"):
        store_series_upload([("../../up.zip", _zip(tmp_path / "t.zip", {"../x.dcm": STS_FILES[0].read_bytes()}).read_bytes())],
                            tmp_path / "series")
    assert not (tmp_path / "series").exists()


@needs_testdata
def test_an_uploaded_nifti_mask_is_rebuilt_from_its_voxels(tmp_path, sts_series):
    import SimpleITK as sitk

    import gzip

    raw = bytearray(gzip.decompress(STS_NIFTI_MASK.read_bytes()))
    raw[148:228] = b"Patient STS_025 born 19500101".ljust(80, b"\x00")  # NIfTI-1 'descrip': free text
    tagged = tmp_path / "tagged.nii.gz"
    tagged.write_bytes(gzip.compress(bytes(raw)))
    assert sitk.ReadImage(str(tagged)).GetSize() == sitk.ReadImage(str(STS_NIFTI_MASK)).GetSize()
    out = store_roi_upload("mask.nii.gz", tagged.read_bytes(), tmp_path / "roi")
    assert out.name == "roi.nii.gz" and sorted(os.listdir(tmp_path / "roi")) == ["roi.nii.gz"]
    assert b"STS_025" not in __import__("gzip").decompress(out.read_bytes())
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert load_roi(out, sts_series).voxel_count == 9655


def test_a_nifti_declaring_billions_of_voxels_is_refused_before_reading(tmp_path):
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, 30000, 30000, 30000, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 2, 8)  # uint8
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352)
    header[344:348] = b"n+1\x00"
    with pytest.raises(RoiError, match=r"^the ROI file: the mask declares 30000 x 30000 x 30000 voxels, more than the "
                                       r"67,108,864 allowed \(limit MAX_MASK_VOXELS\)"):
        store_roi_upload("big.nii", bytes(header), tmp_path / "roi")
    assert not (tmp_path / "roi").exists()


def test_private_folder_replaces_an_earlier_upload_and_refuses_path_names(tmp_path):
    first = private_folder(tmp_path / "s", "baseline")
    (first / "old.dcm").write_bytes(b"old")
    again = private_folder(tmp_path / "s", "baseline")
    assert again == first and os.listdir(again) == []
    with pytest.raises(ValueError):
        private_folder(tmp_path / "s", "../x")
