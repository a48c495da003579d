"""kill -9 in the middle of planning a campaign, then plan again: the result is exactly
what an uninterrupted run gives (same tasks, states, volunteers), with no duplicates.

Runs on SQLite files of its own (two copies of one seeded ledger), whatever database the
rest of the suite uses.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from outreach.db import migrate
from outreach.db.session import make_engine
from outreach.seed.generate import seed_ledger
from outreach.tasks.campaigns import plan_jobs

TODAY = dt.date(2026, 11, 9)
PLAN = (
    "import datetime as dt, sys\n"
    "from outreach.db.session import make_engine\n"
    "from outreach.tasks.campaigns import plan_jobs\n"
    "plan_jobs.plan_campaign(make_engine(sys.argv[1]), 'survey', '2026-11',\n"
    "                   today=dt.date(2026, 11, 9), batch_size=int(sys.argv[2]))\n"
)
COLUMNS = ("run_id, member_id, kind, status, volunteer_id, status_reason, attempts, "
           "max_attempts, due_on, closes_on")


def snapshot(url: str) -> tuple[list, list]:
    eng = make_engine(url)
    with eng.connect() as conn:
        tasks = conn.execute(text(f"SELECT {COLUMNS} FROM outreach_tasks "
                                  "ORDER BY run_id, member_id")).all()
        history = conn.execute(text(
            "SELECT t.member_id, h.from_status, h.to_status, h.volunteer_id "
            "FROM task_status_changes h JOIN outreach_tasks t ON t.id = h.task_id "
            "ORDER BY t.member_id, h.id")).all()
    eng.dispose()
    return tasks, history


@pytest.fixture
def twins(tmp_path):
    first = tmp_path / "a.db"
    eng = make_engine(f"sqlite:///{first}")
    migrate.upgrade(eng)
    seed_ledger(eng, members=6000, volunteers=60, seed=13, today=TODAY)
    eng.dispose()  # the last connection to close folds the WAL into the file
    second = tmp_path / "b.db"
    shutil.copy(first, second)
    assert not (tmp_path / "a.db-wal").exists()
    return f"sqlite:///{first}", f"sqlite:///{second}"


@pytest.mark.slow
@pytest.mark.parametrize("after_tasks", [1, 2500])
def test_kill_minus_nine_then_rerun_equals_an_uninterrupted_run(twins, after_tasks):
    calm, crashed = twins
    plan_jobs.plan_campaign(make_engine(calm), "survey", "2026-11", today=TODAY, batch_size=300)

    proc = subprocess.Popen([sys.executable, "-c", PLAN, crashed, "300"],
                            env={**os.environ}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    eng = make_engine(crashed)
    deadline = time.monotonic() + 60
    seen = 0
    while proc.poll() is None and time.monotonic() < deadline:
        with eng.connect() as conn:
            seen = conn.execute(text("SELECT COUNT(*) FROM outreach_tasks")).scalar_one()
        if seen >= after_tasks:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed; use a bigger ledger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    eng.dispose()
    partial = snapshot(crashed)[0]
    assert 0 < len(partial) < len(snapshot(calm)[0]), "killed half-way"

    plan_jobs.plan_campaign(make_engine(crashed), "survey", "2026-11", today=TODAY, batch_size=300)
    again = plan_jobs.plan_campaign(make_engine(crashed), "survey", "2026-11", today=TODAY,
                               batch_size=300)
    assert again["created"] == 0
    assert snapshot(crashed) == snapshot(calm)
