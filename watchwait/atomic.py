"""Atomic file writes: a reader (or a second run) sees the old file or the new one, never a mix.

Every file watchwait writes goes through here::

    from watchwait.atomic import atomic_write, atomic_open, atomic_path

    atomic_write(path, lambda fh: fh.write(data))         # writer gets a binary file object
    with atomic_open(path, "w", encoding="utf-8") as fh:  # or a context manager
        fh.write(text)
    with atomic_path(path) as tmp:                        # for writers that want a file name
        frame.to_parquet(tmp)

How: the content goes to a new, uniquely named temporary file in the target's own folder
(:func:`tempfile.mkstemp`: created with ``O_EXCL``, mode 0600, so no other process can have
opened it), is flushed and ``fsync``-ed, gets its final permission bits, and is renamed over the
target with :func:`os.replace` (atomic on POSIX and Windows within one file system); the folder
is then ``fsync``-ed so the rename survives a power cut. If anything fails (the writer raises, the
disk is full, the process is interrupted with Ctrl-C), the temporary file is removed and the
target is left as it was: a failed run leaves nothing behind.

Two processes writing the same path: **the last complete file wins**. Each process writes its
own temporary file, so their bytes never mix; the later ``os.replace`` replaces the earlier
file whole. A run's success message is true of the file at the moment it was printed (the run
renamed its own complete file into place just before); a later run may replace it afterwards, as
it would if the runs had been minutes apart. No lock file is used on purpose: a lock left by a
killed process blocks every later run until someone deletes it by hand, advisory locks
(``flock``) are unreliable on the network shares hospitals keep data on, and with atomic renames
there is nothing left for a lock to protect (a reader can never see a partial file).

Permissions: a new file gets ``0o666 & ~umask`` (what ``open()`` would have given it); an
existing file keeps its permission bits; ``permissions=0o600`` makes a private file (the
imaging code uses it for anything derived from patient images). A symbolic link at ``path`` is
replaced by the file, never written through.

:func:`atomic_directory` does the same for a folder (a model artifact): the folder is built
under a temporary name next to the target and renamed into place. Replacing an existing folder
takes two renames (old folder aside, new folder in, old folder removed), so for an instant the
path does not exist; it never holds a mix of the two.

:func:`check_output_path` refuses an output that is a folder, lies in a folder that does not
exist, or is one of the command's inputs (the same file, also through another relative path, a
symbolic link or a hard link), with a plain :class:`~watchwait.errors.WatchwaitError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from watchwait.errors import WatchwaitError

__all__ = ["atomic_write", "atomic_open", "atomic_path", "atomic_directory", "check_output_path", "OutputPathError"]


class OutputPathError(WatchwaitError):
    """An output path that cannot be written: a folder, a missing folder, or an input of the same run."""


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting (not thread-safe for that instant)
    os.umask(mask)
    return mask


def _final_mode(path: Path, permissions: int | None) -> int:
    if permissions is not None:
        return permissions
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    if stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # not possible on this platform (Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _target(path: str | os.PathLike) -> Path:
    target = Path(path)
    if target.is_dir() and not target.is_symlink():
        raise OutputPathError(f"{target}: is a folder; give a file name to write to.")
    folder = target.parent
    if not folder.is_dir():
        raise OutputPathError(f"{target}: the folder {folder} does not exist; create it first or choose another path.")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, permissions: int | None = None, fsync: bool = True) -> Iterator[str]:
    """Yield the name of a fresh temporary file next to ``path``; on success rename it to ``path``.

    For writers that take a file name (pyarrow, pydicom ``save_as``, ``numpy.savez`` with a
    name). The file exists (empty, mode 0600) when the block starts; the writer may replace or
    truncate it. On any exception the temporary file is removed and ``path`` is untouched.
    ``fsync=False`` skips the flushes to disk (still atomic, not durable across a power cut):
    for scratch data written by the thousand, such as synthetic images.
    """
    target = _target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    done = False
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, _final_mode(target, permissions))
        os.replace(tmp, target)
        done = True
    finally:
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    if fsync:
        _fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, permissions: int | None = None,
                encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """A file object (``mode`` "w" or "wb") whose content replaces ``path`` when the block ends without error."""
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_open writes a whole new file: mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path, permissions=permissions) as tmp:
        with open(tmp, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()


def atomic_write(path: str | os.PathLike, writer: Callable[[BinaryIO], object] | bytes | str, *,
                 permissions: int | None = None) -> Path:
    """Write ``path`` atomically: ``writer(fh)`` gets a binary file object (or pass the bytes/text itself).

    Returns the path written. Raises :class:`OutputPathError` when ``path`` is a folder or its
    folder does not exist; whatever ``writer`` raises propagates, with nothing left on disk.
    """
    with atomic_open(path, "wb", permissions=permissions) as fh:
        if isinstance(writer, bytes | bytearray | memoryview):
            fh.write(writer)
        elif isinstance(writer, str):
            fh.write(writer.encode("utf-8"))
        else:
            writer(fh)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, permissions: int = 0o700,
                     replace_if: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a new empty temporary folder next to ``path``; on success it becomes ``path``.

    An existing folder at ``path`` is replaced (moved aside, then removed once the new one is in
    place) only when it is empty or ``replace_if(path)`` is true (e.g. "it holds a
    model_card.json": an earlier artifact); any other existing folder, or a file, is refused
    with :class:`OutputPathError` before the block runs (so ``--out ~`` never removes a home
    folder). On any exception the temporary folder is removed and ``path`` is untouched. The
    folder is created with ``permissions`` (default 0700).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{target}: is a file, not a folder; give a folder to write to.")
    if not target.parent.is_dir():
        raise OutputPathError(f"{target}: the folder {target.parent} does not exist; create it first or choose another path.")
    if target.is_dir() and any(target.iterdir()) and not (replace_if is not None and replace_if(target)):
        raise OutputPathError(f"{target}: the folder exists and holds other files; it would be replaced whole. "
                              "Choose a new or empty folder.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, permissions)
    done = False
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file() and not child.is_symlink():
                with open(child, "rb+") as fh:
                    os.fsync(fh.fileno())
        old = None
        if target.is_dir() and not target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old)  # replaces the empty placeholder folder
        elif target.is_symlink():
            target.unlink()
        os.replace(tmp, target)
        done = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if not done:
            shutil.rmtree(tmp, ignore_errors=True)
    _fsync_dir(target.parent)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: compare where they would be
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(out: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
                      *, option: str = "--out") -> Path:
    """Refuse an output file that is a folder, is in a folder that does not exist, or is an input.

    ``inputs`` holds (option name, path) pairs of the run's input files (None entries are
    skipped). Returns ``out`` as a Path; raises :class:`OutputPathError` with a plain message.
    Nothing is created.
    """
    target = Path(out)
    if str(out).strip() == "":
        raise OutputPathError(f"{option} is empty; give a file name to write to.")
    if target.is_dir():
        raise OutputPathError(f"{option} {target} is a folder; give a file name to write to, such as {target / 'predictions.csv'}.")
    if not target.parent.is_dir():
        raise OutputPathError(f"{option} {target}: the folder {target.parent} does not exist; create it first or choose another path.")
    for name, source in inputs:
        if source is None:
            continue
        if _same_file(target, Path(source)):
            raise OutputPathError(f"{option} {target} is the same file as {name} {source}; "
                                  f"writing there would overwrite the input. Choose another {option}.")
    return target
