"""FHIR R4 RiskAssessment and meeting Bundle: built and validated by fhir.resources, written as JSON, parsed back;
the probability as a percentage, the interval as a Range, the model as the method, the pseudonym as the only identity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.riskassessment import RiskAssessment

from tests.export.conftest import GENERATED, MEETING
from watchwait import present
from watchwait.export import ExportError, Meeting, ModelInfo
from watchwait.export.fhir import (
    INTERVAL_EXTENSION,
    MEETING_SYSTEM,
    MODEL_HASH_SYSTEM,
    MODEL_SYSTEM,
    OUTCOME_CODE,
    OUTCOME_SYSTEM,
    PSEUDONYM_SYSTEM,
    SYNTHETIC_NOTE,
    meeting_bundle,
    risk_assessment,
    to_json,
)

WHEN = dt.datetime(2026, 12, 3, 10, 30, tzinfo=dt.timezone.utc)


def _round_trip(resource, cls):
    text = to_json(resource)
    return cls.model_validate_json(text), json.loads(text)


def _interval(prediction) -> tuple[Decimal, Decimal, Decimal]:
    (ext,) = [e for e in prediction.extension if e.url == INTERVAL_EXTENSION]
    parts = {e.url: e for e in ext.extension}
    rng = parts["range"].valueRange
    assert rng.low.unit == rng.high.unit == "%" and rng.low.system == "http://unitsofmeasure.org" and rng.low.code == "%"
    return rng.low.value, rng.high.value, parts["level"].valueDecimal


def test_a_prediction_as_a_risk_assessment(assessments, model_info):
    a = assessments["DEMO-03"]
    pct, lo, hi = (f"{100 * v:.1f}" for v in (a.probability, *a.interval))  # the shipped model's figures, in %
    ra, raw = _round_trip(risk_assessment(a, model_info=model_info, occurrence=WHEN), RiskAssessment)
    assert ra.status == "final"
    assert raw["occurrenceDateTime"] == "2026-12-03T10:30:00Z"
    (p,) = ra.prediction
    assert p.probabilityDecimal == Decimal(pct) and 1 < p.probabilityDecimal < 100  # a percentage, not a fraction
    assert p.probabilityRange is None  # probability[x] is a choice: the interval is in the extension
    assert _interval(p) == (Decimal(lo), Decimal(hi), Decimal("90"))
    assert (p.outcome.coding[0].system, p.outcome.coding[0].code) == (OUTCOME_SYSTEM, OUTCOME_CODE)
    assert "snomed" not in json.dumps(raw).lower()
    # the text reads as the screens and the PDF write a model probability (whole percentages, present.interval_text)
    assert p.rationale.startswith(f"90% interval {present.interval_text(*a.interval)}: where the probability")
    assert p.rationale.startswith(f"90% interval {100 * a.interval[0]:.0f}% to {100 * a.interval[1]:.0f}%: where")
    method = {c.system: c.code for c in ra.method.coding}
    assert model_info.version.startswith("fused-") and a.model_version == model_info.version
    assert method == {MODEL_SYSTEM: model_info.version, MODEL_HASH_SYSTEM: model_info.sha256}
    assert ra.method.text == f"watchwait model {model_info.version} (model file sha256 {model_info.sha256}); rules 2.0.0"
    assert [n.text for n in ra.note][0] == SYNTHETIC_NOTE


@pytest.mark.parametrize("pid", ["DEMO-01", "DEMO-05", "DEMO-09", "DEMO-13"])
def test_probabilities_are_percentages_within_0_and_100(assessments, model_info, pid):
    a = assessments[pid]
    ra, _ = _round_trip(risk_assessment(a, model_info=model_info, occurrence=MEETING), RiskAssessment)
    p = ra.prediction[0]
    lo, hi, _ = _interval(p)
    assert Decimal(0) <= lo <= p.probabilityDecimal <= hi <= Decimal(100)
    assert p.probabilityDecimal == Decimal(str(round(100 * a.probability, 1)))
    assert (lo, hi) == (Decimal(str(round(100 * a.interval[0], 1))), Decimal(str(round(100 * a.interval[1], 1))))


def test_the_pseudonym_is_the_only_identity(assessments, model_info):
    """Nothing in the resource names the patient but the pseudonym: a logical Patient reference, no reference URL,
    no site, age or sex, and the pseudonym nowhere else."""
    a = assessments["DEMO-01"]
    _ra, raw = _round_trip(risk_assessment(a, model_info=model_info, occurrence=WHEN), RiskAssessment)
    assert raw["subject"] == {"type": "Patient", "identifier": {"system": PSEUDONYM_SYSTEM, "value": "DEMO-01"}}
    assert set(raw) == {"resourceType", "id", "status", "code", "method", "subject", "occurrenceDateTime", "prediction", "note"}
    text = json.dumps(raw)
    assert text.count("DEMO-01") == 1

    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    assert not set(keys(raw)) & {"name", "birthDate", "gender", "address", "telecom", "reference", "site"}
    assert [k for k in keys(raw) if k == "identifier"] == ["identifier"]  # the subject's, and no other


def test_a_pseudonym_that_is_no_fhir_id_still_exports(assessments, model_info):
    """patient_id allows '_' (a FHIR id does not): the reference is logical, by identifier, so it exports as written."""
    a = dataclasses.replace(assessments["DEMO-01"], patient_id="SITE_7-0042")
    _ra, raw = _round_trip(risk_assessment(a, model_info=model_info, occurrence=WHEN), RiskAssessment)
    assert raw["subject"]["identifier"]["value"] == "SITE_7-0042"


def test_out_of_scope_has_no_probability(assessments, model_info):
    ra, raw = _round_trip(risk_assessment(assessments["DEMO-11"], model_info=model_info, occurrence=MEETING), RiskAssessment)
    p = ra.prediction[0]
    assert p.probabilityDecimal is None and p.probabilityRange is None and p.extension is None
    assert p.rationale == "No probability: dMMR/MSI-H: outside this tool's scope."
    assert raw["occurrenceDateTime"] == "2026-12-03"


def test_a_site_model_has_no_synthetic_note(assessments, model_info):
    site = dataclasses.replace(model_info, synthetic=False)
    ra = risk_assessment(assessments["DEMO-01"], model_info=site, occurrence=WHEN)
    assert [n.text for n in ra.note] == ["Decision support: it informs; the MDT decides."]


def test_fhir_resources_refuses_both_choices_of_probability():
    """Why the interval is an extension: probability[x] takes a decimal or a Range, never both."""
    base = {"resourceType": "RiskAssessment", "status": "final", "subject": {"identifier": {"value": "X"}}}
    with pytest.raises(ValueError, match="probabilityDecimal.*probabilityRange.*but got multiple"):  # pydantic's ValidationError
        RiskAssessment.model_validate({**base, "prediction": [{"probabilityDecimal": 50, "probabilityRange": {"low": {"value": 40}}}]})


def test_inputs_that_do_not_fit_are_refused(assessments, model_info):
    a = assessments["DEMO-01"]
    with pytest.raises(ExportError, match=r"^the time of the prediction must carry its time zone \(FHIR dateTime\); got "
                                          r"2026-12-03T10:30:00 without one\."):
        risk_assessment(a, model_info=model_info, occurrence=dt.datetime(2026, 12, 3, 10, 30))
    with pytest.raises(ExportError, match=rf"^the assessment was made by model {model_info.version}, but the model details"):
        risk_assessment(a, model_info=ModelInfo("other", "0" * 64, True), occurrence=WHEN)
    with pytest.raises(ExportError, match=r"^a probability must lie from 0 to 1 \(0% to 100% in FHIR\); got 1.2 instead\.$"):
        risk_assessment(dataclasses.replace(a, probability=1.2), model_info=model_info, occurrence=WHEN)


def test_a_meeting_bundle(assessments, model_info):
    ids = ["DEMO-01", "DEMO-03", "DEMO-11", "DEMO-13"]
    cases = [(assessments[i], model_info) for i in ids[:3]] + [(assessments["DEMO-13"], model_info, WHEN)]
    b, raw = _round_trip(meeting_bundle((MEETING, "Colorectal MDT, Ward 7"), cases, generated_at=GENERATED), Bundle)
    assert b.type == "collection"
    assert (b.identifier.system, b.identifier.value) == (MEETING_SYSTEM, "2026-12-03")
    assert raw["timestamp"] == "2026-12-03T15:00:00Z"
    assert [e.resource.subject.identifier.value for e in b.entry] == ids
    assert all(isinstance(e.resource, RiskAssessment) for e in b.entry)
    assert [e.fullUrl for e in b.entry] == [f"urn:uuid:{e.resource.id}" for e in b.entry]
    assert len({e.fullUrl for e in b.entry}) == 4
    assert [json.loads(to_json(e.resource))["occurrenceDateTime"] for e in b.entry] == ["2026-12-03"] * 3 + ["2026-12-03T10:30:00Z"]
    assert "Ward 7" not in json.dumps(raw)  # the free-text title is not exported
    again = meeting_bundle(Meeting(MEETING, "Colorectal MDT"), cases, generated_at=GENERATED)
    assert to_json(again) == to_json(b)  # stable ids: the same meeting exports the same bundle


def test_a_bundle_refuses_the_same_prediction_twice(assessments, model_info):
    a = assessments["DEMO-01"]
    with pytest.raises(ExportError, match=r"^case 2: patient DEMO-01 appears twice with the same model and time \(also case 1\); "):
        meeting_bundle((MEETING, ""), [(a, model_info), (a, model_info)], generated_at=GENERATED)
    with pytest.raises(ExportError, match=r"^case 1: give \(assessment, model_info\) or \(assessment, model_info, occurrence\); "
                                          r"got Assessment instead\.$"):
        meeting_bundle((MEETING, ""), [a], generated_at=GENERATED)
    with pytest.raises(ExportError, match=r"^the meeting date must be a date \(such as 2026-12-03\); got '3/12/2026' instead\.$"):
        meeting_bundle(("3/12/2026", ""), [], generated_at=GENERATED)


def test_an_empty_meeting_is_an_empty_collection():
    b, raw = _round_trip(meeting_bundle((MEETING, "x"), [], generated_at=GENERATED), Bundle)
    assert b.entry is None and raw["type"] == "collection"


def test_a_disputed_number_says_so_in_the_risk_assessment(assessments, model_info):
    from watchwait import agreement
    from watchwait.export.fhir import DISPUTED_NOTE

    for pid, a in assessments.items():
        if a.probability is None:
            continue
        ra, _ = _round_trip(risk_assessment(a, model_info=model_info, occurrence=WHEN), RiskAssessment)
        notes = [n.text for n in ra.note]
        assert (DISPUTED_NOTE in notes) == agreement.is_disputed(a.suggestion), pid
        assert notes[0] == SYNTHETIC_NOTE  # the synthetic-training statement stays first
    assert any(agreement.is_disputed(a.suggestion) for a in assessments.values() if a.probability is not None)
