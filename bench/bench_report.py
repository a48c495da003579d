"""Benchmark: the coverage report over a big ledger vs the cost of just scanning it.

    .venv/bin/python -m bench.bench_report [--members N] [--tasks-per-member 3]
        [--database-url URL] [--repeat K] [--rebuild] [--index SPEC ...]

Builds (once; reused while its counts match, ``--rebuild`` forces it) a ledger of
``--members`` members (`seed.generate.seed_ledger`) and ``--tasks-per-member`` campaign
runs with one task per member each, written by ``INSERT … SELECT`` over members: every
task is inserted ``open`` or ``assigned`` (initial states), then UPDATEs move a realistic
mix to done (with outcomes reached / delivered / refused / moved …), failed and expired,
and leave some assigned past their due date (overdue). The triggers write the history.

Then times, median of ``--repeat`` runs each:

* ``baseline``  ``SELECT count(*) FROM outreach_tasks`` + ``SELECT branch_id, count(*)
                FROM members GROUP BY branch_id``: the cost of just scanning both tables;
* ``coverage``  `tasks.campaigns.coverage.coverage` (per branch and segment, TOTAL row);
* ``segment``   the per-segment variant;
* ``workload``  `tasks.campaigns.coverage.volunteer_workload`.

``--index 'outreach_tasks(run_id, member_id, status, outcome)'`` creates that index
afterwards (named ``bench_ix_<n>``) and times everything again: with and without.

Default database: a SQLite file under /tmp. For PostgreSQL, make a database of your own and
pass ``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/outreach_report_bench``.
Timings on a shared machine are noisy: the medians are what to read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

TODAY = dt.date(2026, 11, 20)
#: (period, campaign kind, started_at) of the runs, oldest first; the last one is current.
RUNS = [("2026-06", "survey"), ("2026-07", "phone_visit"), ("2026-08", "delivery"),
        ("2026-09", "phone_visit"), ("2026-10", "delivery"), ("2026-11", "phone_visit")]


def _engine(url: str) -> Engine:
    from outreach.db.session import make_engine

    return make_engine(url)


def _counts(eng: Engine) -> tuple[int, int]:
    try:
        with eng.connect() as conn:
            m = conn.execute(text("SELECT count(*) FROM members")).scalar()
            t = conn.execute(text("SELECT count(*) FROM outreach_tasks")).scalar()
            return int(m), int(t)
    except Exception:  # noqa: BLE001 - no schema yet
        return -1, -1


def _reset(url: str) -> Engine:
    """An empty, migrated database at ``url``."""
    from outreach.db import migrate

    if url.startswith("sqlite"):
        from pathlib import Path

        path = Path(url.split("///", 1)[1])
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        eng = _engine(url)
    else:
        eng = _engine(url)
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(eng)
    return eng


def _step(label: str, t0: float) -> float:
    now = time.perf_counter()
    print(f"  {label}: {now - t0:.1f} s", flush=True)
    return now


def _patch_pg_guards(eng: Engine) -> None:
    """Drop ``LIMIT 1`` from the PostgreSQL update guards, in this bench database only.

    With it the planner picks a nested loop over the two transition tables (it expects to
    stop at the first illegal row, and there is none), so a bulk UPDATE of n rows costs
    O(n²): 10,000 member rows took 29 s, 1,000,000 task rows would take days. Without it
    (``SELECT … INTO`` keeps the first row anyway) it is a hash join: 10,000 rows in 0.7 s.
    Proposed for `db.guards`; a no-op once it is fixed there.
    """
    from outreach.db import guards

    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        for machine in ("member", "task"):
            for stmt in guards._postgres(machine):
                if "_after_update() RETURNS" in stmt and "LIMIT 1;" in stmt:
                    cur.execute(stmt.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
                                .replace("\n            LIMIT 1;", ";"))
                    print(f"  patched the {machine} update guard (LIMIT 1 dropped; see "
                          "_patch_pg_guards)", flush=True)
        raw.commit()
    finally:
        raw.close()


def build(url: str, members: int, runs: int, *, rebuild: bool) -> Engine:
    """The ledger and its tasks (reused when the counts already match)."""
    eng = _engine(url)
    if not rebuild and _counts(eng) == (members, members * runs):
        print(f"reusing the ledger at {url.split('@')[-1]}: {members} members, "
              f"{members * runs} tasks", flush=True)
        return eng
    eng.dispose()
    print(f"building: {members} members, {runs} runs × {members} tasks …", flush=True)
    eng = _reset(url)
    from outreach.db.session import writer
    from outreach.seed.generate import seed_ledger

    if eng.dialect.name == "postgresql":
        _patch_pg_guards(eng)
    t0 = time.perf_counter()
    seed_ledger(eng, members=members, seed=7, today=TODAY)
    t0 = _step("seed_ledger", t0)
    pg = eng.dialect.name == "postgresql"
    with writer(eng).begin() as conn:
        vlo, vhi = conn.execute(text("SELECT min(id), max(id) FROM volunteers")).one()
        nvol = vhi - vlo + 1
        # Some members became unreachable along legal paths (the triggers check them).
        conn.execute(text("UPDATE members SET status = 'unreachable', failed_contacts = 3, "
                          "status_reason = 'bench' WHERE status IN ('active', 'unverified') "
                          "AND id % 29 = 0"))
        for i, (period, kind) in enumerate(RUNS[-runs:] if runs <= len(RUNS) else
                                           [(f"20{i // 12 + 20:02d}-{i % 12 + 1:02d}",
                                             "phone_visit") for i in range(runs)]):
            cid = conn.execute(text("SELECT id FROM campaigns WHERE name = :n"),
                               {"n": kind}).scalar()
            if cid is None:
                conn.execute(text("INSERT INTO campaigns (name, kind, window_days, cadence_days,"
                                  " max_attempts, due_days, retry_days) VALUES "
                                  "(:n, :n, 365, 30, 3, 14, 2)"), {"n": kind})
                cid = conn.execute(text("SELECT id FROM campaigns WHERE name = :n"),
                                   {"n": kind}).scalar()
            started = dt.datetime(2026, 1, 1) + dt.timedelta(days=30 * i)
            conn.execute(text("INSERT INTO campaign_runs (campaign_id, period, started_at) "
                              "VALUES (:c, :p, :s)"), {"c": cid, "p": period, "s": started})
            rid = conn.execute(text("SELECT max(id) FROM campaign_runs")).scalar()
            due = TODAY - dt.timedelta(days=7 * (runs - i))  # older runs: long due
            if i == runs - 1:
                due = TODAY + dt.timedelta(days=5)
            # Open (no volunteer) for ~8 %, else assigned round-robin over the volunteers.
            conn.execute(text(f"""
                INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id,
                    status_by, status_reason, attempts, max_attempts, due_on, closes_on,
                    pending_confirmation, version, created_at)
                SELECT :run, m.id, :kind,
                       CASE WHEN (m.id * 7 + :run) % 100 < 8 THEN 'open' ELSE 'assigned' END,
                       CASE WHEN (m.id * 7 + :run) % 100 < 8 THEN NULL
                            ELSE :vlo + (m.id + :run) % :nvol END,
                       NULL, 'bench', 0, 3, :due, :closes, {'false' if pg else '0'}, 1, :now
                FROM members m ORDER BY m.id"""),
                {"run": rid, "kind": kind, "vlo": vlo, "nvol": nvol, "due": due,
                 "closes": due + dt.timedelta(days=28), "now": started})
            # Done with a mix of outcomes (older runs mostly finished; the current one half).
            done_share = 45 if i == runs - 1 else 80
            conn.execute(text(f"""
                UPDATE outreach_tasks SET status = 'done', status_reason = 'bench',
                    attempts = 1,
                    outcome = CASE WHEN (member_id * 13) % 100 < 60 THEN
                                  CASE kind WHEN 'delivery' THEN 'delivered' ELSE 'reached' END
                              WHEN (member_id * 13) % 100 < 70 THEN
                                  CASE kind WHEN 'delivery' THEN 'delivered_to_family'
                                  ELSE 'refused' END
                              WHEN (member_id * 13) % 100 < 85 THEN 'refused'
                              ELSE 'moved' END
                WHERE run_id = :run AND status = 'assigned'
                  AND (member_id * 31 + :run) % 100 < {done_share}"""), {"run": rid})
            if i < runs - 1:
                conn.execute(text("""
                    UPDATE outreach_tasks SET status = 'failed', status_reason = 'bench',
                        attempts = 3, outcome = 'no_answer'
                    WHERE run_id = :run AND status = 'assigned' AND member_id % 2 = 0"""),
                    {"run": rid})
                conn.execute(text("""
                    UPDATE outreach_tasks SET status = 'expired', status_reason = 'bench'
                    WHERE run_id = :run AND status IN ('open', 'assigned')
                      AND member_id % 3 <> 0"""), {"run": rid})
            t0 = _step(f"run {i + 1} ({kind}) tasks", t0)
        # Attempts for the done tasks of the current run (the workload's success rate).
        rid = conn.execute(text("SELECT max(id) FROM campaign_runs")).scalar()
        conn.execute(text("""
            INSERT INTO attempts (task_id, volunteer_id, recorded_by, outcome, recorded_on,
                recorded_at)
            SELECT id, volunteer_id, volunteer_id, outcome, :day, :now FROM outreach_tasks
            WHERE run_id = :run AND status = 'done'"""),
            {"run": rid, "day": TODAY - dt.timedelta(days=3),
             "now": dt.datetime(2026, 11, 17, 10)})
        # Reached this month: the members of the current run's successful tasks.
        conn.execute(text("""
            UPDATE members SET last_reached_on = :day, last_contact_on = :day
            WHERE id IN (SELECT member_id FROM outreach_tasks WHERE run_id = :run
                         AND outcome IN ('reached', 'delivered'))"""),
            {"run": rid, "day": TODAY - dt.timedelta(days=3)})
        t0 = _step("attempts and last reached", t0)
    with eng.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        if pg:
            conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    _step("vacuum/checkpoint", t0)
    return eng


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(eng: Engine, repeat: int) -> dict[str, float]:
    from outreach.tasks.access.permissions import SYSTEM
    from outreach.tasks.campaigns.coverage import coverage, coverage_by_segment, volunteer_workload

    out = {}
    with Session(eng) as s:
        def baseline():
            s.execute(text("SELECT count(*) FROM outreach_tasks")).scalar()
            s.execute(text("SELECT branch_id, count(*) FROM members GROUP BY branch_id")).all()
            s.rollback()

        def run(fn):
            def go():
                fn(s, today=TODAY, actor=SYSTEM)
                s.rollback()
            return go

        baseline()  # warm the cache once
        out["baseline"] = _median(baseline, repeat)
        rows = coverage(s, today=TODAY, actor=SYSTEM)
        out["coverage"] = _median(run(coverage), repeat)
        out["segment"] = _median(run(coverage_by_segment), repeat)
        out["workload"] = _median(run(volunteer_workload), repeat)
    total = rows[-1]
    print("  TOTAL row: " + ", ".join(f"{k}={v}" for k, v in total.items()
                                      if k not in ("branch", "segment")), flush=True)
    return out


def report(label: str, times: dict[str, float]) -> None:
    base = times["baseline"]
    print(f"{label}:")
    for key in ("baseline", "coverage", "segment", "workload"):
        ok = "" if key != "coverage" else ("  (target < 2 s: " +
                                           ("met" if times[key] < 2 else "MISSED") + ")")
        print(f"  {key:9s} {times[key]:7.3f} s   {times[key] / base:5.1f}× baseline{ok}")
    sys.stdout.flush()


_SPEC = re.compile(r"^\s*(\w+)\s*\(([\w\s,]+)\)\s*$")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--tasks-per-member", type=int, default=3,
                    help="campaign runs, one task per member in each")
    ap.add_argument("--database-url", default=None,
                    help="default: sqlite:////tmp/outreach_report_bench_<N>.db")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true", help="build the ledger even if present")
    ap.add_argument("--index", action="append", default=[],
                    help="e.g. 'outreach_tasks(run_id, member_id, status, outcome)': "
                         "time again with this index (dropped afterwards)")
    args = ap.parse_args(argv)
    url = args.database_url or f"sqlite:////tmp/outreach_report_bench_{args.members}.db"
    eng = build(url, args.members, args.tasks_per_member, rebuild=args.rebuild)
    print(f"database: {eng.dialect.name}; {args.members} members, "
          f"{args.members * args.tasks_per_member} tasks; median of {args.repeat} "
          "(shared 2-core machine: noisy)", flush=True)
    report("without extra index", measure(eng, args.repeat))
    if args.index:
        names = []
        with eng.begin() as conn:
            for n, spec in enumerate(args.index):
                m = _SPEC.match(spec)
                if not m:
                    raise SystemExit(f"--index must read table(col, col), not {spec!r}")
                name = f"bench_ix_{n}"
                t0 = time.perf_counter()
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
                conn.exec_driver_sql(f"CREATE INDEX {name} ON {m.group(1)} ({m.group(2)})")
                names.append(name)
                print(f"  created {name} ON {spec.strip()} in {time.perf_counter() - t0:.1f} s")
        if eng.dialect.name == "postgresql":
            with eng.begin() as conn:
                conn.exec_driver_sql("ANALYZE outreach_tasks")
        report("with " + "; ".join(args.index), measure(eng, args.repeat))
        with eng.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    eng.dispose()


if __name__ == "__main__":
    main()
