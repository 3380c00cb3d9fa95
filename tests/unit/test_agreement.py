"""Rule 3's third case (watchwait.agreement): the number against the published rate for the patient's picture, the
drivers named with what each branch is worth on its own, and the model's figures marked as disputed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from watchwait import agreement, assess
from watchwait.engine import Contribution

SAMPLES = "sample_data/sample_patients.csv"


def _ctx(p, category, immunotherapy="anti_pd1", biopsy=0.0, c3=np.nan):
    return {"p": np.array([p]), "category": np.array([category], dtype=object),
            "immunotherapy": np.array([immunotherapy], dtype=object), "biopsy_positive": np.array([biopsy]),
            "ctdna_post_treatment_mtm_ml": np.array([c3])}


@pytest.mark.parametrize("p, category, imm, biopsy, c3, fires, picture", [
    (0.41, "cCR", "anti_pd1", 0, np.nan, True, "ccr"),  # 0.81 - 0.40
    (0.42, "cCR", "anti_pd1", 0, np.nan, False, "ccr"),
    (0.74, "incomplete", "anti_pd1", 0, np.nan, True, "not_ccr_ici"),  # 0.34 + 0.40
    (0.73, "incomplete", "anti_pd1", 0, np.nan, False, "not_ccr_ici"),
    (0.50, "near-cCR", "none", 0, np.nan, True, "not_ccr_no_ici"),  # 0.10 + 0.40
    (0.49, "near-cCR", "none", 0, np.nan, False, "not_ccr_no_ici"),
    (0.73, "near-cCR", None, 0, np.nan, False, "not_ccr_ici_unknown"),  # not recorded: the higher published rate
    (0.34, "incomplete", "anti_pd1", 1, np.nan, True, "biopsy_positive"),  # the biopsy before the category: proven
    (0.33, "incomplete", "anti_pd1", 1, np.nan, False, "biopsy_positive"),  # residual tumour, read against 0.34
    (0.10, "incomplete", "none", 1, np.nan, True, "biopsy_positive"),  # without immunotherapy: against 0.10
    (0.09, "incomplete", "none", 1, np.nan, False, "biopsy_positive"),
    (0.20, "cCR", "anti_pd1", 0, 2.0, False, "ctdna_detected"),  # a cCR read by its ctDNA: 0.20 agrees with it
    (0.45, "cCR", "anti_pd1", 0, 2.0, True, "ctdna_detected"),
    (0.95, "not_assessed", "anti_pd1", 0, np.nan, False, None),  # no published rate for an unfinished restaging
])
def test_the_number_against_the_most_specific_finding(p, category, imm, biopsy, c3, fires, picture):
    ctx = _ctx(p, category, imm, biopsy, c3)
    out = agreement.context(ctx, 0.4, 1)
    assert out["number_picture_disagree"][0] == (1.0 if fires else 0.0)
    rows = agreement.pictures(ctx, 1)[0]
    assert (rows[0].key if rows else None) == picture
    if fires:
        assert out["picture_rate"][0] == agreement.PICTURES[picture].rate
        assert out["number_direction"][0] == ("higher" if p > agreement.PICTURES[picture].rate else "lower")


def test_no_probability_no_disagreement():
    out = agreement.context(_ctx(np.nan, "cCR"), 0.4, 1)
    assert np.isnan(out["number_picture_disagree"][0]) and out["picture_words"][0] == ""


def _c(modality, pp, label="x"):
    return Contribution(feature=label, label=label, modality=modality, value="v", shap_logit=0.0, shap_pp=pp)


def test_drivers_are_the_branches_pushing_away_from_the_picture_with_their_evidence():
    by_mod = {"radiomics": {"shap_pp": 30.0}, "immune": {"shap_pp": 12.0}, "blood": {"shap_pp": -8.0},
              "clinical": {"shap_pp": 4.9}, "restaging": {"shap_pp": -20.0}}
    contribs = [_c("radiomics", 25.0, "T2 spread at restaging"), _c("radiomics", 5.0, "texture"), _c("immune", 12.0, "PD-L1 CPS")]
    card = {"metrics_held_out": {"radiomics_only": {"auc": 0.52, "auc_with_data": 0.55, "n_with_data": 104},
                                 "immune_only": {"auc": 0.66}}}
    found, restaging = agreement.drivers(0.9, 0.34, by_mod, contribs, card, {"radiomics": "MRI radiomics", "immune": "Immune"})
    assert [d.modality for d in found] == ["radiomics", "immune"]  # blood pulls the other way; clinical below 5 points
    assert restaging == -20.0  # the picture itself, said apart, never a driver
    rad, imm = found
    assert rad.near_chance and rad.auc_alone == 0.55  # among held-out patients with images, where the card has it
    assert rad.text() == ("MRI radiomics +30 points (T2 spread at restaging +25, texture +5): on its own this branch's "
                          "held-out AUC is 0.55, among 104 held-out patients with these data, near chance, so this push "
                          "carries little evidence")
    assert not imm.near_chance and imm.text().endswith("held-out AUC is 0.66")
    lower, _ = agreement.drivers(0.1, 0.81, by_mod, contribs, card, {})
    assert [d.modality for d in lower] == ["blood"]  # pushing down, away from a cCR's 0.81


def _sample(pid: str, **changes) -> dict:
    df = pd.read_csv(SAMPLES, dtype=str, keep_default_na=False)
    rec = {k: (None if v == "" else v) for k, v in df[df.patient_id == pid].iloc[0].to_dict().items()}
    rec.update(changes)
    return rec


def test_the_frankly_incomplete_demo_01_shows_the_disagreement_and_names_its_drivers():
    # issue 17: DEMO-01 with every restaging reading at its worst read 91% with no notice
    a = assess(_sample("DEMO-01", endoscopy="incomplete", mr_trg="5", dre="mass", dwi_restriction="true"))
    s = a.suggestion
    notes = [n for n in s.flags if n.rule_id == agreement.RULE_ID]
    if abs(a.probability - 0.34) < 0.4:
        assert not notes  # a model that agrees with the picture needs no notice
        return
    (n,) = notes
    assert s.conditional and "the MDT has weighed why the model's number" in s.headline
    assert n.message.startswith(f"The model reads {a.probability:.0%}")
    assert "about 34 in 100 patients without a cCR after immunotherapy" in n.message
    pushing = [m for m, d in a.modality_contributions.items() if m != "restaging" and d["shap_pp"] >= 5]
    for m in pushing:  # every branch that pushes 5 points or more is named, with its AUC alone
        assert a.modality_contributions[m]["label"] in n.message
    assert "The restaging readings themselves move it" in n.message
    assert agreement.is_disputed(s)
    model_figs = [f for o in s.options for f in o.figures if f.kind == "model"]
    assert model_figs and all(f.disputed for f in model_figs)
    assert not any(f.disputed for o in s.options for f in o.figures if f.kind != "model")


def test_an_agreeing_patient_has_no_disputed_figure():
    a = assess(_sample("DEMO-01"))  # a cCR read high
    assert a.category == "cCR" and a.probability > 0.41
    assert not agreement.is_disputed(a.suggestion)
    assert not any(f.disputed for o in a.suggestion.options for f in o.figures)


def test_a_ccr_read_low_asks_for_the_repeat_assessment_once():
    """For a cCR the disagreement asks for what FLAG-cCR-low-p asks for, in the same words: the headline says it
    once; for any other picture it asks the MDT to weigh the disagreement."""
    from watchwait.engine import suggestion_for
    from watchwait.rules import load_rules

    assert load_rules().by_id("FLAG-cCR-low-p").condition == agreement.CCR_CONDITION
    assert load_rules().by_id("FLAG-pseudo-residual").condition == agreement.PSEUDO_RESIDUAL_CONDITION
    cleared = {**_ctx(0.9, "incomplete"), "ctdna_cleared": np.array([1.0])}
    assert agreement.context(cleared, 0.4, 1, p_high=0.6)["picture_condition"][0] == agreement.PSEUDO_RESIDUAL_CONDITION
    low = {**_ctx(0.55, "incomplete", "none"), "ctdna_cleared": np.array([1.0])}  # below p_high: no pseudo-residual flag
    assert agreement.context(low, 0.4, 1, p_high=0.6)["picture_condition"][0].startswith("the MDT has weighed why")
    out = agreement.context(_ctx(0.2, "cCR"), 0.4, 1)
    assert out["picture_condition"][0] == agreement.CCR_CONDITION
    out = agreement.context(_ctx(0.9, "incomplete"), 0.4, 1)
    assert out["picture_condition"][0] == "the MDT has weighed why the model's number (90%) and the clinical picture disagree"
    category, s = suggestion_for(_sample("DEMO-02"), 0.07, (0.0, 0.14))
    assert category == "cCR" and agreement.is_disputed(s)
    assert s.conditions.count(agreement.CCR_CONDITION) == 1
    assert not any("has weighed why" in c for c in s.conditions)
