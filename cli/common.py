"""What every command shares: the database, who is acting, and turning mistakes into
one line on stderr with exit code 1 (refused) or 2 (bad input)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import TYPE_CHECKING, Callable, Iterator

import typer

from outreach.cli.exits import INTERRUPTED
from outreach.i18n import N_, _
from outreach.db import settings
from outreach.db.errors import BadInput, OutreachError
from outreach.db.files import PrivateFile, check_target, write_private  # noqa: F401 (the commands')

if TYPE_CHECKING:  # SQLAlchemy is imported only where a command opens the database: the
    from sqlalchemy.orm import Session  # volunteer's remote mode never loads it (start-up)

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
            die(_("the database is busy; nothing was written, try again in a moment"), 1)
        if "could not connect" in text or "connection refused" in text or \
                "unable to open" in text:
            die(_("cannot open the database (check OUTREACH_DATABASE_URL)"), 1)
    elif isinstance(exc, sa.DatabaseError):
        if "not a database" in str(exc.orig).lower():
            die(_("the database file is not a SQLite database (check "
                  "OUTREACH_DATABASE_URL); nothing was written"), 1)


def edge(fn: Callable) -> Callable:
    """Catch domain errors and the database's busy/locked answers at the command's edge."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            for value in (*args, *kwargs.values()):
                # a path argument (a FILE) too: its bytes reach the messages that name it
                if isinstance(value, (str, os.PathLike)) and not _utf8(os.fspath(value)):
                    raise BadInput(_("an argument is not UTF-8 text: check the terminal's "
                                     "encoding"))
            return fn(*args, **kwargs)
        except OutreachError as exc:
            die(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            die(_(INTERRUPTED), 1)
        except Exception as exc:
            _database_error(exc)
            raise
        finally:
            access = sys.modules.get("outreach.tasks.access.permissions")
            if access is not None:  # login counters, after the command's transaction
                access.settle()

    return wrapper


@contextlib.contextmanager
def db_session(*, write: bool = True) -> Iterator["Session"]:
    """A transaction on an upgraded database; committed when the block ends cleanly."""
    from outreach.db import migrate
    from outreach.db.session import engine, session_scope

    eng = engine()
    migrate.require_current(eng)
    with session_scope(eng, write=write) as session:
        yield session


def actor(session: "Session", *, required: bool = True):
    """Who is acting, from OUTREACH_TOKEN or the stored login; None if no code and optional."""
    from outreach.tasks.access.permissions import authenticate

    code = settings.token()
    if code is None and not required:
        return None
    return authenticate(session, code)


#: What ``--force`` says on every command that writes a file (`PrivateFile`).
FORCE_HELP = N_("Replace FILE if it already exists (never a link, a folder or another "
                "user's file).")


def parse_date(value: str | None, what: str):
    from outreach.tasks.kernel.rules import parse_day

    if value is None:
        return None
    return parse_day(value, what)


def is_terminal() -> bool:
    return sys.stdin.isatty()


#: The column names people read in `table` format, translated where shown (`table`); the
#: keys themselves stay English in csv and json (programs read them). Words that mean
#: something else elsewhere (``due``, ``invited``) are `tasks.kernel.labels.IN_CONTEXT`'s.
COLUMNS = (
    N_("id"), N_("name"), N_("branch"), N_("branch_id"), N_("segment"), N_("members"),
    N_("member_id"), N_("ledger_no"), N_("role"), N_("kind"), N_("status"), N_("date"),
    N_("unverified"), N_("active"), N_("unreachable"), N_("moved_out"), N_("deceased"),
    N_("do_not_contact"), N_("away"), N_("homebound"), N_("capacity"), N_("open tasks"),
    N_("wrong codes"), N_("reached"), N_("overdue"), N_("never_reached_3"), N_("open"),
    N_("done"), N_("attempts"), N_("success rate"), N_("failed_contacts"),
    N_("last_contact_on"), N_("family_contact_name"), N_("family_contact_phone"),
    N_("change"), N_("at"), N_("recorded_by"), N_("targeted"), N_("assigned"),
    N_("unassigned"), N_("held"), N_("present"), N_("remote"),
    N_("excused"), N_("absent"), N_("made_up"), N_("attendance_rate"), N_("makeup_rate"),
    N_("topic"), N_("remote_option"), N_("attendance"), N_("reason"), N_("from"), N_("to"),
    N_("indicator"), N_("numerator"), N_("denominator"), N_("percent"), N_("goal"),
)
#: Values that are words, not codes, translated in `table` format only.
WORDS = frozenset((N_("TOTAL"), N_("all"), N_("yes"), N_("no"), N_("system"), N_("local"),
                   N_("away"), N_("homebound"), N_("moved out"), N_("came back"),
                   N_("coordinator"), N_("volunteer")))


def pad(label: str, width: int) -> str:
    """``label`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    from unicodedata import east_asian_width

    used = sum(2 if east_asian_width(ch) in "WF" else 1 for ch in label)
    return label + " " * max(width - used, 0)


def table(rows: list[dict], *, style: str = "simple", of: dict | None = None,
          **options) -> str:
    """Rows (dicts) as a text table for people: column names and the `WORDS` among the
    values in the current language (tabulate's ``headers="keys"``, translated)."""
    from tabulate import tabulate

    from outreach.tasks.kernel import labels

    rows = labels.table(rows, of=of)  # codes (status, kind, outcome …), headers by name
    keys: list = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    body = [[_(v) if isinstance(v, str) and v in WORDS else v
             for v in (row.get(k) for k in keys)] for row in rows]
    heads = [_(k) if isinstance(k, str) and k else k for k in keys]
    return tabulate(body, headers=heads, tablefmt=style, **options)
