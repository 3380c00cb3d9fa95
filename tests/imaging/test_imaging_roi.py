"""ROI masks: RTSTRUCT vs the shipped NIfTI, DICOM SEG on its source CT, geometry mismatches."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from imaging_testdata import CT_SOURCE, SEG_DIR, STS_IMAGES, STS_NIFTI_MASK, STS_RTSTRUCT, needs_testdata

from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.errors import GeometryMismatchError, RoiError
from watchwait.imaging.roi import load_roi

pytestmark = needs_testdata


@pytest.fixture(scope="module")
def ct_series():
    return load_series(CT_SOURCE, allow_gaps=True)  # 4 slices; a real 202 mm gap after the first


def test_rtstruct_reproduces_the_nifti_mask_voxel_for_voxel(sts_series):
    contours = load_roi(STS_RTSTRUCT, sts_series)
    nifti = load_roi(STS_NIFTI_MASK, sts_series)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(STS_NIFTI_MASK))).astype(bool)
    assert contours.voxel_count == nifti.voxel_count == 9655
    assert np.array_equal(contours.mask, reference)
    assert np.array_equal(contours.mask, nifti.mask)
    assert contours.name == "GTV_Mass_MR_T1" and contours.kind == "RTSTRUCT"
    assert [int(n) for n in contours.mask.sum(axis=(1, 2)) if n] == [
        463, 616, 775, 895, 946, 973, 974, 969, 887, 745, 603, 368, 271, 132, 38]
    # the sample's Contour Image Sequence UIDs do not match the images: said, not trusted
    assert "15 contour(s) reference images that are not in this series" in contours.warnings[0]


def _expected_seg_counts(seg_file, threshold=0.5):
    """Per-slice voxel counts straight from the SEG frames (pydicom only), slices in z order."""
    sources = sorted((pydicom.dcmread(p) for p in CT_SOURCE.iterdir()),
                     key=lambda d: float(d.ImagePositionPatient[2]))
    slot = {str(d.SOPInstanceUID): k for k, d in enumerate(sources)}
    seg = pydicom.dcmread(seg_file)
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
    if seg.SegmentationType == "FRACTIONAL":
        frames = frames / float(seg.MaximumFractionalValue) >= threshold
    union = np.zeros((len(sources), seg.Rows, seg.Columns), dtype=bool)
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        union[slot[str(uid)]] |= frame > 0
    return union.sum(axis=(1, 2)).tolist()


@pytest.mark.parametrize("name, counts", [
    ("seg_image_ct_binary.dcm", [0, 127, 256, 255]),
    ("seg_image_ct_binary_fractional.dcm", [0, 127, 256, 255]),
    ("seg_image_ct_true_fractional.dcm", [0, 127, 256, 255]),
    ("seg_image_ct_binary_overlap.dcm", [16, 16, 16, 16]),
])
def test_seg_frames_land_on_their_source_slices(ct_series, name, counts):
    roi = load_roi(SEG_DIR / name, ct_series)
    assert roi.mask.sum(axis=(1, 2)).tolist() == counts == _expected_seg_counts(SEG_DIR / name)
    assert roi.kind == "SEG" and roi.warnings == ()


def test_fractional_threshold(ct_series):
    path = SEG_DIR / "seg_image_ct_true_fractional.dcm"
    roi = load_roi(path, ct_series, fractional_threshold=0.25)
    assert roi.mask.sum(axis=(1, 2)).tolist() == [0, 149, 256, 256] == _expected_seg_counts(path, 0.25)


def test_segment_choice(ct_series):
    path = SEG_DIR / "seg_image_ct_binary_overlap.dcm"
    assert load_roi(path, ct_series, segment_numbers=[1]).voxel_count == 64
    second = load_roi(path, ct_series, segment_numbers=[2])
    assert second.voxel_count == 16 and second.name == "second segment"
    with pytest.raises(RoiError, match=r"seg_image_ct_binary_overlap\.dcm: no segment number \[3\]; "
                                       r"the segments are \[1, 2\]"):
        load_roi(path, ct_series, segment_numbers=[3])


def test_single_frame_seg_on_its_ct_image():
    ct = load_series(SEG_DIR / "ct_image.dcm")
    assert load_roi(SEG_DIR / "seg_image_ct_binary_single_frame.dcm", ct).voxel_count == 1832


def test_seg_without_references_is_placed_by_plane_position(ct_series, tmp_path):
    ds = pydicom.dcmread(SEG_DIR / "seg_image_ct_binary.dcm")
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.DerivationImageSequence
    ds.save_as(tmp_path / "no_refs.dcm")
    roi = load_roi(tmp_path / "no_refs.dcm", ct_series)
    assert roi.mask.sum(axis=(1, 2)).tolist() == [0, 127, 256, 255]
    assert "3 frame(s) matched to slices by plane position" in roi.warnings[0]


def test_nifti_with_flipped_axes_is_the_same_grid(sts_series, tmp_path):
    flipped = sitk.Flip(sitk.ReadImage(str(STS_NIFTI_MASK)), [True, False, True])
    assert flipped.GetDirection() != (1, 0, 0, 0, 1, 0, 0, 0, 1)
    sitk.WriteImage(flipped, str(tmp_path / "flipped.nii.gz"))
    roi = load_roi(tmp_path / "flipped.nii.gz", sts_series)
    assert roi.voxel_count == 9655
    assert np.array_equal(roi.mask, load_roi(STS_NIFTI_MASK, sts_series).mask)


def _altered_nifti(tmp_path, change):
    image = sitk.ReadImage(str(STS_NIFTI_MASK))
    image = change(image) or image
    sitk.WriteImage(image, str(tmp_path / "altered.nii.gz"))
    return tmp_path / "altered.nii.gz"


@pytest.mark.parametrize("change, message", [
    (lambda im: im[:, :, :24], r"size \(x, y, z\) \(75, 55, 24\) vs series \(75, 55, 25\)"),
    (lambda im: im.SetSpacing((1.0, 1.0, 3.27)),
     r"spacing \(x, y, z\) \(1, 1, 3\.27\) mm vs series \(0\.976562, 0\.976562, 3\.26996\) mm"),
    (lambda im: im.SetOrigin(np.add(im.GetOrigin(), (0, 0, 5.0)).tolist()), r"origin .* \(5 mm apart\)"),
    (lambda im: im.SetDirection((0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)),
     r"orientation \(direction cosines\) \(0, -1, 0, 1, 0, 0, 0, 0, 1\) vs series \(1, 0, 0, 0, 1, 0, 0, 0, 1\)"),
])
def test_nifti_geometry_mismatch_says_what_differs(sts_series, tmp_path, change, message):
    path = _altered_nifti(tmp_path, change)
    with pytest.raises(GeometryMismatchError, match=r"^altered\.nii\.gz: geometry does not match the series: .*"
                                                    + message):
        load_roi(path, sts_series)


def test_rois_of_another_frame_of_reference_are_refused(sts_series, ct_series):
    with pytest.raises(GeometryMismatchError, match=r"^RS\.dcm: geometry does not match the series: frame of "
                                                    r"reference of ROI 'GTV_Mass_MR_T1' differs"):
        load_roi(STS_RTSTRUCT, ct_series)
    with pytest.raises(GeometryMismatchError, match=r"^seg_image_ct_binary\.dcm: geometry does not match the "
                                                    r"series: frame of reference differs"):
        load_roi(SEG_DIR / "seg_image_ct_binary.dcm", sts_series)


def test_contour_between_slices_is_refused(sts_series, tmp_path):
    ds = pydicom.dcmread(STS_RTSTRUCT)
    contour = ds.ROIContourSequence[0].ContourSequence[3]
    points = np.array(contour.ContourData, dtype=float).reshape(-1, 3)
    points[:, 2] += 1.6  # half a slice
    contour.ContourData = [f"{v:.4f}" for v in points.ravel()]
    ds.save_as(tmp_path / "RS_moved.dcm")
    with pytest.raises(GeometryMismatchError, match=r"contour 4 at 454\.74 mm along the normal is on no slice of "
                                                    r"the series \(nearest 1\.60 mm away\)"):
        load_roi(tmp_path / "RS_moved.dcm", sts_series)


def test_roi_choice_by_name(sts_series):
    assert load_roi(STS_RTSTRUCT, sts_series, roi_name="gtv_mass_mr_t1").voxel_count == 9655
    with pytest.raises(RoiError, match=r"^RS\.dcm: no ROI named 'rectum'; the ROIs are 'GTV_Mass_MR_T1'$"):
        load_roi(STS_RTSTRUCT, sts_series, roi_name="rectum")


def test_an_image_is_not_a_roi(sts_series):
    with pytest.raises(RoiError, match=r"^000000\.dcm: not a ROI file: modality MR"):
        load_roi(STS_IMAGES / "000000.dcm", sts_series)


def test_rtstruct_given_as_a_decoded_dataset(sts_series):
    from watchwait.imaging.deid import default_deidentifier
    from watchwait.imaging.roi import mask_from_rtstruct

    ds = default_deidentifier().apply(pydicom.dcmread(STS_RTSTRUCT))
    for item in ds.ROIContourSequence[0].ContourSequence:
        assert len(item.ContourData) % 3 == 0  # decoded values, not the raw text
    assert mask_from_rtstruct(ds, sts_series).voxel_count == 9655


def test_seg_frames_off_the_pixel_grid_are_refused(ct_series, tmp_path):
    ds = pydicom.dcmread(SEG_DIR / "seg_image_ct_binary.dcm")
    for item in ds.PerFrameFunctionalGroupsSequence:
        position = item.PlanePositionSequence[0]
        position.ImagePositionPatient = [float(position.ImagePositionPatient[0]) + 0.244,
                                         *position.ImagePositionPatient[1:]]
    ds.save_as(tmp_path / "shifted.dcm")
    with pytest.raises(GeometryMismatchError, match=r"frame 1 origin is 0\.000 rows, 0\.500 columns from the "
                                                    r"series origin: not on the pixel grid"):
        load_roi(tmp_path / "shifted.dcm", ct_series)
