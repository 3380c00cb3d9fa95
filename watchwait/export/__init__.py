"""Exports of one case or one meeting, for the notes and for other systems (issue 11).

- :func:`watchwait.export.pdf.case_pdf`: a one-page PDF per case (A4 or Letter) for the notes;
- :func:`watchwait.export.fhir.risk_assessment` and :func:`watchwait.export.fhir.meeting_bundle`: a FHIR
  R4 ``RiskAssessment`` per prediction and a ``Bundle`` per meeting, as JSON;
- :func:`watchwait.export.outcomes.write_outcomes_cohort`: the store's records with follow-up as a cohort
  file in the data dictionary's format, ``complete_response`` derived from the follow-up, for
  ``watchwait train``.

Pure functions over plain inputs: a validated version-2 record (dict), the engine's
:class:`~watchwait.engine.Assessment`, a :class:`DecisionSummary`, a :class:`Meeting` and a
:class:`ModelInfo`. Nothing here reads the case store; the store maps its rows to these. No streamlit.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from watchwait.errors import WatchwaitError

__all__ = ["DecisionSummary", "ExportError", "Meeting", "ModelInfo", "as_meeting"]


class ExportError(WatchwaitError, ValueError):
    """An export was asked with inputs that do not fit together (a message names what and why)."""


@dataclass(frozen=True)
class DecisionSummary:
    """What the MDT decided for one case, as the PDF prints it.

    ``pathway`` is a pathway id of :data:`watchwait.rules.PATHWAY_LABELS` (printed as its label) or the
    MDT's own words (printed as written). ``present`` lists the people at the discussion. Free text
    (rationale, reason, dissent, names) is printed as text, never interpreted as markup.
    """

    pathway: str
    follows_suggestion: bool
    reason_not_followed: str = ""
    rationale: str = ""
    present: Sequence[str] = field(default_factory=tuple)
    dissent: str = ""
    recorded_by: str = ""
    recorded_at: _dt.datetime | None = None


@dataclass(frozen=True)
class Meeting:
    """An MDT meeting: its date and a title (the title is printed on the PDF; it is not exported to FHIR,
    where free text could carry identities)."""

    date: _dt.date
    title: str = ""


def as_meeting(meeting: Meeting | tuple | Mapping) -> Meeting:
    """A :class:`Meeting` from itself, a ``(date, title)`` pair or a mapping with ``date`` and ``title``."""
    if isinstance(meeting, Meeting):
        m = meeting
    elif isinstance(meeting, Mapping):
        m = Meeting(meeting.get("date"), str(meeting.get("title") or ""))
    elif isinstance(meeting, tuple) and len(meeting) in (1, 2):
        m = Meeting(meeting[0], str(meeting[1]) if len(meeting) == 2 and meeting[1] is not None else "")
    else:
        raise ExportError(f"a meeting must be a Meeting or a (date, title) pair; got {type(meeting).__name__} instead.")
    if isinstance(m.date, _dt.datetime):
        return Meeting(m.date.date(), m.title)
    if not isinstance(m.date, _dt.date):
        raise ExportError(f"the meeting date must be a date (such as 2026-12-03); got {m.date!r} instead.")
    return m


@dataclass(frozen=True)
class ModelInfo:
    """The model behind a prediction: its version, the sha256 of its model file, whether it was trained on
    synthetic data (the exports then say so), and the rule set's version."""

    version: str
    sha256: str
    synthetic: bool
    ruleset_version: str = ""

    @classmethod
    def from_card(cls, card: Mapping, ruleset_version: str = "") -> ModelInfo:
        """From a model card (``ModelBundle.card`` or a stored copy of ``model_card.json``)."""
        try:
            return cls(version=str(card["model_version"]), sha256=str(card["artifact"]["sha256"]),
                       synthetic=bool(card["training_data"].get("synthetic", False)), ruleset_version=ruleset_version)
        except (KeyError, TypeError, AttributeError):
            raise ExportError("the model card lacks model_version, artifact.sha256 or training_data; "
                              "pass the card of a model written by `watchwait train`.") from None

    @classmethod
    def from_bundle(cls, bundle, ruleset_version: str | None = None) -> ModelInfo:
        """From a loaded :class:`~watchwait.artifacts.ModelBundle` (the rule set's version from the shipped rules
        unless given)."""
        if ruleset_version is None:
            from watchwait.rules import load_rules

            ruleset_version = load_rules().version
        return cls.from_card(bundle.card, ruleset_version)


def check_model(assessment, model_info: ModelInfo) -> None:
    """Refuse model details that are not those of the model that made the assessment (a wrong hash on paper)."""
    if not isinstance(model_info, ModelInfo):
        raise ExportError(f"model_info must be a ModelInfo (ModelInfo.from_bundle(load_model())); got "
                          f"{type(model_info).__name__} instead.")
    if assessment.model_version != model_info.version:
        raise ExportError(f"the assessment was made by model {assessment.model_version}, but the model details given are "
                          f"those of {model_info.version}; pass the details of the model that made it.")
