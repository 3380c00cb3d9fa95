"""Outside the model's data (clinical brief, rule 12; issue 16, item 4): the training cohort's support, and what
``assess`` and ``predict_frame`` do beyond it.

A small model is fitted here (no shipped model): simulated patients with synthetic radiomics columns whose
restaging values depend on the response, so the radiomics carry signal. Checked:

- :class:`watchwait.support.Support` flags a value beyond the training range, names it in clinicians' words with
  the patient's value and the range in the input's own units, sees a category level never trained on, and finds
  MRI measurements unlike the training patients' *taken together* even when each one alone is in range;
- its fields are plain data (a model file stores them as data);
- an input outside: one notice of its own, the probability is the model's own, the interval is the hull of the
  model's and that of the record with the input blank, the headline is conditional;
- radiomics outside jointly (the issue's case: DEMO-13 with a tumour 12x the samples' that did not shrink) or kept
  out by the series checks never enter the model: probability, interval and explanations equal those without
  imaging, and the screen says why;
- a suggestion never reads as unqualified while one of its own cautions fires;
- ``predict`` lists the rule ids in ``flags``; a model without a support checks nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from watchwait.artifacts import ModelBundle, columns_of
from watchwait.derive import columns_from_record
from watchwait.features import Feature
from watchwait.support import Finding, Support
from watchwait.validation import frame_to_records, read_cohort, validate_frame, validate_record

ROOT = Path(__file__).resolve().parents[2]
VOLUME = "original_shape_VoxelVolume"
RADIOMICS = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_firstorder_InterquartileRange",
             "original_glcm_JointEntropy", "original_glszm_SizeZoneNonUniformityNormalized")
FEATURE_IDS = ("clinical__", "blood__", "restaging__", "radiomics__", "immune__", "_ng_ml", "_mtm_ml", "radiomics_")


def _with_radiomics(frame: pd.DataFrame, y: np.ndarray, rng: np.random.Generator, share: float = 0.5) -> pd.DataFrame:
    n = len(frame)
    imaged = rng.random(n) < share
    eff = y.astype(float) + rng.normal(0, 0.6, n)
    base = {"original_shape_VoxelVolume": rng.lognormal(np.log(3000), 0.35, n), "original_firstorder_Mean": rng.normal(0, 10, n),
            "original_firstorder_InterquartileRange": rng.normal(30, 3, n), "original_glcm_JointEntropy": rng.normal(7.8, 0.2, n),
            "original_glszm_SizeZoneNonUniformityNormalized": rng.normal(0.5, 0.03, n)}
    rest = {"original_shape_VoxelVolume": base[VOLUME] * np.clip(0.6 - 0.4 * eff + rng.normal(0, .1, n), 0.02, 1.2),
            "original_firstorder_Mean": base["original_firstorder_Mean"] - 40 - 60 * eff + rng.normal(0, 15, n),
            "original_firstorder_InterquartileRange": base["original_firstorder_InterquartileRange"] + rng.normal(0, 20, n),
            "original_glcm_JointEntropy": base["original_glcm_JointEntropy"] - 1.5 * eff + rng.normal(0, .5, n),
            "original_glszm_SizeZoneNonUniformityNormalized": base["original_glszm_SizeZoneNonUniformityNormalized"] + rng.normal(0, .04, n)}
    cols = {}
    for f in RADIOMICS:
        cols[f"radiomics_baseline_{f}"] = np.where(imaged, base[f], np.nan)
        cols[f"radiomics_restaging_{f}"] = np.where(imaged, rest[f], np.nan)
        cols[f"radiomics_delta_{f}"] = np.where(imaged, rest[f] - base[f], np.nan)
    return frame.assign(**cols)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    from watchwait.model import FusedPredictor
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.suggest import REGIMEN_WORDS
    from watchwait.training import known_outcomes

    frame = validate_frame(to_csv_frame(simulate(1500, seed=5, with_oracle=False).frame))
    frame, y, _ = known_outcomes(frame)
    frame = _with_radiomics(frame.reset_index(drop=True), y, np.random.default_rng(5))
    cols = columns_of(frame)
    P = FusedPredictor(n_members=2, trees=30, masked_copies=0.5, n_jobs=1, seed=5)
    P.fit(cols, y, [c for c in frame.columns if c.startswith("radiomics_")])
    P.support_ = Support.fit(P.features_, P.matrix(cols))
    card = {"model_version": "test-support", "training_data": {
        "synthetic": True, "regimen_support": {k: frame[k].astype(str).value_counts().to_dict() for k in REGIMEN_WORDS}}}
    return ModelBundle(predictor=P, card=card)


@pytest.fixture(scope="module")
def samples() -> dict[str, dict]:
    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}


def _foreign(record: dict, volume: float = 28848.0) -> dict:
    """The issue's case: an MR series of another kind as both baseline and restaging, i.e. a tumour about 12x the
    samples' that did not shrink at all (baseline = restaging, every change 0)."""
    values = {VOLUME: volume, "original_firstorder_Mean": 35.0, "original_firstorder_InterquartileRange": 40.0,
              "original_glcm_JointEntropy": 6.0, "original_glszm_SizeZoneNonUniformityNormalized": 0.6}
    out = dict(record)
    for f, v in values.items():
        out[f"radiomics_baseline_{f}"] = v
        out[f"radiomics_restaging_{f}"] = v
        out[f"radiomics_delta_{f}"] = 0.0
    return out


