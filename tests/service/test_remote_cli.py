"""The volunteer's CLI through the ledger service: every volunteer command works with only
the service's address and a code (no database URL, no database driver loaded), and prints
what the same command prints on a local ledger."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import outreach.cli.volunteer
from outreach import cli
from outreach.db.models import Member
from outreach.db.session import engine, session_scope
from tests.cli.helpers import outreach
from tests.reliability.test_access import World, none_shown, snapshot, unchanged

BOGUS = "postgresql+psycopg://nobody@127.0.0.1:1/no_such_database"
#: Tables that reads write: who was shown which members' contact details.
ACCESS_LOG = ("access_events", "access_event_members")


def remote(svc, *args, code=None, input=None, env=None):
    """One command in remote mode: the service's address, and a database URL that would
    fail if anything opened it."""
    return outreach(*args, code=code, input=input,
                    env={"OUTREACH_SERVER": svc.url, "OUTREACH_DATABASE_URL": BOGUS,
                         **(env or {})})


def same(local, far, label: str) -> None:
    assert (far.exit_code, far.stdout, far.stderr) == \
        (local.exit_code, local.stdout, local.stderr), label


def reads(world: World) -> list[list[str]]:
    mine, cats = world.of(world.bob), world.of(world.cat)
    out = [["whoami"], ["tasks", "--status", "done"], ["tasks", "--status", "bogus"],
           ["tasks", "--kind", "picnic"], ["tasks", "--all"], ["tasks", "--branch", "North"],
           ["tasks", "--today", "2026-02-30"], ["tasks", "--limit", "1", "--today",
                                                "2026-12-31"],
           ["task", "show", str(mine[0])], ["task", "show", str(cats[0])],
           ["task", "show", str(world.loose)], ["task", "show", "999999"],
           ["task", "show", "99999999999999999999"],
           ["task", "record", str(cats[0]), "no_answer"],
           ["task", "record", str(mine[0]), "teleported"],
           ["task", "record", str(mine[0]), "reached"],
           ["task", "record", str(mine[0]), "reached", "--answer", "phone=call me maybe"],
           ["task", "record", str(mine[0]), "reached", "--answer", "shoe=42"],
           ["task", "record", str(mine[0]), "no_answer", "--today", "2026-13-01"],
           ["task", "done", str(mine[0])], ["task", "done", str(cats[0])],
           ["task", "release", str(cats[0])], ["task", "release", "0"]]
    out += [["tasks", "--format", f] for f in ("table", "csv", "json")]
    return out


def test_every_read_and_every_mistake_prints_what_local_prints(world, serve):
    """The same command, locally and through the service: the same stdout, stderr and
    exit code — lists in every format, the task card, and each kind of refusal."""
    svc = serve(world.url)
    before = snapshot(world.url, logins=False)
    for args in reads(world):
        writes = args[:2] in (["task", "record"], ["task", "done"], ["task", "release"])
        for who in (world.bob,) if writes else (world.bob, world.coord):
            same(outreach(*args, code=who), remote(svc, *args, code=who), " ".join(args))
    for code in (None, world.bob[:-1], f"{World.vid(world.bob)}-{world.cat.split('-', 1)[1]}"):
        same(outreach("tasks", env={"OUTREACH_TOKEN": code or ""}),
             remote(svc, "tasks", env={"OUTREACH_TOKEN": code or ""}), "a bad code")
    after = snapshot(world.url, logins=False)  # all but the wrong codes' counts …
    # … and the access log: `task show` and the run sheet (`tasks` with contacts) of
    # one's own tasks note the showing, local or through the service (issue 24), and
    # nothing else is written.
    shown = {t: set(after.pop(t)) - set(before.pop(t)) for t in ACCESS_LOG}
    unchanged(before, after)
    assert sorted({row[3] for row in shown["access_events"]}) == ["cli", "runsheet", "service"]


def _ids(text: str, task: tuple[int, int], member: tuple[int, int]) -> str:
    """The remote line with the local task's and member's ids."""
    text = re.sub(rf"\btask {task[0]}\b", f"task {task[1]}", text)
    return re.sub(rf"\bmember {member[0]}\b", f"member {member[1]}", text)


def test_writes_through_the_service_print_and_do_what_local_writes_do(world, serve):
    """record, done and release: remotely on one of Bob's tasks, locally on another in the
    same state — the same lines (ids aside) and the same effect on the ledger."""
    svc = serve(world.url)
    a, b = world.of(world.bob)[:2]
    answers = ["--answer", "phone=555 0000", "--answer", "address=same", "--answer",
               "residence=local", "--answer", "homebound=no"]
    for args in (["task", "record", "{t}", "no_answer", "--note", "rang twice"],
                 ["task", "record", "{t}", "no_answer"],
                 ["task", "done", "{t}", *answers],
                 ["task", "record", "{t}", "no_answer"],
                 ["task", "release", "{t}"]):
        far = remote(svc, *[x.format(t=a) for x in args], code=world.bob)
        near = outreach(*[x.format(t=b) for x in args], code=world.bob)
        assert far.exit_code == near.exit_code, args
        assert _ids(far.stderr, (a, b), (0, 0)) == near.stderr, args
        assert _ids(far.stdout, (a, b), (world.tasks[a][1], world.tasks[b][1])) == \
            near.stdout, args
    with session_scope(engine(world.url), write=False) as s:
        phones = {m.id: m.phone for m in s.scalars(select(Member).where(
            Member.id.in_([world.tasks[a][1], world.tasks[b][1]])))}
    assert set(phones.values()) == {"555 0000"}, "both surveys wrote the new phone"


PROBE = """
import sys
from outreach.cli.main import run
for argv in sys.argv[1:]:
    sys.argv = ["outreach", *argv.split("|")]
    try:
        run()
    except SystemExit as e:
        assert e.code in (0, None), (argv, e.code)
