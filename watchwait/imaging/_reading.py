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
import hashlib
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

from watchwait.errors import quoted

from .errors import DicomFileError, ImagingError

# ----------------------------------------------------------------------------- resource limits
# Each is a documented setting with a plain refusal naming it (module constants: a site may change
# them before reading). They bound memory and time whatever the input claims about itself: sizes are
# counted on the bytes actually decompressed, never taken from archive headers alone.

#: One DICOM object, after unzip / gunzip (an Enhanced MR of 1,000 frames of 512 x 512 x 16 bits is 500 MiB).
MAX_FILE_BYTES = 512 * 1024**2
#: All files of one input (a folder, an archive), after decompression: the largest series read at once.
MAX_TOTAL_BYTES = 1024**3
#: Files in one input (folder or archive members), counted before any is read.
MAX_FILES = 10_000
#: Decompressed bytes out / compressed bytes consumed so far, for one zip member or gzip file (and
#: decompressed bytes / archive size for a whole archive), checked while streaming once more than
#: :data:`RATIO_GRACE_BYTES` came out: a bomb is refused after at most that much output, whatever
#: size it claims. Real DICOM deflates about 1.5-10x; zeros reach about 1,000x.
MAX_RATIO = 100
RATIO_GRACE_BYTES = 8 * 1024**2
_CHUNK = 1024**2
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: System files skipped (and listed in the warnings): macOS resource forks, Windows thumbnails, DICOMDIR.
_SKIPPED_NAMES = {"DICOMDIR", "__MACOSX", "Thumbs.db", ".DS_Store"}
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


@dataclass(frozen=True)
class Source:
    """Where a file's bytes can be read again: a file on disk, or a member of a zip archive on disk
    (``offset``: the member's local header offset, which tells apart two members of one name)."""

    path: Path
    member: str | None = None
    offset: int = 0


@dataclass
class ReadResult:
    """One input file: its display name, and either a data set or the reason it is unusable.

    ``source`` (files and archive members on disk) lets the reader set the pixel data aside while
    it sorts a series (:func:`release_pixels`) and read it again, checked, slice by slice
    (:func:`restore_pixels`): a series is never held twice, as encoded bytes and as a volume."""

    name: str
    dataset: Dataset | None = None
    error: DicomFileError | None = None
    notes: list[str] = field(default_factory=list)
    source: Source | None = None
    released: tuple[int, int, bytes] | None = None  # (tag, length, digest) of the pixel data set aside
    terms: tuple[str, ...] = ()  # words of its descriptions read before de-identification (series_check.TERMS)


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


class InputLimitError(ImagingError):
    """An input breaks one of the resource limits (size, count, expansion ratio, nesting, paths)."""


class _Budget:
    """Decompressed bytes of one input, checked against :data:`MAX_TOTAL_BYTES` and, for an archive,
    :data:`MAX_RATIO` times its size on disk."""

    def __init__(self, source: str, archive_bytes: int | None = None):
        self.source = source
        self.archive_bytes = archive_bytes
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > MAX_TOTAL_BYTES:
            raise InputLimitError(f"{self.source}: more than {_size(MAX_TOTAL_BYTES)} of files once decompressed "
                                  f"(limit MAX_TOTAL_BYTES); load one series at a time")
        if (self.archive_bytes is not None and self.used > RATIO_GRACE_BYTES
                and self.used > MAX_RATIO * self.archive_bytes):
            raise InputLimitError(f"{self.source}: the archive expands more than {MAX_RATIO} times its size "
                                  f"({_size(self.archive_bytes)} gives more than {_size(self.used)}; limit MAX_RATIO): "
                                  "refused as a possible zip bomb")


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n} bytes"


def read_all(path: Path) -> list[ReadResult]:
    """Parse every file of ``path`` (a DICOM file, a .gz, a .zip or a folder, recursively): the
    list of :func:`iter_all`."""
    return list(iter_all(path))


