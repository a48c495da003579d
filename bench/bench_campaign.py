"""Benchmark: planning and assigning a survey run vs a raw INSERT … SELECT, same database.

    .venv/bin/python -m bench.bench_campaign [--members N] [--database-url URL] [--repeat K]

Builds a ledger once (`seed.generate.seed_ledger`) in a template database, then for each
repeat takes a fresh copy of it (SQLite: a file copy; PostgreSQL: ``CREATE DATABASE …
TEMPLATE …``) and times, each in a fresh child process (so that its peak RSS is its own):

* ``plan``      `tasks.plan.plan_campaign`: survey over every member, ranges of
                ``--batch-size``, targeting + assignment (continuity, branch fallback,
                least loaded) + the insert, one transaction per range, history by trigger;
* ``raw``       one ``INSERT INTO outreach_tasks … SELECT … FROM members WHERE <same
                targeting>`` into the real table: same indexes, same CHECKs, same history
                triggers; every task ``open`` (no assignment), one transaction;
* ``raw-bare``  the same SELECT into a bare copy of the table (no index, no constraint,
                no trigger): the floor, what the SELECT and the row writes alone cost.

The target (issue 3) is ``plan`` within 2× of ``raw``. Peak RSS is the child's
``ru_maxrss``; on PostgreSQL the server's memory is not in it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TODAY = dt.date(2026, 11, 2)
PERIOD = "2026-11"


# --- children: one measured step each ----------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_seed(url: str, members: int, volunteers: int | None, seed: int) -> dict:
    from db import migrate
    from db.session import make_engine

    eng = make_engine(url)
    migrate.upgrade(eng)
    t0 = time.perf_counter()
    try:
        from seed.generate import seed_ledger
    except ImportError:  # pragma: no cover - the generator is part of the project
        raise SystemExit("seed.generate.seed_ledger is missing") from None
    res = seed_ledger(eng, members=members, volunteers=volunteers, seed=seed, today=TODAY)
    seconds = time.perf_counter() - t0
    with eng.begin() as conn:
        if eng.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return {"seconds": seconds, "members": res.members, "volunteers": res.volunteers,
            "coordinators": res.coordinators, "branches": res.branches, "rss_mb": _rss_mb()}


def _raw_sql(table: str) -> str:
    from db.machines import CONTACTABLE_MEMBER

    statuses = ", ".join(f"'{s}'" for s in sorted(CONTACTABLE_MEMBER))
    return f"""
        INSERT INTO {table} (run_id, member_id, kind, status, volunteer_id, status_by,
            status_reason, attempts, max_attempts, due_on, closes_on, pending_confirmation,
            version, created_at)
        SELECT :run, m.id, 'survey', 'open', NULL, NULL, 'planned', 0, :max_attempts,
               :due_on, :closes_on, :no, 1, :now
        FROM members m
        WHERE m.status IN ({statuses})
          AND (m.confirmed_on IS NULL OR m.confirmed_on < :since)
          AND NOT EXISTS (SELECT 1 FROM outreach_tasks t WHERE t.member_id = m.id AND
                (t.run_id = :run OR (t.kind = 'survey' AND t.status IN ('open', 'assigned'))))
        ORDER BY m.id"""


def _child_step(url: str, step: str, batch: int) -> dict:
    from sqlalchemy import Date, DateTime, bindparam, text
    from sqlalchemy.orm import Session

    from db.models import CampaignKind
    from db.session import make_engine, writer
    from tasks import plan

    eng = make_engine(url)
    rss_start = _rss_mb()
    out: dict = {"step": step}
    if step == "plan":
        t0, c0 = time.perf_counter(), time.process_time()
        res = plan.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY,
                                 batch_size=batch)
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
        out["counts"] = {k: v for k, v in res.items() if k != "run_id"}
        t0 = time.perf_counter()
        with Session(eng) as s:
            rows = plan.summary(s, res["run_id"])
        out["summary_seconds"] = time.perf_counter() - t0
        out["branches"] = len(rows)
    else:
        with Session(writer(eng)) as s, s.begin():
            run = plan.open_run(s, CampaignKind.SURVEY, PERIOD)
            camp = plan.ensure_campaign(s, CampaignKind.SURVEY)
            run_id, window, due_days, max_att = (run.id, camp.window_days, camp.due_days,
                                                 camp.max_attempts)
        table = "outreach_tasks"
        if step == "raw-bare":
            table = "bench_tasks"
            with eng.begin() as conn:
                conn.exec_driver_sql(
                    "CREATE TABLE bench_tasks (id INTEGER, run_id INTEGER, member_id INTEGER, "
                    "kind VARCHAR(24), status VARCHAR(24), volunteer_id INTEGER, "
                    "status_by INTEGER, status_reason TEXT, attempts INTEGER, "
                    "max_attempts INTEGER, next_attempt_on DATE, due_on DATE, closes_on DATE, "
                    "outcome VARCHAR(24), pending_confirmation BOOLEAN, version INTEGER, "
                    "created_at TIMESTAMP)")
        stmt = text(_raw_sql(table)).bindparams(
            bindparam("since", type_=Date), bindparam("due_on", type_=Date),
            bindparam("closes_on", type_=Date), bindparam("now", type_=DateTime))
        params = {"run": run_id, "max_attempts": max_att, "no": False,
                  "since": TODAY - dt.timedelta(days=window),
                  "due_on": TODAY + dt.timedelta(days=due_days),
                  "closes_on": plan.closes_on(PERIOD, TODAY, due_days),
                  "now": dt.datetime(2026, 11, 2, 8, 0)}
        t0, c0 = time.perf_counter(), time.process_time()
        with writer(eng).begin() as conn:
            out["rows"] = conn.execute(stmt, params).rowcount
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
    out["rss_start_mb"] = rss_start
    out["rss_mb"] = _rss_mb()
    eng.dispose()
    return out


# --- the parent: templates, fresh copies, medians ------------------------------------------


def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.bench_campaign", *args],
                          capture_output=True, text=True, env={**os.environ})
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {args[:2]} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class _Sqlite:
    def __init__(self, workdir: Path):
        self.template = workdir / "template.db"
        self.work = workdir / "work.db"

    def template_url(self) -> str:
        for p in (self.template, Path(f"{self.template}-wal"), Path(f"{self.template}-shm")):
            p.unlink(missing_ok=True)
        return f"sqlite:///{self.template}"

    def fresh(self) -> str:
        for p in (self.work, Path(f"{self.work}-wal"), Path(f"{self.work}-shm")):
            p.unlink(missing_ok=True)
        shutil.copyfile(self.template, self.work)
        return f"sqlite:///{self.work}"

    def cleanup(self) -> None:
        for p in (self.work, Path(f"{self.work}-wal"), Path(f"{self.work}-shm")):
            p.unlink(missing_ok=True)


class _Postgres:
    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.work_name = self.url.database
        self.template_name = f"{self.work_name}_tpl"

    def _admin(self):
        from sqlalchemy import create_engine

        return create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def _recreate(self, name: str, template: str | None = None) -> None:
        eng = self._admin()
        with eng.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            tpl = f' TEMPLATE "{template}"' if template else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{tpl}')
        eng.dispose()

    def template_url(self) -> str:
        self._recreate(self.template_name)
        return self.url.set(database=self.template_name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        self._recreate(self.work_name, self.template_name)
        url = self.url.set(database=self.work_name).render_as_string(hide_password=False)
        from sqlalchemy import create_engine

        eng = create_engine(url)  # statistics are not copied by reference: analyze the copy
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
        eng.dispose()
        return url

    def cleanup(self) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=200_000)
    ap.add_argument("--volunteers", type=int, default=None,
                    help="default: seed_ledger's (members // 40, coordinators included)")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL URL of a scratch database (dropped and recreated, a "
                         "<name>_tpl template beside it); default: SQLite files in a temp dir")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", default=None, help="SQLite: where the files go")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        kind, url, *rest = args._child
        if kind == "seed":
            out = _child_seed(url, args.members, args.volunteers, args.seed)
        else:
            out = _child_step(url, kind, int(rest[0]))
        print(json.dumps(out))
        return

    from tasks.plan import DEFAULT_BATCH

    batch = args.batch_size or DEFAULT_BATCH
    tmp = None
    if args.database_url:
        db = _Postgres(args.database_url)
        label = "PostgreSQL"
    else:
        tmp = Path(args.workdir or tempfile.mkdtemp(prefix="outreach-bench-"))
        tmp.mkdir(parents=True, exist_ok=True)
        db = _Sqlite(tmp)
        label = "SQLite"
    common = ["--members", str(args.members), "--seed", str(args.seed)]
    if args.volunteers is not None:
        common += ["--volunteers", str(args.volunteers)]

    print(f"# bench_campaign: survey plan+assign vs raw INSERT … SELECT on {label}, "
          f"{os.cpu_count()} cores, {args.repeat} repeats (median), batch {batch}")
    seeded = _child(["--_child", "seed", db.template_url(), *common])
    print(f"ledger: {seeded['members']:,} members, {seeded['volunteers']:,} volunteers "
          f"({seeded['coordinators']} coordinators), {seeded['branches']} branches; "
          f"seeded in {seeded['seconds']:.1f} s")

    results: dict[str, list[dict]] = {"plan": [], "raw": [], "raw-bare": []}
    for i in range(args.repeat):
        for step in results:
            out = _child(["--_child", step, db.fresh(), str(batch), *common])
            results[step].append(out)
            print(f"  repeat {i + 1}: {step:8s} {out['seconds']:7.2f} s wall "
                  f"{out['cpu']:7.2f} s cpu  peak RSS {out['rss_mb']:.0f} MB")
    db.cleanup()
    if tmp is not None and not args.workdir:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    rss = {k: max(r["rss_mb"] for r in v) for k, v in results.items()}
    counts = results["plan"][-1]["counts"]
    raw_rows = results["raw"][-1]["rows"]
    print(f"tasks: {counts['created']:,} created by plan (raw: {raw_rows:,}), "
          f"{counts['assigned']:,} assigned ({counts['continuity']:,} by continuity, "
          f"{counts['parent']:,} to a parent branch), {counts['unassigned']:,} left open; "
          f"{counts['ranges']} ranges")
    print(f"plan+assign      median {med['plan']:7.2f} s   peak RSS {rss['plan']:.0f} MB "
          f"(python+sqlalchemy alone: {results['plan'][-1]['rss_start_mb']:.0f} MB)")
    print(f"raw INSERT…SELECT median {med['raw']:7.2f} s   (real table: indexes, CHECKs, "
          f"history triggers; no assignment)")
    print(f"raw into bare copy median {med['raw-bare']:7.2f} s   (no index, constraint or "
          f"trigger)")
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in results.items()}
    if label == "SQLite":
        print(f"cpu of this process (SQLite works in-process; steadier than wall time on a "
              f"shared machine): plan {cpu['plan']:.2f} s, raw {cpu['raw']:.2f} s, "
              f"raw-bare {cpu['raw-bare']:.2f} s -> ratio {cpu['plan'] / cpu['raw']:.2f}x")
    ratio = med["plan"] / med["raw"]
    print(f"ratio plan / raw       {ratio:5.2f}x   target <= 2x: "
          f"{'met' if ratio <= 2 else 'MISSED'}")
    print(f"ratio plan / raw-bare  {med['plan'] / med['raw-bare']:5.2f}x   (for information)")
    print(f"peak memory {max(rss.values()):.0f} MB   target < 300 MB: "
          f"{'met' if max(rss.values()) < 300 else 'MISSED'}")
    print(f"summary per branch: {statistics.median(r['summary_seconds'] for r in results['plan']):.2f} s "
          f"({results['plan'][-1]['branches']} branches)")


if __name__ == "__main__":
    main()
