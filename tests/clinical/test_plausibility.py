"""Joint plausibility (tests/clinical/plausibility.csv): whole patients at the edges, assessed by the shipped model.

Each row is one whole-patient profile: a sample patient (``base``) changed by ``inputs``. The row passes when the
shipped model's probability falls in ``[low, high]`` (a band around a published conditional rate, stated in ``why``),
or when the screen says the number and the picture disagree: a notice with rule id ``FLAG-number-vs-picture`` fired
and the headline is conditional (clinical brief, rule 3, third case; rule 6). The ``notice`` column adds:

- ``must``: the notice must fire, with a conditional headline, whatever the probability (the frankly contradictory
  profiles of the clinician review: the disagreement is shown whichever way the model moves);
- ``no``: the picture is coherent; if the probability is in its band, the notice must not fire;
- ``may``: either.

README.md in this folder says how to read and extend the table. The model is the shipped one (models/shipped), so
this test measures the model and the rules together; ``benchmarks/bench_plausibility.py`` prints the same table.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from watchwait.schema import BY_NAME, RADIOMICS_PREFIX

ROOT = Path(__file__).resolve().parents[2]
TABLE = Path(__file__).with_name("plausibility.csv")
SAMPLES = ROOT / "sample_data" / "sample_patients.csv"
RULE = "FLAG-number-vs-picture"
NOTICE = ("may", "no", "must")
#: ``radiomics=`` in ``inputs`` blanks every MRI radiomics column of the base patient and its MRI series paths
RADIOMICS_SHORTHAND = "radiomics"


def read_table(path: Path = TABLE) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def parse_inputs(cell: str) -> dict[str, str | None]:
    """``field=value; field=value`` -> {field: value}; ``field=`` (nothing after ``=``) -> None (blank)."""
    out: dict[str, str | None] = {}
    for part in (x.strip() for x in cell.split(";") if x.strip()):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"'{part}' is not field=value")
        out[name.strip()] = value.strip() or None
    return out


def sample_records() -> dict[str, dict]:
    from watchwait.validation import frame_to_records, read_cohort

    return {r["patient_id"]: r for r in frame_to_records(read_cohort(SAMPLES))}


def profile_record(row: dict[str, str], samples: dict[str, dict]) -> dict:
    """The row's whole patient: its base sample patient with the row's inputs applied."""
    record = dict(samples[row["base"]])
    record["patient_id"] = f"PLAUS-{row['id']}"
    for name, value in parse_inputs(row["inputs"]).items():
        if name == RADIOMICS_SHORTHAND:
            if value is not None:
                raise ValueError("radiomics= only blanks the radiomics columns; it takes no value")
            for k in list(record):
                if k.startswith(RADIOMICS_PREFIX) or k.startswith("mri_"):
                    record[k] = None
        else:
            record[name] = value
    return record


def judge(row: dict[str, str], a) -> dict:
    """What the row's profile got and whether it passes; ``problems`` is empty when it does."""
    p = a.probability
    low, high = float(row["low"]), float(row["high"])
    notice = next((f for f in a.suggestion.flags if f.rule_id == RULE), None)
    fired = notice is not None
    conditional = bool(a.suggestion.conditional)
    in_range = p is not None and low <= p <= high
    shown = fired and conditional
    problems: list[str] = []
    if row["notice"] == "must":
        if not fired:
            problems.append(f"no {RULE} notice (this profile must show the disagreement, whichever way the model moves)")
        elif not conditional:
            problems.append(f"{RULE} fired but the headline is not conditional: {a.suggestion.headline!r}")
    elif not in_range and not shown:
        problems.append(f"probability outside [{low:g}, {high:g}] and no {RULE} notice" if not fired else
                        f"probability outside [{low:g}, {high:g}]; {RULE} fired but the headline is not conditional: "
                        f"{a.suggestion.headline!r}")
    if in_range and fired and row["notice"] == "no":
        problems.append(f"{RULE} fired for a coherent profile whose probability is inside its range")
    return dict(p=p, interval=a.interval, fired=fired, conditional=conditional, in_range=in_range, problems=problems,
                modalities={m: round(float(v["shap_pp"]), 1) for m, v in a.modality_contributions.items()},
                flags=[f.rule_id for f in a.suggestion.flags], category=a.category)


def failure_message(row: dict[str, str], got: dict) -> str:
    p = "none" if got["p"] is None else f"{got['p']:.3f}"
    iv = "none" if got["interval"] is None else f"{got['interval'][0]:.3f}-{got['interval'][1]:.3f}"
    mods = ", ".join(f"{m} {v:+.1f}" for m, v in sorted(got["modalities"].items(), key=lambda kv: -abs(kv[1])))
    return (f"{row['id']}: {row['description']}\n"
            f"  category {got['category']}; probability {p} (interval {iv}); expected [{row['low']}, {row['high']}]; "
            f"notice column: {row['notice']}\n"
            f"  why: {row['why']}\n"
            f"  modality contributions (probability points): {mods}\n"
            f"  flags fired: {', '.join(got['flags']) or 'none'}; headline conditional: {got['conditional']}\n"
            f"  " + "; ".join(got["problems"]))


