"""Alembic environment of the case store, run programmatically by :mod:`watchwait.store.migrate`.

No alembic.ini: the caller hands over an open connection (already inside its write transaction) as
``config.attributes["connection"]``.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
