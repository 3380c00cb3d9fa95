"""Who acted and who looked: the identity provider's subject beside every actor (NULL = a typed name, as every
row written before this revision), and the append-only ``accesses`` table (one row per opening of a stored case).

Revision ID: 0003_identities
Revises: 0002_site_models

The downgrade drops the subjects and the access rows (the typed-name columns stay as they were).
"""

import sqlalchemy as sa
from alembic import op

from watchwait.store.migrations.append_only import protect, unprotect

revision = "0003_identities"
down_revision = "0002_site_models"
branch_labels = None
depends_on = None

SUBJECT = sa.String(255)
#: (table, the column beside which the subject goes)
ACTOR_COLUMNS = (("assessments", "actor_subject"), ("predictions", "actor_subject"), ("meetings", "created_by_subject"),
                 ("meeting_cases", "actor_subject"), ("decisions", "actor_subject"), ("follow_ups", "actor_subject"),
                 ("audit", "actor_subject"), ("models", "actor_subject"))


def upgrade() -> None:
    for table, column in ACTOR_COLUMNS:
        op.add_column(table, sa.Column(column, SUBJECT, nullable=True))  # nullable, no default: no row is rewritten
    op.create_index("ix_audit_actor_subject", "audit", ["actor_subject", "id"])
    op.create_index("ix_audit_actor", "audit", ["actor", "id"])
    op.create_table(
        "accesses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_subject", SUBJECT),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("screen", sa.String(100), nullable=False),
    )
    op.create_index("ix_accesses_pseudonym", "accesses", ["pseudonym", "id"])
    op.create_index("ix_accesses_actor_subject", "accesses", ["actor_subject", "id"])
    op.create_index("ix_accesses_actor", "accesses", ["actor", "id"])
    protect("accesses")


def downgrade() -> None:
    unprotect("accesses")
    op.drop_table("accesses")  # its indexes go with it
    op.drop_index("ix_audit_actor", table_name="audit")
    op.drop_index("ix_audit_actor_subject", table_name="audit")
    for table, column in reversed(ACTOR_COLUMNS):
        # SQLite (3.35+) and PostgreSQL both drop a column in place; the append-only triggers name no column, so
        # they stay (an UPDATE trigger would fire on a table rewrite, which this is not)
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
