"""Tumour ROI as a boolean mask on the grid of a :class:`~watchwait.imaging.dicom_io.Series`.

Three sources:

* **DICOM SEG** (read with highdicom): each frame goes to the slice it references (Referenced
  SOP Instance UID + frame number), or, when the reference is absent or unknown, to the slice
  at its Plane Position; when both exist they must agree. Fractional segments are thresholded
  (``fraction >= fractional_threshold``).
* **RTSTRUCT**: the ROI's frame of reference must be the series'; each closed planar contour is
  filled (even-odd rule, voxel centres) into the slice at its position along the normal.
  Contour Image Sequence references are not trusted (the STS_025 sample's do not match its
  images); contours on one slice are combined by exclusive or, so inner contours make holes.
* **NIfTI** (or any 3-D file SimpleITK reads): it must be on the series grid; the same grid
  stored with flipped or permuted axes is accepted and put on the series' (z, y, x) order.

Any other geometry raises :class:`GeometryMismatchError` saying what differs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from ._reading import decode_header, parse, quiet_pydicom
from .deid import Deidentifier, default_deidentifier
from .dicom_io import Series
from .errors import GeometryMismatchError, RoiError

__all__ = ["RoiMask", "load_roi", "mask_from_seg", "mask_from_rtstruct", "mask_from_image"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
ORIENTATION_TOL = 1e-4
SPACING_RTOL = 1e-4


@dataclass(frozen=True, eq=False)
class RoiMask:
    """A boolean mask (z, y, x) on a series grid, with where it came from."""

    mask: np.ndarray
    name: str
    kind: str  # "SEG", "RTSTRUCT" or "IMAGE"
    warnings: tuple[str, ...] = ()

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.mask))


def load_roi(
    path: str | Path,
    series: Series,
    *,
    roi_name: str | None = None,
    segment_numbers: Sequence[int] | None = None,
    label: int | None = None,
    fractional_threshold: float = 0.5,
    deidentifier: Deidentifier | None = None,
) -> RoiMask:
    """Read a SEG, RTSTRUCT or NIfTI file as a mask on ``series`` (kind chosen from the file)."""
    path = Path(path)
    if path.name.lower().endswith(IMAGE_SUFFIXES):
        return mask_from_image(path, series, label=label)
    ds = _read_dicom(path, deidentifier)
    modality = str(ds.get("Modality", ""))
    if modality == "SEG":
        return mask_from_seg(ds, series, segment_numbers=segment_numbers,
                             fractional_threshold=fractional_threshold, name=path.name)
    if modality == "RTSTRUCT":
        return mask_from_rtstruct(ds, series, roi_name=roi_name, name=path.name)
    raise RoiError(f"{path.name}: not a ROI file: modality {modality or 'missing'} (expected a DICOM "
                   f"SEG, an RTSTRUCT or a NIfTI mask)")


def _read_dicom(path: Path, deidentifier: Deidentifier | None) -> Dataset:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RoiError(f"{path.name}: cannot be opened ({exc.strerror or exc})") from None
    result = parse(data, path.name)  # every element decoded, or the reason it cannot be
    if result.error is not None:
        raise RoiError(str(result.error)) from None
    assert result.dataset is not None
    return (deidentifier or default_deidentifier()).apply(result.dataset)


def _finish(mask: np.ndarray, name: str, kind: str, what: str, warnings: list[str]) -> RoiMask:
    if not mask.any():
        raise RoiError(f"{name}: {what} gives an empty mask on this series")
    roi = RoiMask(mask, what, kind, tuple(warnings))
    logger.info("%s ROI: %d voxels, %d warning(s)", kind, roi.voxel_count, len(warnings))
    return roi


# --------------------------------------------------------------------------- DICOM SEG


def mask_from_seg(
    source: str | Path | Dataset,
    series: Series,
    *,
    segment_numbers: Sequence[int] | None = None,
    fractional_threshold: float = 0.5,
    name: str | None = None,
    deidentifier: Deidentifier | None = None,
) -> RoiMask:
    """Mask of the union of ``segment_numbers`` (default: all segments) of a DICOM SEG."""
    from ._seg import seg_to_mask  # highdicom is imported only when a SEG is read

    if not isinstance(source, Dataset):
        name = name or Path(source).name
        source = _read_dicom(Path(source), deidentifier)
    name = name or "SEG"
    with quiet_pydicom():
        decode_header(source, name, RoiError)  # a data set from the caller may still be encoded
        mask, what, warnings = seg_to_mask(source, series, name, segment_numbers, fractional_threshold)
    return _finish(mask, name, "SEG", what, warnings)


# --------------------------------------------------------------------------- RTSTRUCT


def mask_from_rtstruct(
    source: str | Path | Dataset,
    series: Series,
    *,
    roi_name: str | None = None,
    name: str | None = None,
    deidentifier: Deidentifier | None = None,
) -> RoiMask:
    """Mask of one ROI of an RTSTRUCT (``roi_name``; optional when there is only one).

    ROI names are de-identified (Clean Descriptors: only words of a fixed vocabulary are kept), so ``roi_name``
    is compared once cleaned the same way (``"GTV Smith"`` finds ``'GTV'``); ``"#2"`` chooses ROI Number 2,
    for ROIs whose cleaned names coincide."""
    from ._rtstruct import rtstruct_to_mask

    if not isinstance(source, Dataset):
        name = name or Path(source).name
        source = _read_dicom(Path(source), deidentifier)
    name = name or "RTSTRUCT"
    with quiet_pydicom():
        decode_header(source, name, RoiError)  # a data set from the caller may still be encoded
        mask, what, warnings = rtstruct_to_mask(source, series, name, roi_name)
    return _finish(mask, name, "RTSTRUCT", what, warnings)


# --------------------------------------------------------------------------- NIfTI & co


def mask_from_image(path: str | Path, series: Series, *, label: int | None = None) -> RoiMask:
    """Mask from a label image on the series grid (``label``: that value; default: non-zero)."""
    path = Path(path)
    image = read_mask_image(path, path.name)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise RoiError(f"{path.name}: a mask must be a 3-D single-channel image, this one is "
                       f"{image.GetDimension()}-D with {image.GetNumberOfComponentsPerPixel()} component(s)")
    image = _on_series_grid(image, series, path.name)
    values = sitk.GetArrayFromImage(image)
    warnings: list[str] = []
    if label is not None:
        mask = values == label
        what = f"label {label}"
    else:
        mask = values != 0
        labels = np.unique(values[mask])
        if labels.size > 1:
            warnings.append(f"{path.name}: {labels.size} different non-zero values; all taken as the ROI")
        what = "non-zero voxels"
    return _finish(mask, path.name, "IMAGE", what, warnings)


#: Voxels of a mask image, checked from its header before the voxels are read (a few bytes of
#: .nii.gz can declare billions).
MAX_MASK_VOXELS = 64 * 1024**2


def read_mask_image(path: str | Path, name: str) -> sitk.Image:
    """A mask image file (NIfTI, NRRD, MHA...) read by SimpleITK, after checking its declared size."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()  # the header only
    except RuntimeError as exc:  # what SimpleITK raises for any file it cannot read
        raise RoiError(f"{name}: cannot be read as an image ({_sitk_reason(exc)})") from None
    voxels = 1
    for n in reader.GetSize():
        voxels *= int(n)
    if voxels > MAX_MASK_VOXELS:
        raise RoiError(f"{name}: the mask declares {' x '.join(str(n) for n in reader.GetSize())} voxels, more than "
                       f"the {MAX_MASK_VOXELS:,} allowed (limit MAX_MASK_VOXELS); not read")
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise RoiError(f"{name}: cannot be read as an image ({_sitk_reason(exc)})") from None


