"""DICOM series reading: geometry, slice order, gaps, duplicates, multi-frame and compression."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from imaging_testdata import CT_SOURCE, MALFORMED, STS_IMAGES, STS_NIFTI_IMAGE, needs_testdata

from watchwait.errors import ImagingError
from watchwait.imaging.dicom_io import list_series, load_series
from watchwait.imaging.errors import SeriesError

pytestmark = needs_testdata
STS_FILES = sorted(STS_IMAGES.glob("*.dcm"))


def test_sts_series_equals_the_nifti_export_voxel_for_voxel(sts_series):
    nifti = sitk.ReadImage(str(STS_NIFTI_IMAGE))
    assert sts_series.shape == (25, 55, 75)
    assert np.array_equal(sts_series.array, sitk.GetArrayFromImage(nifti))
    assert np.allclose(sts_series.spacing, nifti.GetSpacing()[::-1], rtol=1e-6)
    assert np.allclose(sts_series.origin, nifti.GetOrigin(), atol=1e-4)
    assert np.allclose(sts_series.direction, nifti.GetDirection())
    assert sts_series.evenly_spaced and sts_series.warnings == ()
    assert list(sts_series.slice_positions) == sorted(sts_series.slice_positions)


def test_slice_order_comes_from_position_not_instance_number_or_file_name(sts_series, tmp_path):
    # Copy with Instance Number reversed and files renamed in a shuffled, misleading order.
    rng = np.random.default_rng(7)
    names = rng.permutation(len(STS_FILES))
    for path, new in zip(STS_FILES, names):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = len(STS_FILES) - int(ds.InstanceNumber)
        ds.save_as(tmp_path / f"slice_{new:03d}.dcm")
    shuffled = load_series(tmp_path)
    assert np.array_equal(shuffled.array, sts_series.array)
    assert shuffled.sop_instance_uids == sts_series.sop_instance_uids
    # first slice of the volume is the file with the lowest z, whatever its number says
    z = [float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in STS_FILES]
    first = pydicom.dcmread(STS_FILES[int(np.argmin(z))])
    assert np.array_equal(shuffled.array[0], first.pixel_array)


def test_zip_gives_the_same_volume(sts_series, tmp_path):
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in STS_FILES:
            zf.write(p, f"export/MR/{p.name}")
    assert np.array_equal(load_series(archive).array, sts_series.array)


def test_missing_slice_is_refused_and_can_be_allowed(sts_copy):
    (sts_copy / "000012.dcm").unlink()
    with pytest.raises(SeriesError, match=r"missing slices: gap of 6\.54 mm between 000011\.dcm and "
                                          r"000013\.dcm \(median spacing 3\.27 mm, about 1 slice\(s\) missing\)"):
        load_series(sts_copy)
    series = load_series(sts_copy, allow_gaps=True)
    assert series.shape[0] == 24 and not series.evenly_spaced
    assert any("missing slices" in w for w in series.warnings)


def test_real_gap_in_the_pydicom_ct_series():
    with pytest.raises(SeriesError, match=r"gap of 202\.50 mm between 17106 and 17136"):
        load_series(CT_SOURCE)
    assert load_series(CT_SOURCE, allow_gaps=True).shape == (4, 16, 16)


def test_identical_duplicate_is_dropped_with_a_warning(sts_series, sts_copy):
    shutil.copy(sts_copy / "000005.dcm", sts_copy / "copy_of_5.dcm")
    series = load_series(sts_copy)
    assert np.array_equal(series.array, sts_series.array)
    assert any(w.startswith("copy_of_5.dcm: duplicate of 000005.dcm") for w in series.warnings)


def test_duplicate_position_with_other_pixels_is_refused(sts_copy):
    ds = pydicom.dcmread(sts_copy / "000005.dcm")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.PixelData = (ds.pixel_array + 1).astype(ds.pixel_array.dtype).tobytes()
    ds.save_as(sts_copy / "second_echo.dcm")
    with pytest.raises(SeriesError, match=r"000005\.dcm and second_echo\.dcm are at the same position "
                                          r"\(413\.90 mm along the normal\) but hold different pixels"):
        load_series(sts_copy)


def test_inconsistent_orientation_is_refused(sts_copy):
    ds = pydicom.dcmread(sts_copy / "000003.dcm")
    ds.ImageOrientationPatient = [0.9998477, 0.0174524, 0, -0.0174524, 0.9998477, 0]
    ds.save_as(sts_copy / "000003.dcm")
    with pytest.raises(SeriesError, match=r"inconsistent orientation in the series: .* 000003\.dcm has"):
        load_series(sts_copy)


def test_several_series_default_to_the_largest_and_can_be_chosen(sts_series, sts_copy):
    shutil.copy(MALFORMED / "pydicom" / "MR_small.dcm", sts_copy / "other.dcm")
    infos = list_series(sts_copy)
    assert [i.n_planes for i in infos] == [25, 1]
    series = load_series(sts_copy)
    assert series.series_instance_uid == infos[0].series_instance_uid
    assert any(w.startswith("2 series present") for w in series.warnings)
    original_uid = str(pydicom.dcmread(MALFORMED / "pydicom" / "MR_small.dcm").SeriesInstanceUID)
    assert load_series(sts_copy, series_uid=original_uid).shape == (1, 64, 64)
    assert load_series(sts_copy, series_uid=infos[1].series_instance_uid).shape == (1, 64, 64)
    with pytest.raises(SeriesError, match=r"series 1\.2\.3 not found; available: "):
        load_series(sts_copy, series_uid="1.2.3")


def test_every_mr_small_encoding_decodes_to_the_same_pixels():
    reference = load_series(MALFORMED / "pydicom" / "MR_small.dcm").array
    variants = ["MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm",
                "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm", "zipMR.gz"]
    for name in variants:
        assert np.array_equal(load_series(MALFORMED / "pydicom" / name).array, reference), name


def test_rescale_slope_and_intercept_are_applied():
    path = MALFORMED / "pydicom_data" / "MR2_J2KI.dcm"
    ds = pydicom.dcmread(path)
    assert float(ds.RescaleSlope) != 1.0
    expected = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)  # pydicom's own implementation
    series = load_series(path)
    assert np.allclose(series.array[0], expected, rtol=1e-6)
    assert "lossy-compressed pixel data" in series.warnings[0]


@pytest.mark.filterwarnings("ignore::UserWarning")  # highdicom's remarks on the source headers
def test_enhanced_mr_multiframe_equals_the_single_frame_series(sts_series, tmp_path):
    import highdicom as hd

    legacy = [pydicom.dcmread(p) for p in STS_FILES[::-1]]
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy, series_instance_uid=hd.UID(), series_number=9, sop_instance_uid=hd.UID(), instance_number=1)
    enhanced.save_as(tmp_path / "enhanced.dcm")
    series = load_series(tmp_path / "enhanced.dcm")
    assert np.array_equal(series.array, sts_series.array)
    assert sorted(n for n in series.frame_numbers if n) == list(range(1, 26))
    assert len(set(series.sop_instance_uids)) == 1
    assert np.allclose(series.spacing, sts_series.spacing)


def _with_functional_groups(path: Path, out: Path) -> Path:
    """emri_small has no functional groups: add plane geometry (1.2 mm steps), keep its pixels."""
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(path)
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [0.5, 0.5]
    measures.SliceThickness = 1.2
    shared.PlaneOrientationSequence = [orientation]
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for i in range(int(ds.NumberOfFrames)):
        item, position = Dataset(), Dataset()
        position.ImagePositionPatient = [0, 0, 1.2 * (9 - i)]  # stored from head to foot
        item.PlanePositionSequence = [position]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.save_as(out)
    return out


def test_enhanced_mr_in_every_transfer_syntax_gives_the_same_volume(tmp_path):
    names = ["emri_small.dcm", "emri_small_big_endian.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm"]
    volumes = [load_series(_with_functional_groups(MALFORMED / "pydicom_data" / n, tmp_path / n)) for n in names]
    raw = pydicom.dcmread(MALFORMED / "pydicom_data" / "emri_small.dcm").pixel_array
    for series in volumes:
        assert series.shape == (10, 64, 64)
        assert series.spacing == pytest.approx((1.2, 0.5, 0.5))
        assert np.array_equal(series.array, raw[::-1])  # frames re-ordered by position
        assert series.frame_numbers == tuple(range(10, 0, -1))


def test_a_path_that_does_not_exist_is_an_imaging_error(tmp_path):
    with pytest.raises(ImagingError, match=r"nothing\.dcm: no such file or folder"):
        load_series(tmp_path / "nothing.dcm")
