"""The CLI against hostile and broken input (issue 10): exit 2 with a plain message, nothing written,
inputs untouched; concurrent runs never leave a mixed file; formula-like cells escaped in CSV output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from watchwait.cli import escape_formulas


@pytest.fixture(scope="module", autouse=True)
def _in_process(cli):
    """`run` calls watchwait.cli.main in this process (tests/conftest.py run_cli: stdout, stderr, exit code, working
    folder as a process would have them); the concurrent-writers test starts real processes."""
    global _cli
    _cli = cli


def run(*args, cwd=None):
    return _cli(*args, cwd=cwd)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile_cli")
    for seed in (21, 22, 23):
        r = run("simulate", "--n", "600", "--seed", str(seed), "--out", str(d / f"c{seed}.csv"),
                *(("--truth", str(d / "t21.csv")) if seed == 21 else ()))
        assert r.returncode == 0, r.stderr
    return d


def _plain(r, message: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == message


def test_out_equal_to_the_cohort_by_any_path_is_refused_and_the_input_untouched(cohorts, tmp_path):
    cohort = tmp_path / "cohort.csv"
    cohort.write_bytes((cohorts / "c21.csv").read_bytes())
    before = cohort.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(cohort)
    for out in ("cohort.csv", "sub/../cohort.csv", "./cohort.csv", "link.csv"):
        r = run("predict", "--cohort", "cohort.csv", "--out", out, cwd=tmp_path)
        _plain(r, f"watchwait predict: --out {os.path.normpath(out) if out.startswith('./') else out} is the same file "
                  "as --cohort cohort.csv; writing there would overwrite the input. Choose another --out.")
    assert cohort.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["cohort.csv", "link.csv", "sub"]


def test_out_naming_a_folder_or_a_missing_folder(cohorts, tmp_path):
    (tmp_path / "adir").mkdir()
    r = run("predict", "--cohort", str(cohorts / "c21.csv"), "--out", "adir", cwd=tmp_path)
    _plain(r, "watchwait predict: --out adir is a folder; give a file name to write to, such as adir/predictions.csv.")
    r = run("predict", "--cohort", str(cohorts / "c21.csv"), "--out", "missing/p.csv", cwd=tmp_path)
    _plain(r, "watchwait predict: --out missing/p.csv: the folder missing does not exist; create it first or choose "
              "another path.")
    assert sorted(os.listdir(tmp_path)) == ["adir"] and os.listdir(tmp_path / "adir") == []  # no adir.tmp


def test_simulate_truth_equal_to_out_is_refused(tmp_path):
    r = run("simulate", "--n", "5", "--out", "c.csv", "--truth", "./c.csv", cwd=tmp_path)
    _plain(r, "watchwait simulate: --truth c.csv is the same file as --out c.csv; writing there would overwrite "
              "the input. Choose another --truth.")
    assert os.listdir(tmp_path) == []


def test_train_out_that_is_a_file_or_holds_other_files(cohorts, tmp_path):
    (tmp_path / "afile").write_text("keep")
    r = run("train", "--cohort", str(cohorts / "c21.csv"), "--out", "afile", cwd=tmp_path)
    _plain(r, "watchwait train: --out afile is a file, not a folder; train writes a model folder (model.json, arrays.npz, "
              "trees, model card). Choose a folder path.")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "c.csv").write_bytes((cohorts / "c21.csv").read_bytes())
    r = run("train", "--cohort", "work/c.csv", "--out", "work", cwd=tmp_path)
    _plain(r, "watchwait train: --out work holds --cohort work/c.csv; the model folder is replaced whole. Choose "
              "another folder for the model.")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    r = run("train", "--cohort", str(cohorts / "c21.csv"), "--out", "home", cwd=tmp_path)
    _plain(r, "watchwait train: --out home is a folder holding other files, not an earlier model; the model folder "
              "is replaced whole. Choose a new or empty folder.")
    assert (tmp_path / "afile").read_text() == "keep" and (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_evaluate_without_patients_or_with_one_outcome_class(cohorts, tmp_path):
    c = pd.read_csv(cohorts / "c21.csv", dtype=str, keep_default_na=False)
    c.head(0).to_csv(tmp_path / "empty.csv", index=False)
    r = run("evaluate", "--cohort", str(tmp_path / "empty.csv"))
    _plain(r, "watchwait evaluate: empty.csv: no patients (a header row only); evaluate needs patients with outcomes "
              "of both kinds (complete response and not).")
    one = c.head(40).copy()
    one["complete_response"] = "false"
    one.to_csv(tmp_path / "one.csv", index=False)
    r = run("evaluate", "--cohort", str(tmp_path / "one.csv"))
    _plain(r, "watchwait evaluate: one.csv: 40 in-scope patients with a probability, 0 with a complete response and "
              "40 without; evaluate needs at least one of each (AUC and calibration compare the two groups).")


def test_evaluate_with_a_wrong_truth_file(cohorts, tmp_path):
    r = run("evaluate", "--cohort", str(cohorts / "c21.csv"), "--truth", str(tmp_path))
    _plain(r, f"watchwait evaluate: {tmp_path.name}: is a folder, not an oracle file (--truth).")
    r = run("predict", "--cohort", str(tmp_path), "--out", str(tmp_path / "p.csv"))
    _plain(r, f"watchwait predict: {tmp_path.name}: is a folder, not a cohort file; give the CSV file itself.")
    r = run("evaluate", "--cohort", str(cohorts / "c21.csv"), "--truth", str(cohorts / "c22.csv"))
    _plain(r, "watchwait evaluate: c22.csv: no p_oracle column; --truth takes the oracle file written by "
              "`watchwait simulate --truth`.")
    r = run("evaluate", "--cohort", str(cohorts / "c22.csv"), "--truth", str(cohorts / "t21.csv"))
    _plain(r, "watchwait evaluate: t21.csv: no oracle probability for 600 patient(s) of the cohort, e.g. "
              "'SIM-22-000000'; use the oracle file written with this cohort.")


def test_explain_does_not_echo_a_huge_argument(cohorts):
    r = run("explain", "--cohort", str(cohorts / "c21.csv"), "--patient", "Z" * 100_000)
    assert r.returncode == 2 and len(r.stderr) < 400
    assert "'" + "Z" * 80 + "…' (100,000 characters) is not in c21.csv" in r.stderr


def test_a_huge_bad_cell_is_not_echoed_whole(cohorts, tmp_path):
    c = pd.read_csv(cohorts / "c21.csv", dtype=str, keep_default_na=False).head(3)
    c.loc[1, "age_years"] = "9" * 4_000  # within a cell's limit (4,096 characters), so the validator judges it
    c.to_csv(tmp_path / "big.csv", index=False)
    r = run("predict", "--cohort", str(tmp_path / "big.csv"), "--out", str(tmp_path / "p.csv"))
    _plain(r, "watchwait predict: big.csv: 1 invalid value:\n  - row 3, age_years must be a whole number from 18 to "
              "100; got '" + "9" * 80 + "…' (4,000 characters) instead.")
    assert not (tmp_path / "p.csv").exists()


def test_formula_like_pseudonyms_are_escaped_in_predictions(cohorts, tmp_path):
    c = pd.read_csv(cohorts / "c21.csv", dtype=str, keep_default_na=False).head(4)
    c["patient_id"] = ["-A1", "-2-3", "_ok", "B-1"]
    c.to_csv(tmp_path / "inj.csv", index=False)
    r = run("predict", "--cohort", str(tmp_path / "inj.csv"), "--out", str(tmp_path / "p.csv"))
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ['"patient_id"', "\"'-A1\"", "\"'-2-3\"", '"_ok"', '"B-1"']


def test_escape_formulas_touches_only_text_cells_that_start_a_formula():
    frame = pd.DataFrame({"id": ["=1+1", "+A1", "-A1", "@SUM(A1)", "\tx", "\rx", "a-b", None, "ok"],
                          "p": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]})
    out = escape_formulas(frame)
    assert out["id"].fillna("<blank>").tolist() == ["'=1+1", "'+A1", "'-A1", "'@SUM(A1)", "'\tx", "'\rx", "a-b",
                                                    "<blank>", "ok"]
    assert out["p"].tolist() == frame["p"].tolist() and frame["id"].iloc[0] == "=1+1"  # input not modified


def _predict(cohort: Path, out: Path, model: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "watchwait", "predict", "--model", str(model), "--cohort", str(cohort),
                             "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})


@pytest.mark.slow
def test_concurrent_predict_runs_leave_one_cohorts_complete_output(cohorts, tmp_path):
    """Three runs with three cohorts write the same --out at once: the file is exactly one run's
    output (all its rows, none of the others'), every run exits 0, and no temporary file is left."""
    from watchwait.artifacts import SHIPPED_MODEL

    model = tmp_path.parent / f"{tmp_path.name}_model"  # a private copy: the shipped folder may be retrained meanwhile
    shutil.copytree(SHIPPED_MODEL, model)
    names = (21, 22, 23)
    expected = {}
    for seed in names:  # each cohort's output on its own, for comparison
        solo = tmp_path / f"solo{seed}.csv"
        r = run("predict", "--model", str(model), "--cohort", str(cohorts / f"c{seed}.csv"), "--out", str(solo))
        assert r.returncode == 0, r.stderr
        expected[seed] = solo.read_bytes()
        solo.unlink()
    shared = tmp_path / "shared.csv"
    for _ in range(2):
        procs = [_predict(cohorts / f"c{seed}.csv", shared, model) for seed in names]
        results = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in results]
        assert all(o.strip().startswith("wrote predictions for 600 patients to ") for o, _ in results)
        assert shared.read_bytes() in expected.values()
        assert sorted(os.listdir(tmp_path)) == ["shared.csv"]
