"""Several real `outreach` processes at once on the same task: exactly one wins.

Runs against whichever database the suite runs on (SQLite file or PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outreach.db.models import Attempt, OutreachTask, TaskStatusChange
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from outreach.tasks.campaigns import plan_jobs

TODAY = dt.date(2026, 11, 4)
OUTREACH = str(Path(sys.executable).parent / "outreach")


@pytest.fixture
def world(db_url):
    eng = make_engine(db_url)
    res = seed_ledger(eng, members=400, volunteers=30, seed=5, today=TODAY)
    plan_jobs.plan_campaign(eng, "phone_visit", "2026-11", today=TODAY)
    plan_jobs.plan_campaign(eng, "survey", "2026-11", today=TODAY)
    codes = {vid: (role, code) for vid, _, role, _, code in res.codes}
    with session_scope(eng, write=False) as s:
        rows = s.execute(select(OutreachTask.id, OutreachTask.volunteer_id, OutreachTask.kind)
                         .where(OutreachTask.status == "assigned")
                         .order_by(OutreachTask.id)).all()
    coords = [c for _, (role, c) in codes.items() if role == "coordinator"]
    yield eng, codes, coords, rows
    eng.dispose()


def start(args: list[str], code: str) -> subprocess.Popen:
    env = {**os.environ, "OUTREACH_TOKEN": code}
    return subprocess.Popen([OUTREACH, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(procs):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


@pytest.mark.slow  # separate processes at once: CI runs it, the edit loop does not
def test_one_task_many_hands_exactly_one_wins(world):
    """Five commands that each close an assigned task, started together: one closes it,
    the four others are refused in one line (nothing written by them)."""
    eng, codes, coords, rows = world
    tid, vid, kind = next(r for r in rows if r[2] == "phone_visit"
                          and codes[r[1]][0] == "volunteer")
    mine = codes[vid][1]
    procs = [
        start(["task", "done", str(tid)], mine),
        start(["task", "record", str(tid), "refused"], mine),
        start(["task", "record", str(tid), "moved", "--answer", "residence=away"], mine),
        start(["task", "skip", str(tid), "--reason", "duplicate"], coords[0]),
        start(["task", "record", str(tid), "deceased"], coords[1]),
    ]
    results = finish(procs)
    codes_ = sorted(rc for rc, _, _ in results)
    assert codes_ == [0, 1, 1, 1, 1], results
    for rc, stdout, stderr in results:
        assert "Traceback" not in stderr
        if rc == 1:
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("outreach: "), stderr
            assert "locked" not in stderr and "busy" not in stderr
    with session_scope(eng, write=False) as s:
        moves = s.scalar(select(func.count()).select_from(TaskStatusChange).where(
            TaskStatusChange.task_id == tid, TaskStatusChange.from_status == "assigned"))
        tries = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.task_id == tid))
    assert moves == 1, "exactly one change left the assigned state"
    assert tries <= 1


@pytest.mark.slow  # separate processes at once: CI runs it, the edit loop does not
def test_volunteers_in_parallel_all_get_through(world):
    """Different tasks at the same time: every command succeeds, none sees a lock error."""
    eng, codes, _, rows = world
    picked = {}
    for tid, vid, kind in rows:
        if kind == "phone_visit" and codes[vid][0] == "volunteer" and vid not in picked:
            picked[vid] = tid
        if len(picked) == 6:
            break
    procs = [start(["task", "record", str(tid), "no_answer", "--note", "parallel"],
                   codes[vid][1]) for vid, tid in picked.items()]
    procs += [start(["tasks", "--format", "json"], codes[vid][1]) for vid in picked]
    results = finish(procs)
    assert all(rc == 0 for rc, _, _ in results), results
    with session_scope(eng, write=False) as s:
        n = s.scalar(select(func.count()).select_from(Attempt)
                     .where(Attempt.task_id.in_(list(picked.values()))))
    assert n == len(picked)
