"""Per-object checks, plane geometry and pixel decoding of MR/CT image objects.

Callers run these inside :func:`~watchwait.imaging._reading.quiet_pydicom` (pydicom's value
checks could otherwise log attribute values), on data sets whose elements are already decoded
(:func:`~watchwait.imaging._reading.decode_header`): what is read here is validated here, and
only the pixel decoding itself runs under the third-party error boundary.

A :class:`Frame` is one 2-D plane with its patient geometry: a single-frame image object gives
one; a multi-frame (Enhanced / Legacy Converted) object gives one per frame, with the geometry
of its Shared and Per-frame Functional Groups (Plane Position, Plane Orientation, Pixel
Measures, Pixel Value Transformation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.uid import UID

from ._reading import DECODER_ERRORS, _short, quiet_pydicom
from .errors import DicomFileError

#: SOP classes the reader accepts (cross-sectional MR, and CT for SEG/RT test material).
SUPPORTED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
}
_UNIT_TOL = 1e-3  # |row|, |col| = 1 and row . col = 0 within this
#: Decoded pixel bytes of one image object (Rows x Columns x Number of Frames x Bits Allocated / 8),
#: checked from the header before any decoding: a 2 KB RLE file can declare terabytes.
MAX_PIXEL_BYTES = 512 * 1024**2
#: RLE (PS3.5 G): a replicate run codes at most 128 bytes in 2, so decoded bytes <= 64 x encoded
#: (plus headers); a file declaring more cannot be genuine and is refused before decoding.
_RLE_MAX_EXPANSION = 64
_RLE_LOSSLESS = "1.2.840.10008.1.2.5"


@dataclass
class Frame:
    """One image plane: where it is, how it is sampled and how to rescale its values."""

    name: str
    ds: Dataset
    index: int | None  # 0-based frame index in a multi-frame object, None for single-frame
    position: np.ndarray  # Image Position (Patient) of the first pixel, mm
    row_dir: np.ndarray  # direction of increasing column index (x)
    col_dir: np.ndarray  # direction of increasing row index (y)
    pixel_spacing: tuple[float, float]  # (between rows = y, between columns = x), mm
    rows: int
    cols: int
    slope: float
    intercept: float
    spacing_hint: float | None  # Spacing Between Slices, else Slice Thickness

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_dir, self.col_dir)

    @property
    def sop_uid(self) -> str:
        return str(self.ds.get("SOPInstanceUID", ""))


def check_image_object(ds: Dataset, name: str) -> None:
    """Raise :class:`DicomFileError` unless ``ds`` is an MR or CT image holding pixel data."""
    meta = getattr(ds, "file_meta", None)
    sop = str(ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else "") or "")
    modality = str(ds.get("Modality", "") or "")
    if sop and sop not in SUPPORTED_SOP_CLASSES:
        what = UID(sop).name if UID(sop).is_valid else sop
        extra = f", modality {modality}" if modality else ""
        raise DicomFileError(name, f"not an MR or CT image ({what}{extra})")
    if not sop and modality and modality not in ("MR", "CT"):
        raise DicomFileError(name, f"not an MR or CT image (modality {modality})")
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DicomFileError(name, "not an image: there is no Pixel Data (7FE0,0010)")
    if not sop and not modality:
        raise DicomFileError(name, "no SOP Class UID (0008,0016) and no Modality (0008,0060): "
                                   "cannot tell what kind of object this is")


def frames_of(ds: Dataset, name: str) -> list[Frame]:
    """The planes of one image object, with their geometry (raises for missing/invalid values)."""
    rows = _int(ds, "Rows", name)
    cols = _int(ds, "Columns", name)
    n_frames = _int(ds, "NumberOfFrames", name) if "NumberOfFrames" in ds else 1
    if rows < 1 or cols < 1 or n_frames < 1:
        raise DicomFileError(name, f"invalid image size: {n_frames} frame(s) of {rows} x {cols}")
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        return _multiframe(ds, name, rows, cols, n_frames)
    if n_frames > 1:
        raise DicomFileError(name, f"multi-frame image ({n_frames} frames) without Per-frame "
                                   "Functional Groups Sequence (5200,9230): frame positions are unknown")
    if "ImagePositionPatient" not in ds:
        raise DicomFileError(name, "no Image Position (Patient) (0020,0032): the slice position is unknown "
                                   "(not a cross-sectional image)")
    return [_frame(ds, name, None, ds, rows, cols)]


def _multiframe(ds: Dataset, name: str, rows: int, cols: int, n: int) -> list[Frame]:
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != n:
        raise DicomFileError(name, f"Per-frame Functional Groups Sequence has {len(per_frame)} "
                                   f"items for {n} frames")
    frames = []
    for i, item in enumerate(per_frame):
        merged = Dataset()
        for groups in (shared, item):
            if groups is None:
                continue
            for macro, keys in _MACROS.items():
                inner = _item(groups, macro)
                if inner is not None:
                    for key in keys:
                        if key in inner:
                            merged[key] = inner[key]  # the decoded element itself, validated below
        if "ImagePositionPatient" not in merged:
            raise DicomFileError(name, f"frame {i + 1} has no Plane Position Sequence (0020,9113)")
        frames.append(_frame(merged, name, i, ds, rows, cols))
    return frames


_MACROS = {
    "PlanePositionSequence": ("ImagePositionPatient",),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
    "PixelMeasuresSequence": ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept"),
}


def _frame(geo: Dataset, name: str, index: int | None, ds: Dataset, rows: int, cols: int) -> Frame:
    where = f"frame {index + 1}: " if index is not None else ""
    position = _floats(geo, "ImagePositionPatient", 3, name, where)
    iop = _floats(geo, "ImageOrientationPatient", 6, name, where)
    row_dir, col_dir = iop[:3], iop[3:]
    if (abs(np.linalg.norm(row_dir) - 1) > _UNIT_TOL or abs(np.linalg.norm(col_dir) - 1) > _UNIT_TOL
            or abs(float(row_dir @ col_dir)) > _UNIT_TOL):
        raise DicomFileError(name, f"{where}Image Orientation (Patient) {list(iop)} is not two "
                                   "orthogonal unit vectors")
    spacing = _floats(geo, "PixelSpacing", 2, name, where)
    if np.any(spacing <= 0):
        raise DicomFileError(name, f"{where}Pixel Spacing {list(spacing)} must be positive")
    slope = _float(geo, "RescaleSlope", _float(ds, "RescaleSlope", 1.0, name), name)
    intercept = _float(geo, "RescaleIntercept", _float(ds, "RescaleIntercept", 0.0, name), name)
    hint = _float(geo, "SpacingBetweenSlices", 0.0, name) or _float(geo, "SliceThickness", 0.0, name)
    return Frame(name, ds, index, position, row_dir / np.linalg.norm(row_dir),
                 col_dir / np.linalg.norm(col_dir), (float(spacing[0]), float(spacing[1])), rows, cols,
                 slope, intercept, abs(hint) or None)


def decode(ds: Dataset, name: str, index: int | None = None) -> np.ndarray:
    """Stored pixel values as an array (frames, rows, cols); raises with a plain reason.

    ``index``: decode that frame only (0-based), shape (1, rows, cols); pydicom then reads just that
    frame's bytes. Otherwise every frame; the decoded array is not left cached on ``ds``."""
    samples = _int(ds, "SamplesPerPixel", name) if "SamplesPerPixel" in ds else 1
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise DicomFileError(name, f"colour image ({photometric}, {samples} samples per pixel): "
                                   "only greyscale MR/CT is supported")
    meta = getattr(ds, "file_meta", None)
    if not meta or "TransferSyntaxUID" not in meta:
        raise DicomFileError(name, "no Transfer Syntax UID (0002,0010): the pixel encoding is unknown")
    syntax = UID(str(meta.TransferSyntaxUID))
    check_pixel_size(ds, name, syntax)
    if "PixelData" in ds and not syntax.is_compressed:
        expected = _expected_bytes(ds, name)
        found = len(ds.PixelData or b"")
        if found < expected:
            raise DicomFileError(name, f"pixel data is truncated (expected {expected} bytes, found {found})")
    try:
        with quiet_pydicom():
            if index is None:
                array = ds.pixel_array
            else:
                array = pixel_array(ds, index=index)
    except DECODER_ERRORS as exc:  # what pydicom and its decoding plugins raise for bad pixel data
        raise DicomFileError(name, f"pixel data cannot be decoded ({syntax.name}): {_decoder_reason(exc)}") from None
    finally:
        ds._pixel_array = None  # pydicom's cache: the caller holds the only copy of the decoded pixels
        ds._pixel_id = {}
    array = np.asarray(array)
    return array.reshape((-1,) + array.shape[-2:])