def iter_all(path: Path) -> Iterator[ReadResult]:
    """Parse the files of ``path`` (a DICOM file, a .gz, a .zip or a folder, recursively) one at a
    time: a caller that sets each file's pixel data aside (:func:`release_pixels`) holds one file's
    pixels at a time, never the whole input.

    Hidden and system files (names starting with ".", ``__MACOSX``, ``DICOMDIR``, ``Thumbs.db``)
    are not read but listed as skipped. An archive member whose name climbs out of the archive
    (``..``) or is absolute, a link inside an archive, more than :data:`MAX_FILES` files, or more
    than the size and ratio limits (counted while decompressing) refuse the whole input with
    :class:`InputLimitError`: a series with silently missing slices must never load.
    """
    path = Path(path)
    if not path.exists():
        raise ImagingError(f"{path}: no such file or folder")
    if path.is_dir():
        found, skipped = [], []
        for p in sorted(path.rglob("*")):
            parts = p.relative_to(path).parts
            if not p.is_file():
                continue
            if any(part.startswith(".") or part in _SKIPPED_NAMES for part in parts):
                skipped.append(_skipped(str(p.relative_to(path))))
                continue
            found.append(p)
            if len(found) > MAX_FILES:
                raise InputLimitError(f"{path.name}: more than {MAX_FILES} files (limit MAX_FILES)")
        budget = _Budget(path.name)
        yield from skipped
        for p in found:
            yield _read_path(p, str(p.relative_to(path)), budget)
        return
    if zipfile.is_zipfile(path):
        yield from _read_zip(path)
        return
    yield _read_path(path, path.name, _Budget(path.name))


def _skipped(name: str) -> ReadResult:
    return _fail(name, "hidden or system file; not read")


def _read_path(path: Path, name: str, budget: _Budget) -> ReadResult:
    data = _file_bytes(path, name)
    if isinstance(data, ReadResult):
        return data
    budget.take(len(data))
    result = parse(data, name, budget)
    result.source = Source(path)
    return result


def _file_bytes(path: Path, name: str) -> bytes | ReadResult:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _fail(name, f"file of {_size(size)} is larger than the {_size(MAX_FILE_BYTES)} allowed for one "
                               "file (limit MAX_FILE_BYTES)")
        with path.open("rb") as fh:
            data = fh.read(size + 1)  # read(n) allocates n bytes first: never more than the file; +1: it may have grown
        if len(data) > MAX_FILE_BYTES:
            return _fail(name, f"file larger than the {_size(MAX_FILE_BYTES)} allowed for one file (limit MAX_FILE_BYTES)")
    except OSError as exc:
        return _fail(name, f"cannot be opened ({exc.strerror or exc})")
    return data


def _zip_entry_count(fh: BinaryIO) -> int | None:
    """Entries the archive's end-of-central-directory record declares (Zip64 too), read before the
    directory itself is loaded: a 1 MB archive can declare a million entries."""
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - 65_557))  # the record (22 bytes) + the longest comment
    tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    count = struct.unpack("<H", tail[at + 10:at + 12])[0]
    locator = tail.rfind(b"PK\x06\x07", 0, at)
    if count == 0xFFFF and locator >= 0 and len(tail) >= locator + 20:
        offset = struct.unpack("<Q", tail[locator + 8:locator + 16])[0]
        fh.seek(min(offset, size))
        record = fh.read(56)
        if record[:4] == b"PK\x06\x06" and len(record) >= 40:
            count = struct.unpack("<Q", record[32:40])[0]
    return count


def _unsafe_member_name(filename: str) -> bool:
    name = filename.replace("\\", "/")
    return (name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in name.split("/")
            or "\x00" in name)


def _is_link(member: zipfile.ZipInfo) -> bool:
    return member.create_system == 3 and (member.external_attr >> 16) & 0o170000 == 0o120000


def _read_zip(path: Path) -> Iterator[ReadResult]:
    with path.open("rb") as fh:
        yield from iter_zip(fh, path.name, path)


