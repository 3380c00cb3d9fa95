"""Read one DICOM MR series (a file, a folder or a .zip) into a 3-D array with its geometry.

Steps, in order: parse every file (pydicom), one at a time; de-identify each data set at once
(:mod:`watchwait.imaging.deid`) and drop its pixel data from memory (its length and SHA-256 are
kept: only headers are held while the series is sorted); set aside what is not an MR/CT image (listed in the warnings);
group by Series Instance UID and choose one series (the caller's, else the one with most
slices); refuse a series whose files name several patients, studies or frames of reference
(:data:`SAME_IN_A_SERIES`); take each plane's geometry (single-frame attributes, or the functional groups of
multi-frame Enhanced MR); sort the planes by their position along the slice normal
``n = row_dir x col_dir`` (never by Instance Number); check that orientation, matrix size and
pixel spacing agree; refuse more than :data:`MAX_SERIES_VOXELS` voxels before decoding; read each file's pixel data
again (refused if it is not the same bytes), decode it (compressed transfer syntaxes through the
pylibjpeg plugins), apply Rescale Slope/Intercept and write it into the preallocated volume (int16
where exact), one file at a time; drop duplicated positions whose pixels are
identical (with a warning) and refuse different ones; refuse gaps (a step larger than 1.5x
the median step) unless ``allow_gaps``.

What is safe to skip: files that are not DICOM, not images, hidden or system files, or files
of another series are skipped and listed in :attr:`Series.warnings`; an archive with member
names outside it (``..``, absolute), links, or beyond the size, count and expansion limits of
:mod:`._reading` is refused whole (:class:`~._reading.InputLimitError`). A file of the chosen series that cannot be read
is skipped only when another file supplies the same slice; otherwise the series would be
incomplete and loading fails with the file's own message.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from ._frames import Frame, check_image_object, decode, frames_of, int_value
from ._reading import ReadResult, iter_all, quiet_pydicom, release_pixels, reopened, restore_pixels
from .deid import Deidentifier, burned_in_warning, default_deidentifier
from .errors import DicomFileError, ImagingError, SeriesError
from .series_check import TEXT_KEYWORDS, description_terms, header_of

__all__ = ["Series", "SeriesInfo", "load_series", "list_series"]

logger = logging.getLogger(__name__)

#: Voxels of one series (slices x rows x columns), checked from the headers before any pixel is
#: decoded. Loading holds the volume (2 bytes a voxel for integer MR, 4 otherwise) plus one file at a
#: time: the pixel data of every file is set aside while the series is sorted, and read again, slice
#: by slice, into the preallocated volume.
MAX_SERIES_VOXELS = 64 * 1024**2
#: What must be the same in every file of one series (one patient, one study, one frame of
#: reference), compared on the de-identified values: the keyed pseudonym and UIDs are one-to-one
#: functions of the originals, so two files differ here exactly when they differed before
#: de-identification, and no identifier is kept to compare.
SAME_IN_A_SERIES = {"PatientID": "patient (Patient ID)", "StudyInstanceUID": "study (Study Instance UID)",
                    "FrameOfReferenceUID": "frame of reference (Frame of Reference UID)"}
GAP_FACTOR = 1.5  # a step > 1.5 x the median step means missing slices
DUPLICATE_TOL_MM = 0.01  # two planes closer than this along the normal are the same slice
ORIENTATION_TOL = 1e-4
SPACING_RTOL = 1e-4


@dataclass(frozen=True, eq=False)
class Series:
    """A de-identified 3-D image series.

    ``array`` is indexed (z, y, x): z along the slice normal (increasing position), y down the
    rows (Image Orientation column direction), x along the columns (row direction). It holds the
    rescaled values (Rescale Slope/Intercept applied) exactly: int16 when every value is an
    integer that fits 16 signed bits (most MR: 12- or 16-bit stored pixels, slope 1), uint16 for
    unsigned 16-bit values above 32,767, else float32. Cast it before arithmetic that could
    overflow 16 bits (``series.array.astype(np.float32)``).
    ``direction`` holds the 3x3 direction cosines row-major as SimpleITK does: column j is the
    patient-space (LPS) direction of index axis j (x, y, z). ``origin`` is the patient position
    (x, y, z) of the centre of voxel [0, 0, 0]. UIDs are the de-identified ones.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]  # (z, y, x) mm
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    sop_instance_uids: tuple[str, ...]  # one per slice, in z order
    frame_numbers: tuple[int | None, ...]  # 1-based frame of a multi-frame object, else None
    slice_positions: tuple[float, ...]  # mm along the normal, one per slice
    frame_of_reference_uid: str | None
    series_instance_uid: str
    study_instance_uid: str | None
    series_number: int | None
    modality: str
    patient_pseudonym: str
    evenly_spaced: bool
    warnings: tuple[str, ...]
    #: The technical header facts the series check reads (:func:`watchwait.imaging.series_check.header_of`:
    #: timing, sequence, orientation, body part, thickness, spacing, description words; nothing identifying).
    header: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def row_direction(self) -> np.ndarray:
        """Patient-space direction of increasing x (column index)."""
        return np.array(self.direction, dtype=float).reshape(3, 3)[:, 0]

    @property
    def column_direction(self) -> np.ndarray:
        """Patient-space direction of increasing y (row index)."""
        return np.array(self.direction, dtype=float).reshape(3, 3)[:, 1]

    @property
    def normal(self) -> np.ndarray:
        """Patient-space direction of increasing z (slice index)."""
        return np.array(self.direction, dtype=float).reshape(3, 3)[:, 2]

    def to_sitk(self) -> sitk.Image:
        """The volume as a float32 SimpleITK image with the same geometry (cast by SimpleITK: no
        float32 copy of the volume in numpy besides SimpleITK's own)."""
        image = sitk.GetImageFromArray(self.array)
        if image.GetPixelID() != sitk.sitkFloat32:
            image = sitk.Cast(image, sitk.sitkFloat32)
        image.SetSpacing(tuple(float(s) for s in self.spacing[::-1]))
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in an input, for the caller to choose from."""

    series_instance_uid: str  # de-identified
    series_number: int | None
    modality: str
    n_files: int
    n_planes: int


def list_series(source: str | Path, *, deidentifier: Deidentifier | None = None) -> list[SeriesInfo]:
    """The MR/CT image series in ``source``, most planes first."""
    with quiet_pydicom():
        groups, _ = _scan(Path(source), deidentifier or default_deidentifier())
        return sorted((_info(uid, results) for uid, results in groups.items()),
                      key=lambda s: (-s.n_planes, s.series_number or 0, s.series_instance_uid))


def load_series(
    source: str | Path,
    *,
    series_uid: str | None = None,
    series_number: int | None = None,
    allow_gaps: bool = False,
    deidentifier: Deidentifier | None = None,
) -> Series:
    """Load one series from a DICOM file, a folder (searched recursively) or a .zip.

    ``series_uid`` (original or de-identified) or ``series_number`` choose among several
    series; by default the one with most planes is loaded and the others are named in the
    warnings. ``allow_gaps`` turns missing slices into a warning (the result then has
    ``evenly_spaced=False`` and radiomics refuses it).
    """
    with quiet_pydicom():
        return _load(Path(source), series_uid, series_number, allow_gaps,
                     deidentifier or default_deidentifier())


def _load(source: Path, series_uid: str | None, series_number: int | None, allow_gaps: bool,
          deid: Deidentifier) -> Series:
    groups, skipped = _scan(source, deid)
    warnings = [str(r.error) for r in skipped]
    if not groups:
        raise _nothing_to_load(source, skipped)
    uid = _choose(groups, series_uid, series_number, deid, warnings)
    chosen = groups[uid]
    for result in chosen:
        warnings.extend(result.notes)
    try:
        series = _assemble(chosen, uid, allow_gaps, warnings)
    except ImagingError as exc:
        if len(groups) > 1 and series_uid is None and series_number is None:
            raise SeriesError(f"{exc} (in series {uid}, the largest of the {len(groups)} series found; "
                              "choose another with series_uid or series_number)") from None
        raise
    logger.info("loaded series %s: %d slices of %d x %d, %d warning(s)", uid,
                *series.array.shape, len(series.warnings))
    return series


def _scan(source: Path, deid: Deidentifier) -> tuple[dict[str, list[ReadResult]], list[ReadResult]]:
    """Read, de-identify and sort the files into image series and skipped files."""
    groups: dict[str, list[ReadResult]] = defaultdict(list)
    skipped: list[ReadResult] = []
    for result in iter_all(source):  # one file at a time
        uid = ""
        if result.dataset is not None:  # parsed, every element decoded (read_all)
            # the words of the descriptions that say what kind of image this is (T2, TSE, DWI...), read before
            # de-identification removes the descriptions; only words of a fixed vocabulary, never the text
            result.terms = description_terms([result.dataset.get(k) for k in TEXT_KEYWORDS])
            ds = deid.apply(result.dataset)
            try:
                check_image_object(ds, result.name)
            except DicomFileError as exc:
                result.error = exc
            else:
                uid = str(ds.get("SeriesInstanceUID", "") or "(no Series Instance UID)")
        if result.error is not None:
            result.dataset = None  # only its message is kept
            skipped.append(result)
            continue
        release_pixels(result)  # read again, slice by slice, when the series is assembled
        groups[uid].append(result)
    logger.info("read %d file(s): %d image series, %d file(s) skipped",
                sum(map(len, groups.values())) + len(skipped), len(groups), len(skipped))
    return dict(groups), skipped


def _nothing_to_load(source: Path, skipped: list[ReadResult]) -> ImagingError:
    if len(skipped) == 1 and skipped[0].error is not None:
        return skipped[0].error
    if not skipped:
        return SeriesError(f"{source.name}: no files found")
    reasons = "\n".join(f"  - {r.error}" for r in skipped[:20])
    more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    return SeriesError(f"{source.name}: no MR or CT image series found; {len(skipped)} file(s) "
                       f"skipped:\n{reasons}{more}")


def _info(uid: str, results: list[ReadResult]) -> SeriesInfo:
    ds = results[0].dataset
    assert ds is not None
    planes = 0
    for r in results:
        try:
            planes += int(str(r.dataset.get("NumberOfFrames", 1) or 1))  # type: ignore[union-attr]
        except ValueError:
            planes += 1
    return SeriesInfo(uid, _series_number(ds), str(ds.get("Modality", "")), len(results), planes)


def _series_number(ds: Dataset) -> int | None:
    """Series Number, or None when absent or not a number."""
    try:
        return int(str(ds.get("SeriesNumber", "")).strip())
    except ValueError:
        return None


def _choose(groups: dict[str, list[ReadResult]], series_uid: str | None, series_number: int | None,
            deid: Deidentifier, warnings: list[str]) -> str:
    infos = sorted((_info(u, r) for u, r in groups.items()),
                   key=lambda s: (-s.n_planes, s.series_number or 0, s.series_instance_uid))
    listing = ", ".join(f"{i.series_instance_uid} (number {i.series_number}, {i.modality}, "
                        f"{i.n_planes} planes)" for i in infos)
    if series_uid is not None:
        for uid in (series_uid, deid.uid(series_uid)):
            if uid in groups:
                return uid
        raise SeriesError(f"series {series_uid} not found; available: {listing}")
    if series_number is not None:
        matches = [i for i in infos if i.series_number == series_number]
        if len(matches) != 1:
            raise SeriesError(f"{len(matches)} series with number {series_number}; available: {listing}")
        return matches[0].series_instance_uid
    if len(infos) > 1:
        others = ", ".join(f"{i.series_instance_uid} ({i.modality}, {i.n_planes} planes)" for i in infos[1:])
        warnings.append(f"{len(infos)} series present; loaded {infos[0].series_instance_uid} "
                        f"({infos[0].n_planes} planes, the most); others: {others}")
    return infos[0].series_instance_uid


def _check_one_patient(results: list[ReadResult]) -> None:
    """Refuse a series whose files belong to several patients, studies or frames of reference."""
    problems = []
    for keyword, what in SAME_IN_A_SERIES.items():
        by_value: dict[str, list[str]] = defaultdict(list)
        for r in results:
            by_value[str(r.dataset.get(keyword, "") or "").strip()].append(r.name)  # type: ignore[union-attr]
        if len(by_value) > 1:
            groups = sorted(by_value.values(), key=len, reverse=True)
            counts = " vs ".join(f"{len(g)} file{'s' if len(g) > 1 else ''} (e.g. {g[0]})" for g in groups[:3])
            problems.append(f"{len(by_value)} different values of the {what}: {counts}")
    if problems:
        raise SeriesError("one series must be one patient, one study and one frame of reference; this series mixes "
                          + "; ".join(problems) + ". Refused: load each patient's series separately")


def _check_voxels(frames: list[Frame]) -> None:
    voxels = sum(f.rows * f.cols for f in frames)
    if voxels > MAX_SERIES_VOXELS:
        raise SeriesError(f"the series declares {len(frames)} slices of {frames[0].rows} x {frames[0].cols}, "
                          f"{voxels:,} voxels: more than the {MAX_SERIES_VOXELS:,} allowed (limit MAX_SERIES_VOXELS); "
                          "not decoded")


def _assemble(results: list[ReadResult], uid: str, allow_gaps: bool, warnings: list[str]) -> Series:
    _check_one_patient(results)
    frames: list[Frame] = []
    for r in results:
        assert r.dataset is not None
        frames.extend(frames_of(r.dataset, r.name))  # a broken file of the chosen series: raise
        note = burned_in_warning(r.dataset)
        lossy = str(r.dataset.get("LossyImageCompression", "")) == "01"
        if note and note not in warnings:
            warnings.append(note)
        msg = "lossy-compressed pixel data: texture features may differ from the original"
        if lossy and msg not in warnings:
            warnings.append(msg)
    ref = frames[0]
    _check_consistent(frames, ref)
    _check_voxels(frames)
    normal = ref.normal
    frames.sort(key=lambda f: (float(f.position @ normal), f.name, f.index or 0))
    with reopened() as archives:
        frames, array = _drop_duplicates(frames, normal, _Pixels(results, frames, archives), warnings)
    positions = np.array([float(f.position @ normal) for f in frames])
    _check_stacked(frames, normal, ref)
    evenly = _check_gaps(frames, positions, allow_gaps, warnings)
    dz = _slice_spacing(positions, ref, warnings)
    ds = ref.ds
    direction = np.column_stack([ref.row_dir, ref.col_dir, normal])
    return Series(
        array=array,
        spacing=(dz, ref.pixel_spacing[0], ref.pixel_spacing[1]),
        origin=tuple(float(v) for v in frames[0].position),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in direction.ravel()),
        sop_instance_uids=tuple(f.sop_uid for f in frames),
        frame_numbers=tuple(None if f.index is None else f.index + 1 for f in frames),
        slice_positions=tuple(float(p) for p in positions),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")) or None,
        series_instance_uid=uid,
        study_instance_uid=str(ds.get("StudyInstanceUID", "")) or None,
        series_number=_series_number(ds),
        modality=str(ds.get("Modality", "")),
        patient_pseudonym=str(ds.get("PatientID", "")),
        evenly_spaced=evenly,
        warnings=tuple(w for w in warnings if w),
        header=header_of(ds, terms=sorted({t for r in results for t in r.terms})),
    )


def _check_consistent(frames: list[Frame], ref: Frame) -> None:
    ref_iop = np.concatenate([ref.row_dir, ref.col_dir])
    for f in frames[1:]:
        iop = np.concatenate([f.row_dir, f.col_dir])
        if np.max(np.abs(iop - ref_iop)) > ORIENTATION_TOL:
            raise SeriesError(f"inconsistent orientation in the series: {ref.name} has "
                              f"{np.round(ref_iop, 5).tolist()}, {f.name} has {np.round(iop, 5).tolist()}")
        if (f.rows, f.cols) != (ref.rows, ref.cols):
            raise SeriesError(f"inconsistent image size in the series: {ref.name} is {ref.rows} x "
                              f"{ref.cols}, {f.name} is {f.rows} x {f.cols}")
        if not np.allclose(f.pixel_spacing, ref.pixel_spacing, rtol=SPACING_RTOL, atol=0):
            raise SeriesError(f"inconsistent pixel spacing in the series: {ref.name} has "
                              f"{list(ref.pixel_spacing)} mm, {f.name} has {list(f.pixel_spacing)} mm")


class _Pixels:
    """Decodes the planes of a series one at a time, each file's pixel data read again from its
    source just before and dropped just after (a multi-frame object's, after its last frame)."""

    def __init__(self, results: list[ReadResult], frames: list[Frame], archives: dict) -> None:
        self.results = {id(r.dataset): r for r in results}
        self.archives = archives
        self.left: dict[int, int] = defaultdict(int)  # frames not yet decoded, per object
        for f in frames:
            self.left[id(f.ds)] += 1

    def plane(self, f: Frame) -> np.ndarray:
        """The rescaled plane of ``f``: its stored values as integers (int64, or the stored type)
        when Rescale Slope and Intercept are integers, else float64; raises DicomFileError."""
        key = id(f.ds)
        result = self.results[key]
        try:
            restore_pixels(result, self.archives)  # no-op once restored, or for bytes held in memory
            stored = decode(f.ds, f.name, f.index)[0]
        finally:
            self.left[key] -= 1
            if self.left[key] == 0:
                release_pixels(result)
        if stored.shape != (f.rows, f.cols):
            raise DicomFileError(f.name, f"decoded pixel array is {stored.shape}, expected "
                                         f"{(f.rows, f.cols)} from Rows/Columns")
        if stored.dtype.kind in "iu" and _integral(f.slope) and _integral(f.intercept):
            if (f.slope, f.intercept) == (1, 0):
                return stored
            return stored.astype(np.int64) * int(f.slope) + int(f.intercept)
        return stored.astype(np.float64) * f.slope + f.intercept


def _integral(x: float) -> bool:
    return float(x).is_integer() and abs(x) < 2**31


def _volume_dtype(frames: list[Frame]) -> np.dtype:
    """The narrowest exact type for the rescaled values the headers allow: int16 (or uint16, narrowed
    to int16 after filling when no value is above 32,767) for 8- and 16-bit integer pixels with an
    integer slope and intercept, else float32. A decoded plane outside the range its header
    declares turns the volume into float32 (:func:`_put`), so nothing wraps around."""
    lo = hi = 0
    for f in frames:
        ds = f.ds
        if not (_integral(f.slope) and _integral(f.intercept)):
            return np.dtype(np.float32)
        bits = int_value(ds.get("BitsAllocated"))
        if bits not in (8, 16):
            return np.dtype(np.float32)
        stored = int_value(ds.get("BitsStored"))
        stored = stored if stored is not None and 1 <= stored <= bits else bits
        signed = int_value(ds.get("PixelRepresentation")) == 1
        low, high = (-(2 ** (stored - 1)), 2 ** (stored - 1) - 1) if signed else (0, 2**stored - 1)
        ends = (low * f.slope + f.intercept, high * f.slope + f.intercept)
        lo, hi = min(lo, *ends), max(hi, *ends)
    for dtype in (np.int16, np.uint16):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.float32)


