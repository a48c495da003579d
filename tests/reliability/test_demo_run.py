"""A full `outreach demo` — seeding, three campaigns, three rounds of outcomes and a
follow-up, all through Prefect — then two checks on what it leaves:

- privacy: no member's phone, address or family contact is in Prefect's database, its
  home folder or the demo's own output;
- history: every member's and every task's current state is recomputed from its history
  rows alone, replayed through the state machines, for the whole demo ledger.

The demo runs as a user would start it: its own process, its own Prefect home, the
temporary Prefect server Prefect starts for it. The UI-triggered runs are scanned the same
way in tests/e2e (the SQLite stack and the PostgreSQL stack).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from outreach.db.machines import NEW, allowed
from outreach.db.session import make_engine
from tests.reliability.leaks import Details, files_under, scan_files

pytestmark = pytest.mark.slow

OUTREACH = str(Path(sys.executable).parent / "outreach")


@dataclass
class Demo:
    home: Path
    prefect_home: Path
    ledger: Path
    output: bytes


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    home, prefect_home = root / "home", root / "prefect"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OUTREACH_"))}
    env.update({"OUTREACH_HOME": str(home), "PREFECT_HOME": str(prefect_home),
                "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    run = subprocess.run([OUTREACH, "demo", "--members", "800", "--today", "2026-11-02"],
                         env=env, capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert b"Coverage 2026-11" in run.stdout
    return Demo(home, prefect_home, home / "demo" / "outreach.db", run.stdout + run.stderr)


def test_no_contact_detail_in_prefect_after_a_demo_run(demo):
    eng = make_engine(f"sqlite:///{demo.ledger}")
    details = Details.of(eng)
    eng.dispose()
    assert details.count > 1000, "the demo ledger has contact details to look for"
    # The scanner finds them where they are: the ledger itself.
    assert details.found_in(demo.ledger.read_bytes()) > 100

    db = demo.prefect_home / "prefect.db"
    with sqlite3.connect(db) as conn:
        logs = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        artifacts = conn.execute("SELECT COUNT(*) FROM artifact").fetchone()[0]
        runs = conn.execute("SELECT COUNT(*) FROM flow_run").fetchone()[0]
    assert logs > 10 and artifacts > 5 and runs >= 7, (logs, artifacts, runs)

    files = files_under(demo.prefect_home)
    assert db in files
    assert scan_files(details, files) == {}
    assert details.found_in(demo.output) == 0


def _replayed(conn: sqlite3.Connection, machine: str, table: str, hist: str,
              key: str) -> tuple[int, int, int]:
    """Fold each row's history through the machine from ``new``; returns (rows, rows whose
    replayed state differs from the current one, history rows the machine refuses)."""
    state: dict[int, str] = {}
    illegal = 0
    for rid, frm, to in conn.execute(
            f"SELECT {key}, from_status, to_status FROM {hist} ORDER BY id"):
        have = state.get(rid, NEW)
        if frm != have or not allowed(machine, have, to):
            illegal += 1
        state[rid] = to
    current = dict(conn.execute(f"SELECT id, status FROM {table}").fetchall())
    wrong = sum(1 for rid, status in current.items() if state.get(rid) != status)
    return len(current), wrong, illegal + len(set(state) - set(current))


def test_history_replays_to_every_current_state_of_the_demo_ledger(demo):
    with sqlite3.connect(demo.ledger) as conn:
        members = _replayed(conn, "member", "members", "member_status_changes", "member_id")
        tasks = _replayed(conn, "task", "outreach_tasks", "task_status_changes", "task_id")
        moves = conn.execute("SELECT COUNT(*) FROM member_status_changes "
                             "WHERE from_status <> 'new'").fetchone()[0]
        closed = conn.execute("SELECT COUNT(*) FROM outreach_tasks WHERE status NOT IN "
                              "('open', 'assigned')").fetchone()[0]
    assert members[0] == 800 and tasks[0] > 500
    assert moves > 0 and closed > 50, "the demo moved members and closed tasks"
    assert members[1:] == (0, 0) and tasks[1:] == (0, 0)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OUTREACH_"))}
    check = subprocess.run([OUTREACH, "db", "check"], capture_output=True, text=True,
                           env={**env, "OUTREACH_DATABASE_URL": f"sqlite:///{demo.ledger}"})
    assert check.returncode == 0 and "all consistent" in check.stdout, check.stdout


def test_the_demo_ends_saying_how_to_open_the_phone_pages(demo):
    """The last line: `outreach serve` on the demo ledger, the /app/ address and the codes
    file (0600, never printed); a volunteer's code from it logs in to the phone pages."""
    import csv

    from fastapi.testclient import TestClient

    from outreach.service.app import create_app

    codes = demo.home / "demo" / "codes.csv"
    last = demo.output.decode().strip().splitlines()[-1]
    assert f"OUTREACH_DATABASE_URL=sqlite:///{demo.ledger} outreach serve" in last
    assert "http://127.0.0.1:8765/app/" in last and str(codes) in last
    assert codes.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(codes.open(encoding="utf-8")))
    volunteer = next(r for r in rows if r["role"] == "volunteer")
    assert volunteer["code"].encode() not in demo.output
    app = create_app(f"sqlite:///{demo.ledger}")
    try:
        c = TestClient(app, base_url="http://testserver", follow_redirects=False)
        r = c.post("/app/login", data={"code": volunteer["code"]},
                   headers={"Origin": "http://testserver"})
        assert (r.status_code, r.headers.get("location")) == (303, "/app/")
    finally:
        app.state.ledger.engine.dispose()
