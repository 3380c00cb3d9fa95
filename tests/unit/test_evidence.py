"""watchwait.evidence: drug classes, Wilson intervals, regimen matching; and the evidence table as shown."""

import csv
from pathlib import Path

import pandas as pd
import pytest

from components import tables
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
    assert plan["schedule"] and plan["source"].startswith("Clinical brief, rule 5")


# ----------------------------------------------------------------------------- what the evidence table shows
# These test components.tables.evidence_table, the function that builds the table on the Evidence page.

SHARED = Path(__file__).resolve().parents[3] / "shared" / "clinical" / "evidence_trials.csv"
PRES, PRES_DEF = tables.PRESERVATION_COLUMN, tables.PRESERVATION_DEFINITION_COLUMN


def _shown(record=None):
    return tables.evidence_table(evidence.trials_for(record))


def test_copy_is_byte_for_byte_the_shared_table():
    if not SHARED.exists():
        pytest.skip("../shared is not next to this checkout")
    assert DATA.read_bytes() == SHARED.read_bytes()


def test_renamed_preservation_columns_are_loaded():
    df = evidence.load_trials()
    assert "organ_preservation_pct" not in df.columns
    assert df["preservation_pct"].dtype == "float64"
    assert df["preservation_definition"].map(type).eq(str).all()
    torch = df[(df["study"] == "TORCH") & (df["sequence"] == "consolidation")].iloc[0]
    assert torch["preservation_pct"] == 82.3 and torch["preservation_definition"].startswith("anal (sphincter) preservation")


@pytest.mark.parametrize("study", ["TORCH", "UNION"])
def test_torch_and_union_preservation_is_shown_as_anal_sphincter_preservation(study):
    table = _shown()
    rows = table[table["Trial"] == study]
    assert len(rows) == 2
    assert (rows[PRES] != "").all()
    assert rows[PRES_DEF].str.startswith("anal (sphincter) preservation").all()
    # the two columns sit next to each other
    cols = list(table.columns)
    assert cols.index(PRES_DEF) == cols.index(PRES) + 1


def test_union_preservation_figures_are_the_reported_ones():
    table = _shown()
    union = table[table["Trial"] == "UNION"]
    assert sorted(union[PRES]) == ["89.9", "94.2"]


def test_spring01_sintilimab_arm_is_pcr_59_2_not_cr():
    table = _shown()
    arm = table[(table["Trial"] == "SPRING-01") & (table["Immunotherapy"] == "sintilimab")]
    assert len(arm) == 1
    arm = arm.iloc[0]
    assert arm["Endpoint"] == "pCR"
    assert arm["Reported rate (endpoint, %)"] == "pCR 59.2"
    # the endpoint and the rate columns never say CR for this arm (its source note may quote the text's CR 61.2%)
    assert "CR 61.2" not in (arm["Endpoint"], arm["Reported rate (endpoint, %)"]) and arm["Endpoint"] != "CR"


def test_every_rate_shown_carries_its_own_endpoint():
    arms = evidence.trials_for(None)
    table = tables.evidence_table(arms)
    for (_, a), (_, shown) in zip(arms.iterrows(), table.iterrows()):
        assert shown["Endpoint"] == a["endpoint"]
        if pd.isna(a["rate_pct"]):
            assert shown["Reported rate (endpoint, %)"] == ""
        else:
            assert shown["Reported rate (endpoint, %)"] == f"{a['endpoint']} {a['rate_pct']:.1f}"


def test_no_preservation_figure_is_shown_without_its_definition():
    table = _shown()
    with_figure = table[table[PRES] != ""]
    assert len(with_figure) >= 10
    assert (with_figure[PRES_DEF].str.strip() != "").all()
    assert (table.loc[table[PRES] == "", PRES_DEF] == "").all()


def test_no_header_calls_the_figure_organ_preservation_or_is_a_raw_column_name():
    table = _shown()
    assert not any("organ preservation" in c.lower() for c in table.columns)
    raw = set(evidence.load_trials().columns)
    assert not (set(table.columns) & raw)


def test_a_preservation_figure_without_definition_is_refused(monkeypatch):
    arms = evidence.trials_for(None)
    broken = arms.copy()
    i = broken.index[(broken["study"] == "TORCH")][0]
    broken.loc[i, "preservation_definition"] = ""
    with pytest.raises(ValueError, match="TORCH"):
        tables.evidence_table(broken)
    raw = evidence._raw_trials().copy()
    raw.loc[raw["study"] == "UNION", "preservation_definition"] = ""
    monkeypatch.setattr(evidence, "_raw_trials", lambda: raw)
    with pytest.raises(ValueError, match="UNION"):
        evidence.load_trials()
