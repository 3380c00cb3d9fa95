"""Every malformed sample gives a series or an ImagingError naming the file and the fault."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from imaging_testdata import MALFORMED, STS_IMAGES, needs_testdata

from watchwait.errors import ImagingError
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.errors import DicomFileError, SeriesError

pytestmark = needs_testdata

_NOT_IMAGE = r"not an MR or CT image \({}\)"
#: file -> expected shape (it loads) or the pinned message (it must not).
EXPECTED: dict[str, tuple[int, int, int] | str] = {
    "pydicom/ExplVR_BigEndNoMeta.dcm": _NOT_IMAGE.format("RT Ion Plan Storage, modality RTPLAN"),
    "pydicom/ExplVR_LitEndNoMeta.dcm": _NOT_IMAGE.format("RT Ion Plan Storage, modality RTPLAN"),
    "pydicom/J2K_pixelrep_mismatch.dcm": (1, 512, 512),
    "pydicom/JPEG-lossy.dcm": _NOT_IMAGE.format("Secondary Capture Image Storage, modality NM"),
    "pydicom/JPEG2000-embedded-sequence-delimiter.dcm": _NOT_IMAGE.format(
        "Secondary Capture Image Storage, modality NM"),
    "pydicom/JPEG2000.dcm": _NOT_IMAGE.format("Secondary Capture Image Storage, modality NM"),
    "pydicom/JPGExtended.dcm": _NOT_IMAGE.format("Secondary Capture Image Storage, modality NM"),
    "pydicom/MR_small.dcm": (1, 64, 64),
    "pydicom/MR_small_RLE.dcm": (1, 64, 64),
    "pydicom/MR_small_bigendian.dcm": (1, 64, 64),
    "pydicom/MR_small_expb.dcm": (1, 64, 64),
    "pydicom/MR_small_implicit.dcm": (1, 64, 64),
    "pydicom/MR_small_jp2klossless.dcm": (1, 64, 64),
    "pydicom/MR_small_jpeg_ls_lossless.dcm": (1, 64, 64),
    "pydicom/MR_small_padded.dcm": (1, 64, 64),
    "pydicom/MR_truncated.dcm": r"pixel data is truncated \(expected 8192 bytes, found 8130\)",
    "pydicom/UN_sequence.dcm": r"not an image: there is no Pixel Data \(7FE0,0010\)",
    "pydicom/badVR.dcm": _NOT_IMAGE.format("RT Dose Storage, modality RTDOSE"),
    "pydicom/empty_charset_LEI.dcm": r"not an image: there is no Pixel Data \(7FE0,0010\)",
    "pydicom/image_dfl.dcm": _NOT_IMAGE.format("Secondary Capture Image Storage, modality OT"),
    "pydicom/meta_missing_tsyntax.dcm": r"the file meta information has no Transfer Syntax UID \(0002,0010\)",
    "pydicom/no_meta.dcm": r"not a DICOM file \(no 'DICM' marker, and the content does not parse",
    "pydicom/no_meta_group_length.dcm": _NOT_IMAGE.format("RT Image Storage"),
    "pydicom/rtplan_truncated.dcm": _NOT_IMAGE.format("RT Plan Storage, modality RTPLAN"),
    "pydicom/zipMR.gz": (1, 64, 64),
    "pydicom_data/MR-SIEMENS-DICOM-WithOverlays.dcm": (1, 484, 484),
    "pydicom_data/MR2_J2KI.dcm": (1, 1024, 1024),
    "pydicom_data/bad_sequence.dcm": (1, 512, 512),
    "pydicom_data/emri_small.dcm": r"multi-frame image \(10 frames\) without Per-frame Functional Groups "
                                   r"Sequence \(5200,9230\): frame positions are unknown",
    "pydicom_data/emri_small_RLE.dcm": r"multi-frame image \(10 frames\) without Per-frame",
    "pydicom_data/emri_small_big_endian.dcm": r"multi-frame image \(10 frames\) without Per-frame",
    "pydicom_data/emri_small_jpeg_2k_lossless.dcm": r"multi-frame image \(10 frames\) without Per-frame",
    "pydicom_data/emri_small_jpeg_2k_lossless_too_short.dcm": r"the file ends inside the Pixel Data "
                                                              r"\(truncated file",
}


def test_every_malformed_sample_has_an_expectation():
    present = {f"{p.parent.name}/{p.name}" for p in MALFORMED.glob("*/*")
               if p.name not in ("LICENSE", "README.txt")}
    assert present == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_sample(name):
    path = MALFORMED / name
    expected = EXPECTED[name]
    if isinstance(expected, tuple):
        series = load_series(path)
        assert series.shape == expected
        assert np.isfinite(series.array).all()
    else:
        with pytest.raises(ImagingError, match="^" + path.name.replace(".", r"\.") + ": " + expected):
            load_series(path)


def test_bad_files_next_to_a_good_series_are_listed_and_skipped(tmp_path):
    shutil.copytree(STS_IMAGES, tmp_path / "in")
    bad = ["MR_truncated.dcm", "no_meta.dcm", "UN_sequence.dcm", "rtplan_truncated.dcm", "README.txt"]
    for name in bad:
        shutil.copy(MALFORMED / "pydicom" / name, tmp_path / "in" / name)
    series = load_series(tmp_path / "in")
    assert series.shape == (25, 55, 75)
    for name in ["no_meta.dcm", "UN_sequence.dcm", "rtplan_truncated.dcm", "README.txt"]:
        assert any(w.startswith(f"{name}: ") for w in series.warnings), name
    # MR_truncated.dcm reads as a header, in another series: named among the other series
    assert any(w.startswith("2 series present") for w in series.warnings)


def test_an_unreadable_slice_of_the_chosen_series_is_fatal(tmp_path):
    shutil.copytree(STS_IMAGES, tmp_path / "in")
    target = tmp_path / "in" / "000012.dcm"
    data = target.read_bytes()
    target.write_bytes(data[:-100])
    with pytest.raises(DicomFileError, match=r"^000012\.dcm: pixel data is truncated \(expected 8250 bytes, "
                                             r"found 8150\)"):
        load_series(tmp_path / "in")


def test_an_unreadable_duplicate_of_a_good_slice_is_skipped(tmp_path):
    shutil.copytree(STS_IMAGES, tmp_path / "in")
    data = (tmp_path / "in" / "000012.dcm").read_bytes()
    (tmp_path / "in" / "resent_12.dcm").write_bytes(data[:-100])
    series = load_series(tmp_path / "in")
    assert series.shape == (25, 55, 75)
    assert any(w.startswith("resent_12.dcm: pixel data is truncated") and w.endswith(
        "skipped: 000012.dcm has the same slice") for w in series.warnings)


def test_undecodable_compressed_pixels_are_reported(tmp_path):
    # A JPEG 2000 stream with 4 bytes overwritten, given MR identity and geometry.
    ds = pydicom.dcmread(MALFORMED / "pydicom" / "JPEG2000-embedded-sequence-delimiter.dcm")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.Modality = "MR"
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.save_as(tmp_path / "broken_j2k.dcm")
    with pytest.raises(DicomFileError, match=r"^broken_j2k\.dcm: pixel data cannot be decoded \(JPEG 2000 "
                                             r"Image Compression\): "):
        load_series(tmp_path / "broken_j2k.dcm")


def test_the_whole_pydicom_folder_loads_its_one_usable_mr_slice():
    series = load_series(MALFORMED / "pydicom")
    assert series.shape == (1, 64, 64)
    assert any("MR_truncated.dcm: pixel data is truncated" in w and "has the same slice" in w
               for w in series.warnings)


def test_a_broken_largest_series_is_named_not_silently_replaced():
    with pytest.raises(SeriesError, match=r"^emri_small\.dcm: multi-frame image .* \(in series 2\.25\.\d+, "
                                          r"the largest of the 4 series found; choose another"):
        load_series(MALFORMED / "pydicom_data")


def test_a_folder_without_any_image_lists_every_file(tmp_path):
    for name in ["UN_sequence.dcm", "no_meta.dcm"]:
        shutil.copy(MALFORMED / "pydicom" / name, tmp_path / name)
    with pytest.raises(SeriesError, match=r"no MR or CT image series found; 2 file\(s\) skipped:\n"
                                          r"  - UN_sequence\.dcm: not an image"):
        load_series(tmp_path)

