"""Benchmark: planning and assigning a survey run vs a raw INSERT … SELECT, same database.

    .venv/bin/python -m bench.bench_campaign [--members N] [--database-url URL] [--repeat K]
        [--reuse-template] [--workdir DIR] [--steps plan,raw-same,raw,raw-bare]

Builds a ledger once (`seed.generate.seed_ledger`) in a template database (or reuses it
with ``--reuse-template``), then for each repeat takes a fresh copy of it (SQLite: a file
copy; PostgreSQL: ``CREATE DATABASE … TEMPLATE …``) and times, each in a fresh child
process (so that its peak RSS is its own):

* ``plan``      `tasks.campaigns.plan_jobs.plan_campaign`: survey over every member, ranges of
                ``--batch-size``, targeting + assignment (continuity, branch fallback,
                least loaded) + the insert, one transaction per range, history by trigger;
* ``raw-same``  one ``INSERT INTO outreach_tasks … SELECT … FROM members LEFT JOIN
                bench_map WHERE <same targeting>`` writing exactly the plan's rows: the
                volunteer and reason of every task the plan assigned are loaded into
                ``bench_map`` beforehand (untimed), the rest go in open. Real table: same
                indexes, CHECKs, foreign keys, history triggers; one transaction;
* ``raw``       the same targeting, every task ``open`` (no volunteer): cheaper rows (an
                assigned row costs one more foreign-key check in the task and in its
                history row, and a scattered entry in the volunteer index);
* ``raw-bare``  the same SELECT into a bare copy of the table (no index, constraint or
                trigger): the floor, what the SELECT and the row writes alone cost.

The target (issue 3) is ``plan`` within 2× of the raw INSERT … SELECT; the report gives the
ratio to both ``raw-same`` (the equivalent statement) and ``raw`` (the stricter one). Issue 15
("cheaper guards") asks for ``plan`` within 5× of ``raw-bare``: what the real table's
guards, CHECKs, foreign keys and indexes cost on top of the rows themselves. Wall
time and CPU time are both printed (the machine is shared; CPU time is steadier): on
SQLite the child's own CPU (SQLite runs in-process), on PostgreSQL the child's plus that
of the server backends it used (read from /proc, same machine). Peak RSS is the child's
``ru_maxrss``; on PostgreSQL the server's memory is not in it.
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

from bench.common import rss_mb, run_child

TODAY = dt.date(2026, 11, 2)
PERIOD = "2026-11"


# --- children: one measured step each ----------------------------------------------------


def _child_seed(url: str, members: int, volunteers: int | None, seed: int) -> dict:
    from outreach.db import migrate
    from outreach.db.session import make_engine

    eng = make_engine(url)
    migrate.upgrade(eng)
    t0 = time.perf_counter()
    try:
        from outreach.seed.generate import seed_ledger
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
            "coordinators": res.coordinators, "branches": res.branches, "rss_mb": rss_mb()}


def _child_info(url: str) -> dict:
    from outreach.db.session import make_engine

    eng = make_engine(url)
    with eng.connect() as conn:
        one = lambda sql: conn.exec_driver_sql(sql).scalar_one()  # noqa: E731
        out = {"seconds": 0.0, "members": one("SELECT COUNT(*) FROM members"),
               "volunteers": one("SELECT COUNT(*) FROM volunteers"),
               "coordinators": one("SELECT COUNT(*) FROM volunteers WHERE role = 'coordinator'"),
               "branches": one("SELECT COUNT(*) FROM branches"), "rss_mb": rss_mb()}
    eng.dispose()
    return out


def _raw_sql(table: str, *, mapped: bool = False) -> str:
    """The targeting of the survey as one INSERT … SELECT; ``mapped``: each member's
    volunteer and reason come from ``bench_map`` (precomputed, untimed), so the rows are
    exactly the plan's: assigned where the plan assigned, open elsewhere."""
    from outreach.db.machines import CONTACTABLE_MEMBER

    statuses = ", ".join(f"'{s}'" for s in sorted(CONTACTABLE_MEMBER))
    if mapped:
        cols = ("CASE WHEN b.volunteer_id IS NULL THEN 'open' ELSE 'assigned' END, "
                "b.volunteer_id, NULL, COALESCE(b.reason, 'planned')")
        source = "members m LEFT JOIN bench_map b ON b.member_id = m.id"
    else:
        cols, source = "'open', NULL, NULL, 'planned'", "members m"
    return f"""
        INSERT INTO {table} (run_id, member_id, kind, status, volunteer_id, status_by,
            status_reason, attempts, max_attempts, due_on, closes_on, pending_confirmation,
            version, created_at)
        SELECT :run, m.id, 'survey', {cols}, 0, :max_attempts,
               :due_on, :closes_on, :no, 1, :now
        FROM {source}
        WHERE m.status IN ({statuses})
          AND (m.confirmed_on IS NULL OR m.confirmed_on < :since)
          AND NOT EXISTS (SELECT 1 FROM outreach_tasks t WHERE t.member_id = m.id AND
                (t.run_id = :run OR (t.kind = 'survey' AND t.status IN ('open', 'assigned'))))
        ORDER BY m.id"""


