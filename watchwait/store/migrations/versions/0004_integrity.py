"""A tamper-evident trail (see watchwait.store.integrity), and append-only patients, meetings and meeting cases.

Revision ID: 0004_integrity
Revises: 0003_identities

Adds ``covers``, ``row_hash`` and ``chain_hash`` to ``audit`` and ``row_hash``, ``chain_hash`` to ``accesses``,
and the append-only triggers to ``patients``, ``meetings`` and ``meeting_cases`` (the store never changes or
deletes their rows).

Existing stores: the upgrade computes the chain over the rows already there. Every existing audit row and
who-looked row gets its hashes (in id order; the triggers are lifted for that UPDATE and put back), and one new
audit row, action ``store.chain_started``, covers every row of the case tables as it is at the upgrade. So
``watchwait db verify`` finds any edit made *after* the upgrade; an edit made before it cannot be told apart
from what was written.

The downgrade drops the columns and the new triggers; the ``store.chain_started`` audit row stays (the audit
is append-only), its hashes go with the columns.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

from watchwait.store import integrity
from watchwait.store.migrations.append_only import protect, unprotect

revision = "0004_integrity"
down_revision = "0003_identities"
branch_labels = None
depends_on = None

NEW_APPEND_ONLY = ("patients", "meetings", "meeting_cases")
COVERED = ("patients", "assessments", "predictions", "meetings", "meeting_cases", "decisions", "follow_ups", "models")


def _hash_existing(conn, table: str) -> None:
    prev = integrity.GENESIS
    rows = list(conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).mappings())
    updates = []
    for r in rows:
        row = dict(r)
        if table == "audit":
            row["covers"] = "[]"
        h = integrity.own_digest(table, row)
        prev = integrity.link(prev, h)
        updates.append({"i": r["id"], "c": row.get("covers"), "h": h, "ch": prev})
    if not updates:
        return
    if table == "audit":
        conn.execute(sa.text("UPDATE audit SET covers = :c, row_hash = :h, chain_hash = :ch WHERE id = :i"), updates)
    else:
        conn.execute(sa.text(f"UPDATE {table} SET row_hash = :h, chain_hash = :ch WHERE id = :i"), updates)


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("audit", sa.Column("covers", sa.Text, nullable=True))
    op.add_column("audit", sa.Column("row_hash", sa.String(64), nullable=True))
    op.add_column("audit", sa.Column("chain_hash", sa.String(64), nullable=True))
    op.add_column("accesses", sa.Column("row_hash", sa.String(64), nullable=True))
    op.add_column("accesses", sa.Column("chain_hash", sa.String(64), nullable=True))
    for table in ("audit", "accesses"):
        unprotect(table)
        _hash_existing(conn, table)
        protect(table)
    covered = []
    for table in COVERED:
        key = integrity.CHAINED[table]
        covered += [(table, k) for k in conn.execute(sa.text(f"SELECT {key} FROM {table} ORDER BY {key}")).scalars()]
    if covered:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        entry = dict(at=now, actor="watchwait db upgrade", actor_subject=None, action="store.chain_started",
                     pseudonym=None, meeting_id=None, screen="watchwait db upgrade",
                     summary=f"tamper-evident trail started (schema revision 0004): {len(covered)} rows written before "
                             "it are covered as they were at the upgrade")
        integrity.chain_entries(conn, [entry], [covered])
        conn.execute(sa.text("INSERT INTO audit (id, at, actor, actor_subject, action, pseudonym, meeting_id, screen, "
                             "summary, covers, row_hash, chain_hash) VALUES (:id, :at, :actor, :actor_subject, :action, "
                             ":pseudonym, :meeting_id, :screen, :summary, :covers, :row_hash, :chain_hash)"), entry)
    for table in NEW_APPEND_ONLY:
        protect(table)


def downgrade() -> None:
    for table in NEW_APPEND_ONLY:
        unprotect(table)
    for table, column in (("accesses", "chain_hash"), ("accesses", "row_hash"), ("audit", "chain_hash"),
                          ("audit", "row_hash"), ("audit", "covers")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
