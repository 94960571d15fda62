"""Alembic environment: runs on the connection handed over by ``Database.migrate``."""

from __future__ import annotations

from alembic import context

from coordinator.schema import metadata

config = context.config
target_metadata = metadata


def run_migrations_online() -> None:
    """Run migrations on the connection the coordinator passed in ``config.attributes``."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "coordinator migrations run through coordinator.db.Database.migrate(), "
            "which passes the connection to use"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
