"""Nothing acknowledged is ever lost (issue 24, defect 1), on SQLite, the default.

The service used to open and close the database file each time it made a connection
(`db.session.keep_private`). On Linux that drops every POSIX lock the process holds on the
file, those of SQLite's other connections included; the next other process that closed the
ledger then believed it was the last one and deleted the ``-wal`` and ``-shm`` files, and
the service went on answering "recorded" into deleted files. Here: a service answering
concurrent requests (so its pool makes several connections), other processes opening and
closing the ledger meanwhile, then a stop — and every acknowledged write must be there.
"""

from __future__ import annotations

import concurrent.futures
import os
import sqlite3
import stat
import subprocess
import sys
import uuid

import httpx
import pytest
from sqlalchemy import select

from outreach.db.models import Attempt
from outreach.db.session import keep_private, make_engine, session_scope
from tests.db import factories as f
from tests.service.conftest import Running

pytestmark = pytest.mark.skipif(bool(os.environ.get("OUTREACH_TEST_DATABASE_URL")),
                                reason="the file-lock defect is SQLite's (the default)")

#: Another process that opens the ledger, reads a row and closes it: a coordinator's
#: command, a flow run, `sqlite3 .backup` — each closes its connection when done.
PEEK = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); " \
       "c.execute('select count(*) from members').fetchone(); c.close()"

TASKS = 24
ROUNDS = 2  # no_answer twice: a task keeps going (the third would exhaust it)


@pytest.fixture
def ledger(db_url):
    """A volunteer with ``TASKS`` assigned phone visits; returns (url, code, task ids)."""
    eng = make_engine(db_url)
    with session_scope(eng) as s:
        v, secret = f.volunteer(s, with_secret=True, capacity=TASKS)
        run = f.campaign_run(s)
        ids = [f.task(s, run=run, status="assigned", volunteer_=v).id for _ in range(TASKS)]
        code = f"{v.id}-{secret}"
    eng.dispose()
    return db_url, code, ids


def _peek(path: str) -> None:
    subprocess.run([sys.executable, "-c", PEEK, path], check=True, timeout=60)


def test_every_acknowledged_write_survives_other_processes_and_a_stop(ledger):
    url, code, ids = ledger
    path = url.split("///", 1)[1]
    svc = Running(url)  # in a thread of this process: its pool makes the connections
    headers = {"Authorization": f"Bearer {code}"}

    def record(task_id: int, i: int) -> tuple[int, str] | None:
        note = f"w{task_id}-{i}"
        with httpx.Client(base_url=svc.url, timeout=60) as client:
            r = client.post(f"/tasks/{task_id}/outcomes", headers={
                **headers, "Idempotency-Key": uuid.uuid4().hex},
                json={"outcome": "no_answer", "note": note, "today": "2026-02-01"})
        return (task_id, note) if r.status_code == 200 else None

    acknowledged: list[tuple[int, str]] = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for i in range(ROUNDS):
            jobs = [pool.submit(record, t, i) for t in ids]
            # Meanwhile other processes open and close the ledger, as people's do.
            for _ in range(3):
                _peek(path)
            acknowledged += [r for r in (j.result() for j in jobs) if r is not None]
            _peek(path)
    # More requests after the others closed: these went into deleted files before the fix.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        late = list(pool.map(lambda t: record(t, 9), ids[: TASKS // 2]))
    acknowledged += [r for r in late if r is not None]
    svc.stop()

    # A fresh process's view, after the service has stopped.
    conn = sqlite3.connect(path)
    try:
        kept = set(conn.execute("SELECT task_id, note FROM attempts").fetchall())
    finally:
        conn.close()
    lost = [a for a in acknowledged if a not in kept]
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged writes were lost"
    # … and none was refused: the database never looked busy or broken meanwhile.
    assert len(acknowledged) == TASKS * ROUNDS + len(late), "every write was answered 200"
    eng = make_engine(url)
    with session_scope(eng, write=False) as s:
        assert len(s.scalars(select(Attempt.id)).all()) == len(acknowledged)
    eng.dispose()


def test_keep_private_never_opens_the_database_file(tmp_path, monkeypatch):
    """The mode is set by path only: ``os.open`` (and so ``close``) is never called."""
    path = tmp_path / "ledger.db"

    def refuse(*_args, **_kw):
        raise AssertionError("keep_private opened the database file")

    monkeypatch.setattr(os, "open", refuse)
    old = os.umask(0)
    try:
        keep_private(str(path))
    finally:
        os.umask(old)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    keep_private(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
