"""Schema migrations (Alembic), run by `outreach db upgrade`.

`HEAD` names the newest revision so that every command can check, with one cheap query
and without importing Alembic, that the database is upgraded before it touches it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from db.errors import NotReady

HEAD = "0001"
_HERE = Path(__file__).parent


def _config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Create or upgrade the schema; returns the revision now current."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)
    return current(engine) or ""


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_config(conn), revision)


def current(engine: Engine) -> str | None:
    """The database's revision, or None for a database never upgraded."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def require_current(engine: Engine) -> None:
    """Refuse to work on a database that is missing or at an older revision."""
    rev = current(engine)
    if rev is None:
        raise NotReady("the database is not set up: run `outreach db upgrade`")
    if rev != HEAD:
        raise NotReady(f"the database is at revision {rev}, this outreach needs {HEAD}: "
                       "run `outreach db upgrade`")
