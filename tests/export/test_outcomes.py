"""Outcomes as a cohort file: complete_response derived from follow-up exactly as the data dictionary says (one
test per branch), written atomically with formula escaping, read back by the cohort reader, and accepted by
`watchwait train` (the loop closes)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from watchwait.errors import RecordError
from watchwait.export import ExportError
from watchwait.export.outcomes import (
    OutcomesSummary,
    outcomes_frame,
    write_outcomes_cohort,
)
from watchwait.validation import read_cohort


@pytest.fixture
def base(sample_records):
    r = dict(sample_records["DEMO-01"])
    r["complete_response"] = None
    return r


def _cr(base, **follow) -> str:
    """The complete_response cell the export writes for DEMO-01 with this follow-up."""
    return outcomes_frame([{**base, **follow}])["complete_response"].iloc[0]


# --- one test per branch of the data dictionary's Follow-up section

def test_ypT0_ypN0_after_tme_is_a_complete_response(base):
    assert _cr(base, management="tme", ypt_stage="T0", ypn_stage="N0") == "true"


def test_ypT0_after_local_excision_without_nodes_examined_is_a_complete_response(base):
    assert _cr(base, management="local_excision", ypt_stage="T0", ypn_stage=None) == "true"


def test_ypT0_with_involved_nodes_is_not(base):
    assert _cr(base, management="tme", ypt_stage="T0", ypn_stage="N1") == "false"


@pytest.mark.parametrize("ypt", ["Tis", "T1", "T2", "T3", "T4"])
def test_residual_tumour_at_pathology_is_not(base, ypt):
    assert _cr(base, management="tme", ypt_stage=ypt, ypn_stage="N0") == "false"


def test_watch_and_wait_without_regrowth_for_12_months_is_a_complete_response(base):
    assert _cr(base, management="watch_and_wait", local_regrowth=False, months_followed=12) == "true"


def test_watch_and_wait_without_regrowth_for_less_than_12_months_is_unknown(base):
    assert _cr(base, management="watch_and_wait", local_regrowth=False, months_followed=11.9) == ""


def test_watch_and_wait_with_regrowth_is_not(base):
    assert _cr(base, management="watch_and_wait", local_regrowth=True, months_to_regrowth=7, months_followed=7) == "false"


def test_regrowth_after_a_ypT0_local_excision_is_not(base):
    assert _cr(base, management="local_excision", ypt_stage="T0", local_regrowth=True, months_to_regrowth=20,
               months_followed=26) == "false"


def test_watch_and_wait_without_a_regrowth_answer_is_unknown(base):
    assert _cr(base, management="watch_and_wait", local_regrowth=None, months_followed=30) == ""


def test_no_follow_up_yet_is_unknown(base):
    assert _cr(base) == ""


def test_a_recorded_outcome_stays_where_follow_up_says_nothing(base):
    assert _cr({**base, "complete_response": True}) == "true"


def test_a_recorded_outcome_that_contradicts_follow_up_is_refused(base):
    with pytest.raises(ExportError, match=r"^complete response as recorded contradicts the follow-up \(pathology, regrowth, months "
                                          r"followed\) for 1 patient: DEMO-01; correct one or the other before exporting\.$"):
        outcomes_frame([{**base, "complete_response": True, "management": "tme", "ypt_stage": "T2"}])


# --- the file

def test_the_file_is_in_the_data_dictionarys_format(sample_records, tmp_path):
    recs = [dict(r, complete_response=None) for r in sample_records.values()]
    recs[0].update(management="watch_and_wait", local_regrowth=False, months_followed=14)
    recs[1].update(management="tme", ypt_stage="T2", ypn_stage="N0")
    out = tmp_path / "outcomes.csv"
    summary = write_outcomes_cohort(recs, out)
    assert summary == OutcomesSummary(path=out, n_patients=15, n_complete=1, n_not_complete=1, n_unknown=13, n_left_out=0)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["patient_id"] for r in rows] == list(sample_records)
    first = rows[0]
    assert (first["complete_response"], first["management"], first["local_regrowth"], first["months_followed"]) == \
        ("true", "watch_and_wait", "false", "14")
    assert (first["age_years"], first["ecog"], first["mrf_involved"], first["cea_baseline_ng_ml"]) == ("61", "1", "false", "1.86")
    assert rows[1]["complete_response"] == "false" and rows[2]["complete_response"] == ""
    header = next(csv.reader(out.open(encoding="utf-8")))
    assert header[:3] == ["patient_id", "site", "age_years"] and "complete_response" in header
    assert header[-1].startswith("radiomics_")  # extra columns kept, after the dictionary's
    frame = read_cohort(out)  # the project's reader validates it
    cr = frame["complete_response"].to_numpy(dtype=float)
    assert cr[0] == 1.0 and cr[1] == 0.0 and np.isnan(cr[2:]).all()


def test_known_only_leaves_out_the_unknown(sample_records, tmp_path):
    recs = [dict(r, complete_response=None) for r in sample_records.values()]
    recs[0].update(management="watch_and_wait", local_regrowth=False, months_followed=14)
    summary = write_outcomes_cohort(recs, tmp_path / "known.csv", known_only=True)
    assert (summary.n_patients, summary.n_left_out, summary.n_unknown) == (1, 14, 0)


def test_text_that_a_spreadsheet_would_run_is_escaped(sample_records, tmp_path):
    r = dict(sample_records["DEMO-02"], site="=HYPERLINK(\"http://x\")", complete_response=None)
    write_outcomes_cohort([r], tmp_path / "x.csv")
    row = next(csv.DictReader((tmp_path / "x.csv").open(encoding="utf-8")))
    assert row["site"] == "'=HYPERLINK(\"http://x\")"


def test_escaped_text_reads_back_as_it_was_given(sample_records, tmp_path):
    """A pseudonym a spreadsheet would run (-A1 is a valid pseudonym) is written as '-A1 and read back as -A1, so
    the patient can be retrained on; a quote before anything else is data and stays."""
    from watchwait.validation import read_cohort

    r = dict(sample_records["DEMO-02"], patient_id="-A1", site="'s-Hertogenbosch", complete_response=None)
    write_outcomes_cohort([r], tmp_path / "x.csv")
    row = next(csv.DictReader((tmp_path / "x.csv").open(encoding="utf-8")))
    assert row["patient_id"] == "'-A1"
    back = read_cohort(tmp_path / "x.csv")
    assert back["patient_id"].tolist() == ["-A1"]
    assert back["site"].tolist() == ["'s-Hertogenbosch"]


def test_invalid_records_are_all_reported_and_nothing_is_written(sample_records, tmp_path):
    a = dict(sample_records["DEMO-01"], management="surgery", months_followed=300)
    b = dict(sample_records["DEMO-02"], ypt_stage="ypT0")
    out = tmp_path / "bad.csv"
    with pytest.raises(RecordError) as err:
        write_outcomes_cohort([a, b], out)
    text = str(err.value)
    assert text.startswith("records with follow-up: 3 invalid values:")
    assert "patient DEMO-01: management must be one of 'watch_and_wait', 'local_excision', 'tme', 'other'; got 'surgery' instead." in text
    assert "patient DEMO-01: months_followed must be a number from 0 to 240 months; got 300 instead." in text
    assert "patient DEMO-02: ypt_stage must be one of 'T0', 'Tis', 'T1', 'T2', 'T3', 'T4'; got 'ypT0' instead." in text
    assert not out.exists() and list(tmp_path.iterdir()) == []


# --- the loop closes

def _follow_up(records, outcome, rng):
    """Simulated follow-up that agrees with each patient's simulated outcome, with complete_response removed: the
    export must derive it. Responders: watch-and-wait >= 12 months without regrowth, or ypT0N0 at TME;
    others: residual tumour at TME, or regrowth under watch-and-wait. Every tenth responder is followed for only 6
    months (outcome still unknown)."""
    out = []
    for k, (r, cr) in enumerate(zip(records, outcome)):
        r = dict(r, complete_response=None)
        if cr and k % 10 == 0:
            r.update(management="watch_and_wait", local_regrowth=False, months_followed=6)
        elif cr and k % 2:
            r.update(management="watch_and_wait", local_regrowth=False, months_followed=float(rng.integers(12, 49)))
        elif cr:
            r.update(management="tme", ypt_stage="T0", ypn_stage="N0", months_followed=float(rng.integers(3, 49)))
        elif k % 2:
            r.update(management="tme", ypt_stage=str(rng.choice(["T1", "T2", "T3"])), ypn_stage=str(rng.choice(["N0", "N1"])))
        else:
            m = float(rng.integers(3, 24))
            r.update(management="watch_and_wait", local_regrowth=True, months_to_regrowth=m, months_followed=m + 2)
        out.append(r)
    return out


@pytest.mark.slow
def test_exported_outcomes_retrain_the_model(tmp_path, sample_records):
    from watchwait.artifacts import load_model
    from watchwait.cli import main
    from watchwait.engine import assess
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.training import outcome
    from watchwait.validation import frame_to_records, validate_frame

    cohort = simulate(220, seed=5, with_oracle=False)
    truth = cohort.frame["complete_response"].to_numpy(bool)
    records = _follow_up(frame_to_records(validate_frame(to_csv_frame(cohort.frame))), truth, np.random.default_rng(3))
    unknown = np.array([bool(t) and k % 10 == 0 for k, t in enumerate(truth)])
    path = tmp_path / "outcomes.csv"
    summary = write_outcomes_cohort(records, path, known_only=True)
    assert summary.n_left_out == unknown.sum() > 0
    assert (summary.n_complete, summary.n_not_complete) == (int((truth & ~unknown).sum()), int((~truth).sum()))
    assert min(summary.n_complete, summary.n_not_complete) >= 40  # what train needs
    frame = read_cohort(path)
    assert (outcome(frame) == truth[~unknown]).all()
    model = tmp_path / "site-model"
    assert main(["train", "--cohort", str(path), "--out", str(model), "--synthetic"]) == 0
    bundle = load_model(model)
    assert bundle.card["training_data"]["n_patients"] == summary.n_patients
    assert bundle.card["training_data"]["source_file"] == "outcomes.csv"
    a = assess(sample_records["DEMO-05"], model=bundle)
    assert a.model_version == bundle.version and 0 <= a.probability <= 1


def test_train_and_evaluate_leave_out_the_unknown_outcomes_and_say_so(sample_records, tmp_path, capsys):
    """The export without --known-only, straight into train and evaluate: the patients whose outcome is not yet known
    (watch-and-wait followed < 12 months without regrowth) are left out, counted on the card and in the JSON, and the
    warning says why leaving them out biases the cohort. A cohort with too few known outcomes is refused, and the
    message counts the unknown separately."""
    from watchwait.artifacts import load_model
    from watchwait.cli import main
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import frame_to_records, validate_frame

    cohort = simulate(240, seed=7, with_oracle=False)
    truth = cohort.frame["complete_response"].to_numpy(bool)
    records = _follow_up(frame_to_records(validate_frame(to_csv_frame(cohort.frame))), truth, np.random.default_rng(4))
    unknown = np.array([bool(t) and k % 10 == 0 for k, t in enumerate(truth)])
    path = tmp_path / "all.csv"
    summary = write_outcomes_cohort(records, path)
    assert summary.n_unknown == unknown.sum() > 0 and summary.n_patients == 240
    model = tmp_path / "m"
    assert main(["train", "--cohort", str(path), "--out", str(model), "--synthetic"]) == 0
    err = capsys.readouterr().err
    n = int(unknown.sum())
    assert (f"warning: {n} of 240 patients left out: outcome not yet known (complete response blank and the follow-up "
            "does not decide it, e.g. watch-and-wait followed for less than 12 months without regrowth).") in err
    card = load_model(model).card
    assert card["training_data"]["n_patients"] == 240 - n
    assert card["training_data"]["n_outcome_unknown_left_out"] == n
    assert main(["evaluate", "--cohort", str(path), "--model", str(model)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n_outcome_unknown_left_out"] == n
    assert json.loads(out)["n_in_scope"] + json.loads(out)["n_out_of_scope"] == 240 - n
    assert err.startswith(f"note: {n} of 240 patients left out: outcome not yet known")

    # the 15 samples, every outcome unknown: nothing to train on, and the message says why
    recs = [dict(r, complete_response=None) for r in sample_records.values()]
    few = tmp_path / "unknown.csv"
    write_outcomes_cohort(recs, few)
    assert main(["train", "--cohort", str(few), "--out", str(tmp_path / "m2")]) == 2
    assert capsys.readouterr().err == ("watchwait train: a training cohort needs at least 40 patients with a complete response "
                                       "and 40 without; this one has 0 and 0 (of 0 patients; 15 more left out, outcome not yet "
                                       "known). Add patients or keep the shipped model.\n")


def test_the_command_line(sample_records, tmp_path, capsys):
    from watchwait.cli import main

    recs = [dict(r, complete_response=None) for r in sample_records.values()]
    recs[0].update(management="tme", ypt_stage="T0", ypn_stage="N0")
    recs[1].update(management="watch_and_wait", local_regrowth=True, months_to_regrowth=5, months_followed=9)
    source = tmp_path / "followup.csv"
    write_outcomes_cohort(recs, source)  # a cohort file with follow-up, as a site keeps it
    out = tmp_path / "train.csv"
    assert main(["export-outcomes", "--cohort", str(source), "--out", str(out), "--known-only"]) == 0
    assert capsys.readouterr().out == (f"wrote 2 patients to {out}: 1 with a complete response, 1 without, 0 not yet known; "
                                       "13 left out (outcome not yet known)\n")
    assert [r["complete_response"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["true", "false"]
    assert main(["export-outcomes", "--cohort", str(source), "--out", str(source)]) == 2
    assert "is the same file as --cohort" in capsys.readouterr().err
