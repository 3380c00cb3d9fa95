"""FHIR R4 ``RiskAssessment`` per prediction, and a ``Bundle`` per meeting (``fhir.resources``).

Built with the models of ``fhir.resources.R4B`` (FHIR 4.3.0): ``fhir.resources`` 8 ships R5 at its top
level, R4B and STU3, not 4.0.1 itself. The ``RiskAssessment`` and ``Bundle`` elements used here are the same
in R4 (4.0.1) and R4B, so the JSON is valid R4 too. ``fhir.resources`` validates each resource on
construction (types, cardinalities, choice types, ids).

How the prediction is carried:

- ``status`` "final"; ``subject`` a ``Patient`` reference by the pseudonym only, as a logical reference
  (``identifier`` with the pseudonym system), no ``reference`` URL (a pseudonym may hold ``_``, which a FHIR
  id does not allow) and no name, site or date of birth; nothing else in the resource identifies the patient.
- ``occurrenceDateTime``: when the prediction was made (a date, or a date-time with its time zone).
- ``prediction[0].outcome``: complete response, as a code of this project's code system
  (:data:`OUTCOME_SYSTEM`, code ``complete-response``). The target is a composite (pathological complete
  response ypT0N0 at surgery, or clinical complete response sustained >= 12 months without regrowth, the
  endpoint of the QL1706 protocol); no SNOMED CT concept is known to us that means exactly that, and no
  SNOMED code is invented here.
- ``prediction[0].probabilityDecimal``: the probability as a PERCENTAGE (0-100, FHIR's ras-2 constraint),
  one decimal.
- The interval: ``probability[x]`` is a choice (``probabilityDecimal`` OR ``probabilityRange``, never both;
  ``fhir.resources`` refuses both). The point estimate is what a receiving system reads as "the" probability,
  so it takes ``probabilityDecimal``; the interval goes in the complex extension :data:`INTERVAL_EXTENSION` on
  the prediction: ``range`` (a ``Range`` with ``low``/``high`` in %, UCUM ``%``) and ``level`` (90, in %). Its
  ``rationale`` says the same in words.
- ``method``: the model, coded by its version (:data:`MODEL_SYSTEM`) and the sha256 of its model file
  (:data:`MODEL_HASH_SYSTEM`), with a text naming both and the rule set's version.
- ``note``: the synthetic-training statement while it applies, and a "disputed" statement while the number and the
  clinical picture disagree (rule ``FLAG-number-vs-picture``; our text, never user text).

An assessment outside the tool's scope (dMMR, metastatic, ...) has no probability: its RiskAssessment keeps
the outcome, has no ``probability[x]`` and says why in ``prediction[0].rationale``.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal

from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.riskassessment import RiskAssessment

from watchwait import present
from watchwait.export import ExportError, Meeting, ModelInfo, as_meeting, check_model

FHIR_VERSION = "4.0.1"  # what the JSON is valid as (also valid R4B 4.3.0, whose models build it)
BASE = "https://watchwait.example/fhir"
OUTCOME_SYSTEM = f"{BASE}/CodeSystem/outcome"
OUTCOME_CODE = "complete-response"
OUTCOME_DISPLAY = ("Complete response: pathological complete response (ypT0N0) or clinical complete response "
                   "sustained for 12 months or more without regrowth")
MODEL_SYSTEM = f"{BASE}/CodeSystem/model"
MODEL_HASH_SYSTEM = f"{BASE}/CodeSystem/model-sha256"
PSEUDONYM_SYSTEM = f"{BASE}/NamingSystem/pseudonym"
MEETING_SYSTEM = f"{BASE}/NamingSystem/mdt-meeting"
INTERVAL_EXTENSION = f"{BASE}/StructureDefinition/probability-interval"
DISPUTED_NOTE = ("Disputed: the probability and the clinical picture at restaging point opposite ways (clinical brief, "
                 "rule 3); read the case's cautions before using the number.")
UCUM = "http://unitsofmeasure.org"
CODE_TEXT = "Probability of complete response after neoadjuvant therapy for rectal cancer (watchwait)"
SYNTHETIC_NOTE = ("Synthetic training data: the model that made this assessment was trained on a simulated cohort "
                  "calibrated to published figures; it has not been validated on real patients.")
INFORMS_NOTE = "Decision support: it informs; the MDT decides."
_NAMESPACE = uuid.UUID("6f0c7d4e-2b1a-5c3e-9a61-7d2f1e0b4c11")  # ids are uuid5 of the case in this namespace


def _percent(p: float) -> Decimal:
    value = Decimal(str(round(100 * float(p), 1)))
    if not Decimal(0) <= value <= Decimal(100):
        raise ExportError(f"a probability must lie from 0 to 1 (0% to 100% in FHIR); got {p!r} instead.")
    return value


def _quantity(p: float) -> dict:
    return {"value": _percent(p), "unit": "%", "system": UCUM, "code": "%"}


def _occurrence(when: _dt.date | _dt.datetime) -> str:
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ExportError(f"the time of the prediction must carry its time zone (FHIR dateTime); got {when.isoformat()} "
                              "without one. Pass an aware datetime, e.g. datetime.now(timezone.utc).")
        return when.isoformat(timespec="seconds")
    if isinstance(when, _dt.date):
        return when.isoformat()
    raise ExportError(f"the time of the prediction must be a date or a datetime; got {when!r} instead.")


def resource_id(patient_id: str, model_version: str, occurrence: str) -> str:
    """A stable id for the prediction (the same export gives the same id): uuid5 of pseudonym, model and time."""
    return str(uuid.uuid5(_NAMESPACE, f"{patient_id}|{model_version}|{occurrence}"))


def risk_assessment(assessment, *, model_info: ModelInfo, occurrence: _dt.date | _dt.datetime) -> RiskAssessment:
    """The FHIR R4 RiskAssessment of one prediction (validated by ``fhir.resources`` as it is built).

    ``assessment`` is what :func:`watchwait.engine.assess` returned, ``model_info`` the details of the model
    that made it, ``occurrence`` when it was made (a date, or an aware datetime).
    """
    check_model(assessment, model_info)
    when = _occurrence(occurrence)
    prediction: dict = {"outcome": {"coding": [{"system": OUTCOME_SYSTEM, "code": OUTCOME_CODE, "display": OUTCOME_DISPLAY}],
                                    "text": "Complete response"}}
    if assessment.probability is not None:
        lo, hi = assessment.interval
        level = Decimal(f"{100 * float(assessment.interval_level):g}")  # 0.9 -> 90
        prediction["probabilityDecimal"] = _percent(assessment.probability)
        prediction["extension"] = [{"url": INTERVAL_EXTENSION, "extension": [
            {"url": "range", "valueRange": {"low": _quantity(lo), "high": _quantity(hi)}},
            {"url": "level", "valueDecimal": level},
        ]}]
        # the text reads as the screens do (present.interval_text: "97% to > 99%", never "100%"); the numbers above
        # keep their decimal values for the receiving system
        prediction["rationale"] = (f"{level}% interval {present.interval_text(lo, hi)}: where the probability for a patient "
                                   "with exactly these findings lies, given how much the model could be wrong (wider when "
                                   "tests are missing).")
    else:
        why = "; ".join(n.title for n in present.notices(assessment).scope) or "outside the tool's scope"
        prediction["rationale"] = f"No probability: {why}."
    m = model_info
    method_text = f"watchwait model {m.version} (model file sha256 {m.sha256})" + (f"; rules {m.ruleset_version}" if m.ruleset_version else "")
    notes = ([{"text": SYNTHETIC_NOTE}] if m.synthetic else []) + [{"text": INFORMS_NOTE}]
    if present.disputed(assessment):  # brief rule 3, third case: a receiving system reads it too
        notes.insert(len(notes) - 1, {"text": DISPUTED_NOTE})
    data = {
        "resourceType": "RiskAssessment",
        "id": resource_id(assessment.patient_id, m.version, when),
        "status": "final",
        "code": {"text": CODE_TEXT},
        "method": {"coding": [{"system": MODEL_SYSTEM, "code": m.version, "display": f"watchwait model {m.version}"},
                              {"system": MODEL_HASH_SYSTEM, "code": m.sha256}],
                   "text": method_text},
        "subject": {"type": "Patient", "identifier": {"system": PSEUDONYM_SYSTEM, "value": assessment.patient_id}},
        "occurrenceDateTime": when,
        "prediction": [prediction],
        "note": notes,
    }
    return RiskAssessment.model_validate(data)


def meeting_bundle(meeting: Meeting | tuple | Mapping, cases: Iterable[tuple], *,
                   generated_at: _dt.datetime | None = None) -> Bundle:
    """A ``collection`` Bundle of one meeting: one RiskAssessment per case.

    ``meeting`` is a :class:`Meeting` or a ``(date, title)`` pair (only the date is exported: the
    bundle's ``identifier``; a free-text title could carry identities). ``cases`` holds one
    ``(assessment, model_info)`` or ``(assessment, model_info, occurrence)`` per case (occurrence
    defaults to the meeting's date). ``generated_at`` (aware; default now, UTC) is the ``timestamp``.
    """
    m = as_meeting(meeting)
    stamp = generated_at or _dt.datetime.now(_dt.timezone.utc)
    entries, seen = [], {}
    for k, case in enumerate(cases, start=1):
        if not isinstance(case, tuple | list) or len(case) not in (2, 3):
            raise ExportError(f"case {k}: give (assessment, model_info) or (assessment, model_info, occurrence); "
                              f"got {type(case).__name__} instead.")
        assessment, info = case[0], case[1]
        ra = risk_assessment(assessment, model_info=info, occurrence=case[2] if len(case) == 3 else m.date)
        if ra.id in seen:
            raise ExportError(f"case {k}: patient {assessment.patient_id} appears twice with the same model and time "
                              f"(also case {seen[ra.id]}); give each prediction once.")
        seen[ra.id] = k
        entries.append(BundleEntry.model_validate({"fullUrl": f"urn:uuid:{ra.id}", "resource": ra}))
    return Bundle.model_validate({
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, "meeting|" + m.date.isoformat() + "|" + "|".join(sorted(seen)))),
        "identifier": {"system": MEETING_SYSTEM, "value": m.date.isoformat()},
        "type": "collection",
        "timestamp": _occurrence(stamp),
        "entry": entries or None,
    })


def to_json(resource) -> str:
    """A RiskAssessment or Bundle as FHIR JSON (UTF-8 text, indented)."""
    return json.dumps(json.loads(resource.model_dump_json(exclude_none=True)), indent=2, ensure_ascii=False)
