"""Backups as part of the product: `outreach db backup`, `outreach db restore` and the
daily ``backup`` deployment (flows/backup.py).

A backup is a consistent copy taken while everything runs (SQLite's online backup; on
PostgreSQL ``pg_dump`` in its custom format — `db.backup`), and it counts only once it has
been checked: opened, integrity-checked (SQLite's ``integrity_check`` and foreign keys;
on PostgreSQL a restore of the dump into a scratch database ``outreach_verify_<pid>``),
and every member's and task's history replayed (`tasks.ledger.audit.replay`, what `outreach db
check` does). Until then it is a hidden temporary file; then it is put in place, mode
0600 (`db.files`, by way of `db.backup.new_file`): never through a symbolic link, never
over another user's file or anything but a regular file, over an existing file only with
``force``.

A restore checks the same things on the copy it is about to put in place (upgrading a
backup of an older schema, refusing one of a newer), and only then puts the current
ledger aside — SQLite: renamed ``<name>.before-restore-<stamp>``; PostgreSQL: the new
database takes the ledger's name and the current one is renamed
``<name>_before_restore_<stamp>`` — so that any failure leaves the ledger as it was.

Who may: a backup, a coordinator or the scheduled job (`SYSTEM`); a restore, a
coordinator of the current ledger (none needed while it has no coordinator, e.g. a fresh
home). "In use" for a restore: SQLite — any other process of this user with the ledger
file (or its WAL) open, as /proc shows; PostgreSQL — any other session on the ledger's
database (`pg_stat_activity`, and the rename itself refuses). A process that opens the
ledger between that check and the rename (milliseconds) writes into the ledger set aside,
which is kept. The CLI adds the stack's own record (`cli.stack`).

Transactions: every function here opens and closes its own engines on the copies it
checks (read-only, or the restored copy's upgrade); the ledger itself is only read
(`_authorise`) and, for a restore, renamed by path or database name — never written.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.db import backup as mech
from outreach.db import migrate, settings
from outreach.db.errors import BadInput, NotReady, Refused, one_line
from outreach.db.models import Attempt, Member, OutreachTask
from outreach.i18n import N_, _
from outreach.tasks.access.permissions import BOOTSTRAP, COUNTS, Actor, requires

#: What a daily backup keeps unless told otherwise (the ``backup`` deployment's
#: parameters): the newest copy of each of the last 7 days that have one, and of each
#: of the last 4 weeks that have one.
KEEP_DAILY, KEEP_WEEKLY = 7, 4


@dataclass(frozen=True)
class Copy:
    """A checked backup, or a checked restore: counts only, and the file's name."""

    name: str
    path: Path
    revision: str
    members: int
    tasks: int
    attempts: int
    size: int
    seconds: float
    upgraded_from: str | None = None
    aside: str | None = None  # restore: where the ledger before it is kept


