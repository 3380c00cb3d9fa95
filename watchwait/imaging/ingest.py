"""Uploads to disk, de-identified first: no byte of an uploaded identifier ever reaches a file.

The dashboard receives a series (a .zip or several DICOM files) and a ROI as bytes in memory. It
must not write those bytes anywhere: they carry names, hospital numbers and dates. Instead it calls

    folder = private_folder(session_dir, "baseline")             # 0700, emptied if it existed
    stored = store_series_upload([(name, data), ...], folder / "series")
    roi = store_roi_upload(roi_name, roi_data, folder / "roi")

* :func:`store_series_upload` parses every file (zip members too) **in memory**, with the limits
  of :mod:`~watchwait.imaging._reading` (size, count, expansion ratio, unsafe member names),
  de-identifies each data set (:mod:`~watchwait.imaging.deid`, the same profile the reader
  applies), and writes only the de-identified data sets, one ``.dcm`` file each, mode 0600, in a
  folder of mode 0700. What cannot be parsed as DICOM is never written: it is listed in
  :attr:`StoredUpload.warnings`.
* :func:`store_roi_upload` does the same for a DICOM SEG or RTSTRUCT. A NIfTI / NRRD / MHA mask
  (no DICOM header, but free-text header fields and extensions that may hold anything) is
  written, mode 0600, to a private temporary file only because its reader needs a file name;
  it is read at once and rewritten as a plain NIfTI from the voxel array and geometry alone
  (no text fields, no extensions), and the temporary file is deleted before the function
  returns, whatever happens.

Every file is written atomically (:func:`watchwait.atomic.atomic_write`). The caller deletes the
folder when the session ends. Names of uploaded files are never used as paths (a name such as
``../../x`` cannot place a file): files are numbered. Nor are they shown or kept (an uploaded file is
often named after the patient): every message says "file 3 of the upload", "file 1 of the upload,
member 12 of the archive" or "the ROI file"; the name of a ROI is read only for its suffix (a NIfTI mask).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from watchwait.atomic import atomic_write
from watchwait.errors import quoted

from ._reading import MAX_FILE_BYTES, MAX_FILES, ReadResult, _Budget, _size, iter_zip, parse, quiet_pydicom
from .deid import Deidentifier, default_deidentifier
from .errors import ImagingError, RoiError
from .series_check import TEXT_KEYWORDS, description_terms

__all__ = ["StoredUpload", "private_folder", "store_series_upload", "store_roi_upload", "IMAGE_MASK_SUFFIXES"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700
IMAGE_MASK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: How an uploaded ROI is named in messages (never by its file's name).
ROI_SHOWN = "the ROI file"


@dataclass(frozen=True)
class StoredUpload:
    """Where the de-identified upload now is, and what was not stored (with the reason)."""

    path: Path
    n_files: int
    warnings: tuple[str, ...]
    #: Per (de-identified) Series Instance UID, the words of the descriptions that say what kind of image it is
    #: (:func:`watchwait.imaging.series_check.description_terms`), read before de-identification removed the
    #: descriptions: give them to the series check of the stored series.
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def private_folder(parent: str | os.PathLike, name: str) -> Path:
    """``parent/name`` as a new empty folder of mode 0700 (an earlier one is removed first).

    ``name`` must be a plain folder name (no separators); ``parent`` is made 0700 too when it is
    created here."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"private_folder: {name!r} is not a plain folder name")
    parent = Path(parent)
    parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    folder = parent / name
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(mode=FOLDER_MODE)
    os.chmod(folder, FOLDER_MODE)  # whatever the umask
    return folder


def _new_private_folder(path: Path) -> Path:
    if path.exists() or path.is_symlink():
        raise ImagingError(f"{path}: already exists; uploads are stored in a new folder")
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    path.mkdir(mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)
    return path


def _write_dataset(ds: Dataset, path: Path) -> None:
    buffer = io.BytesIO()
    with quiet_pydicom():
        ds.save_as(buffer, enforce_file_format=False)
    atomic_write(path, buffer.getvalue(), permissions=FILE_MODE)


