"""What the case store returns (frozen dataclasses) and the errors it raises.

Every error is a :class:`watchwait.errors.WatchwaitError`: the dashboard and the CLI show its message
as it is (plain words, the field as a clinician calls it, what is allowed), never a traceback.
Lists inside the dataclasses are tuples; dicts are fresh copies the caller may keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from watchwait.errors import WatchwaitError


class StoreError(WatchwaitError):
    """A store operation was refused; nothing was written."""


class StoreSchemaError(StoreError):
    """The database's schema revision is not the one this watchwait was built for (or the URL is unusable)."""


class VersionConflict(StoreError):
    """Someone saved the same case after the version the editor opened: reload, then edit again."""


class InvalidEntry(StoreError, ValueError):
    """A value given to the store breaks its rules (pseudonym, pathway, reason, text lengths...)."""


class NotFound(StoreError, LookupError):
    """No such case or meeting in the store."""


class StoreBusy(StoreError):
    """The database stayed locked by other writers for longer than the busy timeout."""


class NotPermitted(StoreError, PermissionError):
    """The signed-in person's roles do not allow this (:data:`watchwait.store.identity.PERMISSIONS`); the message
    names who, what was refused and the role it needs. Not an :class:`InvalidEntry`: nothing was wrong with
    what was given, and a screen that treats a bad entry as "no such case" must not say that of a refusal."""


@dataclass(frozen=True)
class AssessmentVersion:
    id: int  # the version's own id (record_prediction takes it)
    pseudonym: str
    version: int  # 1, 2, 3... per case
    record: dict  # the validated version-2 record (every data-dictionary column; None = not available)
    saved_at: str  # UTC, ISO 8601
    actor: str
    screen: str
    actor_subject: str | None = None  # the identity provider's subject; None: a typed name


@dataclass(frozen=True)
class Prediction:
    id: int
    assessment_version_id: int
    model_version: str
    model_hash: str
    input_hash: str
    probability: float | None  # None: out of the model's scope
    interval: tuple[float, float] | None
    contributions: tuple[dict, ...]  # {feature, label, modality, value, shap_pp}, largest first
    category: str
    suggestion: str  # the suggested pathway's code (watchwait.rules.PATHWAY_LABELS)
    rule_ids: tuple[str, ...]
    flags: tuple[str, ...]
    recorded_at: str
    actor: str
    screen: str
    actor_subject: str | None = None  # the identity provider's subject; None: a typed name


@dataclass(frozen=True)
class Meeting:
    id: int
    date: str  # ISO date, YYYY-MM-DD
    title: str
    created_at: str
    created_by: str
    n_cases: int = 0
    n_decided: int = 0
    created_by_subject: str | None = None  # the identity provider's subject; None: a typed name


@dataclass(frozen=True)
class Decision:
    id: int
    meeting_id: int
    meeting_date: str
    pseudonym: str
    version: int  # 1, 2... per case per meeting (a correction is a new version)
    assessment_version: int  # the assessment version the decision was made on
    pathway: str  # watch_and_wait | local_excision | tme
    pathway_label: str  # in clinical words
    follows_suggestion: bool
    suggested_pathway: str | None  # the stored prediction's suggestion for that assessment version, if any
    reason_not_followed: str | None
    rationale: str
    present: tuple[str, ...]
    dissent: str | None
    recorded_at: str
    actor: str
    screen: str
    actor_subject: str | None = None  # the identity provider's subject; None: a typed name


@dataclass(frozen=True)
class FollowUp:
    id: int
    pseudonym: str
    version: int
    data: dict  # the data dictionary's follow-up columns that were given (typed)
    recorded_at: str
    actor: str
    screen: str
    actor_subject: str | None = None  # the identity provider's subject; None: a typed name


@dataclass(frozen=True)
class FieldChange:
    field: str  # data-dictionary column
    label: str  # what a clinician calls it (watchwait.schema)
    before: object
    after: object


@dataclass(frozen=True)
class MeetingCase:
    meeting_id: int
    position: int  # 1, 2, ... in the meeting's order
    pseudonym: str
    assessment: AssessmentVersion | None  # the latest
    prediction: Prediction | None  # the latest stored for that assessment version
    decision: Decision | None  # the latest recorded at this meeting
    previous_decision: Decision | None  # the last discussion before this meeting (another meeting)
    changes: tuple[FieldChange, ...] | None  # since previous_decision's assessment; None = first discussion
    follow_up: FollowUp | None


@dataclass(frozen=True)
class CaseSummary:
    pseudonym: str
    assessment_version: int | None
    saved_at: str | None
    last_meeting_date: str | None
    pathway: str | None  # latest decision's pathway
    pathway_label: str | None
    decided_at: str | None
    follow_up_version: int | None
    pending_follow_up: bool  # decided, and no follow-up recorded since the latest decision


@dataclass(frozen=True)
class CasePage:
    items: tuple[CaseSummary, ...]
    total: int
    page: int
    pages: int
    page_size: int


@dataclass(frozen=True)
class ImportIssue:
    row: int | None  # spreadsheet numbering: header = row 1 (None: the file as a whole)
    column: str | None
    message: str


@dataclass(frozen=True)
class ImportReport:
    ok: bool
    meeting_id: int
    rows: int  # patient rows in the file
    written: int  # cases imported (0 whenever ok is False: nothing was written)
    new_patients: int = 0
    new_versions: int = 0  # assessment versions written (a row equal to the latest version writes none)
    added_to_meeting: int = 0
    issues: tuple[ImportIssue, ...] = field(default_factory=tuple)
    pseudonyms: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bad_rows(self) -> tuple[int, ...]:
        return tuple(sorted({i.row for i in self.issues if i.row is not None}))


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str  # UTC, ISO 8601
    actor: str
    action: str  # e.g. assessment.saved, decision.recorded
    pseudonym: str | None
    meeting_id: int | None
    screen: str
    summary: str  # what was done, in plain words
    actor_subject: str | None = None  # the identity provider's subject; None: a typed name (local mode)

    @property
    def typed(self) -> bool:
        """True when the actor is a typed name, not an identity given by the site's provider."""
        return self.actor_subject is None


@dataclass(frozen=True)
class Access:
    """Who looked: one opening of a stored case (:meth:`Store.record_access`)."""
    id: int
    at: str  # UTC, ISO 8601
    actor: str  # the display name (or the typed name)
    actor_subject: str | None  # the identity provider's subject; None: a typed name
    pseudonym: str
    screen: str

    @property
    def typed(self) -> bool:
        return self.actor_subject is None


@dataclass(frozen=True)
class SiteModel:
    version: str
    model_hash: str | None
    card_summary: dict
    registered_at: str | None  # None: used by stored predictions but never registered (e.g. the shipped model)
    n_predictions: int


@dataclass(frozen=True)
class FollowUpRecord:
    pseudonym: str
    record: dict  # the latest assessment's record
    assessment_version: int
    follow_up: dict | None  # the latest follow-up (None: none recorded)
    follow_up_version: int | None
