"""watchwait.evidence: drug classes, Wilson intervals, regimen matching."""

import csv
from pathlib import Path

import pytest

from watchwait import evidence
from watchwait.schema import BY_NAME

DATA = Path(__file__).resolve().parents[2] / "watchwait" / "data" / "evidence_trials.csv"


def test_every_drug_in_the_table_has_a_data_dictionary_class():
    with DATA.open(encoding="utf-8") as fh:
        drugs = {row["immunotherapy"] for row in csv.DictReader(fh)}
    classes = {evidence.drug_class(d) for d in drugs}
    assert classes <= set(BY_NAME["immunotherapy"].categories)
    assert classes == {"none", "anti_pd1", "anti_pdl1", "pd1_ctla4"}


@pytest.mark.parametrize("drug, cls", [("toripalimab", "anti_pd1"), ("Sintilimab", "anti_pd1"), ("PD-1", "anti_pd1"),
                                       ("durvalumab", "anti_pdl1"), ("envafolimab", "anti_pdl1"),
                                       ("iparomlimab-tuvonralimab (PD-1/CTLA-4)", "pd1_ctla4"), ("", "none"), ("none", "none")])
def test_drug_class(drug, cls):
    assert evidence.drug_class(drug) == cls


def test_unknown_drug_is_refused_not_silently_unmatched():
    with pytest.raises(KeyError, match="not in watchwait.evidence.DRUG_CLASS"):
        evidence.drug_class("retifanlimab")


def test_wilson_interval_matches_the_textbook_value():
    # 10 of 20: Wilson 95% interval 0.2993 to 0.7007 (Newcombe 1998, method 3)
    lo, hi = evidence.wilson_interval(50.0, 20)
    assert lo == pytest.approx(29.93, abs=0.01) and hi == pytest.approx(70.07, abs=0.01)
    # 0 of 10 still has a non-degenerate upper bound (27.75%)
    lo, hi = evidence.wilson_interval(0.0, 10)
    assert lo == 0.0 and hi == pytest.approx(27.75, abs=0.01)


def test_wilson_needs_n():
    with pytest.raises(ValueError, match="n must be a positive number"):
        evidence.wilson_interval(30.0, 0)


def test_table_intervals_only_where_n_and_rate_are_known():
    df = evidence.load_trials()
    has = df["n_arm"].notna() & df["rate_pct"].notna()
    assert df.loc[has, "ci_low"].notna().all() and df.loc[~has, "ci_low"].isna().all()
    assert (df.loc[has, "ci_low"] <= df.loc[has, "rate_pct"]).all() and (df.loc[has, "rate_pct"] <= df.loc[has, "ci_high"]).all()
    torch = df[(df["study"] == "TORCH") & (df["sequence"] == "consolidation")].iloc[0]
    assert (torch["ci_low"], torch["ci_high"]) == pytest.approx(evidence.wilson_interval(56.5, 62))


TORCH_LIKE = {"rt_schedule": "SCRT", "sequence": "consolidation", "immunotherapy": "anti_pd1", "chemotherapy": "CAPOX",
              "regorafenib": False}


def test_matching_a_torch_like_patient():
    df = evidence.trials_for(TORCH_LIKE)
    same = set(df.loc[df["match"] == evidence.MATCH_SAME, "study"])
    similar = set(df.loc[df["match"] == evidence.MATCH_SIMILAR, "study"])
    assert {"TORCH", "Union Hosp. II", "SPRING-01", "UNION", "STELLAR II", "mRCAT-III"} <= same
    assert "REGINA" in similar  # nivolumab consolidation but with regorafenib and no chemotherapy listed
    assert "TORCH" in similar  # its induction arm
    assert not ({"Averectal", "PRECAM"} & (same | similar))  # anti-PD-L1


def test_capecitabine_with_long_course_rt_counts_as_radiosensitiser():
    rec = {"rt_schedule": "LCRT", "sequence": "consolidation", "immunotherapy": "anti_pd1", "chemotherapy": "none", "regorafenib": False}
    df = evidence.trials_for(rec)
    assert "VOLTAGE-A" in set(df.loc[df["match"] == evidence.MATCH_SAME, "study"])


def test_blank_regimen_matches_nothing():
    df = evidence.trials_for({"rt_schedule": None, "immunotherapy": None})
    assert (df["match"] == "").all()


def test_surveillance_schedule_has_its_source():
    plan = evidence.surveillance_schedule()
    assert plan["schedule"] and "brief.md" in plan["source"]