def _sitk_reason(exc: RuntimeError) -> str:
    return str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else "unreadable"


def series_reference(series: Series) -> sitk.Image:
    """An empty image with the series geometry (for resampling onto it)."""
    ref = sitk.Image([int(n) for n in series.shape[::-1]], sitk.sitkUInt8)
    ref.SetSpacing([float(s) for s in series.spacing[::-1]])
    ref.SetOrigin(series.origin)
    ref.SetDirection(series.direction)
    return ref


def _on_series_grid(image: sitk.Image, series: Series, name: str) -> sitk.Image:
    ref = series_reference(series)
    differences = grid_differences(image, ref)
    if not differences:
        image.CopyInformation(ref)  # equal within tolerance: take the exact series values
        return image
    if _same_voxels(image, ref):
        return sitk.Resample(image, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    raise GeometryMismatchError(name, differences)


def grid_differences(image: sitk.Image, ref: sitk.Image) -> list[str]:
    """How ``image``'s grid differs from ``ref``'s (empty list: the same grid)."""
    out = []
    if image.GetSize() != ref.GetSize():
        out.append(f"size (x, y, z) {_fmt(image.GetSize())} vs series {_fmt(ref.GetSize())}")
    if not np.allclose(image.GetSpacing(), ref.GetSpacing(), rtol=SPACING_RTOL, atol=1e-6):
        out.append(f"spacing (x, y, z) {_fmt(image.GetSpacing())} mm vs series {_fmt(ref.GetSpacing())} mm")
    tol = 0.01 * min(ref.GetSpacing())
    shift = np.linalg.norm(np.subtract(image.GetOrigin(), ref.GetOrigin()))
    if shift > tol:
        out.append(f"origin {_fmt(image.GetOrigin())} vs series {_fmt(ref.GetOrigin())} "
                   f"({shift:.3g} mm apart)")
    if not np.allclose(image.GetDirection(), ref.GetDirection(), atol=ORIENTATION_TOL):
        out.append(f"orientation (direction cosines) {_fmt(image.GetDirection())} vs series "
                   f"{_fmt(ref.GetDirection())}")
    return out


def _same_voxels(image: sitk.Image, ref: sitk.Image) -> bool:
    """True when both grids have the same voxel centres (axes flipped or permuted)."""
    if np.prod(image.GetSize()) != np.prod(ref.GetSize()):
        return False
    size = np.array(ref.GetSize()) - 1
    limit = np.array(image.GetSize()) - 1
    for corner in np.ndindex(2, 2, 2):
        index = [int(v) for v in np.array(corner) * size]
        point = ref.TransformIndexToPhysicalPoint(index)
        cont = np.array(image.TransformPhysicalPointToContinuousIndex(point))
        if np.max(np.abs(cont - np.round(cont))) > 1e-3 or np.any(cont < -1e-3) or np.any(cont > limit + 1e-3):
            return False
    return sorted(np.round(image.GetSpacing(), 4)) == sorted(np.round(ref.GetSpacing(), 4))


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{round(v, 6) + 0.0:.6g}" for v in values) + ")"  # no "-0"
