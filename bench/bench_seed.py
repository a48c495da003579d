"""Benchmark: seeding a ledger vs a raw INSERT … SELECT of as many members, same run.

    .venv/bin/python -m bench.bench_seed [--members N ...] [--database-url URL] [--repeat K]

For each size (default 100,000 and 1,000,000) and each repeat, on a fresh migrated database
(SQLite: a copy of a migrated template file; PostgreSQL: ``CREATE DATABASE … TEMPLATE``),
each in a fresh child process so that its peak RSS is its own:

* ``seed``  `seed.generate.seed_ledger`: branches, volunteers with access codes, members,
            all in one transaction; the history triggers write one row per member;
* ``raw``   one ``INSERT INTO members … SELECT`` over a recursive CTE (SQLite) or
            ``generate_series`` (PostgreSQL) with columns of similar widths: the same
            table, indexes, CHECKs, foreign keys and history triggers, no Python per row.

Targets (issue): 100k members ≤ 10 s and 1M ≤ 60 s on SQLite, peak RSS < 500 MB.
The ``--database-url`` database is dropped and recreated (a ``<name>_tpl`` beside it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import rss_mb, run_child

TODAY = dt.date(2026, 11, 2)
TARGETS = {100_000: 10.0, 1_000_000: 60.0}
RSS_TARGET_MB = 500
BRANCHES = 40

_COLUMNS = ("id, ledger_no, name, birth_date, phone, home_address, current_address, residence, "
            "homebound, family_contact_name, family_contact_phone, branch_id, interests, needs, "
            "status, status_reason, phone_verified_on, address_verified_on, "
            "family_contact_verified_on, confirmed_on, last_contact_on, last_reached_on, "
            "failed_contacts, version, created_at")

_RAW_SQLITE = f"""
WITH RECURSIVE s(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM s WHERE i < :stop)
INSERT INTO members ({_COLUMNS})
SELECT i, printf('M%07d', i), 'Given' || (i % 997) || ' Family' || (i % 991),
  date('1931-01-01', '+' || (i % 10950) || ' days'),
  printf('(%03d) %03d-%04d', 200 + i % 700, i % 1000, i % 10000),
  (i % 1200) || ' Street Name ' || (i % 1000) || ', Home City, ST ' || printf('%05d', i % 99999),
  CASE WHEN i % 5 = 0 THEN (i % 1100) || ' Other Street ' || (i % 977) ||
       ', Other City, ST ' || printf('%05d', i % 88888) END,
  CASE WHEN i % 5 = 0 THEN 'away' ELSE 'local' END, i % 10 = 0,
  CASE WHEN i % 10 <> 0 THEN 'Kin' || (i % 983) || ' Family' || (i % 991) END,
  CASE WHEN i % 10 <> 0 THEN printf('(%03d) %03d-%04d', 300 + i % 600, i % 999, i % 9999) END,
  :first_branch + i % {BRANCHES},
  CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN 'chess' ELSE 'calligraphy,tai chi' END,
  CASE WHEN i % 10 = 0 THEN 'large print materials' END,
  CASE WHEN i % 4 = 0 THEN 'unverified' ELSE 'active' END, 'seeded',
  CASE WHEN i % 4 <> 0 THEN date(:today, '-' || (i % 730) || ' days') END,
  CASE WHEN i % 4 <> 0 THEN date(:today, '-' || (i % 730) || ' days') END,
  CASE WHEN i % 4 <> 0 THEN date(:today, '-' || (i % 730) || ' days') END,
  CASE WHEN i % 4 <> 0 THEN date(:today, '-' || (i % 730) || ' days') END,
  CASE WHEN i % 4 <> 0 THEN date(:today, '-' || (i % 365) || ' days') END,
  CASE WHEN i % 4 <> 0 AND i % 3 <> 0 THEN date(:today, '-' || (i % 365) || ' days') END,
  0, 1, :now