def _no_imaging(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("radiomics_")}


def _matrix(bundle, record) -> np.ndarray:
    return bundle.predictor.matrix(columns_from_record(validate_record(record)))


def _assert_clinical_words(text: str) -> None:
    assert not any(t in text for t in FEATURE_IDS), text


# ----------------------------------------------------------------------------- the support itself

def _toy_features() -> tuple[Feature, ...]:
    num = lambda c: lambda cols: np.asarray(cols[c], float)  # noqa: E731
    return (Feature("blood__cea_post_log", "blood", "CEA at assessment", ("cea_post_ng_ml",),
                    lambda cols: np.log(np.maximum(np.asarray(cols["cea_post_ng_ml"], float), 0.1))),
            Feature("clinical__code", "clinical", "Neoadjuvant regimen", ("rt_schedule",), num("code"), kind="category"),
            Feature("radiomics__a", "radiomics", "tumour volume on MRI, at restaging", ("radiomics_restaging_a",), num("a")),
            Feature("radiomics__b", "radiomics", "tumour volume on MRI, before treatment", ("radiomics_baseline_b",), num("b")))


def _toy_matrix(n: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    return np.column_stack([np.log(rng.lognormal(1, 0.5, n)), rng.integers(0, 3, n).astype(float), a, a + rng.normal(0, 0.1, n)])


def test_a_value_beyond_the_training_range_is_named_in_the_input_units():
    feats = _toy_features()
    X = _toy_matrix()
    s = Support.fit(feats, X)
    inside = X[:5].copy()
    assert all(row == [] for row in s.check(inside, feats))
    far = inside[:1].copy()
    far[0, 0] = np.log(900.0)  # CEA 900 ng/ml
    (f,) = s.check(far, feats)[0]
    assert f.label == "CEA at assessment" and f.side == "above" and not f.joint
    assert f.value == "900 ng/mL" and "ng/mL" in f.training_range
    hi = float(np.exp(X[:, 0].max()))
    assert f"to {hi:.3g}".rstrip("0").rstrip(".") in f.training_range.replace(",", "") or str(round(hi)) in f.training_range
    _assert_clinical_words(f.text)


def test_a_category_level_never_trained_on_is_outside():
    feats = _toy_features()
    s = Support.fit(feats, _toy_matrix())
    row = _toy_matrix(1)[:1].copy()
    row[0, 1] = 7.0
    (f,) = s.check(row, feats)[0]
    assert f.side == "unseen" and f.label == "Neoadjuvant regimen" and "unlike any" in f.text


def test_radiomics_unlike_the_training_patients_jointly_are_found_even_when_each_is_in_range():
    feats = _toy_features()
    X = _toy_matrix(2000)
    s = Support.fit(feats, X)
    assert s.joint_n == 2000 and np.isfinite(s.joint_threshold)
    flag, ratio = s.joint_outside(X)
    assert 0.002 <= flag.mean() <= 0.01  # the threshold is the 99.5th percentile of the training patients' own distances
    row = X[:1].copy()
    row[0, 2], row[0, 3] = 1.5, -1.5  # each well inside its range; together unlike any training patient (a ~ b)
    assert not s.outside(row).any()
    found = s.check(row, feats)[0]
    assert [f.joint for f in found] == [True]
    assert "taken together" in found[0].value and "tumour volume on MRI" in found[0].value
    _assert_clinical_words(found[0].text)
    # blank radiomics: no joint finding; one measurement blank: the other is still checked on its own scale
    blank = row.copy()
    blank[0, 2:] = np.nan
    assert s.check(blank, feats)[0] == []
    one = row.copy()
    one[0, 3] = np.nan
    assert s.joint_outside(one)[0][0] == False  # noqa: E712 (1.5 SD alone is common)


def test_the_support_is_plain_data_and_survives_a_round_trip():
    feats = _toy_features()
    s = Support.fit(feats, _toy_matrix())

    def plain(v) -> bool:
        if isinstance(v, np.ndarray):
            return v.dtype.kind in "fiub"
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list | tuple):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, bool | int | float | str)

    for f in dataclasses.fields(s):
        assert plain(getattr(s, f.name)), f.name
    again = Support.from_dict(s.to_dict())
    X = _toy_matrix(50, seed=9) * 3
    assert [[f.text for f in r] for r in again.check(X, feats)] == [[f.text for f in r] for r in s.check(X, feats)]


