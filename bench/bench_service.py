"""The ledger service: the remote CLI's cold start and the service's latency under load.

    .venv/bin/python -m bench.bench_service [--clients 8] [--records 200] [--repeat 15]
                                             [--database-url URL]

1. Cold start, as separate processes, interleaved: ``outreach tasks`` in remote mode (only
   OUTREACH_SERVER and a code; no database URL) against the baseline ``python -c "import
   sqlalchemy.orm"``. Issue 10 asks for a ratio of at most 0.5.
2. Load: ``outreach serve`` in a child process; ``--clients`` volunteers at once, each with
   their own code, each doing ``--records`` rounds of "list my tasks" (GET /tasks) and
   "record no_answer on my next task" (POST /tasks/{id}/outcomes), through the CLI's own
   client (`cli.remote.Remote`: a new connection per request, as a command makes).
   Latency p50/p95 per request as the client sees it; then the load test's exactly-once
   checks: each outcome sent is in ``attempts`` exactly once (task, outcome, volunteer),
   nothing else was recorded, and ``outreach db check`` replays the history clean.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import time_command

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _world(url: str, clients: int, records: int) -> dict[int, tuple[str, list[int]]]:
    """A seeded ledger whose ``clients`` busiest volunteers hold ``records`` assigned tasks
    each: volunteer id → (code, task ids)."""
    from sqlalchemy import func, select, update

    from outreach.db import migrate
    from outreach.db.models import OutreachTask, Volunteer
    from outreach.db.session import make_engine, session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import plan_jobs

    eng = make_engine(url)
    migrate.upgrade(eng)
    with session_scope(eng, write=False) as s:
        if s.scalar(select(func.count()).select_from(Volunteer)):
            raise SystemExit("the database is not empty: give an empty one (the checks "
                             "count every outcome in it)")
    today = dt.date.today()
    t0 = time.perf_counter()
    members = max(2000, clients * records * 8)  # enough for the busiest 8 in small branches
    res = seed_ledger(eng, members=members, volunteers=clients + 8, seed=5, today=today)
    with session_scope(eng) as s:  # room for every task the survey makes
        s.execute(update(Volunteer).values(capacity=1_000_000))
    plan_jobs.plan_campaign(eng, "survey", f"{today:%Y-%m}", today=today)
    codes = {vid: code for vid, _, role, _, code in res.codes if role == "volunteer"}
    with session_scope(eng, write=False) as s:
        busiest = s.execute(select(OutreachTask.volunteer_id, func.count())
                            .where(OutreachTask.status == "assigned",
                                   OutreachTask.volunteer_id.in_(list(codes)))
                            .group_by(OutreachTask.volunteer_id)
                            .order_by(func.count().desc()).limit(clients)).all()
        world = {vid: (codes[vid], list(s.scalars(
            select(OutreachTask.id).where(OutreachTask.volunteer_id == vid,
                                          OutreachTask.status == "assigned")
            .order_by(OutreachTask.id).limit(records))))
            for vid, n in busiest}
    eng.dispose()
    short = [vid for vid, (_, ids) in world.items() if len(ids) < records]
    if len(world) < clients or short:
        raise SystemExit(f"only {len(world)} volunteers, {len(short)} with fewer than "
                         f"{records} tasks: raise the ledger size")
    print(f"  ledger of {members:,} members seeded and planned in "
          f"{time.perf_counter() - t0:.1f} s; {clients} volunteers with {records}+ tasks each",
          flush=True)
    return world


def _start_service(url: str, port: int, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "OUTREACH_DATABASE_URL": url, "OUTREACH_HOME": str(folder / "svc")}
    env.pop("OUTREACH_TOKEN", None)
    proc = subprocess.Popen([str(BIN / "outreach"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the ledger service did not start in 60 s")


def _client(base: str, code: str, ids: list[int], lat: dict, errors: list,
            gate: threading.Barrier) -> None:
    from outreach.cli.remote import Remote, new_key

    r = Remote(base, code)
    gate.wait()
    for task_id in ids:
        try:
            t0 = time.perf_counter()
            r.tasks(all=False, branch=None, volunteer=None, kind=None, status=None,
                    today=None, limit=None, contacts=False)
            t1 = time.perf_counter()
            res = r.record(task_id, "no_answer", "bench", {}, None, new_key())
            t2 = time.perf_counter()
        except Exception as exc:  # counted and shown, the run goes on
            errors.append(f"{exc.__class__.__name__}: {exc}")
            continue
        if res["task_id"] != task_id or res["outcome"] != "no_answer":
            errors.append(f"task {task_id}: answered {res}")
        lat["tasks"].append(t1 - t0)
        lat["record"].append(t2 - t1)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _exactly_once(url: str, world: dict[int, tuple[str, list[int]]]) -> list[str]:
    from sqlalchemy import func, select

    from outreach.db.models import Attempt
    from outreach.db.session import make_engine, session_scope

    eng = make_engine(url)
    sent = {(t, vid) for vid, (_, ids) in world.items() for t in ids}
    problems = []
    with session_scope(eng, write=False) as s:
        rows = s.execute(select(Attempt.task_id, Attempt.volunteer_id, Attempt.outcome,
                                func.count()).group_by(Attempt.task_id, Attempt.volunteer_id,
                                                       Attempt.outcome)).all()
    eng.dispose()
    got = {(t, v): (str(o), n) for t, v, o, n in rows}
    twice = [k for k, (_, n) in got.items() if n != 1]
    missing = sent - set(got)
    extra = set(got) - sent
    wrong = [k for k, (o, _) in got.items() if o != "no_answer"]
    for what, xs in (("recorded more than once", twice), ("never recorded", missing),
                     ("recorded but not sent", extra), ("with another outcome", wrong)):
        if xs:
            problems.append(f"{len(xs)} outcomes {what}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--database-url", help="an empty database to use (default: a new "
                    "SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'bench-service.db'}"
        world = _world(url, args.clients, args.records)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        proc = _start_service(url, port, folder)
        try:
            code, ids = next(iter(world.values()))
            env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
            env |= {"OUTREACH_SERVER": base, "OUTREACH_TOKEN": code,
                    "OUTREACH_HOME": str(folder / "far")}
            base_t, remote_t = [], []
            for _ in range(args.repeat):  # interleaved, so drift hits both alike
                base_t.append(time_command([sys.executable, "-c", "import sqlalchemy.orm"], env))
                remote_t.append(time_command([str(BIN / "outreach"), "tasks"], env))
            b, m = statistics.median(base_t), statistics.median(remote_t)

            lat: dict[str, list[float]] = {"tasks": [], "record": []}
            errors: list[str] = []
            gate = threading.Barrier(len(world))
            threads = [threading.Thread(target=_client, args=(base, c, i, lat, errors, gate))
                       for c, i in world.values()]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(30)
        problems = _exactly_once(url, world) + [f"{len(errors)} requests failed: "
                                                f"{errors[:3]}"] * bool(errors)
        check = subprocess.run([str(BIN / "outreach"), "db", "check"], capture_output=True,
                               text=True, env={**os.environ, "OUTREACH_DATABASE_URL": url})
        if check.returncode != 0:
            problems.append(f"outreach db check: {check.stdout.strip()[-200:]}")

    print(f"\n{'cold start':42} {'median s':>9} {'baseline s':>10} {'ratio':>6}")
    print(f"{'outreach tasks (remote mode)':42} {m:9.3f} {b:10.3f} {m / b:6.2f}")
    print(f"{'baseline import sqlalchemy.orm':42} {b:9.3f} {b:10.3f} {1.0:6.2f}")
    n = len(lat["record"])
    print(f"\nservice under {len(world)} concurrent volunteers x {args.records} records "
          f"({n} records in {wall:.1f} s, {n / wall:.0f} records/s)")
    print(f"{'request':42} {'p50 ms':>9} {'p95 ms':>10}")
    for name, label in (("tasks", "GET /tasks (outreach tasks)"),
                        ("record", "POST /tasks/{id}/outcomes (task record)")):
        xs = lat[name] or [float("nan")]
        print(f"{label:42} {_pct(xs, 50) * 1000:9.1f} {_pct(xs, 95) * 1000:10.1f}")
    print("\nexactly once: " + ("every outcome recorded once, nothing else; db check clean"
                               if not problems else "PROBLEMS " + "; ".join(problems)))
    print("target: cold start ratio <= 0.50 (issue 10)")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
