"""The case store: patients, assessment versions, predictions, MDT meetings, decisions, follow-up and an
append-only audit trail, in SQLite (default, no set-up) or PostgreSQL (when the URL says so).

Opening
    ``Store(url=None)`` (also ``Store.open(url)``): the URL argument, else the environment variable
    ``WATCHWAIT_DATABASE_URL``, else the SQLite file ``var/watchwait.db`` under the current folder (made
    with its folder). ``postgresql://user@host:port/db`` uses psycopg 3; a value without ``://`` is a
    path to an SQLite file. An empty database gets the schema (Alembic, upgraded to the head revision);
    a database at an older or newer revision is refused with :class:`StoreSchemaError`, whose message
    names both revisions and the fix (``watchwait db upgrade``, or "this database was written by a newer
    watchwait"). A Store is safe to share between threads; ``close()`` (or ``with Store() as s``) ends it.

Keys and validation
    Every case is keyed by its pseudonym only (the data dictionary's ``patient_id`` rule: 1-64 letters,
    digits, ``-`` or ``_``); anything else is refused with :class:`InvalidEntry`. Records are validated
    with :func:`watchwait.validation.validate_record` (a :class:`watchwait.errors.RecordError` names every
    bad field), follow-up with the same per-cell rule, cohort files with
    :func:`watchwait.validation.read_cohort`. Each write names its ``actor`` (who) and ``screen``
    (where from).

Who acts, and what each role may do (:mod:`watchwait.store.identity`)
    Every write's ``actor`` is a ``str`` or a :class:`Person` (``subject``, ``name``, ``roles``, ``typed``).
    A ``str`` is local mode's typed name: unchecked, every write allowed (as before sign-in), stored with no
    subject. A :class:`Person` is checked against :data:`PERMISSIONS` before anything is read from the arguments
    or written; a refusal raises :class:`NotPermitted` (a :class:`StoreError`, not an :class:`InvalidEntry`)
    whose message names who, what and the role needed, e.g. "Dr V. Viewer (viewer) may not record a decision:
    that needs the chair role." A permitted write stores the person's display name in ``actor`` and the
    provider's subject in ``actor_subject`` (``meetings.created_by_subject``), in the row and in its audit
    row; a typed name has ``actor_subject`` NULL (``AuditEntry.typed``). The table (no rank: each action names
    every role that may do it; a person with several roles may do what any of them allows)::

        action          Store method                          viewer  clinician  chair  administrator
        read            record_access (opening a case)          x        x         x        x
        assess          record_prediction                                x         x
        save            save_assessment                                  x         x
        follow_up       record_follow_up                                 x         x
        create_meeting  create_meeting                                             x
        add_case        add_case                                                   x
        import          import_cases                                               x
        decide          record_decision (a correction too)                         x
        register_model  register_model                                                      x
        read_audit      audit(reader=), accesses(reader=)                                   x
        administer_db   migrate.upgrade / downgrade (actor=)                                x

    So a chair may do all a clinician may; an administrator reads and administers but never writes a
    clinical record or a decision; a person with no role may do nothing, not even open a case.

Writes (each one transaction, with its audit row(s); a refused write leaves nothing behind)
    - ``save_assessment(pseudonym, record, *, expected_version, actor, screen) -> AssessmentVersion``:
      a new version of the case's record. ``expected_version`` is the version the editor opened
      (``None`` for a new case); anything else raises :class:`VersionConflict` naming who saved which
      version when. A record equal to the latest version writes nothing and returns that version.
    - ``record_prediction(assessment_version_id, *, model_version, model_hash, input_hash, probability,
      interval, contributions, category, suggestion, rule_ids, flags, actor, screen) -> Prediction``;
      ``prediction_fields(assessment, bundle)`` builds the keyword arguments from an engine Assessment.
    - ``create_meeting(date, title, actor, screen=...) -> Meeting``; ``add_case(meeting_id, pseudonym,
      actor, screen) -> int`` (the case's position); ``import_cases(meeting_id, cohort_csv_bytes, actor,
      screen) -> ImportReport``: every row validated first; any bad row -> nothing written and the report
      lists every bad cell with its row; otherwise patients, assessment versions and meeting cases in one
      transaction.
    - ``record_decision(meeting_id, pseudonym, *, pathway, follows_suggestion, reason_not_followed,
      rationale, present, dissent, actor, screen, expected_version, assessment_version=None) -> Decision``:
      pathway is one of :data:`PATHWAYS` (``watch_and_wait``, ``local_excision``, ``tme``); a reason is
      required when the decision does not follow the suggestion. ``expected_version`` is the decision
      version for this case at this meeting that the recorder saw (``None`` = none yet); a correction is a
      new version. ``assessment_version``, when given, must still be the latest assessment.
    - ``record_follow_up(pseudonym, follow_up, *, actor, screen, expected_version) -> FollowUp``: the data
      dictionary's follow-up columns (``watchwait.schema.FOLLOW_UP``).
    - ``register_model(version, model_hash, card_summary, *, actor, screen) -> SiteModel``.
    - ``record_access(actor, pseudonym, screen) -> Access``: who looked (each opening of a stored case), in
      the append-only ``accesses`` table, not in the audit.

Reads
    ``assessment(pseudonym, version=None)``, ``assessments(pseudonym)``, ``predictions(assessment_version_id)``,
    ``meeting(id)``, ``meetings()``, ``meeting_cases(id)`` (in order, each with its latest assessment and
    prediction, the decision at this meeting, the previous discussion and the field-level changes since
    it), ``decisions(pseudonym)``, ``follow_ups(pseudonym)``, ``list_cases(search=, meeting_id=, pathway=,
    pending_follow_up=, page=, page_size=) -> CasePage`` (one query per page), ``audit(pseudonym=None,
    limit=200, *, meeting_id=, person=, offset=0, reader=)`` (newest first), ``accesses(person=None,
    pseudonym=None, limit=200, offset=0, *, reader=)`` (who looked, newest first), ``models()``,
    ``follow_up_records()`` (latest record + latest follow-up per case, for the outcomes export). ``person``
    is a :class:`Person` (a signed-in one: by subject; a typed one: its name among typed rows) or a str (a
    subject, or a typed name); ``reader``, when a :class:`Person`, needs the ``read_audit`` permission.

Never overwritten, and an edit shows
    Every table is append-only in the database itself (triggers refuse UPDATE, DELETE and TRUNCATE on both engines;
    patients, meetings and meeting cases since revision 0004); the API has no edit or delete. Times are UTC, ISO
    8601. Every audit row carries a hash chain over the previous audit row and its own content, and covers the hash
    of every row its write added (:mod:`watchwait.store.integrity`; ``watchwait db verify`` names the first row
    that does not match). Backups, restores, what a downgrade would remove, and the least-privilege role on
    PostgreSQL (``watchwait db grant``; :func:`watchwait.store.admin.owner_refusal` for the dashboard's start-up
    check) are in :mod:`watchwait.store.admin`. A new SQLite file is 0600 in a 0700 folder.
"""

from __future__ import annotations

from watchwait.store import migrate  # noqa: F401
from watchwait.store.checks import PATHWAYS, pathway_label, prediction_fields, record_hash
from watchwait.store.entities import (Access, AssessmentVersion, AuditEntry, CasePage, CaseSummary, Decision,
                                      FieldChange, FollowUp, FollowUpRecord, ImportIssue, ImportReport, InvalidEntry,
                                      Meeting, MeetingCase, NotFound, NotPermitted, Prediction, SiteModel, StoreBusy,
                                      StoreError, StoreSchemaError, VersionConflict)
from watchwait.store.identity import PERMISSIONS, ROLES, Person
from watchwait.store.store import Store

__all__ = [
    "Store", "PATHWAYS", "prediction_fields", "record_hash",
    "AssessmentVersion", "AuditEntry", "CasePage", "CaseSummary", "Decision", "FieldChange", "FollowUp",
    "FollowUpRecord", "ImportIssue", "ImportReport", "Meeting", "MeetingCase", "Prediction", "SiteModel",
    "StoreError", "StoreSchemaError", "VersionConflict", "InvalidEntry", "NotFound", "StoreBusy",
    "Person", "ROLES", "PERMISSIONS", "NotPermitted", "Access",
]