def test_the_model_file_stores_the_support_as_data(bundle, tmp_path, samples):
    model_io = pytest.importorskip("watchwait.model_io")
    files = model_io.write_predictor(bundle.predictor, tmp_path)
    assert not any(name.endswith((".joblib", ".pkl", ".pickle")) for name in files)
    back = model_io.read_predictor(tmp_path, files)
    assert isinstance(back.support_, Support)
    X = _matrix(bundle, _foreign(samples["DEMO-13"]))
    assert [f.text for f in back.support_.check(X)[0]] == [f.text for f in bundle.predictor.support_.check(X)[0]]


# ----------------------------------------------------------------------------- the engine

def test_the_issue_case_reads_no_higher_than_without_imaging(bundle, samples):
    from watchwait.engine import assess

    plain = assess(_no_imaging(samples["DEMO-13"]), bundle)
    foreign = assess(_foreign(samples["DEMO-13"]), bundle)
    assert foreign.probability <= plain.probability + 1e-12
    # the radiomics never entered the model: the same probability, interval and explanation as without imaging
    assert foreign.probability == pytest.approx(plain.probability, abs=1e-12)
    assert foreign.interval == pytest.approx(plain.interval, abs=1e-12)
    assert {c.feature: c.shap_pp for c in foreign.contributions} == pytest.approx({c.feature: c.shap_pp for c in plain.contributions})
    assert set(foreign.not_used) == {"radiomics"} and "unlike any in the model's training data" in foreign.not_used["radiomics"]
    note = next(f for f in foreign.suggestion.flags if f.rule_id == "FLAG-radiomics-not-used")
    assert note.severity == "caution" and note.qualifies_headline
    assert "unlike any in the model's training data" in note.message
    assert "tumour volume on MRI" in note.rationale and "28,848" in note.rationale
    _assert_clinical_words(note.message + note.rationale)
    s = foreign.suggestion
    assert s.conditional and "only after:" in s.headline and "the MRI series are checked" in s.headline
    assert any(f.joint for f in foreign.outside_data)
    # the radiomics are not "not tested": they were measured and left out, and the modality says so
    assert foreign.modality_contributions["radiomics"].get("not_used")


def test_an_input_outside_widens_the_interval_names_itself_and_qualifies_the_headline(bundle, samples):
    from watchwait.engine import assess
    from watchwait.model import missing_groups

    rec = {**_no_imaging(samples["DEMO-01"]), "cea_post_ng_ml": 4000.0}
    a = assess(rec, bundle)
    P = bundle.predictor
    X = _matrix(bundle, rec)
    cols = columns_from_record(validate_record(rec))
    assert a.probability == pytest.approx(float(P.predict_proba(X)[0]), abs=1e-12)  # the model's own number
    lo, hi = P.interval(X, groups=missing_groups(cols))
    blank = {**rec, "cea_post_ng_ml": None}
    Xb = _matrix(bundle, blank)
    lob, hib = P.interval(Xb, groups=missing_groups(columns_from_record(validate_record(blank))))
    assert a.interval == pytest.approx((min(lo[0], lob[0]), max(hi[0], hib[0])), abs=1e-12)
    assert a.interval[0] <= lo[0] + 1e-12 and a.interval[1] >= hi[0] - 1e-12  # the engine's own evaluation (rounding)
    named = [f for f in a.suggestion.flags if f.rule_id == "FLAG-outside-data"]
    assert {n.title for n in named} >= {"Outside the model's training data: CEA at assessment"}
    cea = next(n for n in named if n.title.endswith("CEA at assessment"))
    assert "4,000 ng/mL" in cea.message and "range of the training patients" in cea.message
    for n in named:
        assert n.severity == "caution" and n.qualifies_headline and n.source.startswith("Clinical brief, rule 12")
        _assert_clinical_words(n.title + n.message)
    s = a.suggestion
    assert s.conditional and "outside the model's training data" in s.headline and "CEA at assessment" in s.headline


