"""Finding and parsing the files of an input (a file, a folder, a .zip, a .gz), one by one.

Nothing here raises for a single bad file: each file gives a :class:`ReadResult` holding either
a parsed data set or the :class:`~watchwait.imaging.errors.DicomFileError` that says what is
wrong with it. pydicom is run with its validation messages switched off, because they can quote
attribute values (names) before de-identification.

This module is the error boundary between pydicom and the project. pydicom decodes element
values lazily, so a corrupt value could otherwise raise on any attribute access, deep inside the
project's own code. :func:`parse` therefore decodes every element (:func:`decode_header`) while
it reads the file; afterwards the project's code (de-identification, geometry, rasterising)
works on decoded values and validates them itself. :func:`guard` wraps third-party calls only,
and catches only the exception types those libraries raise for bad input
(:data:`DICOM_ERRORS`, :data:`DECODER_ERRORS`): a bug in the project's own code surfaces as
that bug, never as "invalid DICOM".
"""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import VR

from .errors import DicomFileError, ImagingError

MAX_FILE_BYTES = 2 * 1024**3  # one DICOM object (after gunzip / unzip)
MAX_ARCHIVE_BYTES = 8 * 1024**3  # a whole .zip, uncompressed
MAX_FILES = 50_000
_GZIP_MAGIC = b"\x1f\x8b"
_SKIPPED_NAMES = {"DICOMDIR", "__MACOSX", "Thumbs.db"}
MAX_SEQUENCE_DEPTH = 64  # nested sequence items; deeper is refused (the walks below recurse)

#: What pydicom raises on malformed bytes while reading a file or decoding an element's value
#: (read from its sources, pydicom 3.0): :class:`InvalidDicomError` (no DICOM preamble/marker);
#: ``BytesLengthException`` (a binary value whose length is not a multiple of its size; not a
#: ValueError); ``NotImplementedError`` (unknown Value Representation, unsupported encoding);
#: ``OSError`` / ``EOFError`` / ``struct.error`` (the file ends inside an element or a length);
#: ``zlib.error`` (a corrupt deflated data set); ``ValueError`` (bad values, lengths, character
#: sets; includes ``UnicodeDecodeError``); ``LookupError`` (``KeyError`` for a missing element or
#: dictionary entry, ``IndexError``, unknown codec); ``AttributeError`` (a required element
#: missing, from ``Dataset.__getattr__``); ``TypeError`` and ``OverflowError`` (values of the
#: wrong type or size in tags and numbers). Only third-party calls run under these.
DICOM_ERRORS: tuple[type[Exception], ...] = (
    InvalidDicomError, BytesLengthException, NotImplementedError, OSError, EOFError, struct.error,
    zlib.error, ValueError, LookupError, AttributeError, TypeError, OverflowError,
)
#: Pixel decoding (pydicom and its pylibjpeg / openjpeg / RLE plugins) and highdicom's SEG
#: reader add ``RuntimeError``: pydicom raises it when every decoding plugin failed (listing
#: their messages), highdicom for an object that does not follow the IOD.
DECODER_ERRORS: tuple[type[Exception], ...] = (*DICOM_ERRORS, RuntimeError)

_VALID_VRS = frozenset(v.value for v in VR)
#: Left encoded by :func:`decode_header`: RTSTRUCT Contour Data (3006,0050) is parsed straight
#: from its text by ``_rtstruct._points`` (pydicom's DS conversion of 100,000s of coordinates
#: is slow).
_LEFT_ENCODED = frozenset({0x30060050})
#: The tags the DICOM dictionary defines as sequences.
_SEQUENCE_TAGS = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == VR.SQ)


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


def file_error(error: type[ImagingError], name: str, reason: str) -> ImagingError:
    """``error`` for file ``name``, with the message ``"<name>: <reason>"``."""
    return error(name, reason) if issubclass(error, DicomFileError) else error(f"{name}: {reason}")


