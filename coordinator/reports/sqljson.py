"""Reading fields of the JSON ``body`` column in SQL, the same way on SQLite and PostgreSQL.

``events.body`` is text on both databases. SQLAlchemy's JSON path operators render as
``JSON_EXTRACT`` on SQLite and ``#>>`` on PostgreSQL; PostgreSQL needs the text cast to
JSONB first, SQLite must not cast it (``CAST(x AS JSON)`` would mean NUMERIC there). So the
coercion is chosen by dialect; everything else is plain SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def as_json(column: Any, dialect: str) -> Any:
    """``column`` (JSON text) as a JSON expression for ``dialect`` ('sqlite'/'postgresql')."""
    if dialect == "postgresql":
        return sa.cast(column, postgresql.JSONB)
    return sa.type_coerce(column, sa.JSON)


def json_int(column: Any, dialect: str, *path: str) -> Any:
    """The integer at ``path`` inside the JSON text ``column`` (NULL when absent)."""
    return as_json(column, dialect)[path].as_integer()


def json_str(column: Any, dialect: str, *path: str) -> Any:
    """The string at ``path`` inside the JSON text ``column`` (NULL when absent)."""
    return as_json(column, dialect)[path].as_string()
