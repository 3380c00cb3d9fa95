"""The models trained at this site (the About screen lists them, and which one each prediction used).

Revision ID: 0002_site_models
Revises: 0001_case_store
"""

import sqlalchemy as sa
from alembic import op

from watchwait.store.migrations.append_only import protect, unprotect

revision = "0002_site_models"
down_revision = "0001_case_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("card_summary", sa.Text, nullable=False),
        sa.Column("registered_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_predictions_model_version", "predictions", ["model_version"])
    protect("models")


def downgrade() -> None:
    unprotect("models")
    op.drop_index("ix_predictions_model_version", table_name="predictions")
    op.drop_table("models")
