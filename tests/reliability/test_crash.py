"""kill -9 at every crash point of a campaign run and of a volunteer's write, then run it
again: the ledger ends exactly as after an uninterrupted run.

A timed kill from outside cannot aim at "between two batches" or "after the writes,
before the commit"; the process kills itself with SIGKILL at the named point instead
(db/crashpoints.py, ``OUTREACH_CRASH_AT``). Nothing runs after it: no rollback, no
``finally``, no Prefect state change — as with a power cut or the OOM killer.

Each case starts from its own copy of one seeded ledger: SQLite files, or PostgreSQL
databases created from a template when the suite runs on PostgreSQL. The crashed run is a
real process (a Prefect flow run against the session's Prefect API, or the `outreach`
CLI); the rerun and the uninterrupted twin run in this process. Comparisons use natural
keys (campaign, period, member), not surrogate ids: PostgreSQL does not give back the
sequence numbers a killed transaction took.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from outreach.db import crashpoints, migrate
from outreach.db import session as db_session
from outreach.db.models import Volunteer
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from outreach.tasks.campaigns import plan_jobs
from outreach.tasks.ledger.audit import replay
from outreach.tasks.ledger.people import add_volunteer
from tests.db.factories import actor

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

TODAY = dt.date(2026, 11, 9)
PERIOD = "2026-11"
BATCH = 1000  # 6,000 members: six planning batches (some 3,700 targeted)
OUTREACH = str(Path(sys.executable).parent / "outreach")
SURVEY = (
    "import datetime as dt, sys\n"
    "from outreach.flows.campaigns import survey\n"
    f"survey(period={PERIOD!r}, today=dt.date.fromisoformat({str(TODAY)!r}),\n"
    "       batch_size=int(sys.argv[1]))\n"
)

#: What a snapshot compares, table by table, on natural keys.
RUN = ("JOIN campaign_runs r ON r.id = t.run_id JOIN campaigns c ON c.id = r.campaign_id")
SNAPSHOT = {
    "campaign_runs": "SELECT c.name, r.period, r.material FROM campaign_runs r "
                     "JOIN campaigns c ON c.id = r.campaign_id ORDER BY 1, 2",
    "outreach_tasks": f"SELECT c.name, r.period, t.member_id, t.kind, t.status, "
                      f"t.volunteer_id, t.status_by, t.status_reason, t.attempts, "
                      f"t.max_attempts, t.next_attempt_on, t.due_on, t.closes_on, t.outcome, "
                      f"t.pending_confirmation, t.version FROM outreach_tasks t {RUN} "
                      f"ORDER BY 1, 2, 3",
    "task_status_changes": f"SELECT c.name, r.period, t.member_id, h.from_status, "
                           f"h.to_status, h.volunteer_id, h.actor_id, h.reason "
                           f"FROM task_status_changes h JOIN outreach_tasks t "
                           f"ON t.id = h.task_id {RUN} ORDER BY 1, 2, 3, h.id",
    "attempts": f"SELECT c.name, r.period, t.member_id, a.volunteer_id, a.recorded_by, "
                f"a.outcome, a.note, a.answers, a.source_key, a.recorded_on "
                f"FROM attempts a JOIN outreach_tasks t ON t.id = a.task_id {RUN} "
                f"ORDER BY 1, 2, 3, a.id",
    "members": "SELECT id, status, status_by, status_reason, phone_verified_on, "
               "address_verified_on, family_contact_verified_on, confirmed_on, "
               "last_contact_on, last_reached_on, last_reached_by, failed_contacts, "
               "residence, homebound, version FROM members ORDER BY id",
    "member_status_changes": "SELECT member_id, from_status, to_status, actor_id, reason "
                             "FROM member_status_changes ORDER BY member_id, id",
    "member_changes": "SELECT member_id, field, old_value, new_value, actor_id, reason "
                      "FROM member_changes ORDER BY member_id, id",
    "volunteers": "SELECT id, name, role, branch_id, capacity, active FROM volunteers "
                  "ORDER BY id",
}


def snapshot(url: str) -> dict[str, list[tuple]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return {name: [tuple(r) for r in conn.execute(text(sql))]
                    for name, sql in SNAPSHOT.items()}
    finally:
        eng.dispose()


def _forget_engines() -> None:
    for eng in db_session._engines.values():
        eng.dispose()
    db_session._engines.clear()


class Ledgers:
    """Copies of seeded ledgers: SQLite files, or PostgreSQL databases from a template."""

    def __init__(self, folder: Path, pg_url: str | None):
        self.folder = folder
        self.pg = make_url(pg_url) if pg_url else None
        self.made: list[str] = []
        self.n = itertools.count()

    def _pg_admin(self):
        return create_engine(self.pg.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def _url(self, name: str) -> str:
        if self.pg:
            return self.pg.set(database=f"outreach_crash_{name}").render_as_string(
                hide_password=False)
        return f"sqlite:///{self.folder / name}.db"

    def create(self, name: str, build) -> str:
        """A migrated ledger called ``name``, filled by ``build(url)``."""
        url = self._url(name)
        if self.pg:
            admin = self._pg_admin()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "outreach_crash_{name}"')
                conn.exec_driver_sql(f'CREATE DATABASE "outreach_crash_{name}"')
            admin.dispose()
            self.made.append(name)
        eng = make_engine(url)
        migrate.upgrade(eng)
        eng.dispose()
        build(url)
        return url

    def copy(self, source: str) -> str:
        """A fresh copy of ledger ``source``; nobody may be connected to it."""
        name = f"{source}_{next(self.n)}"
        url = self._url(name)
        _forget_engines()
        if self.pg:
            admin = self._pg_admin()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "outreach_crash_{name}"')
                conn.exec_driver_sql(f'CREATE DATABASE "outreach_crash_{name}" '
                                     f'TEMPLATE "outreach_crash_{source}"')
            admin.dispose()
            self.made.append(name)
        else:
            src = self.folder / f"{source}.db"
            assert not Path(f"{src}-wal").exists(), "a copy of a ledger still in use"
            shutil.copy(src, self.folder / f"{name}.db")
        return url

    def drop_all(self) -> None:
        _forget_engines()
        if self.pg:
            admin = self._pg_admin()
            with admin.connect() as conn:
                for name in reversed(self.made):
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "outreach_crash_{name}" '
                                         "WITH (FORCE)")
            admin.dispose()


def _seed(url: str) -> None:
    eng = make_engine(url)
    seed_ledger(eng, members=6000, volunteers=60, seed=13, today=TODAY)
    eng.dispose()  # the last connection folds SQLite's WAL into the file


def _surveyed(url: str) -> None:
    """Seeded, surveyed (capacity runs out: thousands of tasks stay open), then two more
    volunteers join the top branches — so the next run hands out leftovers."""
    _seed(url)
    eng = make_engine(url)
    plan_jobs.plan_campaign(eng, "survey", PERIOD, today=TODAY, batch_size=BATCH)
    with session_scope(eng) as s:
        roots = [name for (name,) in s.execute(text(
            "SELECT name FROM branches WHERE parent_id IS NULL ORDER BY id LIMIT 2"))]
        by = actor(s, s.get(Volunteer, _coordinator(url)))
        for i, branch in enumerate(roots):
            add_volunteer(s, name=f"New Helper {i}", branch=branch, capacity=40, actor=by)
    eng.dispose()


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory):
    pg = os.environ.get("OUTREACH_TEST_DATABASE_URL")
    if pg and pg.startswith("postgresql://"):
        pg = "postgresql+psycopg://" + pg[len("postgresql://"):]
    box = Ledgers(tmp_path_factory.mktemp("crash"), pg)
    box.create("seeded", _seed)
    box.create("surveyed", _surveyed)
    yield box
    box.drop_all()


@pytest.fixture
def api(prefect_harness, monkeypatch):
    """The session Prefect API's URL, for flow runs in other processes."""
    from prefect.settings import PREFECT_API_URL

    monkeypatch.delenv("OUTREACH_CRASH_AT", raising=False)
    return PREFECT_API_URL.value()


