"""The case store's tables at the head revision, for queries (SQLAlchemy Core).

The migrations under ``migrations/versions`` create these tables themselves (a revision never
imports this module, so an old revision stays what it was); ``tests/store/test_migrations.py``
checks that the head revision and this metadata agree.

Append-only tables (database triggers refuse UPDATE, DELETE and TRUNCATE): every one (``patients``,
``meetings`` and ``meeting_cases`` since revision 0004). Every row of the case tables is covered by the hash
chain of the audit (revision 0004, :mod:`watchwait.store.integrity`): a new write must insert through
``Store._insert``/``Store._audit(..., rows=)`` so that its audit row covers it, or ``watchwait db verify``
reports the row as added outside watchwait.
Every ``actor`` (and ``meetings.created_by``) has a ``..._subject`` beside it: the identity provider's subject
of a signed-in person, NULL for a typed name (local mode). Text columns ending in
``_at`` hold UTC ISO 8601 times; ``record``, ``data``, ``contributions``, ``rule_ids``, ``flags``,
``present`` and ``card_summary`` hold JSON text.
"""

from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

metadata = MetaData()
TS = String(40)
WHO = String(200)
SUBJECT = String(255)  # revision 0003: the identity provider's subject of the actor; NULL = a typed name
SCREEN = String(100)

patients = Table(
    "patients", metadata,
    Column("id", Integer, primary_key=True),
    Column("pseudonym", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

assessments = Table(
    "assessments", metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("record", Text, nullable=False),
    Column("saved_at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
    Column("screen", SCREEN, nullable=False),
    UniqueConstraint("patient_id", "version", name="uq_assessments_patient_version"),
)

predictions = Table(
    "predictions", metadata,
    Column("id", Integer, primary_key=True),
    Column("assessment_id", Integer, ForeignKey("assessments.id"), nullable=False, index=True),
    Column("model_version", String(100), nullable=False),
    Column("model_hash", String(64), nullable=False),
    Column("input_hash", String(64), nullable=False),
    Column("probability", Float),
    Column("interval_low", Float),
    Column("interval_high", Float),
    Column("contributions", Text, nullable=False),
    Column("category", String(64), nullable=False),
    Column("suggestion", String(64), nullable=False),
    Column("rule_ids", Text, nullable=False),
    Column("flags", Text, nullable=False),
    Column("recorded_at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
    Column("screen", SCREEN, nullable=False),
    Index("ix_predictions_model_version", "model_version"),  # revision 0002
)

meetings = Table(
    "meetings", metadata,
    Column("id", Integer, primary_key=True),
    Column("date", String(10), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by", WHO, nullable=False),
    Column("created_by_subject", SUBJECT),  # revision 0003
)

meeting_cases = Table(
    "meeting_cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("meeting_id", Integer, ForeignKey("meetings.id"), nullable=False),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("added_at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
    Column("screen", SCREEN, nullable=False),
    UniqueConstraint("meeting_id", "patient_id", name="uq_meeting_cases_meeting_patient"),
    UniqueConstraint("meeting_id", "position", name="uq_meeting_cases_meeting_position"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("meeting_id", Integer, ForeignKey("meetings.id"), nullable=False),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("assessment_id", Integer, ForeignKey("assessments.id"), nullable=False),
    Column("pathway", String(32), nullable=False),
    Column("follows_suggestion", Boolean, nullable=False),
    Column("suggested_pathway", String(64)),
    Column("reason_not_followed", Text),
    Column("rationale", Text, nullable=False),
    Column("present", Text, nullable=False),
    Column("dissent", Text),
    Column("recorded_at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
    Column("screen", SCREEN, nullable=False),
    UniqueConstraint("meeting_id", "patient_id", "version", name="uq_decisions_meeting_patient_version"),
    Index("ix_decisions_patient_id", "patient_id", "id"),
)

follow_ups = Table(
    "follow_ups", metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("recorded_at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
    Column("screen", SCREEN, nullable=False),
    UniqueConstraint("patient_id", "version", name="uq_follow_ups_patient_version"),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
    Column("action", String(64), nullable=False),
    Column("pseudonym", String(64)),
    Column("meeting_id", Integer),
    Column("screen", SCREEN, nullable=False),
    Column("summary", Text, nullable=False),
    Column("covers", Text),  # revision 0004: [table, key, row hash] of the rows this write added (JSON)
    Column("row_hash", String(64)),  # revision 0004: the digest of this row's content
    Column("chain_hash", String(64)),  # revision 0004: SHA-256(previous chain_hash + row_hash)
    Index("ix_audit_pseudonym", "pseudonym", "id"),
    Index("ix_audit_actor_subject", "actor_subject", "id"),  # revision 0003: the audit view's person filter
    Index("ix_audit_actor", "actor", "id"),  # revision 0003
)

# revision 0002: the models trained at this site
models = Table(
    "models", metadata,
    Column("version", String(100), primary_key=True),
    Column("model_hash", String(64), nullable=False),
    Column("card_summary", Text, nullable=False),
    Column("registered_at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),  # revision 0003
)

# revision 0003: who looked (one row per opening of a stored case)
accesses = Table(
    "accesses", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", TS, nullable=False),
    Column("actor", WHO, nullable=False),
    Column("actor_subject", SUBJECT),
    Column("pseudonym", String(64), nullable=False),
    Column("screen", SCREEN, nullable=False),
    Column("row_hash", String(64)),  # revision 0004: who looked has a chain of its own
    Column("chain_hash", String(64)),  # revision 0004
    Index("ix_accesses_pseudonym", "pseudonym", "id"),
    Index("ix_accesses_actor_subject", "actor_subject", "id"),
    Index("ix_accesses_actor", "actor", "id"),
)

APPEND_ONLY = ("audit", "assessments", "predictions", "decisions", "follow_ups", "models", "accesses", "patients",
               "meetings", "meeting_cases")
