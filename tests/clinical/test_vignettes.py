"""Clinical vignettes (tests/clinical/vignettes.csv): one row per case, read as data, checked against the
rules of record (watchwait/data/rules_v2.json) through the same code ``assess`` runs after the model.

The table is for clinicians to read and extend; README.md in this folder says how. This test also
checks that every rule of the rule set has at least one row where it must fire and one where it must
not, and that every blank scope field has its own row.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from watchwait.engine import suggestion_for
from watchwait.rules import load_rules
from watchwait.sim import REGIMENS

TABLE = Path(__file__).with_name("vignettes.csv")

# The base patient every vignette starts from: in scope, every scope field recorded, a cCR on every
# reading (endoscopy, DRE, MRI grade 1, no diffusion restriction, nodes N0), ctDNA cleared, fit.
BASE = dict(patient_id="VIGNETTE", mmr_status="pMMR", age_years=60, sex="F", ecog=0, ct_stage="T3b", cn_stage="N1",
            cm_stage="M0", mrf_involved=False, emvi=False, lateral_nodes=False, distance_from_anal_verge_cm=5,
            tumour_length_cm=4, circumferential_extent_pct=40, multiple_primaries=False, pdl1_cps=10, pdl1_tps_pct=2,
            cea_baseline_ng_ml=3.0, cea_post_ng_ml=1.5, ctdna_baseline_mtm_ml=12.0, ctdna_post_rt_mtm_ml=0.5,
            ctdna_post_treatment_mtm_ml=0, rt_schedule="SCRT", sequence="consolidation", immunotherapy="anti_pd1",
            chemotherapy="CAPOX", systemic_cycles=6, regorafenib=False, weeks_rt_to_assessment=20, mr_trg=1,
            endoscopy="complete", dre="normal", dwi_restriction=False, new_distant_metastasis=False, ymr_n_stage="N0",
            ymr_emvi=False, residual_lesion_mm=5, restaging_biopsy="not_done", fit_for_major_surgery="yes")

# The training cohort's regimen counts, as a model card records them: the simulator's regimen mix
# (watchwait.sim.REGIMENS) in 5,000 patients. Rows need no trained model.
SUPPORT: dict[str, dict[str, int]] = {}
for spec in REGIMENS.values():
    for name in ("rt_schedule", "sequence", "immunotherapy", "chemotherapy"):
        value = str(spec["fields"][name])
        SUPPORT.setdefault(name, {})
        SUPPORT[name][value] = SUPPORT[name].get(value, 0) + int(5000 * spec["weight"])


def _rows() -> list[dict[str, str]]:
    with TABLE.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _ids(cell: str) -> set[str]:
    return {x.strip() for x in cell.split(";") if x.strip()}


def _inputs(cell: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for part in (x.strip() for x in cell.split(";") if x.strip()):
        name, _, value = part.partition("=")
        out[name.strip()] = value.strip() or None
    return out


def _yes(cell: str) -> bool:
    assert cell in ("yes", "no"), f"'{cell}' must be yes or no"
    return cell == "yes"


ROWS = _rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_vignette(row):
    record = {**BASE, **_inputs(row["inputs"])}
    # not a record field: the inputs the model's support check found outside the training data (labels, "|"-separated)
    outside = [x for x in (record.pop("outside_training_data", None) or "").split("|") if x]
    p = float(row["p"]) if row["p"] else None
    interval = tuple(float(x) for x in row["interval"].split("-")) if row["interval"] else None
    category, s = suggestion_for(record, p, interval, int(row["missing_modalities"] or 0), SUPPORT, outside=outside)
    assert category == row["category"], row["description"]
    assert s.pathway == row["pathway"], row["description"]
    assert s.conditional == _yes(row["conditional"]), (row["description"], s.headline)
    assert {f.rule_id for f in s.flags} == _ids(row["flags"]), row["description"]
    assert {c.rule_id for c in s.confirm} == _ids(row["confirm"]), row["description"]
    assert {c.rule_id for c in s.context} == _ids(row["context"]), row["description"]
    if row["headline_contains"]:
        assert row["headline_contains"] in s.headline, s.headline
    # the rule under test fired (or did not) as the row says
    fired = {f.rule_id for f in s.flags + s.confirm + s.context} | {s.rule_id}
    assert (row["rule"] in fired) == _yes(row["fires"]), (row["rule"], fired)
    # rule 6: a conditional headline says "only after" (or names what to complete); an unconditional one is the plain pathway
    if s.conditional:
        assert "only after:" in s.headline or s.headline.startswith("Complete the restaging before deciding, including")
        assert s.conditions and all(c in s.headline for c in s.conditions)
    else:
        assert s.headline == s.label and not s.conditions


def test_every_rule_is_covered_both_ways():
    rules = load_rules()
    fires = {r["rule"] for r in ROWS if r["fires"] == "yes"}
    quiet = {r["rule"] for r in ROWS if r["fires"] == "no"}
    every = {r.id for r in rules.all_rules()}
    assert every - fires == set(), f"rules with no vignette where they fire: {sorted(every - fires)}"
    # a pathway rule "does not fire" whenever another pathway wins; every other rule needs its own quiet row
    needs_quiet = {r.id for r in rules.scope + rules.flags}
    assert needs_quiet - quiet == set(), f"rules with no vignette where they must not fire: {sorted(needs_quiet - quiet)}"
    assert {"CONFIRM-cM"} <= quiet  # a blank cM with a patient already out of scope asks nothing


def test_every_blank_scope_field_has_its_own_vignette():
    rules = load_rules()
    blanked = {name for r in ROWS for name, v in _inputs(r["inputs"]).items() if v is None}
    assert {r.field for r in rules.confirm} <= blanked


def test_unknown_rule_ids_in_the_table_are_refused():
    every = {r.id for r in load_rules().all_rules()}
    for r in ROWS:
        named = {r["rule"]} | _ids(r["flags"]) | _ids(r["confirm"]) | _ids(r["context"])
        assert named <= every, f"{r['id']} names rules that do not exist: {sorted(named - every)}"


def test_preference_never_changes_the_probability_or_the_pathway():
    from watchwait.engine import assess

    base = {**BASE, "dre": "mass"}
    plain = assess(base)
    for pref in ("organ_preservation", "surgery", "undecided", "not_discussed"):
        a = assess({**base, "patient_preference": pref})
        assert a.probability == plain.probability and a.interval == plain.interval
        assert a.suggestion.pathway == plain.suggestion.pathway == "tme"
