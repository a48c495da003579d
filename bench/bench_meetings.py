"""Benchmark: organisational life — closing a large meeting, the meetings report, seeding.

    .venv/bin/python -m bench.bench_meetings [--close-members N] [--report-members N]
        [--seed-members N] [--parts close,report,seed] [--database-url URL] [--repeat K]

Three parts, each measured in fresh child processes (`bench.common.run_child`) on fresh
copies of a template database (SQLite: a file copy; PostgreSQL: ``CREATE DATABASE …
TEMPLATE``), medians over ``--repeat``:

* ``close``   a branch whose subtree holds ``--close-members`` members (default 100,000),
              all invited to an assembly recorded as held; 30% marked present, 10% remote,
              40% excused, the rest left invited (absent at close). Timed: `tasks.meetings.meetings.
              close_meeting` (invited → absent, make-up tasks through the engine with
              assignment, meeting closed), commit included. Baseline in the same run, on
              another fresh copy: a raw ``INSERT INTO outreach_tasks … SELECT`` of the same
              tasks (one open make-up task per excused/absent/invited contactable member,
              run made beforehand, untimed). Target: ≤ 2×.
* ``report``  `tasks.meetings.life.meetings_report` (what ``outreach report meetings`` prints:
              per branch and kind, rates, members without organisational life) over a
              ledger seeded with ``--report-members`` (default 1,000,000) and its year of
              meetings. Target: < 3 s. Cold (first call in a process) and warm medians.
* ``seed``    `seed.generate.seed_ledger` with and without its year of meetings
              (``--seed-members``, default 100,000). Target: the meetings add ≤ 50%.

The ``--database-url`` database is dropped and recreated (a ``<name>_tpl`` beside it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_campaign import _Postgres, _Sqlite
from bench.common import rss_mb, run_child

TODAY = dt.date(2026, 11, 2)
HELD = TODAY - dt.timedelta(days=3)
SEED = 11


# --- children ----------------------------------------------------------------------------


def _engine(url: str):
    from outreach.db.session import make_engine

    return make_engine(url)


def _child_seed(url: str, members: int, meetings: bool) -> dict:
    from outreach.db import migrate
    from outreach.seed.generate import seed_ledger

    eng = _engine(url)
    migrate.upgrade(eng)
    t0, c0 = time.perf_counter(), time.process_time()
    res = seed_ledger(eng, members=members, seed=SEED, today=TODAY, meetings=meetings)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    eng.dispose()
    return {"seconds": seconds, "cpu": cpu, "members": res.members, "meetings": res.meetings,
            "attendance": res.attendance, "made_up": res.made_up, "roles": res.roles,
            "rss_mb": rss_mb()}


def _child_setup_close(url: str, members: int) -> dict:
    """Template for ``close``: a ledger, one top branch over all of it, an assembly of the
    top branch recorded as held (everyone invited), marks set-based."""
    from sqlalchemy import text

    from outreach.db import migrate
    from outreach.db.session import session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.meetings import meetings
    from outreach.tasks.access.permissions import authenticate

    eng = _engine(url)
    migrate.upgrade(eng)
    res = seed_ledger(eng, members=members, seed=SEED, today=TODAY, meetings=False)
    code = next(c for _, _, role, _, c in res.codes if role == "coordinator")
    with eng.begin() as conn:
        top = conn.execute(text("INSERT INTO branches (name, kind) VALUES "
                                "('Bench Federation', 'committee') RETURNING id")).scalar_one()
        conn.execute(text("UPDATE branches SET parent_id = :top "
                          "WHERE parent_id IS NULL AND id <> :top"), {"top": top})
    with session_scope(eng) as s:
        actor = authenticate(s, code)
        out = meetings.plan_meeting(s, branch="Bench Federation", kind="assembly", on=HELD,
                                    actor=actor, today=TODAY, topic="Annual work report",
                                    material="Branch work report")
    mid = out["id"]
    with eng.begin() as conn:
        conn.execute(text("""UPDATE attendance SET status = CASE
              WHEN member_id % 10 < 3 THEN 'present' WHEN member_id % 10 = 3 THEN 'remote'
              ELSE 'excused' END,
            reason = CASE WHEN member_id % 10 >= 4 THEN 'unwell' END, version = version + 1
            WHERE meeting_id = :m AND member_id % 10 < 8"""), {"m": mid})
    eng.dispose()
    return {"meeting_id": mid, "code": code, "invited": out["invited"], "members": res.members}


def _child_close(url: str, meeting_id: int, code: str) -> dict:
    from outreach.db.session import session_scope
    from outreach.tasks.meetings import meetings
    from outreach.tasks.access.permissions import authenticate

    eng = _engine(url)
    with session_scope(eng) as s:
        actor = authenticate(s, code)
    t0, c0 = time.perf_counter(), time.process_time()
    with session_scope(eng) as s:
        out = meetings.close_meeting(s, meeting_id=meeting_id, actor=actor, today=TODAY)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    eng.dispose()
    return {"seconds": seconds, "cpu": cpu, "rows": out["make_up"]["created"],
            "assigned": out["make_up"]["assigned"], "absent": out["marked_absent"],
            "rss_mb": rss_mb()}


def _child_raw(url: str, meeting_id: int) -> dict:
    from sqlalchemy import Date, DateTime, bindparam, text

    from outreach.db.session import session_scope
    from outreach.tasks.work import engine as task_engine

    eng = _engine(url)
    with session_scope(eng) as s:  # untimed: the make-up run of the meeting
        run_id = task_engine.meeting_run(s, kind="make_up", meeting_id=meeting_id).id
    due = TODAY + dt.timedelta(days=30)
    sql = text("""
        INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id, status_by,
            status_reason, attempts, max_attempts, due_on, closes_on, pending_confirmation,
            version, created_at)
        SELECT :run, a.member_id, 'make_up', 'open', NULL, NULL, 'make-up study', 0, 3,
               :due, :closes, :no, 1, :now
        FROM attendance a JOIN members m ON m.id = a.member_id
        WHERE a.meeting_id = :m AND a.status IN ('excused', 'absent', 'invited')
          AND m.status IN ('unverified', 'active', 'unreachable')
        ORDER BY a.member_id""").bindparams(
        bindparam("due", type_=Date), bindparam("closes", type_=Date),
        bindparam("now", type_=DateTime))
    params = {"run": run_id, "m": meeting_id, "due": due, "closes": due + dt.timedelta(30),
              "no": False, "now": dt.datetime(2026, 11, 2, 8)}
    t0, c0 = time.perf_counter(), time.process_time()
    with eng.begin() as conn:
        rows = conn.execute(sql, params).rowcount
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    eng.dispose()
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "rss_mb": rss_mb()}


def _child_report(url: str, repeat: int) -> dict:
    from outreach.db.session import session_scope
    from outreach.tasks.meetings import life
    from outreach.tasks.access.permissions import SYSTEM

    eng = _engine(url)
    times, out = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        with session_scope(eng, write=False) as s:
            out = life.meetings_report(s, actor=SYSTEM, today=TODAY)
        times.append(time.perf_counter() - t0)
    eng.dispose()
    return {"cold": times[0], "warm": statistics.median(times[1:] or times),
            "rows": len(out["rows"]), "without_life": out["members_without_life"],
            "rss_mb": rss_mb()}


def _child(args: list[str]) -> dict:
    return run_child("bench.bench_meetings", args)


# --- the parent -------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _close(db, members: int, repeat: int) -> None:
    setup = _child(["--_child", "setup-close", db.template_url(), str(members)])
    print(f"close: {setup['members']:,} members, {setup['invited']:,} invited to one "
          f"assembly (meeting {setup['meeting_id']})", flush=True)
    res: dict[str, list[dict]] = {"close": [], "raw": []}
    for i in range(repeat):
        res["close"].append(_child(["--_child", "close", db.fresh(),
                                    str(setup["meeting_id"]), setup["code"]]))
        res["raw"].append(_child(["--_child", "raw", db.fresh(), str(setup["meeting_id"])]))
        print(f"  repeat {i + 1}: close {res['close'][-1]['seconds']:6.2f} s "
              f"({res['close'][-1]['rows']:,} tasks, {res['close'][-1]['assigned']:,} "
              f"assigned)  raw {res['raw'][-1]['seconds']:6.2f} s "
              f"({res['raw'][-1]['rows']:,} rows)", flush=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in res.items()}
    ratio, cpu_ratio = med["close"] / med["raw"], cpu["close"] / cpu["raw"]
    print(f"close median {med['close']:.2f} s (cpu {cpu['close']:.2f} s), raw INSERT…SELECT "
          f"median {med['raw']:.2f} s (cpu {cpu['raw']:.2f} s): ratio wall {ratio:.2f}x, "
          f"cpu {cpu_ratio:.2f}x   target <= 2x: {_verdict(ratio <= 2)} on wall time, "
          f"{_verdict(cpu_ratio <= 2)} on cpu time (client's; PostgreSQL's server not in it)")
    db.cleanup()


def _report(db, members: int, repeat: int) -> None:
    seeded = _child(["--_child", "seed", db.template_url(), str(members), "1"])
    print(f"report: {seeded['members']:,} members, {seeded['meetings']:,} meetings, "
          f"{seeded['attendance']:,} attendance rows (seeded in {seeded['seconds']:.1f} s)",
          flush=True)
    colds, warms = [], []
    for i in range(repeat):
        out = _child(["--_child", "report", db.fresh(), str(3)])
        colds.append(out["cold"])
        warms.append(out["warm"])
        print(f"  repeat {i + 1}: cold {out['cold']:6.2f} s  warm {out['warm']:6.2f} s  "
              f"({out['rows']} rows, {out['without_life']:,} without life)", flush=True)
    cold, warm = statistics.median(colds), statistics.median(warms)
    print(f"report meetings median cold {cold:.2f} s, warm {warm:.2f} s   target < 3 s: "
          f"{_verdict(cold < 3)}")
    db.cleanup()


def _seed(db, members: int, repeat: int) -> None:
    res: dict[str, list[dict]] = {"without": [], "with": []}
    for i in range(repeat):
        for k, flag in (("without", "0"), ("with", "1")):
            res[k].append(_child(["--_child", "seed", db.template_url(), str(members), flag]))
        w = res["with"][-1]
        print(f"  repeat {i + 1}: ledger only {res['without'][-1]['seconds']:6.2f} s  "
              f"with meetings {w['seconds']:6.2f} s ({w['meetings']:,} meetings, "
              f"{w['attendance']:,} attendance, {w['made_up']:,} made up)", flush=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in res.items()}
    extra, extra_cpu = med["with"] / med["without"] - 1, cpu["with"] / cpu["without"] - 1
    print(f"seed {members:,}: ledger only median {med['without']:.2f} s (cpu "
          f"{cpu['without']:.2f} s), with a year of meetings {med['with']:.2f} s (cpu "
          f"{cpu['with']:.2f} s): +{extra:.0%} wall, +{extra_cpu:.0%} cpu   target <= +50%: "
          f"{_verdict(extra <= 0.5)}")
    db.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--close-members", type=int, default=100_000)
    ap.add_argument("--report-members", type=int, default=1_000_000)
    ap.add_argument("--seed-members", type=int, default=100_000)
    ap.add_argument("--parts", default="close,report,seed")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=None, help="SQLite: where the files go")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        kind, url, *rest = args._child
        if kind == "seed":
            out = _child_seed(url, int(rest[0]), rest[1] == "1")
        elif kind == "setup-close":
            out = _child_setup_close(url, int(rest[0]))
        elif kind == "close":
            out = _child_close(url, int(rest[0]), rest[1])
        elif kind == "raw":
            out = _child_raw(url, int(rest[0]))
        else:
            out = _child_report(url, int(rest[0]))
        print(json.dumps(out))
        return

    tmp = None
    if args.database_url:
        db = _Postgres(args.database_url)
        label = "PostgreSQL"
    else:
        tmp = Path(args.workdir or tempfile.mkdtemp(prefix="outreach-bench-"))
        tmp.mkdir(parents=True, exist_ok=True)
        db = _Sqlite(tmp)
        label = "SQLite"
    print(f"# bench_meetings on {label}, {os.cpu_count()} cores, {args.repeat} repeats "
          f"(median)", flush=True)
    parts = args.parts.split(",")
    try:
        if "close" in parts:
            _close(db, args.close_members, args.repeat)
        if "report" in parts:
            _report(db, args.report_members, args.repeat)
        if "seed" in parts:
            _seed(db, args.seed_members, args.repeat)
    finally:
        if tmp is not None and not args.workdir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
