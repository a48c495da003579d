"""National scale on PostgreSQL through the real stack: a survey planned by one process and
in two shards, the follow-up, the reports, and a volunteer's commands meanwhile.

    .venv/bin/python -m bench.bench_national --members 200000[,1000000,...]

For each size, on this machine's PostgreSQL (``--pg-server``; databases
``outreach_bench_national`` and ``outreach_bench_national_prefect``, dropped and made
again): `outreach stack up --postgres` with two workers (its own code, on a temporary
OUTREACH_HOME), seed the ledger, plan one phone-visit run directly (so that a volunteer
has tasks), then through the stack's deployments and workers:

* the survey with ``shards=1`` (one flow run plans every range: today's single path), and
  — after its tasks are taken out again (history included, with triggers off: the ledger
  as it was) — with ``shards=2`` (two shard flow runs on the pool at once); both must make
  the same tasks (compared on member, volunteer, status and reason);
* the follow-up, the coverage report and the scorecard (each a deployment run);
* while each survey plans: ``outreach tasks`` and ``outreach task record ID no_answer`` of
  the busiest volunteer, as separate processes, one after the other (and five of each
  before, idle, as the baseline);
* every 0.2 s the peak resident memory (VmHWM) of each worker and of every flow-run process
  under it;
* the disk used: the ledger's and Prefect's databases, and the largest tables.

Wall times are from submitting the flow run to its Completed state (a worker's pickup
included: the workers look every ``PREFECT_WORKER_QUERY_SECONDS``, set to 2 here, Prefect's
default 10) and Prefect's own start-to-end time of the run. On one machine "two workers" plan with two processes;
which worker took which shard is read from the workers' ``submitted-flow-run`` events.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Workers look for new flow runs every 2 s, not 10 (the stack passes this on): a shard's
# pickup is otherwise most of a small run's wall time.
os.environ.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")

BIN = Path(sys.executable).parent
LEDGER_DB = "outreach_bench_national"
PREFECT_DB = "outreach_bench_national_prefect"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
TABLES = ("members", "outreach_tasks", "task_status_changes", "attempts", "attendance",
          "member_changes", "member_status_changes")


def _api(api_url: str, auth: str, method: str, path: str, body: dict | None = None):
    req = urllib.request.Request(
        f"{api_url}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _databases(server: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        for name in (LEDGER_DB, PREFECT_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Peaks(threading.Thread):
    """Samples VmHWM of each worker and of every process under it until stopped."""

    def __init__(self, workers: dict[str, int]):
        super().__init__(daemon=True)
        self.workers, self.stop_ = workers, threading.Event()
        self.worker_mb: dict[str, float] = {}
        self.runs_mb: dict[str, float] = {}  # worker → largest flow-run process under it

    @staticmethod
    def _hwm(pid: int) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def run(self) -> None:
        from outreach.cli.stack import _descendants

        while not self.stop_.is_set():
            for name, pid in self.workers.items():
                self.worker_mb[name] = max(self.worker_mb.get(name, 0.0), self._hwm(pid))
                for child in _descendants(pid):
                    self.runs_mb[name] = max(self.runs_mb.get(name, 0.0), self._hwm(child))
            time.sleep(0.2)


class Stack:
    """The running stack, its API and the ledger's engine."""

    def __init__(self, up, auth: str):
        from outreach.db.session import make_engine

        self.up, self.auth = up, auth
        self.eng = make_engine(up.ledger)

    def api(self, method: str, path: str, body: dict | None = None):
        return _api(self.up.api_url, self.auth, method, path, body)

    def submit(self, deployment: str, params: dict) -> str:
        dep = self.api("GET", f"/deployments/name/{deployment}")
        return self.api("POST", f"/deployments/{dep['id']}/create_flow_run",
                        {"parameters": params})["id"]

    def state(self, run_id: str) -> dict:
        return self.api("GET", f"/flow_runs/{run_id}")

    def wait(self, run_id: str, timeout: float, between=None) -> tuple[dict, float]:
        """Wait for the run to end (``between()`` in the meantime); (run, seconds)."""
        t0 = time.monotonic()
        while True:
            run = self.state(run_id)
            if run["state"]["type"] in FINAL or time.monotonic() - t0 > timeout:
                return run, time.monotonic() - t0
            if between is not None:
                between()
            else:
                time.sleep(0.5)

    def takers(self, runs: list[str]) -> dict[str, str]:
        page = self.api("POST", "/events/filter", {
            "filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}},
            "limit": 50})
        out = {}
        for ev in page["events"]:
            for rel in ev.get("related", []):
                rid = rel.get("prefect.resource.id", "").removeprefix("prefect.flow-run.")
                if rid in runs:
                    out[rid] = ev["resource"].get("prefect.resource.name", "?")
        return out