@contextlib.contextmanager
def guard(
    name: str,
    error: type[ImagingError] = DicomFileError,
    *,
    what: str = "invalid DICOM content",
    catch: tuple[type[Exception], ...] = DICOM_ERRORS,
) -> Iterator[None]:
    """Turn what a third-party reader raises on malformed content into an ImagingError naming the file.

    Only third-party parsing or decoding calls go inside this block (pydicom reading or
    decoding an element, pixel decoding, highdicom reading a SEG), and only the types in
    ``catch`` are turned into ``error``; anything else (a bug, ``MemoryError``) propagates as
    itself. The message is ``"<name>: <what> (<first line of the library's message>)"``.
    """
    try:
        yield
    except catch as exc:
        raise file_error(error, name, f"{what} ({_short(exc)})") from None


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
        except DICOM_ERRORS as exc:
            return _fail(name, f"cannot be parsed as DICOM ({_short(exc)})")
        if len(ds) == 0:
            return _fail(name, _why_empty(data))
        meta = getattr(ds, "file_meta", None)
        try:
            if meta is not None:
                decode_header(meta, name, what="invalid file meta information")
            problem = _meta_problem(ds)
            if problem:
                return _fail(name, problem)
            decode_header(ds, name)
        except DicomFileError as exc:
            return ReadResult(name, error=exc)
    return ReadResult(name, dataset=ds, notes=notes)


def decode_header(ds: Dataset, name: str, error: type[ImagingError] = DicomFileError, *,
                  what: str = "invalid DICOM content") -> None:
    """Decode every element of ``ds`` in place, nested sequence items included.

    pydicom keeps element values encoded until first accessed; this converts them all now (each
    conversion is the only call inside its handler of :data:`DICOM_ERRORS`), so that the
    project's code never triggers a conversion that raises one of pydicom's exceptions. Also
    checked: an element the dictionary defines as a sequence is stored as one, and every
    sequence holds data sets (code walking sequences meets items, and de-identification finds
    every nested element it must clean). Left encoded: private elements (de-identification
    removes them unread) and :data:`_LEFT_ENCODED` (only their Value Representation is checked).
    Raises ``error`` (message ``"<name>: <what> (<pydicom's message>)"`` for a value pydicom
    cannot decode). Call it inside :func:`quiet_pydicom`; file meta is a separate data set
    (``ds.file_meta``).
    """
    _decode_elements(ds, name, error, what, 0)


def _decode_elements(ds: Dataset, name: str, error: type[ImagingError], what: str, depth: int) -> None:
    if depth > MAX_SEQUENCE_DEPTH:
        raise file_error(error, name, f"sequences nested more than {MAX_SEQUENCE_DEPTH} levels deep")
    for tag in list(ds.keys()):
        if tag.is_private:
            continue
        if tag in _LEFT_ENCODED:
            vr = ds.get_item(tag).VR
            if vr is not None and vr not in _VALID_VRS:
                raise file_error(error, name, f"invalid Value Representation {str(vr)[:8]!r} in element {tag}")
            continue
        try:
            elem = ds[tag]  # pydicom converts the encoded value here
        except BytesLengthException:  # its message quotes the value's bytes (a name, perhaps)
            raise file_error(error, name, f"{what} (the value of element {tag} does not fit its Value "
                                          f"Representation {str(ds.get_item(tag).VR)[:8]})") from None
        except DICOM_ERRORS as exc:
            raise file_error(error, name, f"{what} ({_short(exc)})") from None
        if elem.VR != VR.SQ and tag in _SEQUENCE_TAGS:
            raise file_error(error, name, f"element {tag} has Value Representation {elem.VR}, not SQ")
        if elem.VR == VR.SQ:
            items = elem.value
            if not isinstance(items, (Sequence, list)) or not all(isinstance(item, Dataset) for item in items):
                raise file_error(error, name, f"element {tag} is not a valid sequence")
            for item in items:
                _decode_elements(item, name, error, what, depth + 1)


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
    except DICOM_ERRORS:  # not DICOM at all
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
    except DICOM_ERRORS:
        header = None
    if header is not None and len(header) and "Rows" in header:
        return "the file ends inside the Pixel Data (truncated file: the pixel data is incomplete)"
    return "no data elements after the file meta information (empty or truncated file)"


def _short(exc: BaseException) -> str:
    """First line of an exception message, at most 160 characters.

    Not pydicom's message for a value of the wrong length: it quotes the value's bytes.
    """
    if isinstance(exc, BytesLengthException):
        return "a value's length does not fit its Value Representation"
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 160 else text[:157] + "..."