def store_series_upload(files: Iterable[tuple[str, bytes]], dest: str | os.PathLike, *,
                        deidentifier: Deidentifier | None = None) -> StoredUpload:
    """De-identify the uploaded DICOM files (or one or more .zip archives) in memory and write them to
    ``dest`` (a new folder, 0700; files 0600, numbered). Raises ImagingError for an upload that breaks a
    limit or holds no DICOM at all; nothing is left in ``dest`` then.

    One file (or archive member) at a time is parsed, de-identified, written and dropped, so the
    memory this takes beyond the uploaded bytes themselves is about one file's, whatever the number
    of files."""
    deid = deidentifier or default_deidentifier()
    dest = Path(dest)
    budget = _Budget("upload")
    items = list(files)
    if len(items) > MAX_FILES:
        raise ImagingError(f"upload: {len(items)} files, more than {MAX_FILES} (limit MAX_FILES)")
    for number, (_name, data) in enumerate(items, start=1):  # every size is refused before anything is parsed or written
        if len(data) > MAX_FILE_BYTES:
            raise ImagingError(f"{_shown(number)}: file of {_size(len(data))} is larger than the "
                               f"{_size(MAX_FILE_BYTES)} allowed (limit MAX_FILE_BYTES)")
    warnings: list[str] = []
    terms: dict[str, tuple[str, ...]] = {}
    stored = 0
    created = finished = False
    try:
        for number, (_name, data) in enumerate(items, start=1):
            shown = _shown(number)  # never the file's name: it is often the patient's
            results = (iter_zip(io.BytesIO(data), shown, hide_names=True) if data[:4] in _ZIP_MAGIC
                       else _one(data, shown, budget))
            for r in results:
                if r.dataset is None:
                    warnings.append(f"{r.error}; not stored")
                    continue
                if not created:
                    _new_private_folder(dest)
                    created = True
                words = description_terms([r.dataset.get(k) for k in TEXT_KEYWORDS])  # a fixed vocabulary only
                ds = deid.apply(r.dataset)  # before anything is written
                uid = str(ds.get("SeriesInstanceUID", "") or "")
                terms[uid] = tuple(sorted(set(terms.get(uid, ())) | set(words)))
                r.dataset = None
                stored += 1
                _write_dataset(ds, dest / f"{stored:05d}.dcm")
                del ds
        finished = True
    finally:  # whatever stopped it (a refusal, a bug, an interrupt), no half-stored series is left behind
        if created and not finished:
            shutil.rmtree(dest, ignore_errors=True)
    if not stored:
        reasons = "; ".join(warnings[:5]) or "no files"
        raise ImagingError(f"upload: no DICOM file to store ({reasons})")
    return StoredUpload(dest, stored, tuple(warnings), terms)


def _shown(number: int) -> str:
    """How an uploaded file is named in messages: by its place in the upload, never by its name."""
    return f"file {number} of the upload"


def _one(data: bytes, shown: str, budget: _Budget) -> Iterator[ReadResult]:
    budget.take(len(data))
    yield parse(data, shown, budget)


def store_roi_upload(name: str, data: bytes, dest: str | os.PathLike, *,
                     deidentifier: Deidentifier | None = None) -> Path:
    """Store one uploaded ROI in ``dest`` (a new folder, 0700) and return the stored file's path:
    a DICOM SEG/RTSTRUCT de-identified in memory (``roi.dcm``), or an image mask rebuilt from its
    voxels alone (``roi.nii.gz``). Raises RoiError when the upload is neither. ``name`` is read for its
    suffix only (a mask image); messages say "the ROI file"."""
    shown = ROI_SHOWN
    suffixed = Path(str(name)).name.lower()  # never shown, never kept
    if len(data) > MAX_FILE_BYTES:
        raise RoiError(f"{shown}: file of {_size(len(data))} is larger than the {_size(MAX_FILE_BYTES)} allowed "
                       "(limit MAX_FILE_BYTES)")
    dest = Path(dest)
    if suffixed.endswith(IMAGE_MASK_SUFFIXES):
        _new_private_folder(dest)
        done = False
        try:
            out = _store_image_mask(suffixed, data, dest)
            done = True
        finally:
            if not done:
                shutil.rmtree(dest, ignore_errors=True)
        return out
    result = parse(data, shown)
    if result.error is not None:
        raise RoiError(f"{result.error} (a ROI must be a DICOM SEG, an RTSTRUCT or a mask image "
                       f"{', '.join(IMAGE_MASK_SUFFIXES)})") from None
    modality = str(result.dataset.get("Modality", ""))  # type: ignore[union-attr]
    if modality not in ("SEG", "RTSTRUCT"):
        raise RoiError(f"{shown}: not a ROI file: modality {quoted(modality) if modality else 'missing'} (expected a "
                       "DICOM SEG, an RTSTRUCT or a NIfTI mask)")
    ds = (deidentifier or default_deidentifier()).apply(result.dataset)  # type: ignore[arg-type]
    _new_private_folder(dest)
    out = dest / "roi.dcm"
    _write_dataset(ds, out)
    return out


def _store_image_mask(suffixed: str, data: bytes, dest: Path) -> Path:
    import SimpleITK as sitk

    from .roi import read_mask_image

    suffix = ".nii.gz" if suffixed.endswith(".nii.gz") else Path(suffixed).suffix.lower()
    fd, raw = tempfile.mkstemp(prefix=".upload-", suffix=suffix, dir=dest)  # 0600, in the 0700 folder
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        image = read_mask_image(raw, ROI_SHOWN)
    finally:
        os.unlink(raw)  # the original bytes never outlive this call
    clean = sitk.GetImageFromArray(sitk.GetArrayFromImage(image))  # voxels only: no header text
    clean.SetSpacing(image.GetSpacing())
    clean.SetOrigin(image.GetOrigin())
    clean.SetDirection(image.GetDirection())
    out = dest / "roi.nii.gz"
    fd, tmp = tempfile.mkstemp(prefix=".roi-", suffix=".nii.gz", dir=dest)
    os.close(fd)
    try:
        sitk.WriteImage(clean, tmp, useCompression=True)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