ROWS = read_table()

#: Profiles the shipped model still gets wrong, each with its measured cause (issue 17's closing note). strict: the
#: day one passes, this test fails until it is taken off the list. The simulator's own oracle reads all four the same
#: way (P01/P04 0.99; P13 0.003; P21 0.02 without its radiomics), so they are limits of the synthetic cohort, not of
#: the fit.
KNOWN = {
    "P01": "a clean cCR after immunotherapy TNT reads 0.997: the simulator's oracle gives this profile 0.99, above "
           "anything published for a cCR (OPRA 0.81); the simulator's cCR readings are still more separable than "
           "published data (model card, 'Where the simulated cohort is more separable')",
    "P04": "a clean cCR of a non-shedder without radiomics reads 0.975 (oracle 0.99), above the cCR band as P01",
    "P13": "ctDNA 12 -> 0.5 (detectable after radiotherapy) -> 0 reads 0.07: the simulator's ctDNA after radiotherapy is "
           "calibrated to UNION's MRD AUC 0.85, which makes a detectable level near-certain residual tumour (oracle "
           "0.003); Wang 2021's clearance rates (96% vs 67%) imply a weaker signal. The two published figures disagree",
    "P21": "as P13 after chemoradiotherapy alone (0.44 for a cCR, the radiomics lifting it; oracle without them 0.02)",
}
PARAMS = [pytest.param(r, id=r["id"], marks=pytest.mark.xfail(reason=KNOWN[r["id"]], strict=True))
          if r["id"] in KNOWN else pytest.param(r, id=r["id"]) for r in ROWS]


@pytest.fixture(scope="module")
def bundle():
    from watchwait.training import load_model

    return load_model()


@pytest.fixture(scope="module")
def samples():
    return sample_records()


@pytest.mark.parametrize("row", PARAMS)
def test_profile_is_plausible_or_says_so(row, bundle, samples):
    from watchwait.engine import assess

    a = assess(profile_record(row, samples), bundle)
    assert a.in_scope, f"{row['id']}: the profile is out of scope ({[n.rule_id for n in a.scope_notices]}); fix the row"
    got = judge(row, a)
    assert not got["problems"], failure_message(row, got)


def test_table_is_well_formed(samples):
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for r in ROWS:
        assert r["description"].strip() and r["why"].strip(), f"{r['id']}: description and why are required"
        assert r["base"] in samples, f"{r['id']}: base '{r['base']}' is not a sample patient"
        assert r["notice"] in NOTICE, f"{r['id']}: notice must be one of {NOTICE}, not '{r['notice']}'"
        low, high = float(r["low"]), float(r["high"])
        assert 0 <= low <= high <= 1, f"{r['id']}: need 0 <= low <= high <= 1"
        for name in parse_inputs(r["inputs"]):
            assert name in BY_NAME or name == RADIOMICS_SHORTHAND, f"{r['id']}: '{name}' is not a data-dictionary field"


def test_table_covers_the_edges(samples):
    """The edges the table exists for: each regimen family, with and without radiomics; best, worst, biopsy
    positive, ctDNA detectable at assessment, non-shedders with complete and incomplete pictures."""
    from watchwait.validation import validate_record

    seen = set()
    for r in ROWS:
        rec = validate_record(profile_record(r, samples))
        family = "ici" if rec["immunotherapy"] not in (None, "none") else (
            "tnt" if rec["chemotherapy"] not in (None, "none") else "crt")
        radiomics = any(rec.get(k) is not None for k in rec if k.startswith(RADIOMICS_PREFIX))
        seen.add((family, radiomics))
        worst = (rec["endoscopy"], rec["dre"], rec["mr_trg"], rec["dwi_restriction"]) == ("incomplete", "mass", 5, True)
        best = (rec["endoscopy"], rec["dre"], rec["mr_trg"], rec["dwi_restriction"]) == ("complete", "normal", 1, False)
        shedder = [rec[f"ctdna_{t}_mtm_ml"] for t in ("baseline", "post_rt", "post_treatment")]
        seen.add(("worst", family) if worst else ("best", family) if best else None)
        if rec["restaging_biopsy"] == "positive":
            seen.add(("biopsy", family))
        if (rec["ctdna_post_treatment_mtm_ml"] or 0) > 0:
            seen.add("ctdna_detectable")
        if shedder == [0, 0, 0]:
            seen.add(("non_shedder", "complete" if best else "incomplete" if worst else "other"))
    need = {(f, x) for f in ("ici", "tnt", "crt") for x in (True, False)}
    need |= {(k, f) for k in ("worst", "best", "biopsy") for f in ("ici", "tnt", "crt")}
    need |= {"ctdna_detectable", ("non_shedder", "complete"), ("non_shedder", "incomplete")}
    assert need - seen == set(), f"edges with no row: {sorted(map(str, need - seen))}"
