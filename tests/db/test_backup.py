"""Backups (issue 24): a consistent, checked copy while volunteers write; a restore that
checks first and keeps the current ledger aside; retention. On SQLite, and on
PostgreSQL when ``OUTREACH_TEST_DATABASE_URL`` is set (restores go into scratch
databases of their own, dropped after)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from outreach.db import backup as mech
from outreach.db import migrate
from outreach.db.errors import BadInput, Refused
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import Attempt, Member
from outreach.db.session import make_engine, session_scope
from outreach.tasks.ledger import backup_jobs
from outreach.tasks.access.permissions import SYSTEM
from outreach.tasks.ledger.audit import replay
from outreach.tasks.work.outcomes import record_outcome
from tests.conftest import PG_URL
from tests.db import factories as f

_n = itertools.count(1)


@pytest.fixture
def fresh_url(tmp_path):
    """Where a restore goes: a ledger that does not exist yet (a new home's SQLite file,
    or a PostgreSQL database name of this test's own); cleaned up after."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'fresh-home' / 'outreach.db'}"
        return
    name = f"bk_fresh_{os.getpid()}_{next(_n)}"
    url = mech.other_url(PG_URL.replace("postgresql://", "postgresql+psycopg://"), name)
    yield url
    eng = make_engine(mech.other_url(url, "postgres"))
    with eng.connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                             {"p": f"{name}%"}).scalars().all()
    eng.dispose()
    for n in names:
        mech.drop_database(url, n)


def _world(url: str, tasks: int = 3):
    """A coordinator, a volunteer holding ``tasks`` assigned tasks; committed."""
    eng = make_engine(url)
    with session_scope(eng) as s:
        br = f.branch(s)
        coord, coord_secret = f.coordinator(s, branch_=br, with_secret=True)
        vol, vol_secret = f.volunteer(s, branch_=br, with_secret=True)
        ids = [f.task(s, status=TS.ASSIGNED, volunteer_=vol,
                      member_=f.member(s, branch_=br, phone="555 0100")).id
               for __ in range(tasks)]
        holder = f.actor(s, vol, vol_secret)
        coord_code = f"{coord.id}-{coord_secret}"
    return eng, holder, coord_code, ids


def _members(url: str) -> int:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            return s.scalar(select(func.count()).select_from(Member))
    finally:
        eng.dispose()


def _check_clean(url: str) -> dict:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            out = replay(s)
    finally:
        eng.dispose()
    assert {k: v for k, v in out.items() if k not in ("members", "tasks")} == \
        {"members_broken_chain": 0, "members_mismatch": 0, "tasks_broken_chain": 0,
         "tasks_mismatch": 0}
    return out


def test_backup_then_restore_into_a_fresh_home(db_url, fresh_url, tmp_path):
    eng, holder, code, ids = _world(db_url)
    with session_scope(eng) as s:
        record_outcome(s, task_id=ids[0], outcome="reached", actor=holder)
    eng.dispose()
    target = tmp_path / "copy"
    target.mkdir()
    made = backup_jobs.back_up(db_url, target / "ledger.bak", actor=SYSTEM)
    assert (made.members, made.tasks, made.attempts) == (3, 3, 1)
    assert made.path == target / "ledger.bak" and made.size > 0
    assert stat.S_IMODE(os.stat(made.path).st_mode) == 0o600
    assert sorted(os.listdir(target)) == ["ledger.bak"]  # no temporary file left

    back = backup_jobs.restore(fresh_url, made.path, code=None)  # a fresh home: no code
    assert (back.members, back.tasks, back.attempts) == (3, 3, 1)
    assert back.aside is None and back.revision == migrate.HEAD
    out = _check_clean(fresh_url)
    assert (out["members"], out["tasks"]) == (3, 3)
    if not PG_URL:
        assert stat.S_IMODE(os.stat(mech.sqlite_path(fresh_url)).st_mode) == 0o600