def _volunteer(eng, codes: dict[int, str], today: dt.date):
    """Plan a phone-visit run directly; the volunteer with most assigned tasks, their code,
    and their assigned task ids."""
    from sqlalchemy import func, select

    from outreach.db.models import OutreachTask
    from outreach.db.session import session_scope
    from outreach.tasks.campaigns import plan_jobs

    plan_jobs.plan_campaign(eng, "phone_visit", f"{today:%Y-%m}", today=today)
    with session_scope(eng, write=False) as s:
        # the busiest volunteer who has a code (not an IN list of every volunteer with a
        # code: at 5M members that is 125,000 of them, over a statement's 65,535 parameters)
        vid = next(v for v, _n in s.execute(
            select(OutreachTask.volunteer_id, func.count())
            .where(OutreachTask.status == "assigned")
            .group_by(OutreachTask.volunteer_id)
            .order_by(func.count().desc(), OutreachTask.volunteer_id)) if v in codes)
        ids = list(s.scalars(select(OutreachTask.id).where(
            OutreachTask.volunteer_id == vid, OutreachTask.status == "assigned")
            .order_by(OutreachTask.id)))
    return vid, codes[vid], ids


class Volunteer:
    """``outreach tasks`` and ``outreach task record ID no_answer`` as separate processes."""

    def __init__(self, env: dict, ids: list[int]):
        self.env, self.ids = env, list(ids)
        self.touched: list[int] = []  # task ids recorded

    def _time(self, argv: list[str]) -> float:
        t0 = time.perf_counter()
        out = subprocess.run([str(BIN / "outreach"), *argv], env=self.env,
                             capture_output=True, text=True)
        took = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"outreach {argv[0]} failed: {out.stderr.strip()[:300]}")
        return took

    def once(self, into: dict[str, list[float]]) -> None:
        into.setdefault("tasks", []).append(self._time(["tasks"]))
        if self.ids:
            tid = self.ids.pop(0)
            self.touched.append(tid)
            into.setdefault("record", []).append(self._time(
                ["task", "record", str(tid), "no_answer", "--note", "bench"]))


def _survey_tasks(eng, run_id: int, skip: set[int]) -> list[tuple]:
    from sqlalchemy import text

    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT member_id, volunteer_id, status, status_reason FROM outreach_tasks "
            "WHERE run_id = :r ORDER BY member_id"), {"r": run_id}) if r[0] not in skip]


def _take_out(eng, run_id: int) -> None:
    """The run's tasks and history out again (triggers off): the ledger as before it."""
    from sqlalchemy import text

    with eng.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for sql in ("DELETE FROM task_status_changes WHERE task_id IN "
                    "(SELECT id FROM outreach_tasks WHERE run_id = :r)",
                    "DELETE FROM attempts WHERE task_id IN "
                    "(SELECT id FROM outreach_tasks WHERE run_id = :r)",
                    "DELETE FROM outreach_tasks WHERE run_id = :r",
                    "DELETE FROM campaign_runs WHERE id = :r"):
            conn.execute(text(sql), {"r": run_id})
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE outreach_tasks, task_status_changes")


def _disk(eng) -> dict:
    from sqlalchemy import text

    with eng.connect() as conn:
        size = {name: conn.execute(text("SELECT pg_database_size(:d)"), {"d": name}).scalar()
                for name in (LEDGER_DB, PREFECT_DB)}
        tables = {t: conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar()
                  for t in TABLES}
    mb = 1024 * 1024
    return {"ledger_mb": round(size[LEDGER_DB] / mb), "prefect_mb": round(size[PREFECT_DB] / mb),
            **{f"{t}_mb": round(v / mb) for t, v in tables.items()}}