def _put(volume: np.ndarray, k: int, plane: np.ndarray) -> np.ndarray:
    """``volume[k] = plane``; the volume becomes float32 first if the plane does not fit its integer type."""
    if volume.dtype.kind in "iu":
        info = np.iinfo(volume.dtype)
        if plane.dtype.kind not in "iu" or plane.min() < info.min or plane.max() > info.max:
            volume = volume.astype(np.float32)  # exact for these integers (|v| < 2**24)
    volume[k] = plane
    return volume


def _drop_duplicates(frames: list[Frame], normal: np.ndarray, pixels: _Pixels,
                     warnings: list[str]) -> tuple[list[Frame], np.ndarray]:
    """One plane per position, decoded straight into a preallocated volume: identical duplicates and
    unreadable duplicates are dropped (with a warning), different ones refused; the only copy of a
    slice that cannot be decoded raises its file's error."""
    groups: list[list[Frame]] = []
    for f in frames:
        z = float(f.position @ normal)
        if groups and z - float(groups[-1][0].position @ normal) < DUPLICATE_TOL_MM:
            groups[-1].append(f)
        else:
            groups.append([f])
    ref = frames[0]
    volume = np.empty((len(groups), ref.rows, ref.cols), dtype=_volume_dtype(frames))
    kept_frames: list[Frame] = []
    for k, group in enumerate(groups):
        z = float(group[0].position @ normal)
        errors: dict[int, DicomFileError] = {}  # by position in the group
        first: tuple[Frame, np.ndarray] | None = None
        for i, f in enumerate(group):
            try:
                plane = pixels.plane(f)
            except DicomFileError as exc:
                errors[i] = exc
                continue
            if first is None:
                first = (f, plane)
            elif not np.array_equal(plane, first[1]):
                raise SeriesError(f"{_where(first[0])} and {_where(f)} are at the same position "
                                  f"({z:.2f} mm along the normal) but hold different pixels "
                                  "(several echoes, b-values or time points in one series?)")
        if first is None:
            raise errors[0]  # the only copy of this slice is unreadable
        first_f, first_p = first
        for i, f in enumerate(group):
            if f is first_f:
                continue
            if i in errors:
                warnings.append(f"{errors[i]}; skipped: {first_f.name} has the same slice")
            else:
                warnings.append(f"{_where(f)}: duplicate of {_where(first_f)} (same position "
                                f"{z:.2f} mm, identical pixels); skipped")
        volume = _put(volume, k, first_p)
        kept_frames.append(first_f)
    if volume.dtype == np.uint16 and (volume.size == 0 or int(volume.max()) <= np.iinfo(np.int16).max):
        volume = volume.view(np.int16)  # the same bytes: every value fits int16
    return kept_frames, volume


