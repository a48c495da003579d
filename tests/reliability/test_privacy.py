"""After a full `outreach demo` — seeding, three campaigns, three rounds of outcomes and a
follow-up, all through Prefect — no member's phone, address or family contact is in
Prefect's database, its home folder or the demo's own output.

The demo runs as a user would start it: its own process, its own Prefect home, the
temporary Prefect server Prefect starts for it. The UI-triggered runs are scanned the same
way in tests/e2e (the SQLite stack and the PostgreSQL stack).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from db.session import make_engine
from tests.reliability.leaks import Details, files_under, scan_files

pytestmark = pytest.mark.slow

OUTREACH = str(Path(sys.executable).parent / "outreach")


def test_a_full_demo_run_leaves_no_contact_detail_in_prefect(tmp_path):
    home, prefect_home = tmp_path / "home", tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OUTREACH_"))}
    env.update({"OUTREACH_HOME": str(home), "PREFECT_HOME": str(prefect_home),
                "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    run = subprocess.run([OUTREACH, "demo", "--members", "800", "--today", "2026-11-02"],
                         env=env, capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert b"Coverage 2026-11" in run.stdout

    ledger = home / "demo" / "outreach.db"
    eng = make_engine(f"sqlite:///{ledger}")
    details = Details.of(eng)
    eng.dispose()
    assert details.count > 1000, "the demo ledger has contact details to look for"
    # The scanner finds them where they are: the ledger itself.
    assert details.found_in(ledger.read_bytes()) > 100

    db = prefect_home / "prefect.db"
    with sqlite3.connect(db) as conn:
        logs = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        artifacts = conn.execute("SELECT COUNT(*) FROM artifact").fetchone()[0]
        runs = conn.execute("SELECT COUNT(*) FROM flow_run").fetchone()[0]
    assert logs > 10 and artifacts > 5 and runs >= 7, (logs, artifacts, runs)

    files = files_under(prefect_home)
    assert db in files
    assert scan_files(details, files) == {}
    assert details.found_in(run.stdout + run.stderr) == 0
