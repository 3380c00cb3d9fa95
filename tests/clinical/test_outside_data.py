"""Outside the model's data, no confident number (clinical brief, rule 12; issue 16, item 4), on the shipped model.

The issue's case: DEMO-13 reads about 19% without imaging. Given an MR series of another kind as *both* baseline
and restaging (a tumour about 12x the samples' volume that did not shrink at all), the model once read 100%
(94-100%) and the low-probability caution disappeared. Now those measurements are unlike any the model was trained
on, so they never enter the model: the patient reads no higher than without imaging, the screen says why, and the
headline is conditional. An input outside the training range (CEA at assessment 4,000 ng/mL) is named, the interval
widens, and the headline is conditional.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from watchwait.engine import assess, predict_frame
from watchwait.validation import frame_to_records, read_cohort, validate_frame

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_firstorder_InterquartileRange",
            "original_glcm_JointEntropy", "original_glszm_SizeZoneNonUniformityNormalized")


@pytest.fixture(scope="module")
def samples() -> dict[str, dict]:
    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}


def _foreign(samples: dict, pid: str = "DEMO-13") -> dict:
    """``pid`` with the issue's series as both visits: restaging volume 28,848 mm³ (about 12x the imaged samples'
    restaging volumes), every other measurement the baseline of an imaged sample, and nothing changed between visits."""
    donor = samples["DEMO-05"]
    rec = {k: v for k, v in samples[pid].items() if not k.startswith("radiomics_")}
    for f in FEATURES:
        v = 28848.0 if f == "original_shape_VoxelVolume" else float(donor[f"radiomics_baseline_{f}"])
        rec.update({f"radiomics_baseline_{f}": v, f"radiomics_restaging_{f}": v, f"radiomics_delta_{f}": 0.0})
    return rec


def test_the_shipped_model_carries_its_training_support():
    from watchwait.artifacts import load_model
    from watchwait.support import Support

    support = load_model().predictor.support_
    assert isinstance(support, Support) and support.n > 1000
    assert support.joint_n > 0  # the radiomics are checked jointly (imaged training patients)


def test_a_series_unlike_the_training_images_reads_no_higher_than_without_imaging(samples):
    plain = assess({k: v for k, v in samples["DEMO-13"].items() if not k.startswith("radiomics_")})
    foreign = assess(_foreign(samples))
    assert foreign.probability <= plain.probability + 1e-9, (plain.probability, foreign.probability)
    assert foreign.interval == pytest.approx(plain.interval, abs=1e-9)
    # the screen says why the measurements were not used, in clinicians' words, with the volume
    note = next(f for f in foreign.suggestion.flags if f.rule_id == "FLAG-radiomics-not-used")
    assert note.severity == "caution" and "unlike any in the model's training data" in note.message
    assert "tumour volume on MRI" in note.rationale and "28,848" in note.rationale
    assert "radiomics_" not in note.message + note.rationale
    # the headline is conditional, and the cautions the patient had without imaging are all still there
    s = foreign.suggestion
    assert s.conditional and "only after:" in s.headline and "the MRI series are checked" in s.headline
    assert {f.rule_id for f in plain.suggestion.flags} <= {f.rule_id for f in s.flags}
    assert foreign.not_used.keys() == {"radiomics"}


def test_predict_keeps_the_series_out_and_lists_why(samples):
    recs = [{**{k: v for k, v in samples["DEMO-13"].items() if not k.startswith("radiomics_")}, "patient_id": "PLAIN"},
            {**_foreign(samples), "patient_id": "FOREIGN"}]
    out = predict_frame(validate_frame(pd.DataFrame(recs))).set_index("patient_id")
    assert out.loc["FOREIGN", "p_complete_response"] <= out.loc["PLAIN", "p_complete_response"]
    assert "FLAG-radiomics-not-used" in out.loc["FOREIGN", "flags"].split(";") and out.loc["FOREIGN", "conditional"]


def test_an_input_outside_the_training_range_is_named_widens_the_interval_and_qualifies_the_headline(samples):
    base = samples["DEMO-01"]
    plain = assess(base)
    high = assess({**base, "cea_post_ng_ml": 4000.0})
    named = [f for f in high.suggestion.flags if f.rule_id == "FLAG-outside-data"]
    assert [n.title for n in named] == ["Outside the model's training data: CEA at assessment"]
    assert "4,000 ng/mL" in named[0].message and "range of the training patients" in named[0].message
    assert high.suggestion.conditional and "CEA at assessment" in high.suggestion.headline
    width = lambda a: a.interval[1] - a.interval[0]  # noqa: E731
    assert width(high) >= width(plain) - 1e-9
    assert plain.suggestion.flags == [] or not any(f.rule_id == "FLAG-outside-data" for f in plain.suggestion.flags)


def test_sample_patients_outside_the_training_data_are_named(samples):
    """DEMO-06 has ECOG 3; the simulated training cohort has ECOG 0-2 only, so the model never saw such a patient:
    the screen says so and the headline is conditional. No imaged sample has its radiomics left out (they are the
    kind of images the model was trained on)."""
    for pid, rec in samples.items():
        a = assess(rec)
        if not a.in_scope:
            continue
        ids = {f.rule_id for f in a.suggestion.flags}
        assert "FLAG-radiomics-not-used" not in ids, (pid, a.not_used)
        if "FLAG-outside-data" in ids:
            assert a.suggestion.conditional, pid
    demo06 = assess(samples["DEMO-06"])
    ecog = [f for f in demo06.suggestion.flags if f.rule_id == "FLAG-outside-data" and f.title.endswith("ECOG")]
    assert ecog and "3" in ecog[0].message and "from 0 to 2" in ecog[0].message
    assert demo06.suggestion.conditional and "ECOG is checked" in demo06.suggestion.headline


STS_T1 = ROOT.parent / "shared" / "testdata" / "mr" / "sts_025_t1" / "dicom"


@pytest.mark.skipif(not STS_T1.is_dir(), reason=f"shared test data not found at {STS_T1}")
def test_the_issue_reproduction_a_t1_series_as_both_visits_through_predict(samples, tmp_path):
    """The issue's own reproduction: DEMO-13 without radiomics, its ``mri_*`` columns pointing at a T1-weighted
    series (a limb sarcoma) with its RTSTRUCT as both baseline and restaging, through the cohort path of
    ``watchwait predict``: it reads exactly as without imaging, and ``flags`` says why."""
    from watchwait.cohort import read_model_cohort

    row = pd.read_csv(ROOT / "sample_data" / "sample_patients.csv", dtype=str, keep_default_na=False)
    row = row[row["patient_id"] == "DEMO-13"].drop(columns=[c for c in row.columns if c.startswith("radiomics_")])
    plain = row.drop(columns=[c for c in row.columns if c.startswith("mri_")])
    for visit in ("baseline", "restaging"):
        row[f"mri_{visit}_dir"], row[f"mri_{visit}_roi"] = str(STS_T1 / "image"), str(STS_T1 / "mask" / "RS.dcm")
    plain.to_csv(tmp_path / "plain.csv", index=False)
    row.to_csv(tmp_path / "t1.csv", index=False)
    before = predict_frame(read_model_cohort(tmp_path / "plain.csv")).iloc[0]
    after = predict_frame(read_model_cohort(tmp_path / "t1.csv")).iloc[0]
    assert after["p_complete_response"] == before["p_complete_response"]
    assert (after["p_lower"], after["p_upper"]) == (before["p_lower"], before["p_upper"])
    assert "FLAG-radiomics-not-used" in after["flags"].split(";") and after["conditional"]
    record = frame_to_records(read_model_cohort(tmp_path / "t1.csv"))[0]
    note = next(f for f in assess(record).suggestion.flags if f.rule_id == "FLAG-radiomics-not-used")
    assert "kept out by the series checks" in note.message and "T1-weighted" in note.message