def iter_zip(fh: BinaryIO, archive_name: str, on_disk: Path | None = None, *,
             hide_names: bool = False) -> Iterator[ReadResult]:
    """Parse the members of a zip archive open as ``fh`` one at a time (each member is decompressed,
    parsed and handed over before the next is read): the limits, refusals and skipped files of
    :func:`read_all`. The archive-wide refusals (entry count, unsafe names, links) come before the
    first member. ``on_disk``: the archive's path, recorded as each member's :class:`Source`.

    ``hide_names`` (an upload: its names may be the patient's): no member's name reaches a message or a
    :class:`ReadResult`; a member is "<archive_name>, member 12 of the archive" (its rank by name), and
    ``archive_name`` should itself be an ordinal ("file 3 of the upload")."""
    path = Path(archive_name) if not hide_names else None  # for its .name in messages
    label = archive_name if path is None else path.name
    fh.seek(0, io.SEEK_END)
    archive_bytes = fh.tell()
    declared = _zip_entry_count(fh)
    if declared is not None and declared > MAX_FILES:
        raise InputLimitError(f"{label}: the archive holds {declared} entries, more than {MAX_FILES} (limit MAX_FILES)")
    fh.seek(0)
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise ImagingError(f"{label}: not a readable zip archive ({_short(exc)})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_FILES:
            raise InputLimitError(f"{label}: the archive holds {len(infos)} entries, more than {MAX_FILES} "
                                  "(limit MAX_FILES)")
        rank = {id(m): i for i, m in enumerate(sorted(infos, key=lambda m: m.filename), start=1)}

        def shown_member(m: zipfile.ZipInfo) -> str:
            return f"member {rank[id(m)]} of the archive" if hide_names else quoted(m.filename, 60)

        unsafe = [m for m in infos if _unsafe_member_name(m.filename)]
        if unsafe:
            shown = ", ".join(shown_member(m) for m in unsafe[:5]) + (f" and {len(unsafe) - 5} more" if len(unsafe) > 5 else "")
            raise InputLimitError(f"{label}: {len(unsafe)} member name(s) point outside the archive (absolute, "
                                  f"or with '..'): {shown}; refused (the series would load with missing slices)")
        links = [m for m in infos if _is_link(m)]
        if links:
            raise InputLimitError(f"{label}: {len(links)} member(s) are symbolic links ({shown_member(links[0])}"
                                  f"{' ...' if len(links) > 1 else ''}); archives of a series hold plain files only")
        budget = _Budget(label, archive_bytes)
        for member in sorted(infos, key=lambda m: m.filename):
            if member.is_dir():
                continue
            name = f"{label}, member {rank[id(member)]} of the archive" if hide_names else f"{label}:{member.filename}"
            if any(part.startswith(".") or part in _SKIPPED_NAMES for part in Path(member.filename).parts):
                yield _skipped(name)
                continue
            data = _member_bytes(zf, member, name, budget)
            if isinstance(data, ReadResult):
                yield data
                continue
            result = parse(data, name, budget)
            del data  # the member's bytes: only the parsed data set lives on
            if on_disk is not None:
                result.source = Source(on_disk, member.filename, member.header_offset)
            yield result


def _member_bytes(zf: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, budget: _Budget) -> bytes | ReadResult:
    if member.file_size > MAX_FILE_BYTES:  # declared: refused early; the real size is counted while reading
        raise InputLimitError(f"{name}: member of {_size(member.file_size)}, larger than the "
                              f"{_size(MAX_FILE_BYTES)} allowed for one file (limit MAX_FILE_BYTES)")
    return _read_member(zf, member, name, budget)


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, budget: _Budget) -> bytes | ReadResult:
    """The member's bytes, read in chunks and counted (size, ratio, total) while they come out."""
    chunks: list[bytes] = []
    n = 0
    try:
        with zf.open(member) as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                n += len(chunk)
                if n > MAX_FILE_BYTES:
                    raise InputLimitError(f"{name}: member larger than the {_size(MAX_FILE_BYTES)} allowed for one "
                                          "file once decompressed (limit MAX_FILE_BYTES)")
                if n > RATIO_GRACE_BYTES:
                    # compressed bytes read so far (zipfile's count; the whole member if it has none)
                    consumed = member.compress_size - int(getattr(fh, "_compress_left", 0) or 0)
                    if n > MAX_RATIO * max(consumed, 1):
                        raise InputLimitError(f"{name}: member expands more than {MAX_RATIO} times "
                                              f"({_size(consumed)} gave {_size(n)}; limit MAX_RATIO): "
                                              "refused as a possible zip bomb")
                budget.take(len(chunk))
                chunks.append(chunk)
    except (RuntimeError, zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error, ValueError) as exc:
        return _fail(name, f"cannot be extracted from the archive ({_short(exc)})")
    return b"".join(chunks)