def one_size(members: int, server: str, timeout: float) -> dict:
    from outreach.cli import stack as stack_mod
    from outreach.db import session as db_session
    from outreach.seed.generate import seed_ledger

    today = dt.date.today()
    period = f"{today:%Y-%m}"
    out: dict = {"members": members}
    _databases(server)
    home = tempfile.mkdtemp(prefix="bench-national-")
    os.environ["OUTREACH_HOME"] = home
    os.environ.pop("OUTREACH_DATABASE_URL", None)
    db_session._engines.clear()
    t0 = time.monotonic()
    up = stack_mod.up(postgres=True, workers=2, port=_free_port(), pg_server=server,
                      prefect_db=PREFECT_DB, ledger_db=LEDGER_DB, timeout=300,
                      service_port=_free_port())
    out["stack_up_s"] = round(time.monotonic() - t0, 1)
    st = Stack(up, stack_mod.auth_string())
    workers = {p.name: p.pid for p in up.procs if p.name.startswith("worker-")}
    peaks = Peaks(workers)
    try:
        t = time.perf_counter()
        res = seed_ledger(st.eng, members=members, seed=5, today=today)
        out["seed_s"] = round(time.perf_counter() - t, 1)
        out["disk_after_seed"] = _disk(st.eng)
        codes = {vid: code for vid, _, role, _, code in res.codes if role == "volunteer"}
        t = time.perf_counter()
        vid, code, ids = _volunteer(st.eng, codes, today)
        out["phone_visit_direct_s"] = round(time.perf_counter() - t, 1)
        env = {**os.environ, "OUTREACH_DATABASE_URL": up.ledger, "OUTREACH_TOKEN": code,
               "OUTREACH_HOME": home}
        env.pop("PREFECT_API_URL", None)
        vol = Volunteer(env, ids)
        idle: dict[str, list[float]] = {}
        for _ in range(5):
            vol.once(idle)
        out["volunteer_idle"] = {k: round(statistics.median(v), 3) for k, v in idle.items()}
        peaks.start()

        surveys, snaps = {}, {}
        for shards in (1, 2):
            busy: dict[str, list[float]] = {}
            rid = st.submit("survey/survey", {"period": period, "today": today.isoformat(),
                                              "shards": shards})
            run, wall = st.wait(rid, timeout, between=lambda b=busy: vol.once(b))
            result = {"state": run["state"]["type"], "wall_s": round(wall, 1),
                      "prefect_run_s": round(run.get("total_run_time") or 0, 1),
                      "volunteer": {k: round(statistics.median(v), 3)
                                    for k, v in busy.items()},
                      "volunteer_n": len(busy.get("tasks", []))}
            if shards > 1:
                kids = st.api("POST", "/flow_runs/filter", {
                    "flow_runs": {"parent_task_run_id": {"is_null_": False}},
                    "deployments": {"name": {"any_": ["campaign-shard"]}}})
                kids = [k for k in kids if k["state"]["type"] in FINAL]
                result["shard_runs_s"] = sorted(round(k.get("total_run_time") or 0, 1)
                                                for k in kids)
                time.sleep(3)  # events are written a moment later
                result["shard_workers"] = sorted(st.takers([k["id"] for k in kids]).values())
            surveys[shards] = result
            print(f"  survey with shards={shards}: {result}", flush=True)
            if run["state"]["type"] != "COMPLETED":
                break
            from sqlalchemy import text

            with st.eng.connect() as conn:
                run_id = conn.execute(text(
                    "SELECT r.id FROM campaign_runs r JOIN campaigns c ON c.id = r.campaign_id "
                    "WHERE c.name = 'survey' AND r.period = :p"), {"p": period}).scalar_one()
                touched = {m for (m,) in conn.execute(text(
                    "SELECT member_id FROM outreach_tasks WHERE id = ANY(:ids)"),
                    {"ids": vol.touched})}
            snaps[shards] = (run_id, touched)
            if shards == 1:
                first = _survey_tasks(st.eng, run_id, set())
                out["survey_tasks"] = len(first)
                _take_out(st.eng, run_id)
            else:
                skip = snaps[1][1] | touched
                second = _survey_tasks(st.eng, run_id, skip)
                same = [r for r in first if r[0] not in skip] == second
                out["same_tasks_1_and_2_shards"] = same
        out["survey"] = surveys
        if 1 in surveys and 2 in surveys and surveys[2]["wall_s"]:
            out["wall_ratio_1_over_2"] = round(surveys[1]["wall_s"] / surveys[2]["wall_s"], 2)
            out["run_ratio_1_over_2"] = round(
                surveys[1]["prefect_run_s"] / max(surveys[2]["prefect_run_s"], 0.1), 2)

        for name, params in (("follow-up/follow-up", {}),
                             ("coverage-report/coverage-report", {}),
                             ("scorecard/scorecard", {})):
            rid = st.submit(name, params)
            run, wall = st.wait(rid, timeout)
            out[name.split("/")[0]] = {"state": run["state"]["type"], "wall_s": round(wall, 1),
                                       "prefect_run_s": round(run.get("total_run_time") or 0,
                                                              1)}
            print(f"  {name}: {out[name.split('/')[0]]}", flush=True)
        out["disk_at_end"] = _disk(st.eng)
    finally:
        peaks.stop_.set()
        st.eng.dispose()
        stack_mod.down()
    out["peak_rss_mb"] = {"workers": {k: round(v) for k, v in peaks.worker_mb.items()},
                          "flow_runs": {k: round(v) for k, v in peaks.runs_mb.items()}}
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", default="200000",
                    help="ledger sizes, comma-separated (e.g. 200000,1000000)")
    ap.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds to wait for any one flow run")
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = ap.parse_args()
    results = []
    for n in [int(x) for x in args.members.split(",") if x.strip()]:
        print(f"\n=== {n:,} members ===", flush=True)
        results.append(one_size(n, args.pg_server, args.timeout))
        print(json.dumps(results[-1], indent=1), flush=True)
        if not args.keep:
            _databases(args.pg_server)
    print("\nmembers  survey 1 shard (wall / run)  2 shards (wall / run)  ratio  same  "
          "volunteer tasks/record busy (idle)  peak flow-run MB  ledger MB")
    for r in results:
        s1, s2 = r["survey"].get(1, {}), r["survey"].get(2, {})
        print(f"{r['members']:>9,}  {s1.get('wall_s')} / {s1.get('prefect_run_s')} s  "
              f"{s2.get('wall_s')} / {s2.get('prefect_run_s')} s  "
              f"{r.get('wall_ratio_1_over_2')}  {r.get('same_tasks_1_and_2_shards')}  "
              f"{s2.get('volunteer')} ({r['volunteer_idle']})  "
              f"{r['peak_rss_mb']['flow_runs']}  {r['disk_at_end']['ledger_mb']}")


if __name__ == "__main__":
    main()
