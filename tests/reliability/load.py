"""The load test of issue 6, as plain functions and a command.

    python -m tests.reliability.load                  # a temporary SQLite file
    python -m tests.reliability.load --reset \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/outreach_load

What it does, once:

1. **Ledger** (`build_world`): a fresh, migrated database is seeded with `MEMBERS`
   members (`seed.generate.seed_ledger`, seed `SEED`, the default one volunteer per 40
   members) — enough that the survey of `PERIOD` targets about 200,000 of them (200,357
   with these numbers). Eight volunteers are added, each with room for `CAPACITY` open
   tasks, to the committee above the interest groups (`tasks.ledger.people.add_volunteer`), and
   the phone visits of `PERIOD` are planned by the real planner (`tasks.campaigns.plan`). The
   interest groups have few volunteers of their own, so several thousand of their phone
   visits go up the branch tree to the committee, where the planner shares them out to
   the eight, least loaded first: each ends with `CAPACITY` assigned phone visits
   (checked; at least `OUTCOMES_EACH` are needed). On PostgreSQL the ledger is then
   ANALYZEd, as autovacuum would soon do (see `build_world`).
2. **Alone** (`campaign_alone`): a twin of that database (a file copy on SQLite,
   ``CREATE DATABASE … TEMPLATE`` on PostgreSQL) runs the survey campaign by itself, as a
   real ``outreach campaign run survey`` process through Prefect: its duration is the
   baseline, and its tasks are what an undisturbed plan makes.
3. **Load** (`run_load`): on the original, started together: eight volunteer processes
   (`tests.reliability.load_volunteer`), each recording `OUTCOMES_EACH` outcomes on its own
   phone visits through the real CLI code path; the same survey campaign process; and
   ``outreach follow-up`` (the daily sweep, through Prefect).
4. **Checks** (`check`): every command exited 0 and no stderr mentions a lock, a busy
   database, a deadlock, a traceback or an OperationalError; every recorded outcome is in
   ``attempts`` exactly once (task, outcome, volunteer) and nothing else was recorded;
   every task closed by an outcome has exactly one history row into ``done``; the history
   replays to every current state (`tasks.ledger.audit.replay`, all zero, and ``outreach db
   check``); no (run, member) pair twice, no member with two open tasks of one kind;
   the survey made exactly the member set the undisturbed twin made, and as many tasks
   as the dry run counted beforehand; campaign and follow-up exited 0.
5. **Figures** (`figures`): outcomes per second overall and per volunteer, per-command
   latency p50/p95 (overall, and while the survey was planning), the campaign's
   duration alone and under load, counts.

The outcomes chosen (see `load_volunteer.MIX`) never change who the survey targets, so
the survey's member set is fixed before the load starts, whatever order things happen in.
Timings on a 2-core machine shared with other work are noisy; the counts are not.

Processes need a Prefect API: pass ``prefect_api`` (the test passes its session harness);
the command starts Prefect's test harness itself. Nothing here prints a member's name,
phone or address: only ids, counts and times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[2]
OUTREACH = str(Path(sys.executable).parent / "outreach")

#: Members seeded; the survey of PERIOD then targets 200,357 of them (seed 6).
MEMBERS = 320_000
SEED = 6
#: Volunteer processes, outcomes each, and the room each of them has.
VOLUNTEERS = 8
OUTCOMES_EACH = 500
CAPACITY = 600
#: The ledger is seeded and the phone visits planned on SETUP_DAY; the load happens on
#: TODAY (survey, follow-up and visits), inside the phone visits' window (it closes at the
#: end of the period), so the follow-up expires nothing the volunteers are working on.
SETUP_DAY = dt.date(2026, 11, 2)
TODAY = dt.date(2026, 11, 4)
PERIOD = "2026-11"
#: Words that must never appear on a volunteer's stderr (nor the coordinators').
BAD_WORDS = ("locked", "busy", "deadlock", "traceback", "operationalerror")
#: Seconds any one process of the scenario may take before it counts as hung.
PROCESS_TIMEOUT = 900
_QUIET = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


class SetupError(RuntimeError):
    """The scenario could not be set up as intended (not a finding about the product)."""


# --- the ledger ---------------------------------------------------------------------------


@dataclass
class World:
    """The seeded ledger: where it is, who acts, what the survey should make."""

    url: str
    coordinator: str
    #: volunteer id → access code, for the eight load volunteers.
    volunteers: dict[int, str]
    members: int
    phone_visits: int
    #: Tasks the survey would create now (its dry run: targeted minus busy).
    survey_expected: int
    setup_seconds: float


def _dispose_all() -> None:
    """Close this process's pooled connections (the CLI's cached engines too)."""
    from outreach.db import session as db_session

    for eng in db_session._engines.values():
        eng.dispose()
    db_session._engines.clear()


def prepare_database(url: str, *, reset: bool) -> None:
    """Migrate ``url``; refuse a database that already holds members unless ``reset``
    (PostgreSQL: drop and recreate the public schema; SQLite: delete the file)."""
    from outreach.db import migrate
    from outreach.db.session import make_engine

    if reset:
        if url.startswith("sqlite"):
            path = Path(url.split("///", 1)[1])
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
        else:
            eng = make_engine(url)
            with eng.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            eng.dispose()
    eng = make_engine(url)
    try:
        migrate.upgrade(eng)
        with eng.connect() as conn:
            n = conn.execute(text("SELECT COUNT(*) FROM members")).scalar_one()
    finally:
        eng.dispose()
    if n:
        raise SetupError(f"the database already holds {n} members; the load test needs an "
                         "empty one (--reset wipes it)")


def build_world(url: str, *, members: int = MEMBERS, seed: int = SEED) -> World:
    """Seed the ledger, add the eight load volunteers, plan the phone visits (see the
    module's docstring); checks that each load volunteer holds enough phone visits."""
    from outreach.db.models import BranchKind
    from outreach.db.session import make_engine, session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import plan_jobs
    from outreach.tasks.access.permissions import authenticate
    from outreach.tasks.ledger.people import add_volunteer

    t0 = time.perf_counter()
    eng = make_engine(url)
    try:
        res = seed_ledger(eng, members=members, seed=seed, today=SETUP_DAY)
        coordinator = next(code for _, _, role, _, code in res.codes if role == "coordinator")
        with session_scope(eng) as s:
            # The committee the interest groups hang from (seeded: the first one).
            committee = s.execute(text(
                "SELECT p.name FROM branches b JOIN branches p ON p.id = b.parent_id "
                "WHERE b.kind = :k ORDER BY b.id LIMIT 1"),
                {"k": BranchKind.INTEREST.value}).scalar_one()
            codes = {}
            by = authenticate(s, coordinator)
            for i in range(VOLUNTEERS):
                vol, code, _ = add_volunteer(s, name=f"Load Volunteer {i + 1}",
                                             branch=committee, capacity=CAPACITY, actor=by)
                codes[vol.id] = code
        phone = plan_jobs.plan_campaign(eng, "phone_visit", PERIOD, today=SETUP_DAY)
        with eng.connect() as conn:
            held = dict(conn.execute(text(
                "SELECT volunteer_id, COUNT(*) FROM outreach_tasks "
                "WHERE status = 'assigned' AND kind = 'phone_visit' "
                f"AND volunteer_id IN ({', '.join(str(v) for v in codes)}) "
                "GROUP BY volunteer_id")).all())
        short = {v: held.get(v, 0) for v in codes if held.get(v, 0) < OUTCOMES_EACH}
        if short:
            raise SetupError(f"load volunteers with fewer than {OUTCOMES_EACH} assigned phone "
                             f"visits (id: count): {short}")
        if eng.dialect.name == "postgresql":
            # What autovacuum's auto-analyze does on a live ledger a minute after a bulk
            # load. Done here so that the twin (a copy) and the original start from the
            # same statistics; without them PostgreSQL picks worse plans (measured: the
            # campaign's leftover assignment 14 s instead of 1.2 s) and whether autovacuum
            # got there first would decide the comparison.
            with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        rows = plan_jobs.preview(eng, "survey", PERIOD, today=TODAY)
        expected = sum(r["targeted"] - r["busy"] for r in rows)
    finally:
        eng.dispose()
    return World(url=url, coordinator=coordinator, volunteers=codes, members=members,
                 phone_visits=phone["created"], survey_expected=expected,
                 setup_seconds=time.perf_counter() - t0)


def twin(world: World) -> tuple[str, str]:
    """A database holding the same ledger as ``world``: (its URL, a coordinator's code).

    SQLite: a copy of the file. PostgreSQL: ``CREATE DATABASE … TEMPLATE`` the original,
    which refuses while anyone else is connected to it; if someone is (in a full test run,
    an earlier test's engine may still hold a pooled connection to the test database),
    the twin is built the same way as the original instead (same seed, so the same rows
    and ids; only the random access codes differ), which takes longer.
    """
    from sqlalchemy.exc import OperationalError

    _dispose_all()
    url = world.url
    if url.startswith("sqlite"):
        from outreach.db.session import make_engine

        src = Path(url.split("///", 1)[1])
        eng = make_engine(url)
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        eng.dispose()
        dst = src.with_name(src.stem + "-alone" + src.suffix)
        shutil.copy(src, dst)
        wal = Path(f"{src}-wal")
        if wal.exists() and wal.stat().st_size:
            shutil.copy(wal, Path(f"{dst}-wal"))
        return f"sqlite:///{dst}", world.coordinator
    gc.collect()  # engines nobody refers to any more close their connections
    parsed = make_url(url)
    name = f"{parsed.database}_alone"
    twin_url = parsed.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            try:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"')
                return twin_url, world.coordinator
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55006":  # object in use
                    raise
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    prepare_database(twin_url, reset=False)
    again = build_world(twin_url, members=world.members)
    if again.survey_expected != world.survey_expected:
        raise SetupError(f"the re-seeded twin targets {again.survey_expected} members, the "
                         f"original {world.survey_expected}")
    return twin_url, again.coordinator


def drop_twin(url: str) -> None:
    """Remove a database made by `twin`."""
    _dispose_all()
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        admin.dispose()


# --- processes ----------------------------------------------------------------------------


@dataclass
class Proc:
    """One finished process of the scenario."""

    name: str
    returncode: int | None
    stdout: str
    stderr: str
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class _Running:
    def __init__(self, name: str, args: list[str], env: dict, workdir: Path):
        self.name = name
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        self.started = time.time()
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=o, stderr=e,
                                          stdin=subprocess.DEVNULL)
        self.finished: float | None = None

    def poll(self) -> bool:
        if self.finished is None and self.popen.poll() is not None:
            self.finished = time.time()
        return self.finished is not None

    def result(self) -> Proc:
        return Proc(self.name, self.popen.returncode, self.out.read_text(),
                    self.err.read_text(), self.started, self.finished or time.time())