def _gunzip(data: bytes, name: str, budget: _Budget | None) -> bytes | ReadResult:
    """Decompress a gzip file in bounded steps (size, ratio and total counted as it comes out)."""
    out: list[bytes] = []
    n = 0
    rest = data
    try:
        while rest[:2] == _GZIP_MAGIC:  # one or more gzip members, one after another
            d = zlib.decompressobj(wbits=31)
            pending = rest
            while not d.eof:
                chunk = d.decompress(pending, _CHUNK)  # at most one chunk out per call
                pending = d.unconsumed_tail
                consumed = len(data) - len(pending) - len(d.unused_data)
                n += len(chunk)
                if n > MAX_FILE_BYTES:
                    raise InputLimitError(f"{name}: gzip-compressed file larger than the {_size(MAX_FILE_BYTES)} "
                                          "allowed for one file once decompressed (limit MAX_FILE_BYTES)")
                if n > RATIO_GRACE_BYTES and n > MAX_RATIO * max(consumed, 1):
                    raise InputLimitError(f"{name}: gzip-compressed file expands more than {MAX_RATIO} times "
                                          f"({_size(consumed)} gave {_size(n)}; limit MAX_RATIO): refused "
                                          "as a possible decompression bomb")
                if budget is not None:
                    budget.take(len(chunk))
                out.append(chunk)
                if not chunk and not pending:
                    break  # no progress: the stream ends early
            if not d.eof:
                return _fail(name, "gzip-compressed file that cannot be decompressed (it ends early)")
            rest = d.unused_data
    except zlib.error as exc:
        return _fail(name, f"gzip-compressed file that cannot be decompressed ({_short(exc)})")
    return b"".join(out)


#: The elements that hold an image's pixels; :func:`release_pixels` sets them aside.
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float Pixel Data, Double Float Pixel Data


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()  # OpenSSL, hardware-accelerated: the fastest of hashlib here


def release_pixels(result: ReadResult) -> None:
    """Set the pixel data of a parsed file aside: drop it from the data set, keeping its tag, length
    and a digest, so that :func:`restore_pixels` can read it again from the file and prove it is the
    same. Nothing is done for a file without a :class:`Source` (bytes in memory)."""
    ds = result.dataset
    if ds is None or result.source is None:
        return
    if result.released is not None:  # set aside before, restored since: its digest still holds
        if result.released[0] in ds:
            del ds[result.released[0]]
        return
    for tag in PIXEL_TAGS:
        if tag in ds:
            value = ds[tag].value
            if isinstance(value, (bytes, bytearray)):
                result.released = (tag, len(value), _digest(bytes(value)))
                del ds[tag]  # also drops any decoded array pydicom cached on the data set
            return


#: An archive opened again, with its members by (local header offset, name).
_Reopened = tuple[zipfile.ZipFile, dict[tuple[int, str], zipfile.ZipInfo]]


@contextlib.contextmanager
def reopened() -> Iterator[dict[Path, _Reopened]]:
    """Archives opened again by :func:`restore_pixels` while a series is assembled (each opened once),
    closed on leaving."""
    archives: dict[Path, _Reopened] = {}
    try:
        yield archives
    finally:
        for zf, _ in archives.values():
            zf.close()