FROM s"""

_RAW_PG = f"""
INSERT INTO members ({_COLUMNS})
SELECT i, 'M' || lpad(i::text, 7, '0'), 'Given' || (i % 997) || ' Family' || (i % 991),
  DATE '1931-01-01' + (i % 10950)::int,
  format('(%s) %s-%s', 200 + i % 700, lpad((i % 1000)::text, 3, '0'),
         lpad((i % 10000)::text, 4, '0')),
  (i % 1200) || ' Street Name ' || (i % 1000) || ', Home City, ST '
    || lpad((i % 99999)::text, 5, '0'),
  CASE WHEN i % 5 = 0 THEN (i % 1100) || ' Other Street ' || (i % 977) ||
       ', Other City, ST ' || lpad((i % 88888)::text, 5, '0') END,
  CASE WHEN i % 5 = 0 THEN 'away' ELSE 'local' END, i % 10 = 0,
  CASE WHEN i % 10 <> 0 THEN 'Kin' || (i % 983) || ' Family' || (i % 991) END,
  CASE WHEN i % 10 <> 0 THEN format('(%s) %s-%s', 300 + i % 600,
       lpad((i % 999)::text, 3, '0'), lpad((i % 9999)::text, 4, '0')) END,
  :first_branch + i % {BRANCHES},
  CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN 'chess' ELSE 'calligraphy,tai chi' END,
  CASE WHEN i % 10 = 0 THEN 'large print materials' END,
  CASE WHEN i % 4 = 0 THEN 'unverified' ELSE 'active' END, 'seeded',
  CASE WHEN i % 4 <> 0 THEN CAST(:today AS date) - (i % 730)::int END,
  CASE WHEN i % 4 <> 0 THEN CAST(:today AS date) - (i % 730)::int END,
  CASE WHEN i % 4 <> 0 THEN CAST(:today AS date) - (i % 730)::int END,
  CASE WHEN i % 4 <> 0 THEN CAST(:today AS date) - (i % 730)::int END,
  CASE WHEN i % 4 <> 0 THEN CAST(:today AS date) - (i % 365)::int END,
  CASE WHEN i % 4 <> 0 AND i % 3 <> 0 THEN CAST(:today AS date) - (i % 365)::int END,
  0, 1, CAST(:now AS timestamp)
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS i"""


# --- children: one measured step each ----------------------------------------------------


def _child_seed(url: str, members: int, seed: int, locale: str) -> dict:
    from outreach.db.session import make_engine
    from outreach.seed.generate import seed_ledger

    eng = make_engine(url)
    rss_start = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    res = seed_ledger(eng, members=members, seed=seed, locale=locale, today=TODAY)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    eng.dispose()
    return {"seconds": seconds, "cpu": cpu, "members": res.members, "volunteers": res.volunteers,
            "coordinators": res.coordinators, "branches": res.branches,
            "rss_start_mb": rss_start, "rss_mb": rss_mb()}


def _child_raw(url: str, members: int) -> dict:
    from sqlalchemy import text

    from outreach.db.session import make_engine, writer

    eng = make_engine(url)
    pg = eng.dialect.name == "postgresql"
    with writer(eng).begin() as conn:
        first = conn.execute(text(
            "INSERT INTO branches (name, kind) VALUES ('Bench Committee', 'committee') "
            "RETURNING id")).scalar_one()
        for i in range(BRANCHES):
            conn.execute(text("INSERT INTO branches (name, kind, parent_id) "
                              "VALUES (:n, 'geographic', :p)"), {"n": f"Bench {i}", "p": first})
    params = {"start": 1, "stop": members, "first_branch": first + 1,
              "today": TODAY.isoformat(), "now": "2026-11-02 08:00:00.000000"}
    t0, c0 = time.perf_counter(), time.process_time()
    with writer(eng).begin() as conn:
        rows = conn.execute(text(_RAW_PG if pg else _RAW_SQLITE), params).rowcount
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if pg:  # the ids were explicit: keep the sequence honest like the seeder does
        with eng.begin() as conn:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('members', 'id'), "
                                 "(SELECT MAX(id) FROM members))")
    eng.dispose()
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "rss_mb": rss_mb()}


def _child(args: list[str]) -> dict:
    return run_child("bench.bench_seed", args)


# --- fresh databases ---------------------------------------------------------------------


class _Sqlite:
    label = "SQLite"

    def __init__(self, workdir: Path):
        self.template = workdir / "template.db"
        self.work = workdir / "work.db"

    @staticmethod
    def _remove(path: Path) -> None:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)

    def prepare(self) -> None:
        from outreach.db import migrate
        from outreach.db.session import make_engine

        self._remove(self.template)
        eng = make_engine(f"sqlite:///{self.template}")
        migrate.upgrade(eng)
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        eng.dispose()

    def fresh(self) -> str:
        self._remove(self.work)
        shutil.copyfile(self.template, self.work)
        return f"sqlite:///{self.work}"

    def cleanup(self) -> None:
        self._remove(self.work)
        self._remove(self.template)


class _Postgres:
    label = "PostgreSQL"

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        if self.url.drivername == "postgresql":
            self.url = self.url.set(drivername="postgresql+psycopg")
        self.work_name = self.url.database
        self.template_name = f"{self.work_name}_tpl"

    def _recreate(self, name: str, template: str | None = None) -> None:
        from sqlalchemy import create_engine

        eng = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            tpl = f' TEMPLATE "{template}"' if template else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{tpl}')
        eng.dispose()

    def _url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def prepare(self) -> None:
        from outreach.db import migrate
        from outreach.db.session import make_engine

        self._recreate(self.template_name)
        eng = make_engine(self._url(self.template_name))
        migrate.upgrade(eng)
        eng.dispose()

    def fresh(self) -> str:
        self._recreate(self.work_name, self.template_name)
        return self._url(self.work_name)

    def cleanup(self) -> None:
        from sqlalchemy import create_engine

        eng = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.template_name}" WITH (FORCE)')
        eng.dispose()


# --- the parent ----------------------------------------------------------------------------


def _run(db, sizes: list[int], repeat: int, seed: int, locale: str) -> None:
    print(f"# bench_seed on {db.label}: seed_ledger vs raw INSERT … SELECT, {os.cpu_count()} "
          f"cores, locale {locale}, median of {repeat}")
    db.prepare()
    try:
        for n in sizes:
            res: dict[str, list[dict]] = {"seed": [], "raw": []}
            for i in range(repeat):
                out = _child(["--_child", "seed", db.fresh(), str(n), str(seed), locale])
                res["seed"].append(out)
                raw = _child(["--_child", "raw", db.fresh(), str(n)])
                res["raw"].append(raw)
                print(f"  {n:>9,} repeat {i + 1}: seed {out['seconds']:6.2f} s (cpu "
                      f"{out['cpu']:.2f} s, peak RSS {out['rss_mb']:.0f} MB)   raw "
                      f"{raw['seconds']:6.2f} s (cpu {raw['cpu']:.2f} s)")
            med = statistics.median(r["seconds"] for r in res["seed"])
            cpu_med = statistics.median(r["cpu"] for r in res["seed"])
            raw_cpu = statistics.median(r["cpu"] for r in res["raw"])
            raw_med = statistics.median(r["seconds"] for r in res["raw"])
            rss = max(r["rss_mb"] for r in res["seed"])
            last = res["seed"][-1]
            target = TARGETS.get(n) if db.label == "SQLite" else None
            verdict = ""
            if target is not None:
                verdict = (f"   target <= {target:.0f} s: "
                           f"{'met' if med <= target else 'MISSED'}")
            print(f"{n:>9,} members ({last['volunteers']:,} volunteers, {last['coordinators']} "
                  f"coordinators, {last['branches']} branches)")
            print(f"    seed_ledger       median {med:7.2f} s  {n / med:>10,.0f} rows/s  "
                  f"peak RSS {rss:.0f} MB (python+imports {last['rss_start_mb']:.0f} MB)"
                  f"{verdict}")
            print(f"    raw INSERT…SELECT median {raw_med:7.2f} s  {n / raw_med:>10,.0f} rows/s"
                  f"  (same table, indexes, triggers)")
            print(f"    this process's CPU: seed {cpu_med:.2f} s, raw {raw_cpu:.2f} s "
                  f"(less sensitive to a busy machine; on PostgreSQL the server's is not in it)")
            print(f"    ratio seed / raw  {med / raw_med:5.2f}x   peak RSS target < "
                  f"{RSS_TARGET_MB} MB: {'met' if rss < RSS_TARGET_MB else 'MISSED'}")
            sys.stdout.flush()
    finally:
        db.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="ledger sizes to time (default: 100000 1000000)")
    ap.add_argument("--database-url", default=None,
                    help="also run on PostgreSQL: a scratch database, dropped and recreated "
                         "(with a <name>_tpl template beside it)")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--locale", default="en_US")
    ap.add_argument("--workdir", default=None, help="SQLite: where the files go")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        kind, url, n, *rest = args._child
        if kind == "seed":
            out = _child_seed(url, int(n), int(rest[0]), rest[1])
        else:
            out = _child_raw(url, int(n))
        print(json.dumps(out))
        return

    if not args.no_sqlite:
        tmp = Path(args.workdir or tempfile.mkdtemp(prefix="outreach-bench-seed-"))
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            _run(_Sqlite(tmp), args.members, args.repeat, args.seed, args.locale)
        finally:
            if not args.workdir:
                shutil.rmtree(tmp, ignore_errors=True)
    if args.database_url:
        _run(_Postgres(args.database_url), args.members, args.repeat, args.seed, args.locale)


if __name__ == "__main__":
    main()
