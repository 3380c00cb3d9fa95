"""Every "out of 100" figure the Options and Assessment screens can show: it has a source, it names the
population it was measured in, that population matches the patient's response category, and a
published rate is one that ../shared/clinical/calibration.md states."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.clinical.test_vignettes import BASE, SUPPORT
from watchwait.engine import suggestion_for
from watchwait.suggest import all_surveillance, outcomes

# Which patients each published figure was measured in, read from calibration.md (independently of
# outcomes_v2.json's own 'categories'): a figure shown to a patient outside this set is borrowed.
MEASURED_IN = {
    "ww_regrowth_2y": {"cCR"},  # IWWD: cCR patients on watch-and-wait
    "ww_keep_rectum_3y_ccr": {"cCR"},  # OPRA, cCR
    "ww_keep_rectum_3y_ncr": {"near-cCR"},  # OPRA, near-cCR
    "ww_regrowth_ncr": {"near-cCR"},  # OPRA, near-cCR on endoscopy and MRI
    "ww_salvage_early": {"cCR"},  # Swedish watch-and-wait cohort, early regrowths of cCR patients
    "ww_distant": {"cCR"},  # IWWD
    "re_becomes_ccr": {"near-cCR"},  # NKI near-cCR at first restaging
    "re_regrowth_free_2y": {"near-cCR"},  # NKI, cCR reached at re-assessment
}
# Measured in cohorts without ctDNA testing: never shown when ctDNA is detectable after treatment.
NOT_WITH_DETECTED_CTDNA = {"ww_regrowth_2y", "ww_distant"}

CASES = {
    "cCR": {},
    "near-cCR": {"endoscopy": "near_complete", "mr_trg": 3, "residual_lesion_mm": 10},
    "near-cCR nodes": {"endoscopy": "near_complete", "mr_trg": 3, "ymr_n_stage": "N1"},
    "near-cCR early": {"endoscopy": "near_complete", "mr_trg": 3, "weeks_rt_to_assessment": 6},
    "incomplete": {"dre": "mass"},
    "not assessed": {"dwi_restriction": None},
}
_CALIBRATION = Path(__file__).resolve().parents[3] / "shared" / "clinical" / "calibration.md"
if not _CALIBRATION.exists():  # as tests/imaging does without ../shared: skipped, with the reason
    pytest.skip(f"shared clinical sources not found at {_CALIBRATION}", allow_module_level=True)
CALIBRATION = _CALIBRATION.read_text(encoding="utf-8")


def _walk():
    for (name, change), ctdna, sphincter, p in itertools.product(CASES.items(), (0, 2.0), (False, True), (0.15, 0.85)):
        rec = {**BASE, **change, "ctdna_post_treatment_mtm_ml": ctdna, "sphincter_involved": sphincter}
        category, s = suggestion_for(rec, p, (p - 0.1, p + 0.1), 0, SUPPORT)
        yield name, ctdna, category, s, p


@pytest.mark.parametrize("name,ctdna,category,s,p", list(_walk()))
def test_every_figure_has_a_source_and_fits_the_patient(name, ctdna, category, s, p):
    assert s.options, "every in-scope patient sees the options side by side"
    for opt in s.options:
        for f in opt.figures:
            assert f.source.strip() and f.population.strip() and f.denominator.strip(), f.id
            assert f.kind in ("model", "published", "definition"), f.id
            if f.kind == "published":
                assert f.id in MEASURED_IN, f"{f.id}: a published figure with no known population; add it to MEASURED_IN"
                assert category in MEASURED_IN[f.id], f"{f.id} ({f.population}) shown to a {category} patient"
                if ctdna > 0:
                    assert f.id not in NOT_WITH_DETECTED_CTDNA, f"{f.id} shown although ctDNA is detectable"
            elif f.kind == "model":
                assert f.denominator == "patients like this one"
                expected = round(100 * (p if f.id.endswith("no_tumour") else 1 - p))
                assert f.n_out_of_100 == expected, f.id
            assert 0 <= f.n_out_of_100 <= 100
        for text in opt.not_applicable:
            assert text.strip() and "out of 100" not in text
    if ctdna > 0 and category == "cCR":
        ww = next(o for o in s.options if o.pathway == "watch_and_wait")
        assert any("ctDNA" in t for t in ww.not_applicable), "say that no figure fits rather than borrow one"


def test_published_rates_are_the_ones_calibration_md_states():
    for opt in outcomes()["options"].values():
        for f in opt["figures"]:
            if f["kind"] != "published":
                continue
            pct = f"{100 * f['rate']:.1f}".rstrip("0").rstrip(".")
            assert re.search(rf"(?<![\d.]){re.escape(pct)}\s*%", CALIBRATION), f"{f['id']}: {pct}% is not in calibration.md"


def test_salvage_figure_is_only_for_early_regrowths_and_never_multiplied_by_the_probability():
    f = next(x for x in outcomes()["options"]["watch_and_wait"]["figures"] if x["id"] == "ww_salvage_early")
    assert f["kind"] == "published" and f["of"] is None
    assert "6 months" in f["denominator"] and "early" in f["population"]


def test_rectum_preservation_is_never_shown_under_local_excision():
    for name, ctdna, category, s, p in _walk():
        le = next((o for o in s.options if o.pathway == "local_excision"), None)
        assert le is None or not any("rectum" in f.label and "kept" in f.label for f in le.figures)


def test_follow_up_plans_have_sources_and_the_nccn_years_3_to_5():
    plans = all_surveillance()
    assert set(plans) == {"watch_and_wait", "local_excision"}
    ww = plans["watch_and_wait"]["schedule"]
    assert "MRI yearly" in ww[1]["what"] and "CT" in ww[0]["what"] and "CT yearly" in ww[1]["what"]
    assert "MRI every 6 months" in ww[0]["what"]
    le = plans["local_excision"]
    assert "NCCN" in le["source"] and "3-6 months" in le["schedule"][0]["what"]
    for plan in plans.values():
        assert plan["source"].strip()


# ----------------------------------------------------------------------------- each figure's exact population
# For every published figure: a patient inside its population (the figure is shown) and one just outside it (the
# figure is not shown; where the patient is of the right category, the figure's "no figure fits" text is shown
# instead). Changes are to the vignettes' base patient (a cCR on every reading, nodes N0, ctDNA cleared).
NEAR = {"endoscopy": "near_complete", "mr_trg": 3, "residual_lesion_mm": 10, "circumferential_extent_pct": 20}
DWI_ONLY = {"dwi_restriction": True, "residual_lesion_mm": 10, "circumferential_extent_pct": 20}
NODES_ONLY = {"ymr_n_stage": "N1"}  # a cCR on every reading downgraded to near-cCR by restaging nodes
POPULATIONS = {
    # id: (inside, just outside, text shown instead: a phrase of it, or None when the category alone excludes)
    "ww_regrowth_2y": ({}, {"ctdna_post_treatment_mtm_ml": 2.0}, "measured without ctDNA"),
    "ww_distant": ({}, {"ctdna_post_treatment_mtm_ml": 2.0}, "measured without ctDNA"),
    "ww_keep_rectum_3y_ccr": ({}, NODES_ONLY, None),
    "ww_salvage_early": ({}, DWI_ONLY, None),
    "ww_keep_rectum_3y_ncr": (NEAR, NODES_ONLY, "No OPRA rectum-preservation figure fits"),
    "ww_regrowth_ncr": (NEAR, DWI_ONLY, "OPRA's 59.3% was measured in patients graded near-cCR on both endoscopy and MRI"),
    "re_becomes_ccr": (NEAR, {**NEAR, "ymr_n_stage": "N1"}, "No published re-assessment figure fits"),
    "re_regrowth_free_2y": (NEAR, {**NEAR, "ymr_n_stage": "N1"}, "No published regrowth-free rate"),
}


def _shown(change):
    category, s = suggestion_for({**BASE, **change}, 0.6, (0.5, 0.7), 0, SUPPORT)
    figs = {f.id for o in s.options for f in o.figures}
    texts = [t for o in s.options for t in o.not_applicable]
    return category, figs, texts


def test_every_published_figure_has_a_population_rule_and_a_case_each_side():
    published = {f["id"]: f for o in outcomes()["options"].values() for f in o["figures"] if f["kind"] == "published"}
    assert set(published) == set(POPULATIONS) == set(MEASURED_IN)
    for fid, f in published.items():
        assert f.get("when") and f.get("population_rule"), f"{fid}: its population as a rule over the record"
        assert not f.get("unless") or f.get("instead"), f"{fid}: outside its population, say that no figure fits"


@pytest.mark.parametrize("fid", sorted(POPULATIONS))
def test_figure_shown_inside_its_population_and_not_just_outside(fid):
    inside, outside, instead = POPULATIONS[fid]
    category, figs, _ = _shown(inside)
    assert fid in figs, f"{fid} not shown to a {category} patient inside its population"
    category, figs, texts = _shown(outside)
    assert fid not in figs, f"{fid} shown to a patient outside its population ({outside})"
    if instead:
        assert any(instead in t for t in texts), f"{fid}: no 'no figure fits' text for {outside}"


@pytest.mark.parametrize("change", [DWI_ONLY, NODES_ONLY, {"endoscopy": "near_complete", "mr_trg": 2, "residual_lesion_mm": 10},
                                    {"mr_trg": 3, "residual_lesion_mm": 10}, {"dre": "smooth_induration", "residual_lesion_mm": 10}])
def test_opra_near_ccr_regrowth_only_for_near_ccr_on_both_endoscopy_and_mri(change):
    """59.3% (OPRA: near-cCR on endoscopy AND MRI): never for a near-cCR that rests on diffusion, DRE, one of the two
    readings, or restaging nodes."""
    category, figs, texts = _shown(change)
    assert category == "near-cCR" and "ww_regrowth_ncr" not in figs
    assert any("59.3%" in t for t in texts)


def test_words_say_what_the_sources_say():
    figs = {f["id"]: f for o in outcomes()["options"].values() for f in o["figures"]}
    assert "no viable tumour" not in figs["ww_no_tumour"]["label"] and "later regrowths remain possible" in figs["ww_no_tumour"]["label"]
    assert "no viable tumour" not in figs["le_no_tumour"]["label"]
    assert "after a local regrowth" not in figs["ww_distant"]["label"] and "also had a local regrowth" in figs["ww_distant"]["label"]
    for fid in ("ww_regrowth_2y", "ww_distant"):
        assert "chemoradiotherapy" in figs[fid]["population"] and "immunotherapy" in figs[fid]["population"]
    le = all_surveillance()["local_excision"]["source"]
    assert "transanal excision alone" in le and "not for local excision after neoadjuvant therapy" in le