def test_the_series_checks_hook_keeps_radiomics_out_and_says_why(bundle, samples):
    from watchwait.engine import KEPT_OUT_COLUMN, assess

    rec = samples["DEMO-01"]
    assert any(k.startswith("radiomics_") and v is not None for k, v in rec.items())
    reason = "restaging MRI kept out of the model: T1-weighted (TR 450 ms, TE 15 ms), not T2"
    kept = assess({**rec, KEPT_OUT_COLUMN: reason}, bundle)
    plain = assess(_no_imaging(rec), bundle)
    assert kept.probability == pytest.approx(plain.probability, abs=1e-12)
    note = next(f for f in kept.suggestion.flags if f.rule_id == "FLAG-radiomics-not-used")
    assert "kept out by the series checks" in note.message and "T1-weighted" in note.message
    assert kept.suggestion.conditional


def test_a_suggestion_never_reads_as_unqualified_while_one_of_its_own_cautions_fires(bundle, samples):
    from watchwait.engine import assess
    from watchwait.rules import load_rules

    rules = load_rules()
    cautions = {r.id for r in rules.flags if r.severity == "caution"}
    assert all(rules.by_id(r).condition for r in cautions)  # every caution can qualify a headline
    variants = []
    for rec in samples.values():
        variants += [rec, _foreign(rec), {**rec, "cea_post_ng_ml": 4000.0}, {**rec, "age_years": 100},
                     {**_no_imaging(rec), "tumour_length_cm": 20.0, "residual_lesion_mm": 0}]
    seen = set()
    for rec in variants:
        a = assess(rec, bundle)
        if not a.in_scope:
            continue
        s = a.suggestion
        fired = [f for f in s.flags if f.rule_id in cautions and not rules.by_id(f.rule_id).qualifies]
        seen |= {f.rule_id for f in fired}
        if fired:
            assert s.conditional and s.headline != s.label, (rec["patient_id"], s.headline)
            assert all(f.qualifies_headline for f in fired), (rec["patient_id"], [f.rule_id for f in fired])
    assert {"FLAG-outside-data", "FLAG-radiomics-not-used"} <= seen


def test_predict_lists_the_findings_and_agrees_with_assess(bundle, samples):
    from watchwait.engine import assess, predict_frame

    recs = [_no_imaging(samples["DEMO-13"]), _foreign(samples["DEMO-13"]), {**samples["DEMO-01"], "cea_post_ng_ml": 4000.0},
            samples["DEMO-05"]]
    recs = [{**r, "patient_id": f"P{i}"} for i, r in enumerate(recs)]
    frame = validate_frame(pd.DataFrame(recs))
    out = predict_frame(frame, bundle)
    flags = [set(f.split(";")) for f in out["flags"]]
    assert "FLAG-radiomics-not-used" in flags[1] and "FLAG-outside-data" in flags[2]
    assert not ({"FLAG-radiomics-not-used", "FLAG-outside-data"} & flags[0])
    assert out["conditional"][1] and out["conditional"][2]
    assert out["p_complete_response"][1] == out["p_complete_response"][0]
    for i, rec in enumerate(recs):
        a = assess(rec, bundle)
        assert out["p_complete_response"][i] == round(a.probability, 4)
        assert (out["p_lower"][i], out["p_upper"][i]) == (round(a.interval[0], 4), round(a.interval[1], 4))


def test_a_model_without_a_support_checks_nothing(bundle, samples):
    from watchwait.engine import assess

    bare = dataclasses.replace(bundle.predictor)
    bare.__dict__.update({k: v for k, v in bundle.predictor.__dict__.items()})
    bare.support_ = None
    a = assess({**samples["DEMO-01"], "cea_post_ng_ml": 4000.0}, ModelBundle(predictor=bare, card=bundle.card))
    assert a.outside_data == [] and not any(f.rule_id.startswith(("FLAG-outside", "FLAG-radiomics")) for f in a.suggestion.flags)


def test_finding_text_is_one_sentence_in_words():
    f = Finding(feature="blood__cea_post_log", label="CEA at assessment", value="850 ng/mL", side="above",
                training_range="from 0.4 ng/mL to 96 ng/mL")
    assert f.text == "CEA at assessment: 850 ng/mL, above the range of the training patients (from 0.4 ng/mL to 96 ng/mL)"