def _wait(running: list[_Running], timeout: float) -> list[Proc]:
    """Wait for every process (noting when each ends); kill what is left at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        ended = [r.poll() for r in running]  # every one, every time: notes when each ends
        if all(ended):
            break
        if time.monotonic() > deadline:
            for r in running:
                if not r.poll():
                    r.popen.kill()
                    r.popen.wait()
                    r.poll()
            break
        time.sleep(0.02)
    return [r.result() for r in running]


def process_env(url: str, prefect_api: str, token: str, home: Path) -> dict:
    """The environment of one scenario process: the database, a private home, the
    access code, the shared Prefect API, quiet and offline."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OUTREACH_", "PYTEST_")) or k == "OUTREACH_LOGIN_DELAY"}
    env.update(_QUIET)
    home.mkdir(parents=True, exist_ok=True)
    env.update(OUTREACH_DATABASE_URL=url, OUTREACH_HOME=str(home), OUTREACH_TOKEN=token,
               PREFECT_API_URL=prefect_api)
    return env


def _survey_args() -> list[str]:
    return [OUTREACH, "campaign", "run", "survey", "--period", PERIOD, "--today", str(TODAY)]


def campaign_alone(url: str, coordinator: str, prefect_api: str, workdir: Path) -> Proc:
    """The survey campaign by itself on ``url`` (a twin), as a real process."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = process_env(url, prefect_api, coordinator, workdir / "home-alone")
    return _wait([_Running("campaign-alone", _survey_args(), env, workdir)],
                 PROCESS_TIMEOUT)[0]


@dataclass
class Load:
    """What the load run left: each volunteer's JSON result and the coordinators' runs."""

    volunteers: dict[int, dict]
    volunteer_procs: list[Proc]
    campaign: Proc
    followup: Proc
    started: float
    finished: float
    problems: list[str] = field(default_factory=list)


def run_load(world: World, prefect_api: str, workdir: Path) -> Load:
    """Start the eight volunteers, the survey and the follow-up together; wait for all."""
    workdir.mkdir(parents=True, exist_ok=True)
    _dispose_all()
    running = []
    t0 = time.time()
    for vid, code in world.volunteers.items():
        env = process_env(world.url, prefect_api, code, workdir / f"home-{vid}")
        running.append(_Running(f"volunteer-{vid}", [
            sys.executable, "-m", "tests.reliability.load_volunteer",
            "--count", str(OUTCOMES_EACH), "--today", str(TODAY),
            "--out", str(workdir / f"volunteer-{vid}.json")], env, workdir))
    coord = process_env(world.url, prefect_api, world.coordinator, workdir / "home-coord")
    running.append(_Running("campaign", _survey_args(), coord, workdir))
    running.append(_Running("follow-up", [OUTREACH, "follow-up", "--today", str(TODAY)],
                            coord, workdir))
    procs = _wait(running, PROCESS_TIMEOUT)
    finished = time.time()
    results, problems = {}, []
    for vid, proc in zip(world.volunteers, procs):
        path = workdir / f"volunteer-{vid}.json"
        if proc.returncode != 0 or not path.exists():
            problems.append(f"volunteer process {vid} exited {proc.returncode}: "
                            f"{_tail(proc.stderr)}")
            continue
        results[vid] = json.loads(path.read_text())
    return Load(results, procs[:-2], procs[-2], procs[-1], t0, finished, problems)


def _tail(text_: str, n: int = 3) -> str:
    lines = [ln for ln in text_.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[:600] or "(no output)"


# --- checks -------------------------------------------------------------------------------


def _survey_members(url: str) -> list[int]:
    from outreach.db.session import make_engine

    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return [m for (m,) in conn.execute(text(
                "SELECT t.member_id FROM outreach_tasks t "
                "JOIN campaign_runs r ON r.id = t.run_id JOIN campaigns c ON c.id = r.campaign_id "
                "WHERE c.name = 'survey' AND r.period = :p ORDER BY t.member_id"),
                {"p": PERIOD})]
    finally:
        eng.dispose()


def _bad_stderr(stderr: str) -> bool:
    low = stderr.lower()
    return any(word in low for word in BAD_WORDS)


def check(world: World, load: Load, alone: Proc, alone_url: str, prefect_api: str,
          workdir: Path) -> tuple[dict, list[str]]:
    """Everything issue 6 asks to hold afterwards; returns (counts, problems).

    ``problems`` is empty when all holds; each entry says what failed, with ids and
    counts only.
    """
    from outreach.db.session import make_engine, session_scope
    from outreach.tasks.ledger.audit import replay
    from outreach.tasks.work.outcomes import DONE

    problems = list(load.problems)
    counts: dict = {}

    # 1. Every command: exit 0, no lock or crash words on stderr.
    expected: dict[tuple[int, str, int], int] = {}
    done_tasks: set[int] = set()
    refused: list[str] = []
    for vid, res in load.volunteers.items():
        if res["list"]["exit"] != 0 or _bad_stderr(res["list"]["stderr"]):
            problems.append(f"volunteer {vid}: `outreach tasks` exited {res['list']['exit']}: "
                            f"{_tail(res['list']['stderr'])}")
        if len(res["commands"]) != OUTCOMES_EACH:
            problems.append(f"volunteer {vid} ran {len(res['commands'])} commands, "
                            f"not {OUTCOMES_EACH} (listed {res['list']['tasks']} tasks)")
        for c in res["commands"]:
            if c["exit"] != 0 or c["stderr"].strip():
                refused.append(f"volunteer {vid} task {c['task']} {c['outcome']}: exit "
                               f"{c['exit']}, stderr {_tail(c['stderr'], 1)!r}")
                continue
            if "recorded" not in c["stdout"]:
                refused.append(f"volunteer {vid} task {c['task']}: exit 0 but stdout "
                               f"{c['stdout'][:80]!r}")
                continue
            key = (c["task"], c["outcome"], vid)
            expected[key] = expected.get(key, 0) + 1
            if c["outcome"] in DONE:
                done_tasks.add(c["task"])
    if refused:
        problems.append(f"{len(refused)} volunteer commands did not exit 0 cleanly; first: "
                        + "; ".join(refused[:5]))
    bad = [c for res in load.volunteers.values() for c in res["commands"]
           if _bad_stderr(c["stderr"])]
    if bad:
        problems.append(f"{len(bad)} volunteer commands printed lock/crash words, e.g. "
                        f"{_tail(bad[0]['stderr'], 1)!r}")
    counts["commands_ok"] = sum(expected.values())
    for proc in (load.campaign, load.followup, alone):
        if proc.returncode != 0 or _bad_stderr(proc.stderr):
            problems.append(f"{proc.name} exited {proc.returncode}: {_tail(proc.stderr)}")

    eng = make_engine(world.url)
    try:
        with session_scope(eng, write=False) as s:
            vids = ", ".join(str(v) for v in world.volunteers)
            # 2. Each recorded outcome exactly once, and nothing else recorded.
            got = s.execute(text(
                "SELECT task_id, outcome, volunteer_id, recorded_by, COUNT(*) FROM attempts "
                "GROUP BY task_id, outcome, volunteer_id, recorded_by")).all()
            attempts: dict[tuple[int, str, int], int] = {}
            for task_id, outcome, volunteer_id, recorded_by, n in got:
                if recorded_by != volunteer_id:
                    problems.append(f"attempt on task {task_id} recorded by {recorded_by} "
                                    f"for volunteer {volunteer_id}")
                attempts[(task_id, str(outcome), volunteer_id)] = n
            missing = [k for k in expected if attempts.get(k, 0) < expected[k]]
            doubled = [k for k in expected if attempts.get(k, 0) > expected[k]]
            extra = [k for k in attempts if k not in expected]
            if missing or doubled or extra:
                problems.append(f"attempts: {len(missing)} recorded outcomes missing "
                                f"{missing[:3]}, {len(doubled)} present more than once "
                                f"{doubled[:3]}, {len(extra)} not made by a command "
                                f"{extra[:3]}")
            counts["attempts"] = sum(attempts.values())

            # 3. Every task closed by an outcome: done, with exactly one history row into
            #    done; the others still assigned with one attempt.
            statuses = dict(s.execute(text(
                f"SELECT id, status FROM outreach_tasks WHERE volunteer_id IN ({vids}) "
                "AND kind = 'phone_visit'")).all())
            into_done = dict(s.execute(text(
                "SELECT h.task_id, COUNT(*) FROM task_status_changes h "
                "JOIN outreach_tasks t ON t.id = h.task_id "
                f"WHERE t.volunteer_id IN ({vids}) AND h.to_status = 'done' "
                "GROUP BY h.task_id")).all())
            wrong_state = [t for t in done_tasks if statuses.get(t) != "done"]
            wrong_hist = [t for t in done_tasks if into_done.get(t) != 1]
            tried = {k[0] for k in expected} - done_tasks
            still = [t for t in tried if statuses.get(t) != "assigned"]
            if wrong_state or wrong_hist or still:
                problems.append(f"{len(wrong_state)} tasks closed by an outcome are not done "
                                f"{wrong_state[:3]}, {len(wrong_hist)} lack exactly one "
                                f"history row into done {wrong_hist[:3]}, {len(still)} tasks "
                                f"with a failed attempt are no longer assigned {still[:3]}")
            counts["tasks_done_by_outcome"] = len(done_tasks)

            # 4. History replays to every state; one task per (run, member); no member with
            #    two open tasks of one kind.
            audit = replay(s)
            counts.update({f"replay_{k}": v for k, v in audit.items()})
            broken = {k: v for k, v in audit.items() if k not in ("members", "tasks") and v}
            if broken:
                problems.append(f"history does not replay to the current states: {broken}")
            dup = s.execute(text(
                "SELECT COUNT(*) FROM (SELECT run_id, member_id FROM outreach_tasks "
                "GROUP BY run_id, member_id HAVING COUNT(*) > 1) x")).scalar_one()
            twice_open = s.execute(text(
                "SELECT COUNT(*) FROM (SELECT member_id, kind FROM outreach_tasks "
                "WHERE status IN ('open', 'assigned') "
                "GROUP BY member_id, kind HAVING COUNT(*) > 1) x")).scalar_one()
            if dup or twice_open:
                problems.append(f"{dup} (run, member) pairs with more than one task; "
                                f"{twice_open} members with two open tasks of one kind")
            counts["history_rows"] = s.execute(text(
                "SELECT COUNT(*) FROM task_status_changes")).scalar_one()
            counts["escalations"] = s.execute(text(
                "SELECT COUNT(*) FROM outreach_tasks WHERE kind = 'escalation'")).scalar_one()
            counts["survey_assigned"] = s.execute(text(
                "SELECT COUNT(*) FROM outreach_tasks t JOIN campaign_runs r ON r.id = t.run_id "
                "JOIN campaigns c ON c.id = r.campaign_id WHERE c.name = 'survey' "
                "AND t.status = 'assigned'")).scalar_one()
            # when the survey's run began (UTC, the real clock); not its tasks' created_at:
            # a plan dated before the real today (TODAY) makes them at that day's start
            first = s.execute(text(
                "SELECT MIN(r.started_at) FROM campaign_runs r JOIN campaigns c "
                "ON c.id = r.campaign_id WHERE c.name = 'survey'")).scalar_one()
            counts["survey_started_utc"] = str(first) if first else ""
    finally:
        eng.dispose()

    # 5. The survey made exactly what the undisturbed twin made, as the dry run counted.
    loaded, calm = _survey_members(world.url), _survey_members(alone_url)
    counts["survey_tasks"], counts["survey_tasks_alone"] = len(loaded), len(calm)
    counts["survey_expected"] = world.survey_expected
    if len(set(loaded)) != len(loaded):
        problems.append("a member has two tasks in the survey run")
    if loaded != calm or len(loaded) != world.survey_expected:
        problems.append(f"the survey under load made {len(loaded)} tasks, alone "
                        f"{len(calm)}, its dry run counted {world.survey_expected}; "
                        f"{len(set(calm) - set(loaded))} members missing, "
                        f"{len(set(loaded) - set(calm))} extra")

    # 6. The command a coordinator would run.
    env = process_env(world.url, prefect_api, world.coordinator, workdir / "home-check")
    dbcheck = subprocess.run([OUTREACH, "db", "check"], check=False, env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    counts["db_check"] = dbcheck.stdout.strip()
    if dbcheck.returncode != 0 or "all consistent" not in dbcheck.stdout:
        problems.append(f"outreach db check exited {dbcheck.returncode}: "
                        f"{dbcheck.stdout.strip()} {_tail(dbcheck.stderr)}")
    return counts, problems


# --- figures ------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def _utc_epoch(stamp: str) -> float | None:
    if not stamp or stamp == "None":
        return None
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp()


def _created(text_: str) -> dict:
    m = re.search(r"(\d+) targeted, (\d+) new tasks, (\d+) left open", text_)
    return ({"targeted": int(m[1]), "created": int(m[2]), "left_open": int(m[3])}
            if m else {})


def figures(world: World, load: Load, alone: Proc, counts: dict) -> dict:
    """Throughput, latencies and durations of one run (seconds, wall clock)."""
    cmds = [c for res in load.volunteers.values() for c in res["commands"]]
    ok = [c for c in cmds if c["exit"] == 0]
    lat = [c["latency"] for c in cmds]
    first = min((c["start"] for c in cmds), default=load.started)
    last = max((c["start"] + c["latency"] for c in cmds), default=load.finished)
    per_vol = {}
    for vid, res in load.volunteers.items():
        mine = res["commands"]
        if mine:
            span = mine[-1]["start"] + mine[-1]["latency"] - mine[0]["start"]
            per_vol[vid] = len([c for c in mine if c["exit"] == 0]) / span if span else 0.0
    # While the survey plans: from the start of its run (its row in campaign_runs, made
    # just before the first range) until its process ended (the last ranges, leftovers and
    # summary).
    lo = _utc_epoch(counts.get("survey_started_utc", ""))
    hi = load.campaign.finished
    during = [c["latency"] for c in cmds
              if lo is not None and hi is not None and c["start"] + c["latency"] >= lo
              and c["start"] <= hi]
    cpu = sum(res.get("cpu_seconds", 0.0) for res in load.volunteers.values())
    return {
        "database": world.url.split("://", 1)[0],
        "volunteer_cpu_ms_per_command": 1000 * cpu / len(cmds) if cmds else None,
        "members": world.members,
        "outcomes_recorded": len(ok),
        "commands": len(cmds),
        "recording_seconds": last - first,
        "outcomes_per_second": len(ok) / (last - first) if last > first else 0.0,
        "per_volunteer_per_second": sorted(per_vol.values()),
        "latency_p50": _pct(lat, 50),
        "latency_p95": _pct(lat, 95),
        "latency_max": max(lat, default=float("nan")),
        "latency_p50_while_planning": _pct(during, 50),
        "latency_p95_while_planning": _pct(during, 95),
        "commands_while_planning": len(during),
        "survey_planning_seconds": (hi - lo) if lo is not None else None,
        "campaign_alone_seconds": alone.seconds,
        "campaign_under_load_seconds": load.campaign.seconds,
        "campaign_load_ratio": load.campaign.seconds / alone.seconds if alone.seconds else None,
        "followup_seconds": load.followup.seconds,
        "followup_started_after": load.followup.started - load.started,
        "load_wall_seconds": load.finished - load.started,
        "setup_seconds": world.setup_seconds,
        "survey": _created(load.campaign.stdout),
        "survey_alone": _created(alone.stdout),
        "phone_visits": world.phone_visits,
        **{k: v for k, v in counts.items() if k != "db_check"},
    }


def format_figures(fig: dict) -> str:
    """The figures as a few readable lines."""
    per = fig["per_volunteer_per_second"]
    survey = fig.get("survey") or {}
    lines = [
        f"load test ({fig['database']}, {fig['members']:,} members, 2 shared cores: noisy)",
        (f"  outcomes recorded   {fig['outcomes_recorded']} of {fig['commands']} commands in "
         f"{fig['recording_seconds']:.1f} s = {fig['outcomes_per_second']:.1f} outcomes/s"),
        (f"  per volunteer       {min(per, default=0):.1f} – {max(per, default=0):.1f} "
         f"outcomes/s (median {statistics.median(per) if per else 0:.1f})"),
        (f"  latency per record  p50 {fig['latency_p50'] * 1000:.0f} ms, p95 "
         f"{fig['latency_p95'] * 1000:.0f} ms, max {fig['latency_max'] * 1000:.0f} ms; "
         f"{fig['volunteer_cpu_ms_per_command'] or 0:.0f} ms CPU per command in the "
         "volunteer process"),
        (f"  while survey plans  p50 {fig['latency_p50_while_planning'] * 1000:.0f} ms, p95 "
         f"{fig['latency_p95_while_planning'] * 1000:.0f} ms over "
         f"{fig['commands_while_planning']} commands (survey run's start to campaign exit: "
         f"{fig['survey_planning_seconds'] or 0:.1f} s)"),
        (f"  survey campaign     alone {fig['campaign_alone_seconds']:.1f} s, under load "
         f"{fig['campaign_under_load_seconds']:.1f} s (x{fig['campaign_load_ratio'] or 0:.2f}); "
         f"{survey.get('created', '?')} tasks, {fig.get('survey_assigned', '?')} assigned at "
         f"the end, dry run {fig.get('survey_expected', '?')}"),
        (f"  follow-up           {fig['followup_seconds']:.1f} s; "
         f"{fig.get('escalations', 0)} escalations in all"),
        (f"  whole load phase    {fig['load_wall_seconds']:.1f} s; setup (seed + phone "
         f"visits) {fig['setup_seconds']:.1f} s"),
        (f"  ledger afterwards   {fig.get('replay_tasks', '?')} tasks, "
         f"{fig.get('history_rows', '?')} task history rows, {fig.get('attempts', '?')} "
         f"attempts"),
    ]
    return "\n".join(lines)


# --- the whole scenario -------------------------------------------------------------------


def scenario(url: str, prefect_api: str, workdir: Path, *,
             members: int = MEMBERS) -> tuple[dict, list[str]]:
    """Build, run alone on a twin, run under load, check: (figures, problems)."""
    world = build_world(url, members=members)
    alone_url, alone_code = twin(world)
    try:
        alone = campaign_alone(alone_url, alone_code, prefect_api, workdir)
        load = run_load(world, prefect_api, workdir)
        counts, problems = check(world, load, alone, alone_url, prefect_api, workdir)
    finally:
        drop_twin(alone_url)
    return figures(world, load, alone, counts), problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.reliability.load",
                                 description="Issue 6's load test, once; prints figures.")
    ap.add_argument("--database-url", help="an empty database (default: a temporary "
                                           "SQLite file)")
    ap.add_argument("--reset", action="store_true",
                    help="wipe the database first (drops PostgreSQL's public schema)")
    ap.add_argument("--members", type=int, default=MEMBERS,
                    help=f"members to seed (default {MEMBERS:,}: a ~200,000-task survey)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    opts = ap.parse_args(argv)
    for k, v in _QUIET.items():
        os.environ.setdefault(k, v)
    with tempfile.TemporaryDirectory(prefix="outreach-load-") as tmp:
        work = Path(tmp)
        url = opts.database_url or f"sqlite:///{work / 'outreach.db'}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        try:
            prepare_database(url, reset=opts.reset)
        except SetupError as exc:
            print(f"load: {exc}", file=sys.stderr)
            return 2
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=60):
            fig, problems = scenario(url, PREFECT_API_URL.value(), work / "run",
                                     members=opts.members)
    print(format_figures(fig))
    if opts.json:
        print(json.dumps(fig, default=str, indent=1))
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