def size_text(n: int) -> str:
    """A file's size for people: ``860 KB``, ``12.3 MB``."""
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{max(n // 1024, 1)} KB"


def counts(session: Session) -> dict[str, int]:
    """How many members, tasks and attempts a ledger holds."""
    return {"members": session.scalar(select(func.count()).select_from(Member)),
            "tasks": session.scalar(select(func.count()).select_from(OutreachTask)),
            "attempts": session.scalar(select(func.count()).select_from(Attempt))}


def _verify(eng: Engine, name: str) -> tuple[str, dict[str, int]]:
    """Replay the history of a copy (`outreach db check`); its revision and counts."""
    from outreach.tasks.ledger.audit import replay

    rev = migrate.current(eng) or ""
    with Session(eng) as s:
        out = replay(s)
        found = counts(s)
    bad = {k: v for k, v in out.items() if k not in ("members", "tasks") and v}
    if bad:
        raise Refused(_("{name}: members and tasks do not replay to their own history "
                        "({bad}); nothing was changed").format(name=name, bad=bad))
    return rev, found


def _stamp(now: dt.datetime | None) -> dt.datetime:
    if now is not None:
        return now
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(settings.timezone())).replace(tzinfo=None, microsecond=0)


# --- backup ---------------------------------------------------------------------------------


@requires(COUNTS)
def back_up(url: str, dest: Path | None = None, *, actor: Actor, force: bool = False,
            now: dt.datetime | None = None) -> Copy:
    """Copy the ledger at ``url`` to ``dest`` (default: ``$OUTREACH_HOME/backups/
    outreach-YYYYMMDD-HHMMSS.db`` or ``.dump``), check the copy, then put it in place."""
    started = time.monotonic()
    target = Path(dest) if dest is not None else mech.default_path(url, _stamp(now))
    if dest is not None and not target.parent.is_dir():
        raise BadInput(_("no such folder: {path}; nothing was written").format(
            path=one_line(target.parent)))
    with mech.new_file(target, force=force, make_folder=dest is None) as tmp:
        if mech.is_sqlite_url(url):
            mech.sqlite_copy(mech.sqlite_path(url), tmp)
            rev, found = _check_sqlite(tmp, target.name)
        else:
            _check_tools(url, "pg_dump", "pg_restore")
            mech.pg_dump(url, tmp)
            rev, found = _check_dump(url, tmp, target.name)
        size = tmp.stat().st_size
    return Copy(name=target.name, path=target, revision=rev, size=size,
                seconds=time.monotonic() - started, **found)


def _check_sqlite(path: Path, name: str) -> tuple[str, dict[str, int]]:
    problem = mech.sqlite_integrity(path)
    if problem:
        raise Refused(_("{name} failed the integrity check ({problem}); nothing was "
                        "changed").format(name=name, problem=problem))
    eng = mech.sqlite_reader(path)
    try:
        return _verify(eng, name)
    finally:
        eng.dispose()


def _check_tools(url: str, *names: str) -> None:
    for name in names:
        mech.check_tool_version(url, name)


def _check_dump(url: str, dump: Path, name: str) -> tuple[str, dict[str, int]]:
    """Restore the dump into a scratch database on the same server, replay it there."""
    from sqlalchemy import create_engine

    scratch = f"outreach_verify_{os.getpid()}"
    with mech.scratch_database(url, scratch) as scratch_url:
        mech.pg_restore(dump, url, scratch)
        eng = create_engine(scratch_url)
        try:
            return _verify(eng, name)
        finally:
            eng.dispose()


# --- restore --------------------------------------------------------------------------------


@requires(BOOTSTRAP)
def may_restore(session: Session, *, actor: Actor | None) -> None:
    """Who may put a backup in the ledger's place: a coordinator of the current ledger
    (anybody while it has no coordinator yet)."""


def authorise_restore(url: str, code: str | None) -> None:
    """Check the code against the CURRENT ledger (`may_restore`); a ledger that does not
    exist yet or has no schema has nobody to ask."""
    from sqlalchemy import inspect

    from outreach.db.session import make_engine, session_scope
    from outreach.tasks.access.permissions import authenticate, coordinator_exists

    if mech.is_sqlite_url(url):
        if not os.path.exists(mech.sqlite_path(url)):
            return
    elif not mech.database_exists(url, mech.database_of(url)):
        return
    eng = make_engine(url)
    try:
        rev = migrate.current(eng)
        if rev is None and not inspect(eng).get_table_names():
            return
        if rev != migrate.HEAD:
            raise NotReady(migrate.problem(eng, rev))
        with session_scope(eng, write=False) as s:
            who = authenticate(s, code) if code and coordinator_exists(s) else None
            may_restore(s, actor=who)
    finally:
        eng.dispose()


def _upgrade(eng: Engine, name: str) -> tuple[str | None, str]:
    """Bring a restored copy to this outreach's schema: refuse one from a newer outreach
    (or none at all); returns (revision it had if older, revision now)."""
    rev = migrate.current(eng)
    if rev is None:
        raise BadInput(_("{name} is not an outreach ledger (it has no schema revision); "
                         "nothing was changed").format(name=name))
    if rev not in migrate.REVISIONS:
        raise Refused(_("{name} comes from a newer outreach (revision {rev}; this one knows "
                        "up to {head}): restore it with that version; nothing was "
                        "changed").format(name=name, rev=rev, head=migrate.HEAD))
    if rev == migrate.HEAD:
        return None, rev
    migrate.upgrade(eng)
    return rev, migrate.current(eng) or ""


IN_USE = N_("the ledger is in use ({n} other processes or sessions have it open: the "
           "ledger service, the stack's workers, a command): stop them (`outreach stack "
           "down`, the service) and restore again; nothing was changed")


def restore(url: str, file: Path, *, code: str | None,
            now: dt.datetime | None = None) -> Copy:
    """Put the backup ``file`` in the place of the ledger at ``url``, checked first; the
    current ledger is kept aside. ``code``: the caller's access code (`may_restore`)."""
    from outreach.tasks.kernel.csvfile import must_be_file

    started = time.monotonic()
    file = Path(file)
    must_be_file(file)
    stamp = f"{_stamp(now):%Y%m%d-%H%M%S}"
    if mech.is_sqlite_url(url):
        if mech.same_file(file, mech.sqlite_path(url)):
            raise BadInput(_("{name} is the ledger itself: name a backup").format(
                name=one_line(file.name)))
        authorise_restore(url, code)
        rev, found, upgraded, aside = _restore_sqlite(url, file, stamp)
    else:
        mech.pg_list(file)
        _check_tools(url, "pg_restore")
        authorise_restore(url, code)
        rev, found, upgraded, aside = _restore_pg(url, file, stamp)
    return Copy(name=file.name, path=file, revision=rev, size=file.stat().st_size,
                seconds=time.monotonic() - started, upgraded_from=upgraded, aside=aside,
                **found)


def _restore_sqlite(url: str, file: Path, stamp: str):
    from outreach.db.session import make_engine

    path = Path(mech.sqlite_path(url))
    tmp = mech.new_private_file(path.parent, prefix=".outreach-restore-")
    try:
        mech.sqlite_copy(file, tmp, mode="ro")
        problem = mech.sqlite_integrity(tmp)
        if problem:
            raise Refused(_("{name} failed the integrity check ({problem}); nothing was "
                            "changed").format(name=file.name, problem=problem))
        eng = make_engine(f"sqlite:///{tmp}")
        try:
            upgraded, __ = _upgrade(eng, file.name)
            rev, found = _verify(eng, file.name)
        finally:
            eng.dispose()  # the last connection: SQLite folds its WAL back into the file
        if mech.companions(tmp) != [str(tmp)]:
            raise Refused(_("the restored copy could not be closed cleanly; nothing was "
                            "changed"))
        mech.release(url)
        users = mech.sqlite_users(path)
        if users:
            raise Refused(_(IN_USE).format(n=len(users)))
        aside = mech.set_aside(path, stamp) if path.exists() else None
        try:
            os.rename(tmp, path)
        except OSError:
            if aside is not None:
                mech.put_back(aside, path)
            raise
    finally:
        for name in mech.companions(tmp):
            mech.remove(Path(name))
    return rev, found, upgraded, str(aside) if aside else None


def _restore_pg(url: str, file: Path, stamp: str):
    from outreach.db.session import make_engine

    current = mech.database_of(url)
    new = f"{current[:40]}_restoring_{os.getpid()}"
    aside = f"{current[:40]}_before_restore_{stamp.replace('-', '_')}"
    if mech.pg_users(url):
        raise Refused(_(IN_USE).format(n=mech.pg_users(url)))
    exists = mech.database_exists(url, current)
    mech.drop_database(url, new)
    mech.create_database(url, new)
    try:
        mech.pg_restore(file, url, new)
        eng = make_engine(mech.other_url(url, new))
        try:
            upgraded, __ = _upgrade(eng, file.name)
            rev, found = _verify(eng, file.name)
        finally:
            eng.dispose()
        mech.release(url)
        users = mech.pg_users(url)
        if users:
            raise Refused(_(IN_USE).format(n=users))
        mech.swap_databases(url, new, aside)
    except BaseException:
        mech.drop_database(url, new)
        raise
    return rev, found, upgraded, aside if exists else None


# --- retention ------------------------------------------------------------------------------


def to_keep(stamps: Iterable[dt.datetime], *, daily: int = KEEP_DAILY,
            weekly: int = KEEP_WEEKLY) -> set[dt.datetime]:
    """Which backups to keep, by when they were taken: the newest of each of the
    ``daily`` most recent days that have a backup, and the newest of each of the
    ``weekly`` most recent ISO weeks (Monday to Sunday) that have one. Days without a
    backup do not count, so copies are never all pruned because backups stopped."""
    by_day: dict = {}
    by_week: dict = {}
    for s in sorted(set(stamps), reverse=True):
        by_day.setdefault(s.date(), s)
        by_week.setdefault(s.isocalendar()[:2], s)
    return set(list(by_day.values())[:daily]) | set(list(by_week.values())[:weekly])


def check_keep(daily: int, weekly: int) -> None:
    if daily < 1 or weekly < 0:
        raise BadInput(_("keep at least 1 daily backup and 0 or more weekly ones (asked: "
                         "{daily} daily, {weekly} weekly)").format(daily=daily,
                                                                   weekly=weekly))


def prune(where: Path | None = None, *, daily: int = KEEP_DAILY,
          weekly: int = KEEP_WEEKLY) -> tuple[list[str], list[str]]:
    """Delete the backups in ``where`` (default ``$OUTREACH_HOME/backups``) that `to_keep`
    does not keep; only regular files named like ``outreach-YYYYMMDD-HHMMSS.db`` or
    ``.dump`` are considered. Returns the names (kept, removed)."""
    check_keep(daily, weekly)
    where = where or mech.folder()
    found: dict[str, dt.datetime] = {}
    for entry in (os.scandir(where) if where.is_dir() else ()):
        stamp = mech.stamp_of(entry.name)
        if stamp is not None and entry.is_file(follow_symlinks=False):
            found[entry.name] = stamp
    keep = to_keep(found.values(), daily=daily, weekly=weekly)
    kept = sorted(n for n, s in found.items() if s in keep)
    removed = sorted(n for n, s in found.items() if s not in keep)
    for name in removed:
        mech.remove(where / name)
    return kept, removed