def _env(url: str, api: str, point: str | None = None, **extra: str) -> dict:
    env = {**os.environ, "OUTREACH_DATABASE_URL": url, "PREFECT_API_URL": api,
           "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": "WARNING", **extra}
    env.pop("OUTREACH_CRASH_AT", None)
    if point:
        env["OUTREACH_CRASH_AT"] = point
    return env


def killed(argv: list[str], env: dict) -> None:
    """Run ``argv``; it must die by SIGKILL at its crash point."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, (
        f"expected SIGKILL at {env['OUTREACH_CRASH_AT']}, got {proc.returncode}: "
        f"{proc.stderr[-2000:]}")


def survey_in_process(url: str, monkeypatch) -> dict:
    """The same flow run as the crashed one, through Prefect in this process."""
    from outreach.flows.campaigns import survey

    monkeypatch.setenv("OUTREACH_DATABASE_URL", url)
    _forget_engines()
    try:
        return survey(period=PERIOD, today=TODAY, batch_size=BATCH)
    finally:
        _forget_engines()


def consistent(url: str) -> None:
    """Every current state is what its history replays to; no member has two tasks in one
    run."""
    eng = make_engine(url)
    with session_scope(eng, write=False) as s:
        out = replay(s)
        dupes = s.execute(text("SELECT COUNT(*) FROM (SELECT run_id, member_id "
                               "FROM outreach_tasks GROUP BY run_id, member_id "
                               "HAVING COUNT(*) > 1) d")).scalar_one()
    eng.dispose()
    assert all(v == 0 for k, v in out.items() if k not in ("members", "tasks")), out
    assert dupes == 0


def assert_same(got: dict, want: dict) -> None:
    for table in SNAPSHOT:
        assert len(got[table]) == len(want[table]), table
        diff = sum(a != b for a, b in zip(got[table], want[table], strict=True))
        assert diff == 0, f"{table}: {diff} rows differ from the uninterrupted run"


@pytest.fixture(scope="module")
def survey_once(ledgers, prefect_harness):
    """The uninterrupted survey run on the seeded ledger, computed once per module."""
    cache: dict[str, dict] = {}

    def get(monkeypatch) -> dict:
        if "calm" not in cache:
            url = ledgers.copy("seeded")
            out = survey_in_process(url, monkeypatch)
            assert out["batches"] == 6 and out["created"] > 3000, out
            cache["calm"] = snapshot(url)
        return cache["calm"]

    return get


# --- a campaign run ------------------------------------------------------------------------

@pytest.mark.parametrize("point", [
    "plan.matched:1",     # planning the first batch
    "plan.matched:4",     # planning the fourth, three committed
    "plan.written:2",     # tasks of batch 2 inserted and assigned, not committed
    "plan.committed:3",   # between batches 3 and 4
    "plan.committed:6",   # every batch committed; leftovers and summary not done
])
def test_campaign_killed_then_rerun_equals_an_uninterrupted_run(
        ledgers, survey_once, api, monkeypatch, point):
    want = survey_once(monkeypatch)
    url = ledgers.copy("seeded")
    killed([sys.executable, "-c", SURVEY, str(BATCH)], _env(url, api, point))
    partial = snapshot(url)["outreach_tasks"]
    batches_done = {"plan.matched:1": 0, "plan.matched:4": 3, "plan.written:2": 1,
                    "plan.committed:3": 3, "plan.committed:6": 6}[point]
    assert len(partial) == sum(1 for t in want["outreach_tasks"]
                               if t[2] <= batches_done * BATCH), "whole batches, no part"
    consistent(url)

    out = survey_in_process(url, monkeypatch)
    assert out["created"] == len(want["outreach_tasks"]) - len(partial)
    assert_same(snapshot(url), want)
    again = survey_in_process(url, monkeypatch)
    assert again["created"] == 0 and again["assigned_later"] == 0
    assert_same(snapshot(url), want)
    consistent(url)


def test_leftover_assignment_killed_then_rerun_equals_an_uninterrupted_run(
        ledgers, api, monkeypatch):
    """Two volunteers joined after the survey; its rerun hands them open tasks. Killed
    after that UPDATE, before its commit: nothing handed out; the next rerun does it."""
    calm = ledgers.copy("surveyed")
    before = snapshot(calm)
    out = survey_in_process(calm, monkeypatch)
    handed = out["assigned_later"]
    assert out["created"] == 0 and handed >= 40, out  # the newcomers' capacity
    want = snapshot(calm)

    url = ledgers.copy("surveyed")
    killed([sys.executable, "-c", SURVEY, str(BATCH)], _env(url, api, "assign.written:1"))
    assert_same(snapshot(url), before)
    out = survey_in_process(url, monkeypatch)
    assert out["assigned_later"] == handed
    assert_same(snapshot(url), want)
    consistent(url)


# --- a volunteer's write -------------------------------------------------------------------

def _assigned(url: str, n: int) -> list[tuple[int, int]]:
    eng = make_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(text(
            "SELECT t.id, t.volunteer_id FROM outreach_tasks t "
            "JOIN volunteers v ON v.id = t.volunteer_id WHERE t.status = 'assigned' "
            "AND v.role = 'volunteer' ORDER BY t.id LIMIT :n"), {"n": n}).all()
    eng.dispose()
    return [tuple(r) for r in rows]


def _code_for(url: str, volunteer_id: int) -> str:
    """A fresh access code for the volunteer, as `outreach volunteer new-code` gives it."""
    from outreach.tasks.access.permissions import new_code

    eng = make_engine(url)
    with session_scope(eng) as s:
        by = actor(s, s.get(Volunteer, _coordinator(url)))  # through authenticate
        code = new_code(s, volunteer=s.get(Volunteer, volunteer_id), actor=by)
    eng.dispose()
    return code


def test_volunteer_killed_mid_record_then_again_equals_one_clean_record(ledgers, tmp_path):
    """`outreach task record` killed after every write of the outcome and its effects
    (attempt, task, member, history), before the commit: nothing of it is in the ledger;
    the same command again records it exactly once."""
    calm = ledgers.copy("surveyed")
    tid, vid = _assigned(calm, 1)[0]
    code = _code_for(calm, vid)
    url = ledgers.copy("surveyed")
    twin_code = _code_for(url, vid)  # the twin gets its own code for the same volunteer
    argv = [OUTREACH, "task", "record", str(tid), "wrong_number", "--note", "number gone"]
    home = {"OUTREACH_HOME": str(tmp_path / "home")}

    ok = subprocess.run(argv, env=_env(calm, "", None, OUTREACH_TOKEN=code, **home),
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    want = snapshot(calm)

    before = snapshot(url)
    killed(argv, _env(url, "", "outcome.recorded", OUTREACH_TOKEN=twin_code, **home))
    assert_same(snapshot(url), before)
    again = subprocess.run(argv, env=_env(url, "", None, OUTREACH_TOKEN=twin_code, **home),
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    after = snapshot(url)
    assert len(after["attempts"]) == len(before["attempts"]) + 1
    # The code hashes differ between the twins (secrets are random); nothing else does.
    assert_same(after, want)
    consistent(url)


def test_outcomes_import_killed_mid_file_then_again_equals_one_clean_import(
        ledgers, api, tmp_path):
    """An outcomes file of two visits to each of ~1,400 tasks (some 2,900 rows) is applied
    in chunks of 2,000 rows, each chunk one transaction. Killed inside the second chunk:
    the first is in, the second is not; importing the same file again applies exactly the
    rest."""
    calm = ledgers.copy("surveyed")
    rows = _assigned(calm, 5000)
    assert len(rows) > 1200
    mix = ("no_answer", "left_message", "wrong_number", "callback_requested")
    sheet = tmp_path / "round.csv"
    sheet.write_text("task_id,outcome,note,answers,date\n" + "".join(
        f"{tid},{mix[(i + visit) % len(mix)]},visit {visit},,{TODAY + dt.timedelta(days=visit)}\n"
        for visit in (0, 3) for i, (tid, _) in enumerate(rows)))
    total = 2 * len(rows)
    coordinator = _coordinator(calm)
    argv = [OUTREACH, "outcomes", "import", str(sheet), "--today", str(TODAY)]
    home = {"OUTREACH_HOME": str(tmp_path / "home")}

    code = _code_for(calm, coordinator)
    ok = subprocess.run(argv, env=_env(calm, api, None, OUTREACH_TOKEN=code, **home),
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    want = snapshot(calm)

    url = ledgers.copy("surveyed")
    code = _code_for(url, coordinator)
    before = snapshot(url)
    killed(argv, _env(url, api, "results.row:2300", OUTREACH_TOKEN=code, **home))
    partial = snapshot(url)
    assert len(partial["attempts"]) == len(before["attempts"]) + 2000
    consistent(url)
    again = subprocess.run(argv, env=_env(url, api, None, OUTREACH_TOKEN=code, **home),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{total - 2000} applied, 2000 already applied before" in again.stdout, again.stdout
    assert_same(snapshot(url), want)
    consistent(url)


def _coordinator(url: str) -> int:
    eng = make_engine(url)
    with eng.connect() as conn:
        vid = conn.execute(text("SELECT MIN(id) FROM volunteers WHERE role = 'coordinator'")
                           ).scalar_one()
    eng.dispose()
    return vid


def test_every_crash_point_is_exercised():
    """A new crash point without a test here fails this one."""
    source = Path(__file__).read_text()
    assert all(f'"{name}' in source for name in crashpoints.POINTS)
