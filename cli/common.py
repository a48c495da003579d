"""What every command shares: the database, who is acting, and turning mistakes into
one line on stderr with exit code 1 (refused) or 2 (bad input)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import TYPE_CHECKING, Callable, Iterator

import typer

from cli.main import INTERRUPTED  # Ctrl-C's one line (cli.main imports nothing heavy)
from db import settings
from db.errors import BadInput, OutreachError

if TYPE_CHECKING:  # SQLAlchemy is imported only where a command opens the database: the
    from sqlalchemy.orm import Session  # volunteer's remote mode never loads it (start-up)

EXAMPLES_STYLE = "\b\n"


def die(message: str, code: int) -> None:
    """Print one line (the first line bold on a terminal is not needed) and exit."""
    typer.echo(f"outreach: {message}", err=True)
    raise typer.Exit(code=code)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that were no UTF-8 arrive as lone surrogates
        return False
    return True



def _database_error(exc: Exception) -> None:
    """The database's busy/locked/unreachable answers as one line (returns for anything
    else). SQLAlchemy is looked up, never imported: if it is not loaded, this is no
    database error."""
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is None:
        return
    if isinstance(exc, sa.OperationalError):
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text:
            die("the database is busy; nothing was written, try again in a moment", 1)
        if "could not connect" in text or "connection refused" in text or \
                "unable to open" in text:
            die("cannot open the database (check OUTREACH_DATABASE_URL)", 1)
    elif isinstance(exc, sa.DatabaseError):
        if "not a database" in str(exc.orig).lower():
            die("the database file is not a SQLite database (check "
                "OUTREACH_DATABASE_URL); nothing was written", 1)


def edge(fn: Callable) -> Callable:
    """Catch domain errors and the database's busy/locked answers at the command's edge."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            for value in (*args, *kwargs.values()):
                if isinstance(value, str) and not _utf8(value):
                    raise BadInput("an argument is not UTF-8 text: check the terminal's "
                                   "encoding")
            return fn(*args, **kwargs)
        except OutreachError as exc:
            die(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            die(INTERRUPTED, 1)
        except Exception as exc:
            _database_error(exc)
            raise
        finally:
            access = sys.modules.get("tasks.access")
            if access is not None:  # login counters, after the command's transaction
                access.settle()

    return wrapper


@contextlib.contextmanager
def db_session(*, write: bool = True) -> Iterator["Session"]:
    """A transaction on an upgraded database; committed when the block ends cleanly."""
    from db import migrate
    from db.session import engine, session_scope

    eng = engine()
    migrate.require_current(eng)
    with session_scope(eng, write=write) as session:
        yield session


def actor(session: "Session", *, required: bool = True):
    """Who is acting, from OUTREACH_TOKEN or the stored login; None if no code and optional."""
    from tasks.access import authenticate

    code = settings.token()
    if code is None and not required:
        return None
    return authenticate(session, code)


def open_private(path: str) -> int:
    """Open (create or empty) a file only its owner can read (0600), even if it existed
    before; refused in one line — before anything else is written — if it cannot be."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:  # a directory, a missing folder, no permission
        raise BadInput(f"cannot write {path!r}: {exc.strerror}; nothing was written") from None
    os.fchmod(fd, 0o600)
    return fd


def write_private(path: str, text: str) -> None:
    """Write a file only its owner can read (0600), even if it existed before."""
    fd = open_private(path)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def parse_date(value: str | None, what: str):
    from tasks.rules import parse_day

    if value is None:
        return None
    return parse_day(value, what)


def is_terminal() -> bool:
    return sys.stdin.isatty()
