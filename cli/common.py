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
from i18n import N_, _
from db import settings
from db.errors import BadInput, OutreachError, Refused, one_line

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


#: What ``--force`` says on every command that writes a file (`PrivateFile`).
FORCE_HELP = N_("Replace FILE if it already exists (never a link, a folder or another "
                "user's file).")


def _cannot(path, reason: str) -> BadInput:
    return BadInput(_("cannot write {path}: {reason}; nothing was written").format(
        path=one_line(os.fspath(path)), reason=reason))


def check_target(path, *, force: bool = False) -> bool:
    """Whether ``path`` exists (a regular file of ours, and ``force``), or the refusal: a
    symbolic link (never followed), a folder, a FIFO, a device or a socket (said which),
    another user's file, an existing file without ``force``. Looks at the name itself
    (``lstat``), never where a link points."""
    import stat

    shown = one_line(os.fspath(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:  # a folder on the way we may not enter, a name too long
        raise _cannot(path, exc.strerror) from None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        raise Refused(_("{path} is a symbolic link: outreach never writes through one; "
                        "nothing was written").format(path=shown))
    if not stat.S_ISREG(mode):
        what = (_("a folder") if stat.S_ISDIR(mode) else
                _("a named pipe (FIFO)") if stat.S_ISFIFO(mode) else
                _("a device") if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                _("a socket") if stat.S_ISSOCK(mode) else _("not a regular file"))
        raise BadInput(_("{path} is {what}, not a file; nothing was written").format(
            path=shown, what=what))
    if st.st_uid != os.geteuid():
        raise Refused(_("{path} belongs to another user; nothing was written").format(
            path=shown))
    if not force:
        raise Refused(_("{path} already exists; nothing was written (add --force to "
                        "replace it)").format(path=shown))
    return True


class PrivateFile:
    """A person's output file (an export, a report, a run sheet, a codes file), written so
    that no one can redirect it or read it, and nothing is overwritten by surprise.

    Opening checks the target (`check_target`: a link, anything not a regular file,
    another user's file, an existing file without ``force`` are refused) and creates a new
    file beside it (0600 whatever the umask, ``O_EXCL|O_NOFOLLOW``). `commit` writes,
    syncs and only then puts it in place in one step: a new name is linked (it never
    replaces a file that appeared meanwhile), with ``force`` it is renamed over the old
    file. Leaving the ``with`` block without `commit` (a refusal, an error) removes it:
    nothing half-written is ever seen under the target's name. ``temp`` is its path, for
    writers that need one (SQLite's backup, ``pg_dump -f``)."""

    def __init__(self, path, *, force: bool = False) -> None:
        import secrets

        self.path = os.fspath(path)
        self.force = force
        check_target(self.path, force=force)
        folder = os.path.dirname(self.path) or "."
        self.temp = os.path.join(folder, f".outreach-{secrets.token_hex(8)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self.fd: int | None = os.open(self.temp, flags, 0o600)
        except OSError as exc:  # a missing folder, no permission to write in it
            raise _cannot(self.path, exc.strerror) from None
        os.fchmod(self.fd, 0o600)  # the umask may only have taken bits away

    def __enter__(self) -> "PrivateFile":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        """Close and remove the new file (nothing was put in place); safe to call twice."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)
            self.temp = None

    def commit(self, data: str | bytes | None = None) -> None:
        """Write ``data`` (text as UTF-8; None: already written through ``temp``), sync,
        and put the file in place under the target's name."""
        if self.temp is None:
            raise RuntimeError("PrivateFile committed twice or after discard")
        try:
            try:
                if data is not None:
                    view = memoryview(data if isinstance(data, bytes)
                                      else data.encode("utf-8"))
                    while view:
                        view = view[os.write(self.fd, view):]
                os.fsync(self.fd)
            except OSError as exc:  # the disk is full
                raise _cannot(self.path, exc.strerror) from None
            os.close(self.fd)
            self.fd = None
            exists = check_target(self.path, force=self.force)  # again, just before
            try:
                if not exists:
                    try:  # a link never replaces: a file that appeared since is kept
                        os.link(self.temp, self.path, follow_symlinks=False)
                    except FileExistsError:
                        check_target(self.path, force=self.force)  # says what it is
                        raise
                    except OSError:  # a file system without hard links
                        os.replace(self.temp, self.path)
                else:
                    os.replace(self.temp, self.path)
            except OSError as exc:
                raise _cannot(self.path, exc.strerror) from None
        finally:
            self.discard()  # the new name's other link, or the file nothing took
        with contextlib.suppress(OSError):  # the rename itself survives a crash
            folder = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


def write_private(path, data: str | bytes, *, force: bool = False) -> None:
    """Write a person's output file in one go (`PrivateFile`): 0600, never through a link,
    an existing file replaced only with ``force``; text as UTF-8, bytes as they are."""
    with PrivateFile(path, force=force) as out:
        out.commit(data)


def parse_date(value: str | None, what: str):
    from tasks.rules import parse_day

    if value is None:
        return None
    return parse_day(value, what)


def is_terminal() -> bool:
    return sys.stdin.isatty()


#: The column names people read in `table` format, translated where shown (`table`); the
#: keys themselves stay English in csv and json (programs read them). Words that mean
#: something else elsewhere (``due``, ``invited``) are `tasks.labels.IN_CONTEXT`'s.
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

    from tasks import labels

    rows = labels.table(rows, of=of)  # codes (status, kind, outcome …), headers by name
    keys: list = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    body = [[_(v) if isinstance(v, str) and v in WORDS else v
             for v in (row.get(k) for k in keys)] for row in rows]
    heads = [_(k) if isinstance(k, str) and k else k for k in keys]
    return tabulate(body, headers=heads, tablefmt=style, **options)