loaded = sorted({m.split(".")[0] for m in sys.modules}
                & {"sqlalchemy", "psycopg", "alembic", "prefect", "httpx", "fastapi"})
print("LOADED", loaded)
"""


@pytest.mark.parametrize("database_url", ["unset", "bogus"])
def test_remote_mode_needs_no_database_and_loads_no_driver(world, serve, tmp_path,
                                                           database_url):
    """In a fresh process with only OUTREACH_SERVER and a code: every volunteer command
    succeeds, and neither SQLAlchemy nor a database driver is ever imported."""
    svc = serve(world.url)
    mine = world.of(world.bob)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env |= {"OUTREACH_SERVER": svc.url, "OUTREACH_HOME": str(tmp_path / "far")}
    if database_url == "bogus":
        env["OUTREACH_DATABASE_URL"] = BOGUS
    login = subprocess.run([sys.executable, "-c", PROBE, "login"], input=world.bob + "\n",
                           env=env, capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stderr
    commands = ["whoami", "tasks", "tasks|--format|csv", "tasks|--format|json",
                f"task|show|{mine[0]}", f"task|record|{mine[0]}|no_answer",
                f"task|done|{mine[0]}|--answer|phone=same|--answer|address=same|--answer|"
                "residence=same|--answer|homebound=no", f"task|release|{mine[1]}", "logout"]
    out = subprocess.run([sys.executable, "-c", PROBE, *commands], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout
    assert "Bob Volunteer (volunteer" in out.stdout and "handed back" in out.stdout
    assert "reached recorded; task is done" in out.stdout


def test_login_with_server_keeps_both_privately_and_logout_forgets_them(world, serve,
                                                                        monkeypatch):
    svc = serve(world.url)
    home = Path(os.environ["OUTREACH_HOME"])
    monkeypatch.setenv("OUTREACH_DATABASE_URL", BOGUS)
    wrong = f"{World.vid(world.bob)}-{world.cat.split('-', 1)[1]}"
    r = outreach("login", "--server", svc.url, input=wrong + "\n")
    assert r.exit_code == 1 and r.stderr == "outreach: wrong access code\n"
    assert not (home / "token").exists() and not (home / "server").exists()
    r = outreach("login", "--server", "ftp://example.org", input=world.bob + "\n")
    assert r.exit_code == 2 and "https://host:port" in r.stderr
    r = outreach("login", "--server", svc.url + "/", input=world.bob + "\n")
    assert r.exit_code == 0 and f"logged in as Bob Volunteer (volunteer " in r.stdout
    for f in ("token", "server"):
        assert stat.S_IMODE((home / f).stat().st_mode) == 0o600, f
    assert (home / "server").read_text().strip() == svc.url
    r = outreach("tasks", "--format", "json")  # no OUTREACH_SERVER: the stored address
    assert r.exit_code == 0 and r.stdout.startswith("[")
    assert outreach("logout").stdout == "logged out\n"
    assert not (home / "server").exists()


def test_an_unreachable_service_is_one_line(world, tmp_path):
    r = outreach("tasks", code=world.bob,
                 env={"OUTREACH_SERVER": "http://127.0.0.1:9", "OUTREACH_DATABASE_URL": BOGUS})
    assert r.exit_code == 1
    assert r.stderr == ("outreach: cannot reach the ledger service at http://127.0.0.1:9 "
                        "(check OUTREACH_SERVER or `outreach login --server`)\n")
    r = outreach("tasks", code=world.bob, env={"OUTREACH_SERVER": "ledger.example.org"})
    assert r.exit_code == 2 and "https://host:port" in r.stderr


@pytest.mark.parametrize("where", ["local", "remote"])
def test_survey_answers_are_checked_as_typed_with_the_value_on_record(world, serve,
                                                                      monkeypatch, where):
    """Issue 11, defect 17: `task done` on a survey asks each answer in turn, shows the
    value on record in the prompt, checks the answer at once (a mistyped phone is asked
    again, the answers before it are kept), and Enter keeps what is on record."""
    monkeypatch.setattr(cli.volunteer, "is_terminal", lambda: True)
    task = world.of(world.bob)[0]
    member = world.tasks[task][1]
    with session_scope(engine(world.url), write=False) as s:
        m = s.get(Member, member)
        phone, family = m.phone, m.family_contact_phone
        address = m.current_address if m.residence == "away" else m.home_address
        residence = str(m.residence)
    typed = ["call me maybe",  # phone: wrong, asked again
             "555 7777",       # phone
             "",               # address: Enter keeps it
             "abroad",         # residence: wrong
             residence, "", "", "not a phone", "", "", ""]
    args = ("task", "done", str(task))
    if where == "remote":
        r = remote(serve(world.url), *args, code=world.bob, input="\n".join(typed) + "\n")
    else:
        r = outreach(*args, code=world.bob, input="\n".join(typed) + "\n")
    assert r.exit_code == 0, r.output[-300:]
    assert "reached recorded; task is done" in r.stdout
    assert r.stderr.count("not a phone number") == 2 and "residence must be" in r.stderr
    assert r.stdout.count("  phone — ") == 2, "the phone was asked again"
    assert f"[{phone}]" in r.stdout and f"[{address}]" in r.stdout, "values on record shown"
    assert f"[{family}]" in r.stdout
    assert "call me maybe" not in r.stderr
    with session_scope(engine(world.url), write=False) as s:
        m = s.get(Member, member)
        assert (m.phone, m.current_address if m.residence == "away" else m.home_address,
                m.family_contact_phone) == ("555 7777", address, family)


def test_a_volunteer_sees_no_other_members_values_in_the_survey_prompt(world, serve,
                                                                      monkeypatch):
    monkeypatch.setattr(cli.volunteer, "is_terminal", lambda: True)
    svc = serve(world.url)
    for task in (world.of(world.cat)[0], world.loose):
        r = remote(svc, "task", "done", str(task), code=world.bob, input="\n" * 10)
        assert r.exit_code == 1 and "not yours" in r.stderr
        none_shown(r.output, world.contacts[world.tasks[task][1]])