def check_pixel_size(ds: Dataset, name: str, syntax: UID) -> None:
    """Refuse, before decoding, pixels whose declared size is over :data:`MAX_PIXEL_BYTES` or that
    the encoded bytes cannot hold (RLE); a decoder would allocate the declared size first."""
    expected = _expected_bytes(ds, name)
    if expected > MAX_PIXEL_BYTES:
        frames = _int(ds, "NumberOfFrames", name) if "NumberOfFrames" in ds else 1
        raise DicomFileError(name, f"the header declares {frames} frame(s) of {_int(ds, 'Rows', name)} x "
                                   f"{_int(ds, 'Columns', name)} at {_int(ds, 'BitsAllocated', name)} bits, "
                                   f"{expected:,} bytes of pixels: more than the {MAX_PIXEL_BYTES:,} allowed for one "
                                   "image object (limit MAX_PIXEL_BYTES); not decoded")
    if str(syntax) == _RLE_LOSSLESS and "PixelData" in ds:
        encoded = len(ds.PixelData or b"")
        if expected > _RLE_MAX_EXPANSION * encoded + 1024:
            raise DicomFileError(name, f"RLE pixel data of {encoded:,} bytes cannot hold the {expected:,} bytes the "
                                       "header declares (Rows, Columns, Number of Frames); not decoded")