class _ServerCpu:
    """PostgreSQL: CPU seconds of the server backends this engine connected to (read from
    /proc, same machine); the client's own CPU time misses the server's work."""

    def __init__(self, eng):
        from sqlalchemy import event

        self.pids: set[int] = set()
        self.ticks = os.sysconf("SC_CLK_TCK")
        if eng.dialect.name != "postgresql":
            return

        @event.listens_for(eng, "connect")
        def _connect(dbapi_conn, _record):
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                self.pids.add(cur.fetchone()[0])

    def seconds(self) -> float | None:
        if not self.pids:
            return None
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self.ticks


def _child_step(url: str, step: str, batch: int, mapfile: str) -> dict:
    from sqlalchemy import Date, DateTime, bindparam, text
    from sqlalchemy.orm import Session

    from outreach.db.models import CampaignKind
    from outreach.db.session import make_engine, writer
    from outreach.tasks.campaigns import plan, plan_jobs
    from outreach.tasks.work import engine as task_engine

    eng = make_engine(url)
    server = _ServerCpu(eng)
    rss_start = rss_mb()
    out: dict = {"step": step}
    if step == "plan":
        t0, c0 = time.perf_counter(), time.process_time()
        res = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY,
                                 batch_size=batch)
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
        out["server_cpu"] = server.seconds()
        out["counts"] = {k: v for k, v in res.items() if k != "run_id"}
        t0 = time.perf_counter()
        with Session(eng) as s:
            rows = plan.summary(s, res["run_id"])
        out["summary_seconds"] = time.perf_counter() - t0
        out["branches"] = len(rows)
        with eng.connect() as conn, open(mapfile, "w") as fh:  # for raw-same (untimed)
            for mid, vid, reason in conn.exec_driver_sql(
                    "SELECT member_id, volunteer_id, status_reason FROM outreach_tasks "
                    f"WHERE run_id = {int(res['run_id'])} AND volunteer_id IS NOT NULL"):
                fh.write(f"{mid}\t{vid}\t{reason}\n")
    else:
        with Session(writer(eng)) as s, s.begin():
            run = plan.open_run(s, CampaignKind.SURVEY, PERIOD)
            camp = task_engine.ensure_campaign(s, CampaignKind.SURVEY)
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
        if step == "raw-same":
            with open(mapfile) as fh:
                rows = [(int(a), int(b), c) for a, b, c in
                        (line.rstrip("\n").split("\t") for line in fh)]
            with eng.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE bench_map (member_id BIGINT PRIMARY KEY, "
                                     "volunteer_id BIGINT NOT NULL, reason TEXT NOT NULL)")
                raw = conn.connection.driver_connection
                if eng.dialect.name == "postgresql":
                    with raw.cursor() as cur, cur.copy("COPY bench_map FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(row)
                else:
                    raw.executemany("INSERT INTO bench_map VALUES (?, ?, ?)", rows)
            del rows
            with eng.begin() as conn:
                conn.exec_driver_sql("ANALYZE bench_map")
        stmt = text(_raw_sql(table, mapped=step == "raw-same")).bindparams(
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
        out["server_cpu"] = server.seconds()
    out["rss_start_mb"] = rss_start
    out["rss_mb"] = rss_mb()
    eng.dispose()
    return out


# --- the parent: templates, fresh copies, medians ------------------------------------------


def _child(args: list[str]) -> dict:
    return run_child("bench.bench_campaign", args)


class _Sqlite:
    def __init__(self, workdir: Path):
        self.template = workdir / "template.db"
        self.work = workdir / "work.db"

    def template_url(self) -> str:
        for p in (self.template, Path(f"{self.template}-wal"), Path(f"{self.template}-shm")):
            p.unlink(missing_ok=True)
        return f"sqlite:///{self.template}"

    def existing(self) -> str | None:
        return f"sqlite:///{self.template}" if self.template.exists() else None

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

    def existing(self) -> str | None:
        eng = self._admin()
        with eng.connect() as conn:
            found = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %(n)s",
                                         {"n": self.template_name}).first()
        eng.dispose()
        if not found:
            return None
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
    ap.add_argument("--reuse-template", action="store_true",
                    help="keep an existing seeded template (SQLite: in --workdir; PostgreSQL: "
                         "<name>_tpl) instead of seeding again; its size is what it holds")
    ap.add_argument("--steps", default="plan,raw-same,raw,raw-bare",
                    help="comma-separated steps to time (default: all)")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        kind, url, *rest = args._child
        if kind == "seed":
            out = _child_seed(url, args.members, args.volunteers, args.seed)
        elif kind == "info":
            out = _child_info(url)
        else:
            out = _child_step(url, kind, int(rest[0]), rest[1])
        print(json.dumps(out))
        return

    from outreach.tasks.campaigns.plan import DEFAULT_BATCH

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
    reuse = db.existing() if args.reuse_template else None
    if reuse:
        seeded = _child(["--_child", "info", reuse, *common])
    else:
        seeded = _child(["--_child", "seed", db.template_url(), *common])
    print(f"ledger: {seeded['members']:,} members, {seeded['volunteers']:,} volunteers "
          f"({seeded['coordinators']} coordinators), {seeded['branches']} branches; "
          + ("(template reused)" if reuse else f"seeded in {seeded['seconds']:.1f} s"))

    results: dict[str, list[dict]] = {k: [] for k in args.steps.split(",")}
    if args.repeat <= 0:
        return
    mapfile = str((tmp or Path(tempfile.gettempdir())) / f"bench-map-{os.getpid()}.tsv")
    for i in range(args.repeat):
        for step in results:
            out = _child(["--_child", step, db.fresh(), str(batch), mapfile, *common])
            results[step].append(out)
            server = (f"  server cpu {out['server_cpu']:7.2f} s"
                      if out.get("server_cpu") is not None else "")
            print(f"  repeat {i + 1}: {step:9s} {out['seconds']:7.2f} s wall "
                  f"{out['cpu']:7.2f} s cpu{server}  peak RSS {out['rss_mb']:.0f} MB",
                  flush=True)
    db.cleanup()
    Path(mapfile).unlink(missing_ok=True)
    if tmp is not None and not args.workdir:
        shutil.rmtree(tmp, ignore_errors=True)
    _report(results, label)


_WHAT = {
    "plan": "plan+assign (targeting, continuity, branch fallback, least loaded, insert)",
    "raw-same": "raw INSERT…SELECT, the plan's rows (same assigned/open rows, volunteer "
                "precomputed untimed; real table: indexes, CHECKs, FKs, history triggers)",
    "raw": "raw INSERT…SELECT, every task open (real table: indexes, CHECKs, FKs, "
           "history triggers)",
    "raw-bare": "raw INSERT…SELECT into a bare copy (no index, constraint or trigger)",
}


def _report(results: dict[str, list[dict]], label: str) -> None:
    med = lambda k, f: statistics.median(r[f] for r in results[k])  # noqa: E731
    has_server = all(r.get("server_cpu") is not None for v in results.values() for r in v)

    def total_cpu(r: dict) -> float:
        return r["cpu"] + (r.get("server_cpu") or 0.0)

    if "plan" in results:
        counts = results["plan"][-1]["counts"]
        rows = {k: v[-1]["rows"] for k, v in results.items() if k != "plan"}
        print(f"tasks: {counts['created']:,} created by plan "
              f"({', '.join(f'{k}: {n:,}' for k, n in rows.items())}), "
              f"{counts['assigned']:,} assigned ({counts['continuity']:,} by continuity, "
              f"{counts['parent']:,} to a parent branch), {counts['unassigned']:,} left open; "
              f"{counts['ranges']} ranges")
    cpu_label = "cpu (client + server)" if has_server else "cpu (SQLite is in-process)"
    print(f"{'step':9s} {'wall med':>9s} {cpu_label:>26s} {'peak RSS':>9s}  what")
    for k, v in results.items():
        print(f"{k:9s} {med(k, 'seconds'):8.2f}s {statistics.median(map(total_cpu, v)):25.2f}s "
              f"{max(r['rss_mb'] for r in v):7.0f}MB  {_WHAT.get(k, k)}")
    if "plan" in results:
        for base in ("raw-same", "raw", "raw-bare"):
            if base not in results:
                continue
            wall = med("plan", "seconds") / med(base, "seconds")
            cpu = (statistics.median(map(total_cpu, results["plan"]))
                   / statistics.median(map(total_cpu, results[base])))
            limit = 5 if base == "raw-bare" else 2  # issue 15: the guards' cost; issue 3
            if max(wall, cpu) <= limit:
                verdict = "met"
            elif min(wall, cpu) > limit:
                verdict = "MISSED"
            else:
                verdict = "met on " + ("wall" if wall <= limit else "cpu") + " time only"
            target = f"   target <= {limit}x: {verdict}"
            print(f"ratio plan / {base:9s} wall {wall:5.2f}x  cpu {cpu:5.2f}x{target}")
        peak = max(r["rss_mb"] for r in results["plan"])
        print(f"peak memory of plan {peak:.0f} MB (python+sqlalchemy alone: "
              f"{results['plan'][-1]['rss_start_mb']:.0f} MB)   target < 300 MB: "
              f"{'met' if peak < 300 else 'MISSED'}")
        print(f"summary per branch: {med('plan', 'summary_seconds'):.2f} s "
              f"({results['plan'][-1]['branches']} branches)")
    if label == "PostgreSQL":
        print("PostgreSQL: peak RSS is the client's; the server's memory is not in it")


if __name__ == "__main__":
    main()