def restore_pixels(result: ReadResult, archives: dict[Path, _Reopened]) -> None:
    """Put back the pixel data :func:`release_pixels` set aside, read again from the file (or the
    archive member); raise :class:`DicomFileError` if it is no longer there or not the same bytes.
    :func:`release_pixels` drops it again (the digest is kept). pydicom reads the element straight
    from the file (or the member, decompressed as it is read): its value is the only copy made."""
    ds, released, source = result.dataset, result.released, result.source
    if ds is None or released is None or source is None:
        return
    tag, length, digest = released
    if tag in ds:
        return  # already back
    name = result.name
    changed = DicomFileError(name, "the file changed while the series was being read (its pixel data is not "
                                   "what was read first); load the series again")
    with _open_source(source, name, archives) as fh, quiet_pydicom():
        try:
            again = _dcmread(fh, force=True, specific_tags=[tag])
            again.buffer = None
            value = again[tag].value if tag in again else None
        except (*DICOM_ERRORS, zipfile.BadZipFile):  # a member's CRC no longer matches: changed too
            raise changed from None
    if not isinstance(value, (bytes, bytearray)) or len(value) != length or _digest(bytes(value)) != digest:
        raise changed
    ds[tag] = again[tag]


@contextlib.contextmanager
def _open_source(source: Source, name: str, archives: dict[Path, _Reopened]) -> Iterator[BinaryIO]:
    """The file (or archive member) of ``source`` open for reading, within the size limits; a
    gzip-compressed file decompressed (bounded) in memory. Raises DicomFileError."""
    try:
        if source.member is None:
            if source.path.stat().st_size > MAX_FILE_BYTES:
                raise DicomFileError(name, f"file larger than the {_size(MAX_FILE_BYTES)} allowed for one file "
                                           "(limit MAX_FILE_BYTES)")
            fh: BinaryIO = source.path.open("rb")
        else:
            if source.path not in archives:
                zf = zipfile.ZipFile(source.path)
                archives[source.path] = (zf, {(m.header_offset, m.filename): m for m in zf.infolist()})
            zf, index = archives[source.path]
            member = index.get((source.offset, source.member))
            if member is None:
                raise DicomFileError(name, "is no longer in the archive (it changed while the series was being "
                                           "read); load the series again")
            if member.file_size > MAX_FILE_BYTES:  # zipfile never yields more than the declared size
                raise DicomFileError(name, f"member larger than the {_size(MAX_FILE_BYTES)} allowed for one file "
                                           "(limit MAX_FILE_BYTES)")
            fh = zf.open(member)  # type: ignore[assignment]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
            RuntimeError, NotImplementedError) as exc:
        raise DicomFileError(name, f"cannot be read again ({_short(exc)}); load the series again") from None
    with fh:
        try:
            magic = fh.read(2)
            fh.seek(0)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise DicomFileError(name, f"cannot be read again ({_short(exc)}); load the series again") from None
        if magic != _GZIP_MAGIC:
            yield fh
            return
        data = _gunzip(fh.read(MAX_FILE_BYTES + 1), name, None)  # gzip's own limits, as on the first read
    if isinstance(data, ReadResult):
        raise data.error  # type: ignore[misc]
    yield io.BytesIO(data)


def _fail(name: str, reason: str) -> ReadResult:
    return ReadResult(name, error=DicomFileError(name, reason))


def parse(data: bytes, name: str, budget: _Budget | None = None) -> ReadResult:
    """Parse the bytes of one file into a :class:`ReadResult`.

    Never raises for bad content; raises :class:`InputLimitError` when a gzip-compressed file
    breaks the size or ratio limits (``budget``: the input's running total, if any).
    """
    notes: list[str] = []
    if data[:2] == _GZIP_MAGIC:
        unzipped = _gunzip(data, name, budget)
        if isinstance(unzipped, ReadResult):
            return unzipped
        data = unzipped
        if data[:2] == _GZIP_MAGIC or data[:4] in _ZIP_MAGIC:
            return _fail(name, "compressed file inside a compressed file; not opened (decompress it first)")
        notes.append(f"{name}: gzip-compressed file, decompressed before reading")
    elif data[:4] in _ZIP_MAGIC:
        return _fail(name, "an archive inside the archive; not opened (extract it and load its files)")
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
        ds.buffer = None  # pydicom keeps the source buffer (the whole file) for deferred reads; none are left
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