def _where(f: Frame) -> str:
    return f.name if f.index is None else f"{f.name} frame {f.index + 1}"


def _check_stacked(frames: list[Frame], normal: np.ndarray, ref: Frame) -> None:
    """Every slice origin must lie on the line through the first one along the normal."""
    origin = frames[0].position
    tol = 0.05 * min(ref.pixel_spacing)
    for f in frames[1:]:
        offset = f.position - origin
        inplane = offset - (offset @ normal) * normal
        if np.linalg.norm(inplane) > tol:
            raise SeriesError(f"{_where(f)} is shifted {np.linalg.norm(inplane):.2f} mm in-plane from "
                              f"{_where(frames[0])}: slices are not stacked along the normal (tilted "
                              "or sheared acquisition is not supported)")


def _check_gaps(frames: list[Frame], positions: np.ndarray, allow_gaps: bool, warnings: list[str]) -> bool:
    if len(positions) < 3:
        return True
    steps = np.diff(positions)
    median = float(np.median(steps))
    evenly = True
    for k in np.flatnonzero(steps > GAP_FACTOR * median):
        missing = int(round(steps[k] / median)) - 1
        msg = (f"missing slices: gap of {steps[k]:.2f} mm between {_where(frames[k])} and "
               f"{_where(frames[k + 1])} (median spacing {median:.2f} mm, about {missing} slice(s) missing)")
        if not allow_gaps:
            raise SeriesError(msg)
        warnings.append(msg)
        evenly = False
    if evenly and np.max(np.abs(steps - median)) > 0.01 * median + 1e-3:
        warnings.append(f"slice spacing varies from {steps.min():.3f} to {steps.max():.3f} mm; "
                        f"using the median {median:.3f} mm")
    return evenly


def _slice_spacing(positions: np.ndarray, ref: Frame, warnings: list[str]) -> float:
    if len(positions) > 1:
        return float(np.median(np.diff(positions)))
    if ref.spacing_hint:
        return float(ref.spacing_hint)
    warnings.append("single slice without Slice Thickness or Spacing Between Slices: z spacing set to 1 mm")
    return 1.0
