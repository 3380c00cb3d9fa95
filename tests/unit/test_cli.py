"""The CLI as a user runs it: simulate -> train -> predict -> evaluate -> explain, and bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="module", autouse=True)
def _in_process(cli):
    """`run` calls watchwait.cli.main in this process (tests/conftest.py run_cli): no Python start-up per command.
    test_installed_entry_point_as_a_process runs the real `watchwait` program."""
    global _cli
    _cli = cli


def run(*args, ok=True):
    r = _cli(*args)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def process(*args):
    """`watchwait *args` as a user runs it: the installed entry point, in a process of its own."""
    exe = Path(sys.executable).with_name("watchwait")
    return subprocess.run([str(exe), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    run("simulate", "--n", "800", "--seed", "4", "--out", str(d / "c.csv"))
    run("simulate", "--n", "600", "--seed", "5", "--out", str(d / "fresh.csv"), "--truth", str(d / "t.csv"))
    return d


def test_train_with_extra_and_imaging_columns_then_predict_evaluate_explain(work):
    c = pd.read_csv(work / "c.csv", dtype=str, keep_default_na=False)
    c["referring_ward"] = "B7"  # extra column: kept, ignored
    c["mri_baseline_dir"] = ""  # imaging columns without images
    c.to_csv(work / "c2.csv", index=False)
    run("train", "--cohort", str(work / "c2.csv"), "--out", str(work / "m"), "--seed", "1")
    card = json.loads((work / "m" / "model_card.json").read_text())
    assert card["training_data"]["synthetic"] is True and "radiomics" not in card["modalities_with_data"]
    run("predict", "--model", str(work / "m"), "--cohort", str(work / "fresh.csv"), "--out", str(work / "p.csv"))
    p = pd.read_csv(work / "p.csv")
    assert list(p.columns) == ["patient_id", "p_complete_response", "p_lower", "p_upper", "category", "pathway", "flags",
                               "rule_id", "conditional", "model_version"]
    assert len(p) == 600 and ((p.p_lower <= p.p_complete_response) & (p.p_complete_response <= p.p_upper)).all()
    # conditional (clinical brief, rule 6) is written as true/false, and is true wherever a qualifying
    # notice fired: detectable ctDNA at assessment always asks for systemic restaging first
    assert set(p["conditional"].astype(str).str.lower()) <= {"true", "false"}
    fresh = pd.read_csv(work / "fresh.csv")
    ct = p.merge(fresh[["patient_id", "ctdna_post_treatment_mtm_ml"]], on="patient_id")
    ct = ct[(ct.ctdna_post_treatment_mtm_ml > 0) & ct.p_complete_response.notna()]
    assert len(ct) > 0 and ct["flags"].str.contains("FLAG-ctDNA-systemic").all()
    assert ct["conditional"].astype(str).str.lower().eq("true").all()
    assert ct[ct.pathway == "watch_and_wait"]["flags"].str.contains("FLAG-cCR-ctDNA").all()
    # on patients it never saw, the model cannot beat the best possible prediction (beyond noise)
    ev = json.loads(run("evaluate", "--model", str(work / "m"), "--cohort", str(work / "fresh.csv"), "--truth", str(work / "t.csv")).stdout)
    assert ev["fused"]["n"] == 600 and 0.75 < ev["fused"]["auc"] <= ev["oracle"]["auc"] + 0.01
    assert ev["interval_coverage"]["coverage"] >= 0.75 and ev["interval_coverage"]["n"] > 500  # calibrated on only 80 patients here
    out = run("explain", "--cohort", str(work / "c.csv"), "--patient", "SIM-4-000003").stdout
    assert "P(complete response) =" in out and "synthetic training data" in out and "by modality:" in out


def test_bad_cohort_lists_every_bad_row_and_exits_2(work, tmp_path):
    c = pd.read_csv(work / "c.csv", dtype=str, keep_default_na=False).head(5)
    c.loc[1, "age_years"] = "twelve"
    c.loc[3, "endoscopy"] = "clear"
    c.to_csv(tmp_path / "bad.csv", index=False)
    r = run("predict", "--cohort", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o.csv"), ok=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "row 3, age_years must be a whole number from 18 to 100; got 'twelve' instead." in r.stderr
    assert "row 5, endoscopy must be one of 'complete', 'near_complete', 'incomplete'; got 'clear' instead." in r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_unknown_patient_and_missing_model(work, tmp_path):
    r = run("explain", "--cohort", str(work / "c.csv"), "--patient", "NOPE", ok=False)
    assert r.returncode == 2 and "patient 'NOPE' is not in c.csv" in r.stderr
    r = run("predict", "--model", str(tmp_path), "--cohort", str(work / "c.csv"), "--out", str(tmp_path / "x.csv"), ok=False)
    assert r.returncode == 2 and "not a watchwait model" in r.stderr


def test_cohort_with_mri_trains_a_radiomics_branch_and_bad_dicom_is_reported(tmp_path):
    run("simulate", "--n", "160", "--seed", "12", "--out", str(tmp_path / "c.csv"), "--imaging-share", "0.5", "--jobs", "2")
    c = pd.read_csv(tmp_path / "c.csv", dtype=str, keep_default_na=False)
    assert (c["mri_restaging_dir"] != "").sum() == 80  # paths relative to the cohort file
    assert all((tmp_path / p).is_dir() for p in c.loc[c["mri_restaging_dir"] != "", "mri_restaging_dir"])
    run("train", "--cohort", str(tmp_path / "c.csv"), "--out", str(tmp_path / "m"), "--jobs", "2")
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    assert "radiomics" in card["modalities_with_data"]
    assert {f["name"] for f in card["features"] if f["modality"] == "radiomics"} >= {"radiomics__restaging_original_firstorder_Mean"}
    assert card["imaging_added"]["n_imaged_held_out"] > 0
    pid = c.loc[c["mri_restaging_dir"] != "", "patient_id"].iloc[0]
    out = run("explain", "--model", str(tmp_path / "m"), "--cohort", str(tmp_path / "c.csv"), "--patient", pid, "--json").stdout
    mods = {x["modality"] for x in json.loads(out)["contributions"]}
    assert "radiomics" in mods
    # truncate one DICOM file of one patient: one message naming the row, patient and file; nothing written
    row = int(c.index[c["patient_id"] == pid][0])
    first = sorted((tmp_path / c.loc[row, "mri_restaging_dir"]).glob("*.dcm"))[0]
    first.write_bytes(first.read_bytes()[:-1500])
    # predict reads the cohort file's rows up to this patient and three more imaged patients after it, as they stand
    # in c.csv (the same row numbers; one broken visit among good ones). Was the whole file: 158 more visits'
    # radiomics computed one after another before the message, none of them checked here.
    later = [i for i in c.index[c["mri_restaging_dir"] != ""] if i > row][:3]
    assert len(later) == 3
    lines = (tmp_path / "c.csv").read_text().splitlines(keepends=True)
    (tmp_path / "head.csv").write_text("".join(lines[: later[-1] + 2]))  # the header and rows 0..later[-1]
    assert len(pd.read_csv(tmp_path / "head.csv")) == later[-1] + 1
    r = run("predict", "--model", str(tmp_path / "m"), "--cohort", str(tmp_path / "head.csv"), "--out", str(tmp_path / "p.csv"), ok=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"row {row + 2}, patient {pid}" in r.stderr and first.name in r.stderr and "truncated" in r.stderr
    assert not (tmp_path / "p.csv").exists()


def test_installed_entry_point_as_a_process(work, tmp_path):
    """Smoke test of what only a real process shows: the installed `watchwait` program starts, writes, exits 0;
    a bad cohort exits 2 with the plain message and no traceback on stderr, nothing written."""
    r = process("simulate", "--n", "5", "--seed", "4", "--out", str(tmp_path / "five.csv"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.strip() == f"wrote 5 simulated patients to {tmp_path / 'five.csv'}"
    assert len(pd.read_csv(tmp_path / "five.csv")) == 5
    c = pd.read_csv(work / "c.csv", dtype=str, keep_default_na=False).head(5)
    c.loc[1, "age_years"] = "twelve"
    c.to_csv(tmp_path / "bad.csv", index=False)
    r = process("predict", "--cohort", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o.csv"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "row 3, age_years must be a whole number from 18 to 100; got 'twelve' instead." in r.stderr
    assert not (tmp_path / "o.csv").exists()
    r = process("predict", "--cohort", str(tmp_path / "bad.csv"))  # usage error: argparse's exit code 2
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
