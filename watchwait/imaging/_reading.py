"""Finding and parsing the files of an input (a file, a folder, a .zip, a .gz), one by one.

Nothing here raises for a single bad file: each file gives a :class:`ReadResult` holding either
a parsed data set or the :class:`~watchwait.imaging.errors.DicomFileError` that says what is
wrong with it. pydicom is run with its validation messages switched off, because they can quote
attribute values (names) before de-identification.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .errors import DicomFileError, ImagingError

MAX_FILE_BYTES = 2 * 1024**3  # one DICOM object (after gunzip / unzip)
MAX_ARCHIVE_BYTES = 8 * 1024**3  # a whole .zip, uncompressed
MAX_FILES = 50_000
_GZIP_MAGIC = b"\x1f\x8b"
_SKIPPED_NAMES = {"DICOMDIR", "__MACOSX", "Thumbs.db"}


@dataclass
class ReadResult:
    """One input file: its display name, and either a data set or the reason it is unusable."""

    name: str
    dataset: Dataset | None = None
    error: DicomFileError | None = None
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's value-validation warnings and logs (they may quote identifiers)."""
    settings = pydicom.config.settings
    previous = settings.reading_validation_mode
    settings.reading_validation_mode = pydicom.config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        settings.reading_validation_mode = previous


@contextlib.contextmanager
def guard(name: str, error: type[ImagingError] = DicomFileError) -> Iterator[None]:
    """Turn pydicom's exceptions on malformed content into an ImagingError naming the file.

    pydicom decodes elements lazily, so a corrupt value or VR can raise on any attribute access
    long after parsing; the blocks that read untrusted headers run inside this guard.
    """
    try:
        yield
    except (ImagingError, MemoryError):
        raise
    except Exception as exc:  # pydicom raises many types for corrupt content
        message = f"invalid DICOM content ({_short(exc)})"
        raise (error(name, message) if error is DicomFileError else error(f"{name}: {message}")) from None


def read_all(path: Path) -> list[ReadResult]:
    """Parse every file of ``path`` (a DICOM file, a .gz, a .zip or a folder, recursively)."""
    path = Path(path)
    if not path.exists():
        raise ImagingError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") or part in _SKIPPED_NAMES
                                       for part in p.relative_to(path).parts)
        )
        if len(files) > MAX_FILES:
            raise ImagingError(f"{path.name}: {len(files)} files, more than the {MAX_FILES} allowed")
        return [_read_path(p, str(p.relative_to(path))) for p in files]
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    return [_read_path(path, path.name)]


def _read_path(path: Path, name: str) -> ReadResult:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _fail(name, f"file of {size} bytes is larger than the {MAX_FILE_BYTES} allowed")
        with path.open("rb") as fh:
            return parse(fh.read(), name)
    except OSError as exc:
        return _fail(name, f"cannot be opened ({exc.strerror or exc})")


def _read_zip(path: Path) -> list[ReadResult]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and not any(
                part.startswith(".") or part in _SKIPPED_NAMES for part in Path(m.filename).parts)]
            if len(members) > MAX_FILES:
                raise ImagingError(f"{path.name}: {len(members)} files, more than the {MAX_FILES} allowed")
            if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
                raise ImagingError(f"{path.name}: uncompressed content larger than {MAX_ARCHIVE_BYTES} bytes")
            results = []
            for member in sorted(members, key=lambda m: m.filename):
                name = f"{path.name}:{member.filename}"
                if member.file_size > MAX_FILE_BYTES:
                    results.append(_fail(name, "member larger than the size allowed for one file"))
                    continue
                try:
                    data = zf.read(member)
                except (RuntimeError, zipfile.BadZipFile, NotImplementedError, OSError) as exc:
                    results.append(_fail(name, f"cannot be extracted from the archive ({exc})"))
                    continue
                results.append(parse(data, name))
            return results
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImagingError(f"{path.name}: not a readable zip archive ({exc})") from None


def _fail(name: str, reason: str) -> ReadResult:
    return ReadResult(name, error=DicomFileError(name, reason))


def parse(data: bytes, name: str) -> ReadResult:
    """Parse the bytes of one file into a :class:`ReadResult` (never raises for bad content)."""
    notes: list[str] = []
    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.open(io.BytesIO(data)) as gz:
                data = gz.read(MAX_FILE_BYTES + 1)
        except (OSError, EOFError) as exc:
            return _fail(name, f"gzip-compressed file that cannot be decompressed ({exc})")
        if len(data) > MAX_FILE_BYTES:
            return _fail(name, "gzip-compressed file larger than the size allowed once decompressed")
        notes.append(f"{name}: gzip-compressed file, decompressed before reading")
    with quiet_pydicom():
        try:
            ds = _dcmread(io.BytesIO(data))
        except InvalidDicomError:
            ds = _force_read(data)
            if ds is None:
                return _fail(name, "not a DICOM file (no 'DICM' marker, and the content does not "
                                   "parse as a DICOM data set)")
            notes.append(f"{name}: no DICOM file meta header; read without it")
        except MemoryError:
            raise
        except Exception as exc:  # pydicom raises many types on malformed bytes
            return _fail(name, f"cannot be parsed as DICOM ({_short(exc)})")
        if len(ds) == 0:
            return _fail(name, _why_empty(data))
        try:
            problem = _meta_problem(ds)
        except Exception as exc:  # a corrupt file meta element
            problem = f"invalid file meta information ({_short(exc)})"
        if problem:
            return _fail(name, problem)
    return ReadResult(name, dataset=ds, notes=notes)


def _meta_problem(ds: Dataset) -> str | None:
    """What makes the file meta information unusable for decoding pixels, if anything."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or not len(meta):
        return None
    if "TransferSyntaxUID" not in meta:
        return ("the file meta information has no Transfer Syntax UID (0002,0010), "
                "so the pixel encoding is unknown")
    syntax = UID(str(meta.TransferSyntaxUID))
    if not syntax.is_transfer_syntax:
        return f"Transfer Syntax UID {str(syntax)[:64]!r} is not a transfer syntax"
    return None


def _dcmread(fh: BinaryIO, **kwargs: object) -> Dataset:
    return pydicom.dcmread(fh, **kwargs)  # type: ignore[arg-type]


def _force_read(data: bytes) -> Dataset | None:
    """Read a file without preamble/file meta; ``None`` unless it looks like a real data set."""
    try:
        ds = _dcmread(io.BytesIO(data), force=True)
    except Exception:  # not DICOM at all
        return None
    if not any(k in ds for k in ("SOPClassUID", "Modality", "Rows", "PixelData")):
        return None
    if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _why_empty(data: bytes) -> str:
    """pydicom returns an empty data set when the file ends inside encapsulated pixel data."""
    try:
        header = _dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:
        header = None
    if header is not None and len(header) and "Rows" in header:
        return "the file ends inside the Pixel Data (truncated file: the pixel data is incomplete)"
    return "no data elements after the file meta information (empty or truncated file)"


def _short(exc: BaseException) -> str:
    """First line of an exception message, at most 160 characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 160 else text[:157] + "..."