def _expected_bytes(ds: Dataset, name: str) -> int:
    frames = _int(ds, "NumberOfFrames", name) if "NumberOfFrames" in ds else 1
    bits = _int(ds, "BitsAllocated", name)
    pixels = _int(ds, "Rows", name) * _int(ds, "Columns", name) * frames
    return (pixels + 7) // 8 if bits == 1 else pixels * (bits // 8)


def _decoder_reason(exc: BaseException) -> str:
    """The useful line of a pydicom decoding error (it lists every plugin it tried)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in lines[1:]:
        if ":" in line:
            return _short(Exception(line))
    return _short(exc)


def _label(keyword: str) -> str:
    """'Image Position (Patient) (0020,0032)' for 'ImagePositionPatient'."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{dictionary_description(tag)} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _item(ds: Dataset, keyword: str) -> Dataset | None:
    seq = ds.get(keyword)
    return seq[0] if seq else None


def _raw(ds: Dataset, keyword: str) -> object:
    return ds[keyword].value if keyword in ds else None


def int_value(value: object) -> int | None:
    """A decoded integer element value (an int, or digits in text), else None.

    A corrupt value decodes to whatever pydicom could make of it (text, bytes, several values):
    the callers turn None into a message naming the element.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (str, bytes)):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            return int(text.strip())
        except ValueError:
            return None
    return None


def _int(ds: Dataset, keyword: str, name: str) -> int:
    value = _raw(ds, keyword)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise DicomFileError(name, f"invalid {_label(keyword)} value {str(value)!r}") from None


def _float(ds: Dataset, keyword: str, default: float, name: str) -> float:
    value = _raw(ds, keyword)
    if value is None or str(value).strip() == "":
        return default
    try:
        result = float(str(value).strip())
    except ValueError:
        raise DicomFileError(name, f"invalid {_label(keyword)} value {str(value)!r}") from None
    if not np.isfinite(result):
        raise DicomFileError(name, f"invalid {_label(keyword)} value {str(value)!r}")
    return result


def _floats(ds: Dataset, keyword: str, n: int, name: str, where: str = "") -> np.ndarray:
    value = _raw(ds, keyword)
    if value is None or value == "":
        raise DicomFileError(name, f"{where}no {_label(keyword)}")
    values = [value] if isinstance(value, (str, bytes, int, float)) else list(value)  # type: ignore[arg-type]
    try:
        out = np.array([float(str(v).strip()) for v in values], dtype=float)
    except ValueError:
        raise DicomFileError(name, f"{where}invalid {_label(keyword)} value {values}") from None
    if out.size != n or not np.all(np.isfinite(out)):
        raise DicomFileError(name, f"{where}{_label(keyword)} must have {n} numbers, got {values}")
    return out
