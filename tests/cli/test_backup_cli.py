"""`outreach db backup` and `outreach db restore` (issue 24), on the `db_url` ledger
(SQLite, or PostgreSQL with ``OUTREACH_TEST_DATABASE_URL``); restores go into a fresh
home of their own."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from outreach.cli import stack
from tests.cli.helpers import bootstrap, outreach
from tests.conftest import PG_URL
from tests.db.test_backup import fresh_url  # noqa: F401 — the fixture


def _one_backup(home: Path) -> Path:
    found = sorted((home / "backups").iterdir())
    assert len(found) == 1, found
    return found[0]


def test_backup_then_restore_into_a_fresh_home(db_url, fresh_url, tmp_path,  # noqa: F811
                                               monkeypatch):
    coord, __ = bootstrap()
    r = outreach("db", "backup", code=coord)
    assert r.exit_code == 0, r.output
    assert "0 members, 0 tasks, 0 attempts" in r.stdout and "mode 0600" in r.stdout
    home = Path(os.environ["OUTREACH_HOME"])
    made = _one_backup(home)
    assert made.name.startswith("outreach-") and made.suffix == (".dump" if PG_URL else ".db")
    assert stat.S_IMODE(made.stat().st_mode) == 0o600

    # The same name again is refused; --force replaces it.
    r = outreach("db", "backup", str(made), code=coord)
    assert r.exit_code == 1 and "already exists" in r.output
    assert outreach("db", "backup", str(made), "--force", code=coord).exit_code == 0

    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path / "new-home"))
    monkeypatch.setenv("OUTREACH_DATABASE_URL", fresh_url)
    r = outreach("db", "restore", str(made))  # no terminal to ask, no --yes
    assert r.exit_code == 2 and "--yes" in r.output
    r = outreach("db", "restore", str(made), "--yes")
    assert r.exit_code == 0, r.output
    assert "restored" in r.stdout
    r = outreach("db", "check")
    assert r.exit_code == 0 and "all consistent" in r.stdout
    # The restored ledger knows its coordinator: their code works there.
    r = outreach("volunteer", "list", code=coord)
    assert r.exit_code == 0 and "Ann Coordinator" in r.stdout


def test_only_a_coordinator_backs_up_or_restores(db_url, tmp_path):
    coord, vol = bootstrap()
    for code in (vol, None):
        r = outreach("db", "backup", str(tmp_path / "x.db"), code=code)
        assert r.exit_code == 1, r.output
        assert not (tmp_path / "x.db").exists()
    assert outreach("db", "backup", str(tmp_path / "x.db"), code=coord).exit_code == 0
    if PG_URL:
        return  # a restore over the shared test database: tests/db/test_backup.py
    r = outreach("db", "restore", str(tmp_path / "x.db"), "--yes", code=vol)
    assert r.exit_code == 1 and "coordinator" in r.output
    assert not [n for n in os.listdir(Path(db_url.split("///")[1]).parent)
                if "before-restore" in n]


def test_a_restore_is_refused_while_the_stack_runs(db_url, tmp_path):
    coord, __ = bootstrap()
    assert outreach("db", "backup", str(tmp_path / "x.db"), code=coord).exit_code == 0
    home = Path(os.environ["OUTREACH_HOME"])
    (home / "stack").mkdir(parents=True, exist_ok=True)
    proc = stack.spawn("worker-1", [sys.executable, "-c", "import time; time.sleep(60)"],
                       dict(os.environ), tmp_path / "worker.log", tmp_path)
    try:
        stack.save(stack.Stack(port=4299, url="http://127.0.0.1:4299", home=str(home),
                               ledger=db_url, procs=[proc]))
        r = outreach("db", "restore", str(tmp_path / "x.db"), "--yes", code=coord)
        assert r.exit_code == 1, r.output
        assert "stack down" in r.output
    finally:
        stack.stop(proc, grace=1)
    r = outreach("volunteer", "list", code=coord)  # the ledger as it was
    assert r.exit_code == 0 and "Bob Volunteer" in r.stdout
