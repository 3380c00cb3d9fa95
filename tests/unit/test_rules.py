"""Suggestion rules (brief): scope first, category drives the pathway, discordance flagged, figures traceable."""
import pytest

from watchwait.engine import assess
from watchwait.rules import load_rules

BASE = dict(patient_id="R1", mmr_status="pMMR", cm_stage="M0", ct_stage="T3b", cn_stage="N1", age_years=60,
            distance_from_anal_verge_cm=5, rt_schedule="SCRT", sequence="consolidation", immunotherapy="anti_pd1",
            chemotherapy="CAPOX", systemic_cycles=6, endoscopy="complete", dre="normal", mr_trg=1, dwi_restriction=False,
            ctdna_baseline_mtm_ml=12.0, ctdna_post_rt_mtm_ml=0.5, ctdna_post_treatment_mtm_ml=0)


def test_every_rule_has_id_rationale_and_source():
    rules = load_rules()
    ids = [r.id for r in rules.scope + rules.pathway + rules.flags]
    assert len(ids) == len(set(ids))
    assert all(r.rationale and r.source for r in rules.scope + rules.pathway + rules.flags)


@pytest.mark.parametrize("change,rule_id,pathway", [
    ({"mmr_status": "dMMR"}, "SCOPE-dMMR", "out_of_scope"),
    ({"cm_stage": "M1"}, "SCOPE-M1", "systemic"),
    ({"new_distant_metastasis": True}, "SCOPE-NEW-M1", "systemic"),
    ({"distance_from_anal_verge_cm": 11}, "ELIG-DISTANCE", "out_of_scope"),
    ({"multiple_primaries": True}, "ELIG-MULTIPLE", "out_of_scope"),
    ({"ct_stage": "T4b"}, "ELIG-T4B", "out_of_scope"),
])
def test_scope_replaces_the_probability(change, rule_id, pathway):
    a = assess({**BASE, **change})
    assert a.in_scope is False and a.probability is None and a.interval is None and a.contributions == []
    assert a.scope_notices[0].rule_id == rule_id and a.suggestion.pathway == pathway


def test_distance_of_exactly_10_cm_is_in_scope():
    assert assess({**BASE, "distance_from_anal_verge_cm": 10}).in_scope


@pytest.mark.parametrize("change,pathway,rule_id", [
    ({}, "watch_and_wait", "PATH-cCR"),
    ({"mr_trg": 3}, "local_excision", "PATH-near-cCR"),
    ({"dre": "mass"}, "tme", "PATH-incomplete"),
    ({"endoscopy": None}, "complete_restaging", "PATH-not-assessed"),
])
def test_category_drives_pathway(change, pathway, rule_id):
    a = assess({**BASE, **change})
    assert (a.suggestion.pathway, a.suggestion.rule_id) == (pathway, rule_id)


def test_ccr_with_detectable_ctdna_is_flagged_but_pathway_kept():
    a = assess({**BASE, "ctdna_post_treatment_mtm_ml": 0.4})
    assert a.suggestion.pathway == "watch_and_wait"
    assert "FLAG-cCR-ctDNA" in [f.rule_id for f in a.suggestion.flags]
    assert "caution before watch-and-wait" in a.suggestion.flags[0].message


def test_pseudo_residual_flag_needs_cleared_ctdna_and_high_probability():
    rec = {**BASE, "mr_trg": 3, "dwi_restriction": True, "endoscopy": "near_complete", "cea_baseline_ng_ml": 2.0, "cea_post_ng_ml": 0.8,
           "ctdna_post_rt_mtm_ml": 0}
    a = assess(rec)
    ids = [f.rule_id for f in a.suggestion.flags]
    assert a.category == "near-cCR" and a.suggestion.pathway == "local_excision"
    assert ("FLAG-pseudo-residual" in ids) == (a.probability >= load_rules().thresholds["p_high"])
    b = assess({**rec, "ctdna_baseline_mtm_ml": 0})  # never detected: not "cleared"
    assert "FLAG-pseudo-residual" not in [f.rule_id for f in b.suggestion.flags]


def test_out_of_100_figures_follow_the_probability_and_cite_sources():
    a = assess(BASE)
    p = a.probability
    ww = next(o for o in a.suggestion.options if o.pathway == "watch_and_wait")
    tme = next(o for o in a.suggestion.options if o.pathway == "tme")
    fig = {f.id: f for f in ww.figures + tme.figures}
    assert ww.suggested and not tme.suggested
    assert fig["ww_no_tumour"].n_out_of_100 == round(100 * p)
    assert fig["ww_regrowth"].n_out_of_100 == round(100 * (1 - p))
    assert fig["ww_salvage"].n_out_of_100 == round(100 * (1 - p) * 0.94)
    assert fig["tme_no_tumour"].n_out_of_100 == round(100 * p)
    assert fig["ww_distant"].n_out_of_100 == 11 and fig["ww_distant"].kind == "cohort"
    assert fig["tme_morbidity"].n_out_of_100 is None  # no published figure in our sources: none invented
    assert all(f.source for f in ww.figures + tme.figures)
    assert a.suggestion.surveillance["source"].startswith("clinical/brief.md rule 5")
