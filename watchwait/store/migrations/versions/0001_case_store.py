"""The case store: patients, assessment versions, predictions, meetings, decisions, follow-up, audit.

Revision ID: 0001_case_store
Revises:
"""

import sqlalchemy as sa
from alembic import op

from watchwait.store.migrations.append_only import create_function, drop_function, protect, unprotect

revision = "0001_case_store"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.String(40)
WHO = sa.String(200)
SCREEN = sa.String(100)
APPEND_ONLY = ("audit", "assessments", "predictions", "decisions", "follow_ups")


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("saved_at", TS, nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("screen", SCREEN, nullable=False),
        sa.UniqueConstraint("patient_id", "version", name="uq_assessments_patient_version"),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("assessment_id", sa.Integer, sa.ForeignKey("assessments.id"), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float),
        sa.Column("interval_low", sa.Float),
        sa.Column("interval_high", sa.Float),
        sa.Column("contributions", sa.Text, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("suggestion", sa.String(64), nullable=False),
        sa.Column("rule_ids", sa.Text, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("screen", SCREEN, nullable=False),
    )
    op.create_index("ix_predictions_assessment_id", "predictions", ["assessment_id"])
    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", WHO, nullable=False),
    )
    op.create_index("ix_meetings_date", "meetings", ["date"])
    op.create_table(
        "meeting_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("meeting_id", sa.Integer, sa.ForeignKey("meetings.id"), nullable=False),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("screen", SCREEN, nullable=False),
        sa.UniqueConstraint("meeting_id", "patient_id", name="uq_meeting_cases_meeting_patient"),
        sa.UniqueConstraint("meeting_id", "position", name="uq_meeting_cases_meeting_position"),
    )
    op.create_index("ix_meeting_cases_patient_id", "meeting_cases", ["patient_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("meeting_id", sa.Integer, sa.ForeignKey("meetings.id"), nullable=False),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("assessment_id", sa.Integer, sa.ForeignKey("assessments.id"), nullable=False),
        sa.Column("pathway", sa.String(32), nullable=False),
        sa.Column("follows_suggestion", sa.Boolean, nullable=False),
        sa.Column("suggested_pathway", sa.String(64)),
        sa.Column("reason_not_followed", sa.Text),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("present", sa.Text, nullable=False),
        sa.Column("dissent", sa.Text),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("screen", SCREEN, nullable=False),
        sa.UniqueConstraint("meeting_id", "patient_id", "version", name="uq_decisions_meeting_patient_version"),
    )
    op.create_index("ix_decisions_patient_id", "decisions", ["patient_id", "id"])
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("screen", SCREEN, nullable=False),
        sa.UniqueConstraint("patient_id", "version", name="uq_follow_ups_patient_version"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(64)),
        sa.Column("meeting_id", sa.Integer),
        sa.Column("screen", SCREEN, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_pseudonym", "audit", ["pseudonym", "id"])
    create_function()
    for table in APPEND_ONLY:
        protect(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        unprotect(table)
    drop_function()
    for table in ("audit", "follow_ups", "decisions", "meeting_cases", "meetings", "predictions", "assessments",
                  "patients"):
        op.drop_table(table)