def test_a_restore_keeps_the_current_ledger_aside_and_needs_its_coordinator(
        db_url, fresh_url, tmp_path):
    __, __, code, __ = _world(db_url, tasks=2)
    made = backup_jobs.back_up(db_url, tmp_path / "two.db", actor=SYSTEM)
    backup_jobs.restore(fresh_url, made.path, code=None)
    eng, __, fresh_code, __ = _world(fresh_url, tasks=1)  # the fresh ledger grows: 3
    eng.dispose()
    assert _members(fresh_url) == 3

    with pytest.raises(Refused):  # it has a coordinator now: no code, no restore
        backup_jobs.restore(fresh_url, made.path, code=None)
    back = backup_jobs.restore(fresh_url, made.path, code=fresh_code)
    assert _members(fresh_url) == 2
    assert back.aside and "before" in back.aside and "restore" in back.aside
    if PG_URL:
        aside_url = mech.other_url(fresh_url, back.aside)
    else:
        aside_url = f"sqlite:///{back.aside}"
    assert _members(aside_url) == 3  # the ledger as it was, kept


def test_a_backup_from_a_newer_outreach_is_refused_and_the_ledger_untouched(
        db_url, fresh_url, tmp_path):
    __, __, __, __ = _world(db_url, tasks=2)
    newer = tmp_path / "newer.db"
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        made = backup_jobs.back_up(db_url, newer, actor=SYSTEM)
    finally:
        with eng.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :h"),
                         {"h": migrate.HEAD})
        eng.dispose()
    assert made.revision == "9999"
    current = backup_jobs.back_up(db_url, tmp_path / "current.db", actor=SYSTEM)
    backup_jobs.restore(fresh_url, current.path, code=None)
    eng, __, code, __ = _world(fresh_url, tasks=1)
    eng.dispose()
    before = _members(fresh_url)

    with pytest.raises(Refused, match="newer outreach"):
        backup_jobs.restore(fresh_url, newer, code=code)
    assert _members(fresh_url) == before == 3
    _check_clean(fresh_url)
    if not PG_URL:  # nothing set aside, no temporary file left beside the ledger
        assert sorted(os.listdir(Path(mech.sqlite_path(fresh_url)).parent)) == \
            ["outreach.db"]


def test_a_backup_from_an_older_outreach_is_upgraded(fresh_url, tmp_path):
    older = migrate.REVISIONS[-2]
    if PG_URL:
        name = f"bk_old_{os.getpid()}"
        base = PG_URL.replace("postgresql://", "postgresql+psycopg://")
        mech.drop_database(base, name)
        mech.create_database(base, name)
        url = mech.other_url(base, name)
    else:
        url = f"sqlite:///{tmp_path / 'old' / 'outreach.db'}"
    try:
        eng = make_engine(url)
        migrate.upgrade(eng, older)
        eng.dispose()
        made = backup_jobs.back_up(url, tmp_path / "old.bak", actor=SYSTEM)
        assert made.revision == older
    finally:
        if PG_URL:
            mech.drop_database(url, name)
    back = backup_jobs.restore(fresh_url, made.path, code=None)
    assert back.upgraded_from == older and back.revision == migrate.HEAD
    eng = make_engine(fresh_url)
    assert migrate.current(eng) == migrate.HEAD
    eng.dispose()


