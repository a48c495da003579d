"""The volunteer's CLI: my tasks, one task, record — privacy, exit codes, no Prefect."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from outreach.db.models import Attempt, OutreachTask, TaskStatusChange
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from outreach.tasks.campaigns import plan_jobs
from outreach.tasks.work.worklist import SHEET_FIELDS
from tests.cli.helpers import outreach

TODAY = dt.date(2026, 11, 2)


@pytest.fixture
def world(db_url):
    """A seeded ledger with a planned survey and phone-visit run; codes by role."""
    eng = make_engine(db_url)
    res = seed_ledger(eng, members=300, volunteers=30, seed=11, today=TODAY)
    plan_jobs.plan_campaign(eng, "survey", "2026-11", today=TODAY)
    plan_jobs.plan_campaign(eng, "phone_visit", "2026-11", today=TODAY)
    codes = {vid: code for vid, _, _, _, code in res.codes}
    coords = [vid for vid, _, role, _, _ in res.codes if role == "coordinator"]
    with session_scope(eng, write=False) as s:
        busy = s.execute(select(OutreachTask.volunteer_id, func.count())
                         .where(OutreachTask.status == "assigned")
                         .group_by(OutreachTask.volunteer_id)
                         .order_by(func.count().desc())).all()
        vols = [v for v, _ in busy if v not in coords]
        mine = s.scalars(select(OutreachTask).where(OutreachTask.volunteer_id == vols[0],
                                                    OutreachTask.status == "assigned")
                         .order_by(OutreachTask.id)).all()
        other = s.scalars(select(OutreachTask).where(OutreachTask.volunteer_id == vols[1])
                          .limit(1)).one()
    yield {"eng": eng, "codes": codes, "coord": codes[coords[0]], "coord2": codes[coords[1]],
           "vid": vols[0], "me": codes[vols[0]], "mine": mine, "other": other}
    eng.dispose()


def writes(eng) -> tuple[int, int]:
    with session_scope(eng, write=False) as s:
        return (s.scalar(select(func.count()).select_from(Attempt)),
                s.scalar(select(func.count()).select_from(TaskStatusChange)))


def of_kind(world, kind):
    return next(t for t in world["mine"] if t.kind == kind)


def test_tasks_lists_only_mine_by_due_date(world):
    r = outreach("tasks", "--format", "json", code=world["me"])
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert {row["volunteer_id"] for row in rows} == {world["vid"]}
    assert len(rows) == len(world["mine"])
    assert [row["due"] for row in rows] == sorted(row["due"] for row in rows)
    for key in ("id", "kind", "status", "member_id", "volunteer_id", "due", "attempts"):
        assert key in rows[0]
    assert all(isinstance(row[k], int) for row in rows for k in ("id", "member_id", "attempts"))
    table = outreach("tasks", code=world["me"]).stdout
    assert f"{len(rows)} task" in table
    assert "phone" not in rows[0], "the list carries no contact details"


def test_run_sheet_csv_and_coordinator_filters(world):
    r = outreach("tasks", "--format", "csv", code=world["me"])
    header = r.stdout.splitlines()[0].split(",")
    assert header == list(SHEET_FIELDS)
    assert outreach("tasks", "--all", code=world["me"]).exit_code == 1
    r = outreach("tasks", "--all", "--kind", "phone_visit", "--format", "json",
                 code=world["coord"])
    rows = json.loads(r.stdout)
    assert rows and {x["kind"] for x in rows} == {"phone_visit"}
    assert outreach("tasks", "--all", "--kind", "picnic", code=world["coord"]).exit_code == 2
    assert outreach("tasks", "--all", "--branch", "Atlantis", code=world["coord"]).exit_code == 2


def test_task_show_is_private(world):
    mine, other = world["mine"][0], world["other"]
    r = outreach("task", "show", str(mine.id), code=world["me"])
    assert r.exit_code == 0 and "phone" in r.stdout and "outcomes" in r.stdout
    r = outreach("task", "show", str(other.id), code=world["me"])
    assert r.exit_code == 1 and "not yours" in r.stderr
    assert outreach("task", "show", "999999", code=world["me"]).exit_code == 2
    assert outreach("task", "show", "abc", code=world["me"]).exit_code == 2
    assert outreach("task", "show", str(other.id), code=world["coord"]).exit_code == 0
    assert outreach("task", "show", str(mine.id)).exit_code == 1, "no code, no details"


def test_record_validates_and_writes_nothing_on_mistakes(world):
    eng, me = world["eng"], world["me"]
    phone = of_kind(world, "phone_visit")
    survey = of_kind(world, "survey")
    before = writes(eng)
    cases = [
        (("task", "record", str(phone.id), "delivered"), 2, "does not fit a phone_visit"),
        (("task", "record", str(phone.id), "teleported"), 2, "unknown outcome"),
        (("task", "record", str(survey.id), "reached", "--answer", "phone"), 2, "KEY=VALUE"),
        (("task", "record", str(survey.id), "reached", "--answer", "shoe=42"), 2, "shoe"),
        (("task", "record", str(survey.id), "reached", "--answer", "phone=call me maybe",
          "--answer", "address=same", "--answer", "residence=local", "--answer",
          "homebound=no"), 2, "not a phone number"),
        (("task", "record", str(survey.id), "reached"), 2, "needs answers"),
        (("task", "record", str(world["other"].id), "no_answer"), 1, "not yours"),
        (("task", "record", "424242", "no_answer"), 2, "no task"),
        (("task", "record", str(phone.id), "no_answer", "--today", "2026-13-01"), 2, "date"),
    ]
    for args, code, text in cases:
        r = outreach(*args, code=me)
        assert r.exit_code == code, (args, r.output)
        assert text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.output and "call me maybe" not in r.stderr
    assert writes(eng) == before


def test_record_then_done_then_illegal(world):
    me = world["me"]
    phone = of_kind(world, "phone_visit")
    r = outreach("task", "record", str(phone.id), "no_answer", "--note", "rang twice", code=me)
    assert r.exit_code == 0 and "attempt 1" in r.stdout
    r = outreach("task", "done", str(phone.id), code=me)
    assert r.exit_code == 0 and "reached recorded; task is done" in r.stdout
    r = outreach("task", "record", str(phone.id), "no_answer", code=me)
    assert r.exit_code == 1 and "is done" in r.stderr
    survey = of_kind(world, "survey")
    r = outreach("task", "record", str(survey.id), "reached", "--answer", "phone=same",
                 "--answer", "address=same", "--answer", "residence=local",
                 "--answer", "homebound=no", code=me)
    assert r.exit_code == 0, r.output
    assert "is active" in r.stdout


def test_release_reassign_skip(world):
    me, coord = world["me"], world["coord"]
    t1, t2 = world["mine"][0], world["mine"][1]
    assert outreach("task", "reassign", str(t1.id), "1", code=me).exit_code == 1
    assert outreach("task", "skip", str(t1.id), "--reason", "x", code=me).exit_code == 1
    r = outreach("task", "release", str(t1.id), code=me)
    assert r.exit_code == 0 and "open again" in r.stdout
    assert outreach("task", "release", str(t1.id), code=me).exit_code == 1
    r = outreach("task", "reassign", str(t1.id), str(world["vid"]), code=coord)
    assert r.exit_code == 0
    r = outreach("task", "skip", str(t2.id), "--reason", "in hospital", code=coord)
    assert r.exit_code == 0
    assert outreach("task", "skip", str(t2.id), "--reason", "again", code=coord).exit_code == 1
    assert outreach("task", "skip", str(t1.id), code=coord).exit_code == 2, "--reason required"


def test_deceased_needs_another_coordinator(world):
    coord, coord2 = world["coord"], world["coord2"]
    phone = of_kind(world, "phone_visit")
    r = outreach("task", "record", str(phone.id), "deceased", "--note", "family told us",
                 code=coord)
    assert r.exit_code == 0 and "waiting for a coordinator" in r.stdout
    member = str(phone.member_id)
    assert outreach("member", "confirm", member, "deceased", code=world["me"]).exit_code == 1
    r = outreach("member", "confirm", member, "deceased", code=coord)
    assert r.exit_code == 1 and "another coordinator" in r.stderr
    r = outreach("member", "confirm", member, "deceased", code=coord2)
    assert r.exit_code == 0 and "deceased" in r.stdout
    assert outreach("member", "confirm", member, "deceased", code=coord2).exit_code == 1
    assert outreach("member", "confirm", member, "alive", code=coord2).exit_code == 2


def test_volunteer_commands_do_not_import_prefect(world, tmp_path):
    """The volunteer path stays light: no Prefect, Faker or Alembic at start-up."""
    probe = (
        "import sys\n"
        "from outreach.cli.main import app\n"
        "for argv in (['tasks'], ['task', 'show', sys.argv[1]],\n"
        "             ['task', 'record', sys.argv[1], 'no_answer']):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (argv, e.code)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'faker', 'alembic'})\n"
        "print('HEAVY', heavy)\n")
    env = {**os.environ, "OUTREACH_TOKEN": world["me"]}
    out = subprocess.run([sys.executable, "-c", probe, str(of_kind(world, "phone_visit").id)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


TOKENS = st.sampled_from(["tasks", "task", "show", "record", "done", "release", "reassign",
                          "skip", "member", "confirm", "--all", "--format", "json", "csv",
                          "--answer", "phone=1", "=", "--note", "--today", "2026-02-30",
                          "reached", "no_answer", "1", "-1", "0", "99999999999999999999",
                          "--reason", "deceased", "--branch", "--kind", "--limit"])


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.one_of(TOKENS, st.text(max_size=12)), max_size=6))
def test_fuzzed_arguments_never_traceback(world, argv):
    """Whatever is typed: exit 0, 1 or 2 — never an unhandled exception."""
    r = outreach(*argv, code=world["me"])
    assert r.exit_code in (0, 1, 2), (argv, r.output)


INTERRUPT = """
import builtins, sys
real, target = builtins.__import__, sys.argv[1]
def ctrl_c_at(name, globals=None, locals=None, fromlist=(), level=0):
    if target in [name] + [f"{name}.{x}" for x in fromlist or ()]:
        raise KeyboardInterrupt
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = ctrl_c_at
sys.argv = ["outreach", *sys.argv[2:]]
from outreach.cli.main import run
run()
"""


@pytest.mark.parametrize("module,argv", [
    ("typer", ["tasks"]), ("outreach.cli.volunteer", ["tasks"]),
    ("outreach.tasks.work.worklist", ["tasks"]), ("outreach.db.migrate", ["tasks"]),
    ("outreach.cli.remote", ["whoami"]), ("typer", ["report", "coverage"]),
    ("outreach.cli.campaign", ["report", "coverage"]),
    ("outreach.tasks.access.permissions", ["login", "--code", "1-X"]),
])
def test_ctrl_c_in_the_first_moments_is_one_line(tmp_path, module, argv):
    """Issue 11, defect 14: Ctrl-C while the command is still being imported (here: at the
    import of ``module``) prints one line and exits 1 — never a KeyboardInterrupt
    traceback."""
    env = {**os.environ, "OUTREACH_HOME": str(tmp_path),
           "OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    out = subprocess.run([sys.executable, "-c", INTERRUPT, module, *argv], env=env,
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (1, "outreach: interrupted; nothing was written\n")


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(
    st.from_regex(r"!?[0-9]{1,7}", fullmatch=True), st.sampled_from(["survey", "delivery"]),
    st.from_regex(r"[A-Z][a-z]{1,10}( [A-Z][a-z'-]{1,12})?", fullmatch=True).filter(
        lambda name: name.lower() not in ("nan", "inf", "infinity")),  # tabulate's floats
    st.sampled_from(["North", "South East Committee"]), st.just("2026-11-02"),
    st.integers(0, 20), st.one_of(st.integers(1, 10**6), st.just("-")),
    st.sampled_from(["open", "assigned"])), min_size=1, max_size=6))
def test_the_task_table_looks_as_tabulate_draws_it(rows):
    """`outreach tasks` draws its table itself (tabulate's import costs a volunteer 30 ms
    of start-up): on plain text it is exactly tabulate's "simple" table."""
    from tabulate import tabulate

    from outreach.cli.volunteer import simple_table

    rows = [list(r) for r in rows]
    headers = ["task", "kind", "member", "branch", "due", "attempts", "volunteer", "status"]
    assert simple_table(rows, headers) == tabulate(rows, headers=headers, tablefmt="simple")


def test_the_task_table_aligns_chinese_names():
    from outreach.cli.volunteer import simple_table

    lines = simple_table([["1", "李小龙", 0], ["12", "Ann", 3]], ["task", "member", "n"])
    widths = {len(line.replace("李小龙", "李小龙___")) for line in lines.splitlines()}
    assert len(widths) == 1, lines
