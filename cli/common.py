"""What every command shares: the database, who is acting, and turning mistakes into
one line on stderr with exit code 1 (refused) or 2 (bad input)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Callable, Iterator

import typer
from sqlalchemy.orm import Session

from db import settings
from db.errors import BadInput, OutreachError

EXAMPLES_STYLE = "\b\n"


def die(message: str, code: int) -> None:
    """Print one line (the first line bold on a terminal is not needed) and exit."""
    typer.echo(f"outreach: {message}", err=True)
    raise typer.Exit(code=code)


def edge(fn: Callable) -> Callable:
    """Catch domain errors and the database's busy/locked answers at the command's edge."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import OperationalError

        try:
            return fn(*args, **kwargs)
        except OutreachError as exc:
            die(str(exc), exc.exit_code)
        except OperationalError as exc:
            text = str(exc.orig).lower()
            if "locked" in text or "busy" in text:
                die("the database is busy; nothing was written, try again in a moment", 1)
            if "could not connect" in text or "connection refused" in text or \
                    "unable to open" in text:
                die("cannot open the database (check OUTREACH_DATABASE_URL)", 1)
            raise
        except KeyboardInterrupt:
            die("interrupted; nothing was written", 1)
        finally:
            access = sys.modules.get("tasks.access")
            if access is not None:  # login counters, after the command's transaction
                access.settle()

    return wrapper


@contextlib.contextmanager
def db_session(*, write: bool = True) -> Iterator[Session]:
    """A transaction on an upgraded database; committed when the block ends cleanly."""
    from db import migrate
    from db.session import engine, session_scope

    eng = engine()
    migrate.require_current(eng)
    with session_scope(eng, write=write) as session:
        yield session


def actor(session: Session, *, required: bool = True):
    """Who is acting, from OUTREACH_TOKEN or the stored login; None if no code and optional."""
    from tasks.access import authenticate

    code = settings.token()
    if code is None and not required:
        return None
    return authenticate(session, code)


def write_private(path: str, text: str) -> None:
    """Write a file only its owner can read (0600), even if it existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def parse_date(value: str | None, what: str):
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{what} must be a date YYYY-MM-DD, not {value[:20]!r}") from None


def is_terminal() -> bool:
    return sys.stdin.isatty()