@pytest.fixture
def out(tmp_path):
    """A folder of its own for the backup's target: what it holds is what was written."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_the_backup_replaces_an_existing_file_only_with_force(db_url, out):
    there = out / "there.db"
    there.write_text("a coordinator's spreadsheet")
    with pytest.raises(Refused, match="already exists.*--force"):
        backup_jobs.back_up(db_url, there, actor=SYSTEM)
    assert there.read_text() == "a coordinator's spreadsheet"
    assert sorted(p.name for p in out.iterdir()) == ["there.db"]  # no temp file left
    made = backup_jobs.back_up(db_url, there, actor=SYSTEM, force=True)
    assert made.path == there and not there.is_symlink()
    assert stat.S_IMODE(os.stat(there).st_mode) == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["there.db"]


def test_a_copy_that_fails_its_check_is_never_put_in_place(db_url, out, monkeypatch):
    there = out / "there.db"
    there.write_text("the previous backup")

    def failed(eng, name):
        raise Refused(f"{name}: members and tasks do not replay to their own history")

    monkeypatch.setattr(backup_jobs, "_verify", failed)
    for target, force in ((out / "new.db", False), (there, True)):
        with pytest.raises(Refused, match="do not replay"):
            backup_jobs.back_up(db_url, target, actor=SYSTEM, force=force)
    assert there.read_text() == "the previous backup"
    assert sorted(p.name for p in out.iterdir()) == ["there.db"]


@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_target_is_refused_even_with_force(db_url, out, force):
    elsewhere = out / "elsewhere.db"
    elsewhere.write_text("someone else's file")
    link = out / "link.db"
    link.symlink_to(elsewhere)
    with pytest.raises(Refused, match="symbolic link"):
        backup_jobs.back_up(db_url, link, actor=SYSTEM, force=force)
    assert link.is_symlink() and os.readlink(link) == str(elsewhere)
    assert elsewhere.read_text() == "someone else's file"
    assert sorted(p.name for p in out.iterdir()) == ["elsewhere.db", "link.db"]


@pytest.mark.parametrize("force", [False, True])
def test_a_fifo_target_is_refused_saying_it_is_a_pipe(db_url, out, force):
    fifo = out / "pipe.db"
    os.mkfifo(fifo)
    with pytest.raises(BadInput) as refused:
        backup_jobs.back_up(db_url, fifo, actor=SYSTEM, force=force)
    line = str(refused.value)
    assert "\n" not in line and "pipe" in line and "nothing was written" in line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in out.iterdir()) == ["pipe.db"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("force", [False, True])
def test_another_users_file_is_refused(db_url, out, force):
    theirs = out / "theirs.db"
    theirs.write_text("another user's file")
    os.chown(theirs, 65534, 65534)
    with pytest.raises(Refused, match="another user"):
        backup_jobs.back_up(db_url, theirs, actor=SYSTEM, force=force)
    assert theirs.read_text() == "another user's file"
    assert os.lstat(theirs).st_uid == 65534
    assert sorted(p.name for p in out.iterdir()) == ["theirs.db"]


def test_the_default_place_is_the_backups_folder_of_the_home(db_url):
    made = backup_jobs.back_up(db_url, actor=SYSTEM, now=dt.datetime(2026, 11, 30, 2, 0, 5))
    home = Path(os.environ["OUTREACH_HOME"])
    suffix = ".dump" if PG_URL else ".db"
    assert made.path == home / "backups" / f"outreach-20261130-020005{suffix}"
    assert stat.S_IMODE(os.stat(home / "backups").st_mode) == 0o700


def test_a_volunteer_may_not_back_up(db_url, tmp_path):
    __, holder, __, __ = _world(db_url, tasks=1)
    with pytest.raises(Refused):
        backup_jobs.back_up(db_url, tmp_path / "x.db", actor=holder)
    assert not (tmp_path / "x.db").exists()


def test_every_write_acknowledged_before_the_backup_began_is_in_it(db_url, tmp_path):
    """A volunteer records outcomes in a loop (each committed, then acknowledged) while
    the backup runs; every one acknowledged before the backup started is in the copy."""
    eng, holder, __, ids = _world(db_url, tasks=150)
    acknowledged: list[tuple[int, float]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def volunteer():
        try:
            for task_id in ids:
                if stop.is_set():
                    return
                with session_scope(eng) as s:
                    record_outcome(s, task_id=task_id, outcome="reached", actor=holder)
                acknowledged.append((task_id, time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    worker = threading.Thread(target=volunteer)
    worker.start()
    while len(acknowledged) < 20 and worker.is_alive():
        time.sleep(0.01)
    began = time.monotonic()
    made = backup_jobs.back_up(db_url, tmp_path / "during.bak", actor=SYSTEM)
    stop.set()
    worker.join()
    eng.dispose()
    assert errors == []
    before = {t for t, at in acknowledged if at < began}
    assert len(before) >= 20

    if PG_URL:
        name = f"bk_during_{os.getpid()}"
        base = PG_URL.replace("postgresql://", "postgresql+psycopg://")
        with mech.scratch_database(base, name) as url:
            mech.pg_restore(made.path, base, name)
            copied = _attempted(url)
    else:
        copied = _attempted(f"sqlite:///{made.path}")
    assert before <= copied
    assert made.attempts == len(copied)


def _attempted(url: str) -> set[int]:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            return set(s.scalars(select(Attempt.task_id)))
    finally:
        eng.dispose()


def test_a_restore_is_refused_while_another_process_has_the_ledger_open(
        db_url, fresh_url, tmp_path):
    __, __, code, __ = _world(db_url, tasks=1)
    made = backup_jobs.back_up(db_url, tmp_path / "one.db", actor=SYSTEM)
    backup_jobs.restore(fresh_url, made.path, code=None)
    if PG_URL:  # another session on the ledger's database
        other = make_engine(fresh_url)
        holder = other.connect()
        try:
            with pytest.raises(Refused, match="in use"):
                backup_jobs.restore(fresh_url, made.path, code=code)
        finally:
            holder.close()
            other.dispose()
    else:  # another process (a service, a worker) with the file open
        path = mech.sqlite_path(fresh_url)
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sqlite3, sys, time\n"
             "c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM members').fetchall()\n"
             "print('open', flush=True); time.sleep(60)\n", path],
            stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "open"
            with pytest.raises(Refused, match="in use"):
                backup_jobs.restore(fresh_url, made.path, code=code)
        finally:
            proc.kill()
            proc.wait()
        left = os.listdir(Path(path).parent)
        assert "outreach.db" in left
        assert not [n for n in left if "restore" in n], left  # nothing set aside or left
    assert _members(fresh_url) == 1


def test_a_file_that_is_no_backup_is_refused(db_url, fresh_url, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a ledger\n" * 100)
    from outreach.db.errors import BadInput

    with pytest.raises(BadInput):
        backup_jobs.restore(fresh_url, junk, code=None)
    with pytest.raises(BadInput, match="no such file"):
        backup_jobs.restore(fresh_url, tmp_path / "missing.db", code=None)


def test_a_damaged_copy_is_refused(db_url, fresh_url, tmp_path):
    if PG_URL:
        pytest.skip("a damaged SQLite page: SQLite only")
    __, __, __, __ = _world(db_url, tasks=3)
    made = backup_jobs.back_up(db_url, tmp_path / "ok.db", actor=SYSTEM)
    conn = sqlite3.connect(made.path)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("UPDATE members SET branch_id = 999999")  # points nowhere
    conn.commit()
    conn.close()
    with pytest.raises(Refused, match="integrity"):
        backup_jobs.restore(fresh_url, made.path, code=None)
    assert not Path(mech.sqlite_path(fresh_url)).exists()


# --- retention -----------------------------------------------------------------------------


def _at(day: str, hour: int = 2) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour)


def test_keeps_the_newest_of_each_of_the_last_seven_days_and_four_weeks():
    # Every day at 02:00 from Monday 2026-10-05 to Sunday 2026-11-29, and two extra
    # copies on the last day.
    days = [dt.date(2026, 10, 5) + dt.timedelta(days=i) for i in range(56)]
    stamps = [dt.datetime.combine(d, dt.time(2)) for d in days]
    stamps += [_at("2026-11-29", 9), _at("2026-11-29", 14)]
    keep = backup_jobs.to_keep(stamps, daily=7, weekly=4)
    assert keep == {
        # 7 daily: 23 … 29 November, the newest of the 29th
        _at("2026-11-23"), _at("2026-11-24"), _at("2026-11-25"), _at("2026-11-26"),
        _at("2026-11-27"), _at("2026-11-28"), _at("2026-11-29", 14),
        # 4 weekly: the Sundays of the three weeks before (the 29th is kept already)
        _at("2026-11-22"), _at("2026-11-15"), _at("2026-11-08"),
    }


def test_days_without_a_backup_do_not_count():
    """Backups stopped for a month: the last copies are all kept, not pruned away."""
    stamps = [_at("2026-06-01"), _at("2026-06-02"), _at("2026-07-20")]
    assert backup_jobs.to_keep(stamps, daily=7, weekly=4) == set(stamps)


def test_prune_touches_only_backups_named_by_outreach(tmp_path):
    for day in range(1, 11):
        (tmp_path / f"outreach-202611{day:02d}-020000.db").write_text("x")
    (tmp_path / "outreach-before-the-move.db").write_text("mine")
    (tmp_path / "notes.txt").write_text("mine")
    kept, removed = backup_jobs.prune(tmp_path, daily=7, weekly=0)
    assert kept == [f"outreach-202611{d:02d}-020000.db" for d in range(4, 11)]
    assert removed == ["outreach-20261101-020000.db", "outreach-20261102-020000.db",
                       "outreach-20261103-020000.db"]
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["outreach-before-the-move.db",
                                                          "notes.txt"])
