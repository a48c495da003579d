"""Schema migrations (Alembic), run by `outreach db upgrade`.

`HEAD` names the newest revision so that every command can check, with one cheap query
and without importing Alembic, that the database is upgraded before it touches it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from outreach.db.errors import NotReady
from outreach.i18n import _

#: Every revision this outreach knows, oldest first.
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009",
             "0010", "0011", "0012", "0013")
HEAD = REVISIONS[-1]
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

    rev = current(engine)
    if (rev is not None and rev not in REVISIONS) or (rev is None and _has_tables(engine)):
        raise NotReady(problem(engine, rev))
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


def _has_tables(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return bool(set(inspect(engine).get_table_names()) - {"alembic_version"})


def problem(engine: Engine, rev: str | None) -> str:
    """What is wrong with a database at ``rev`` (not HEAD), and what to do about it."""
    if rev is None and _has_tables(engine):
        return _("the database has tables but no schema revision (no alembic_version): it "
                 "was not made by `outreach db upgrade`, or it was damaged; restore a backup "
                 "or check OUTREACH_DATABASE_URL")
    if rev is None:
        return _("the database is not set up: run `outreach db upgrade`")
    if rev not in REVISIONS:
        return _("the database is at revision {rev}, which this outreach does not know (it "
                 "needs {head}): it was upgraded by a newer outreach; install that "
                 "version").format(rev=rev, head=HEAD)
    return _("the database is at revision {rev}, this outreach needs {head}: run "
             "`outreach db upgrade`").format(rev=rev, head=HEAD)


def require_current(engine: Engine) -> None:
    """Refuse to work on a database that is missing or at another revision."""
    rev = current(engine)
    if rev != HEAD:
        raise NotReady(problem(engine, rev))
