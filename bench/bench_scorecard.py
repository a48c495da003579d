"""Benchmark: the scorecard (the six haves) over a big ledger vs the cost of scanning it.

    .venv/bin/python -m bench.bench_scorecard [--members N] [--database-url URL]
        [--repeat K] [--rebuild]

Builds (once; reused while its counts match, ``--rebuild`` forces it) the ledger of
`bench.bench_report` — ``--members`` members with `seed.generate.seed_ledger`'s year of
meetings and attendance, three campaign runs with one task per member each — and adds a
year of the rest, set-based:

* an attempt for every done task, dated in its run's month (contacts over the year);
* care occasions: one in each of the four quarters for one member in eight (a mix of
  visited ~80 %, missed, still due, cancelled), written ``due`` and moved by UPDATE (the
  guards check every move);
* contributions: one for one member in five, spread over the year;
* a lecture and an assembly in November for every branch, its contactable members marked
  present (70 %), remote (10 %) or absent (the seed's year of meetings ends in October);
* done notice tasks for one member in four of each held assembly of the year.

Then times, median of ``--repeat`` runs each (a fresh session per run):

* ``baseline``   ``SELECT branch_id, count(*) FROM members GROUP BY branch_id`` and
                 ``SELECT count(*) FROM attendance``: the cost of scanning what it reads;
* ``scorecard``  `tasks.scorecard.scorecard.scorecard` for the quarter of TODAY — which computes the
                 previous quarter too (the change). Target: < 3 s.

Default database: a SQLite file under /tmp. For PostgreSQL, a database of your own:
``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/outreach_scorecard_bench``
(its schema is dropped and recreated). The members' history rows are written when the
ledger is built (today, by the clock), so the previous quarter counts nobody in a ledger
built this quarter and is not queried (`tasks.scorecard.scorecard._existed`). ``--period 2027-Q1``
scores the quarter after instead: its previous quarter (the bench's) counts everyone —
the realistic case, both quarters read in one pass. ``--period 2026-Q4,2027-Q1`` times
both, one after the other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench import bench_report

#: The quarter scored: the one of the bench ledger's day (and of the real today's year, so
#: that the members' history rows — written today — lie before its last day).
TODAY = bench_report.TODAY
RUNS = 3
#: The day of the quarter's lecture and assembly the bench adds.
HELD = dt.date(2026, 11, 12)


def _patch_guards(eng: Engine) -> None:
    """The care and attendance machines' PostgreSQL update guards without ``LIMIT 1``, in
    this bench database only (see `bench.bench_report._patch_pg_guards`: a bulk UPDATE is
    O(n²) with it)."""
    from outreach.db import guards

    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        for stmt in guards._postgres("care") + guards._postgres("attendance"):
            if "_after_update() RETURNS" in stmt and "LIMIT 1;" in stmt:
                cur.execute(stmt.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
                            .replace("\n            LIMIT 1;", ";"))
        raw.commit()
    finally:
        raw.close()


def _counts(eng: Engine) -> tuple[int, int]:
    try:
        with eng.connect() as conn:
            return (int(conn.execute(text("SELECT count(*) FROM members")).scalar()),
                    int(conn.execute(text("SELECT count(*) FROM care_occasions")).scalar()))
    except Exception:  # noqa: BLE001 - no schema yet
        return -1, -1


def build(url: str, members: int, *, rebuild: bool) -> Engine:
    eng = bench_report._engine(url)
    got = _counts(eng)
    if not rebuild and got[0] == members and got[1] > 0:
        print(f"reusing the ledger: {members:,} members, {got[1]:,} care occasions", flush=True)
        return eng
    eng.dispose()
    eng = bench_report.build(url, members, RUNS, rebuild=True)
    from outreach.db.session import writer

    pg = eng.dialect.name == "postgresql"
    if pg:
        _patch_guards(eng)
    t0 = time.perf_counter()
    no = "false" if pg else "0"
    with writer(eng).begin() as conn:
        # Contacts over the year: an attempt for each done task of the older runs, dated
        # ten days after its run started (the bench_report build dates the current run's).
        conn.execute(text("""
            INSERT INTO attempts (task_id, volunteer_id, recorded_by, outcome, recorded_on,
                recorded_at)
            SELECT t.id, t.volunteer_id, t.volunteer_id, t.outcome, t.due_on, t.created_at
            FROM outreach_tasks t
            WHERE t.status = 'done' AND t.run_id < (SELECT max(id) FROM campaign_runs)"""))
        t0 = bench_report._step("attempts over the year", t0)
        for q, day in enumerate((dt.date(2026, 2, 14), dt.date(2026, 5, 14),
                                 dt.date(2026, 8, 14), dt.date(2026, 11, 10))):
            conn.execute(text(f"""
                INSERT INTO care_occasions (member_id, kind, occasion_on, window_from,
                    window_to, detail, status, status_reason, version, created_at)
                SELECT m.id, 'birthday', :day, :lo, :hi, 'bench', 'due', 'bench', 1, :now
                FROM members m WHERE (m.id + {q}) % 8 = 0"""),
                {"day": day, "lo": day - dt.timedelta(days=7), "hi": day + dt.timedelta(days=7),
                 "now": dt.datetime(2026, 1, 1)})
        conn.execute(text("""
            UPDATE care_occasions SET status = CASE
                WHEN member_id % 10 < 8 THEN 'visited' WHEN member_id % 10 = 8 THEN 'missed'
                ELSE 'cancelled' END, status_reason = 'bench', version = version + 1
            WHERE occasion_on < :cut OR member_id % 10 < 5"""), {"cut": dt.date(2026, 10, 1)})
        t0 = bench_report._step("care occasions", t0)
        conn.execute(text("""
            INSERT INTO contributions (member_id, kind, happened_on, note, recorded_at)
            SELECT m.id, 'volunteering', :base, 'bench', :now FROM members m
            WHERE m.id % 5 = 0"""), {"base": dt.date(2026, 3, 1), "now": dt.datetime(2026, 3, 1)})
        conn.execute(text("UPDATE contributions SET happened_on = :late "
                          "WHERE member_id % 3 = 0"), {"late": dt.date(2026, 10, 20)})
        t0 = bench_report._step("contributions", t0)
        # The quarter's lecture and assembly (the seed's year stops in October): every
        # branch with members holds both in November; its contactable members are marked.
        for kind in ("lecture", "assembly"):
            conn.execute(text("""
                INSERT INTO meetings (branch_id, kind, status, planned_on, held_on, remote,
                    status_reason, version, created_at)
                SELECT DISTINCT m.branch_id, :kind, 'held', :day, :day, 'none', 'bench', 1,
                    :now FROM members m"""),
                {"kind": kind, "day": HELD, "now": dt.datetime(2026, 11, 1)})
            conn.execute(text("""
                INSERT INTO attendance (meeting_id, member_id, status, status_reason, version,
                    created_at)
                SELECT mt.id, m.id, 'invited', 'bench', 1, :now
                FROM members m JOIN meetings mt ON mt.branch_id = m.branch_id
                WHERE mt.kind = :kind AND mt.held_on = :day
                  AND m.status IN ('unverified', 'active', 'unreachable')"""),
                {"kind": kind, "day": HELD, "now": dt.datetime(2026, 11, 1)})
        conn.execute(text("""
            UPDATE attendance SET status = CASE WHEN member_id % 10 < 7 THEN 'present'
                WHEN member_id % 10 = 7 THEN 'remote' ELSE 'absent' END, version = version + 1
            WHERE meeting_id IN (SELECT id FROM meetings WHERE held_on = :day)"""),
            {"day": HELD})
        t0 = bench_report._step("a lecture and an assembly per branch in November", t0)
        cid = conn.execute(text("SELECT id FROM campaigns WHERE name = 'notice'")).scalar()
        if cid is None:
            conn.execute(text("INSERT INTO campaigns (name, kind, window_days, cadence_days, "
                              "max_attempts, due_days, retry_days) VALUES "
                              "('notice', 'notice', 365, 30, 3, 14, 2)"))
            cid = conn.execute(text("SELECT id FROM campaigns WHERE name = 'notice'")).scalar()
        assemblies = conn.execute(text(
            "SELECT id, held_on FROM meetings WHERE kind = 'assembly' "
            "AND status IN ('held', 'closed')")).all()
        for mid, held in assemblies:
            conn.execute(text("INSERT INTO campaign_runs (campaign_id, period, started_at, "
                              "meeting_id) VALUES (:c, :p, :s, :m)"),
                         {"c": cid, "p": f"notice-{mid}", "s": dt.datetime(2026, 1, 1),
                          "m": mid})
            rid = conn.execute(text("SELECT max(id) FROM campaign_runs")).scalar()
            conn.execute(text(f"""
                INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id,
                    status_by, status_reason, attempts, max_attempts, due_on, closes_on,
                    pending_confirmation, version, created_at)
                SELECT :run, a.member_id, 'notice', 'open', NULL, NULL, 'bench', 0, 3,
                       :due, :due, {no}, 1, :now
                FROM attendance a WHERE a.meeting_id = :m AND a.member_id % 4 = 0"""),
                {"run": rid, "m": mid, "due": held, "now": dt.datetime(2026, 1, 1)})
            conn.execute(text("UPDATE outreach_tasks SET status = 'assigned', volunteer_id = "
                              "(SELECT min(id) FROM volunteers) WHERE run_id = :run"),
                         {"run": rid})
            conn.execute(text("UPDATE outreach_tasks SET status = 'done', outcome = 'reached' "
                              "WHERE run_id = :run"), {"run": rid})
        t0 = bench_report._step(f"notices of {len(assemblies)} assemblies", t0)
    with eng.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if pg else "PRAGMA wal_checkpoint(TRUNCATE)")
        if not pg:
            conn.exec_driver_sql("ANALYZE")
    bench_report._step("vacuum/analyze", t0)
    return eng


def measure(eng: Engine, repeat: int, period: str | None = None) -> dict[str, float]:
    from outreach.tasks.kernel import rules
    from outreach.tasks.access.permissions import SYSTEM
    from outreach.tasks.scorecard.scorecard import scorecard

    period = period or rules.quarter_of(TODAY)

    def baseline():
        with Session(eng) as s:
            s.execute(text("SELECT branch_id, count(*) FROM members GROUP BY branch_id")).all()
            s.execute(text("SELECT count(*) FROM attendance")).scalar()

    rows: list[dict] = []

    def card():
        with Session(eng) as s:
            rows[:] = scorecard(s, actor=SYSTEM, period=period)

    out = {}
    for name, fn in (("baseline", baseline), ("scorecard", card)):
        fn()  # warm once
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    total = {r["indicator"]: f"{r['numerator']}/{r['denominator']} {r['status']}"
             for r in rows if r["branch"] == "TOTAL"}
    print(f"  {period} TOTAL: " + ", ".join(f"{k} {v}" for k, v in total.items()), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None,
                    help="default: sqlite:////tmp/outreach_scorecard_bench_<N>.db")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true", help="build the ledger even if present")
    ap.add_argument("--period", default=None,
                    help="the quarter scored (default: the bench's, 2026-Q4); "
                         "several, comma-separated, are timed one after the other")
    args = ap.parse_args(argv)
    url = args.database_url or f"sqlite:////tmp/outreach_scorecard_bench_{args.members}.db"
    eng = build(url, args.members, rebuild=args.rebuild)
    with eng.connect() as conn:
        sizes = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in
                 ("members", "meetings", "attendance", "outreach_tasks", "attempts",
                  "care_occasions", "contributions")}
    print(f"database: {eng.dialect.name}; " + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
          + f"; median of {args.repeat} (shared 2-core machine: noisy)", flush=True)
    for period in (args.period or "").split(",") if args.period else [None]:
        times = measure(eng, args.repeat, period or None)
        base = times["baseline"]
        for key in ("baseline", "scorecard"):
            ok = "" if key != "scorecard" else ("  (target < 3 s: " +
                                                ("met" if times[key] < 3 else "MISSED") + ")")
            print(f"  {key:9s} {times[key]:7.3f} s   {times[key] / base:5.1f}× baseline{ok}")
        sys.stdout.flush()
    eng.dispose()


if __name__ == "__main__":
    main()
