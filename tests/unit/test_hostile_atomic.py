"""Atomic writes (watchwait.atomic): concurrent writers never mix, failures leave nothing behind.

The concurrency tests use real processes writing the same path at the same time: every trial must
leave exactly one writer's complete content, and every writer must succeed.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import stat
from pathlib import Path

import pytest

from watchwait.atomic import (
    OutputPathError,
    atomic_directory,
    atomic_open,
    atomic_path,
    atomic_write,
    check_output_path,
)

PAYLOAD_BYTES = 4 * 1024 * 1024  # large enough that the writes overlap in time
WRITERS = 4
TRIALS = 12


def _payload(k: int) -> bytes:
    line = f"writer {k}: " + "x" * 100 + "\n"
    return (line * (PAYLOAD_BYTES // len(line) + 1)).encode()


def _write_in_chunks(path: str, k: int, start) -> None:
    data = _payload(k)
    start.wait()

    def writer(fh):
        for i in range(0, len(data), 65536):  # many small writes: maximal interleaving if the file were shared
            fh.write(data[i:i + 65536])

    atomic_write(path, writer)


def test_concurrent_processes_leave_one_complete_file(tmp_path):
    ctx = mp.get_context("fork")
    target = tmp_path / "shared.csv"
    digests = {hashlib.sha256(_payload(k)).hexdigest(): k for k in range(WRITERS)}
    winners = []
    for _ in range(TRIALS):
        start = ctx.Barrier(WRITERS)
        procs = [ctx.Process(target=_write_in_chunks, args=(str(target), k, start)) for k in range(WRITERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * WRITERS  # no writer crashed (the old fixed .tmp name did)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert digest in digests, "the file mixes several writers' bytes"
        winners.append(digests[digest])
        assert sorted(os.listdir(tmp_path)) == ["shared.csv"]  # no temporary file left behind
    assert len(winners) == TRIALS


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old content\n")

    def broken(fh):
        fh.write(b"half of the new")
        raise ZeroDivisionError("writer bug")

    with pytest.raises(ZeroDivisionError):
        atomic_write(target, broken)
    assert target.read_text() == "old content\n"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]
    with pytest.raises(KeyboardInterrupt), atomic_open(target, "w") as fh:
        fh.write("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "old content\n" and sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_a_fixed_temporary_name_in_the_way_does_not_matter(tmp_path):
    """The old writer used '<out>.tmp'; something at that name made it fail (another run's file)."""
    (tmp_path / "out.csv.tmp").mkdir()
    atomic_write(tmp_path / "out.csv", b"a,b\n1,2\n")
    assert (tmp_path / "out.csv").read_bytes() == b"a,b\n1,2\n"


def test_permissions_follow_the_umask_or_the_existing_file_or_are_private(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.csv", b"x")
        assert stat.S_IMODE(os.stat(tmp_path / "new.csv").st_mode) == 0o640
        (tmp_path / "kept.csv").write_bytes(b"y")
        os.chmod(tmp_path / "kept.csv", 0o604)
        atomic_write(tmp_path / "kept.csv", b"z")
        assert stat.S_IMODE(os.stat(tmp_path / "kept.csv").st_mode) == 0o604
        atomic_write(tmp_path / "private.dcm", b"p", permissions=0o600)
        assert stat.S_IMODE(os.stat(tmp_path / "private.dcm").st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_symbolic_link_is_replaced_not_written_through(tmp_path):
    (tmp_path / "elsewhere.csv").write_text("keep me")
    (tmp_path / "out.csv").symlink_to(tmp_path / "elsewhere.csv")
    atomic_write(tmp_path / "out.csv", b"new")
    assert (tmp_path / "elsewhere.csv").read_text() == "keep me"
    assert not (tmp_path / "out.csv").is_symlink() and (tmp_path / "out.csv").read_bytes() == b"new"


def test_a_folder_or_a_missing_folder_is_refused_with_nothing_written(tmp_path):
    (tmp_path / "adir").mkdir()
    with pytest.raises(OutputPathError, match=r"adir: is a folder; give a file name to write to\.$"):
        atomic_write(tmp_path / "adir", b"x")
    with pytest.raises(OutputPathError, match=r"the folder .*nope does not exist; create it first or choose another path\.$"):
        atomic_write(tmp_path / "nope" / "x.csv", b"x")
    assert sorted(os.listdir(tmp_path)) == ["adir"] and os.listdir(tmp_path / "adir") == []


def test_atomic_path_for_writers_that_want_a_name(tmp_path):
    with atomic_path(tmp_path / "a.bin") as tmp:
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith(".a.bin.")
        Path(tmp).write_bytes(b"abc")
    assert (tmp_path / "a.bin").read_bytes() == b"abc" and sorted(os.listdir(tmp_path)) == ["a.bin"]


def test_check_output_path_refuses_inputs_through_any_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("patient_id\n")
    (tmp_path / "link.csv").symlink_to(cohort)
    os.link(cohort, tmp_path / "hard.csv")
    for out in ("cohort.csv", "sub/../cohort.csv", str(cohort), "link.csv", "hard.csv"):
        with pytest.raises(OutputPathError, match=rf"^--out {out} is the same file as --cohort cohort\.csv; "
                                                  r"writing there would overwrite the input\. Choose another --out\.$"):
            check_output_path(out, [("--cohort", "cohort.csv")])
    with pytest.raises(OutputPathError, match=r"^--out sub is a folder; give a file name to write to, such as "
                                              r"sub/predictions\.csv\.$"):
        check_output_path("sub", [("--cohort", "cohort.csv")])
    with pytest.raises(OutputPathError, match=r"^--out missing/p\.csv: the folder missing does not exist; create it "
                                              r"first or choose another path\.$"):
        check_output_path("missing/p.csv")
    assert check_output_path("p.csv", [("--cohort", "cohort.csv"), ("--truth", None)]) == Path("p.csv")
    assert cohort.read_text() == "patient_id\n"


def test_atomic_directory_replaces_a_model_folder_whole_and_refuses_others(tmp_path):
    out = tmp_path / "model"
    with atomic_directory(out) as tmp:
        (tmp / "model_card.json").write_text("{}")
        (tmp / "old_only.bin").write_text("1")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    with atomic_directory(out, replace_if=lambda p: (p / "model_card.json").is_file()) as tmp:
        (tmp / "model_card.json").write_text('{"v": 2}')
    assert sorted(os.listdir(out)) == ["model_card.json"] and sorted(os.listdir(tmp_path)) == ["model"]
    with pytest.raises(ZeroDivisionError), atomic_directory(out, replace_if=lambda p: True) as tmp:
        (tmp / "model_card.json").write_text("broken")
        raise ZeroDivisionError
    assert (out / "model_card.json").read_text() == '{"v": 2}' and sorted(os.listdir(tmp_path)) == ["model"]
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.docx").write_text("years of work")
    with pytest.raises(OutputPathError, match=r"home: the folder exists and holds other files; it would be replaced "
                                              r"whole\. Choose a new or empty folder\.$"):
        with atomic_directory(home):
            pass
    assert (home / "thesis.docx").read_text() == "years of work"
