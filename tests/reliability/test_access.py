"""Access rules (issue 6), stated once and tested one by one.

The rules, and the tests that hold them:

1. A volunteer's list holds only their own tasks, whatever the filters and the format;
   the coordinators' views of the list (--all, --branch, --volunteer) refuse a volunteer.
   `test_volunteer_lists_only_their_own_tasks`,
   `test_coordinator_views_of_the_list_refuse_a_volunteer`
2. A volunteer cannot show, record on, finish, release, skip or reassign another volunteer's
   task, nor show its member: one line, a non-zero exit, nothing written, nothing revealed.
   `test_volunteer_cannot_touch_another_volunteers_task`
3. Contact details (phone, addresses, family contact) only for the volunteer's own OPEN
   tasks: once a task is closed or passed on they are gone from every view.
   `test_contact_details_end_when_the_task_is_no_longer_an_open_one_of_yours`
4. Every coordinator-only command refuses a volunteer; the list of them is the command tree
   minus the commands named here as volunteer or code-free, so a new command is checked.
   `test_every_coordinator_command_refuses_a_volunteer`, `test_the_command_list_is_complete`,
   `test_code_free_commands_reveal_nothing`
5. A missing, wrong or malformed code is refused by every command that needs one, and no
   message echoes the code. `test_every_command_that_needs_a_code_refuses_a_bad_one`,
   `test_login_refuses_a_bad_code`
6. Codes are never stored in clear (raw SQLite bytes incl. the WAL; every table's text on
   PostgreSQL). `test_access_codes_are_not_stored_in_clear`
7. Codes are never logged: our logging, Prefect's logs (all pages), artifacts and flow-run
   parameters. `test_access_codes_never_reach_logs_or_prefect`
8. The files that hold codes or contact details are 0600, and a folder we create for them
   is the owner's alone, even under umask 0. `test_private_files_stay_private_under_umask_0`
9. Wrong codes are slowed down (`tasks.access.permissions.BASE_DELAY`, no setting turns it off), more
   so in a row, right ones are not; a right secret with another volunteer's id is wrong.
   `test_wrong_codes_are_slowed_and_not_echoed`, `test_wrong_codes_in_a_row_wait_longer`,
   `test_right_code_is_not_slowed`, `test_right_secret_with_another_id_is_refused`

Contact details are never printed in assertion messages: the tests count them, and the
checks that look at output raise their own short messages (see `safe`).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import itertools
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer.main
from sqlalchemy import select, text

from outreach.cli.main import build
from outreach.db.models import Base, Member, OutreachTask, Volunteer
from outreach.db.session import engine, session_scope  # the CLI's engines; `db_url` disposes them
from outreach.tasks.campaigns import plan_jobs
from outreach.tasks.work.followup_jobs import expire_closed
from outreach.tasks.ledger.book import COLUMNS, PRIVATE
from tests.cli.helpers import bootstrap, first_code, outreach
from tests.conftest import DATA_TABLES

TODAY = dt.date(2026, 11, 2)
MEMBERS = 8

# --- the command tree ---------------------------------------------------------------------


def _walk(cmd, path=(), groups=()):
    """Every leaf command under ``cmd``: (path of names, command, help texts of its groups)."""
    subs = getattr(cmd, "commands", None)
    if subs is None:
        yield path, cmd, groups
        return
    for name, sub in sorted(subs.items()):
        yield from _walk(sub, path + (name,), groups + ((cmd.help or ""),) if path else groups)


#: Every command of the whole app: path → (click command, help texts of its groups).
TREE = {p: (c, g) for p, c, g in _walk(typer.main.get_command(build()))}

#: The volunteer's commands: each checks who acts and what is theirs (rules 1-3).
VOLUNTEER_COMMANDS = {
    ("login",), ("logout",), ("whoami",), ("tasks",), ("task", "show"), ("task", "record"),
    ("task", "done"), ("task", "release"), ("member", "show"),
    ("member", "event"),  # a life event of a member of one's own open tasks (care visit)
    ("member", "link"),  # a member's own link, for a member of one's own open tasks (issue 26)
}
#: Commands that need no code: the schema (the first `db upgrade` comes before any
#: coordinator), counts-only checks, the local Prefect stack and the demo (its own database).
NO_CODE_COMMANDS = {
    ("db", "upgrade"), ("db", "status"), ("db", "check"), ("stack", "up"), ("stack", "down"),
    ("stack", "status"), ("demo",),
    ("serve",),  # the ledger service: run by whoever holds the database; callers need codes
}
#: Everything else is for coordinators only — a new command lands here by default.
COORDINATOR_COMMANDS = sorted(set(TREE) - VOLUNTEER_COMMANDS - NO_CODE_COMMANDS)

#: Arguments that would do real work if a coordinator gave them ({…} filled in per test;
#: {kind}/{which} expand over every choice of that argument).
SAMPLES = {
    ("volunteer", "add"): [["Zed Newcomer", "--branch", "North"],
                           ["Zed Newcomer", "--branch", "North", "--coordinator"]],
    ("volunteer", "list"): [[]],
    ("volunteer", "deactivate"): [["{cat_id}"]],
    ("volunteer", "activate"): [["{cat_id}"]],
    ("member", "reactivate"): [["{cat_member}", "--reason", "asked to be called again"]],
    ("volunteer", "new-code"): [["{cat_id}"]],
    ("members", "import"): [["{ledger_csv}"]],
    ("members", "export"): [["-"], ["{out_csv}"]],
    ("members", "purge"): [["--before", "2026-11-30", "--yes"]],
    ("member", "confirm"): [["{cat_member}", "deceased"]],
    ("member", "contribution"): [["{cat_member}", "--kind", "teaching", "--date",
                                  "2026-11-02"]],
    ("member", "hardship"): [["{cat_member}", "--level", "2"]],
    ("member", "role"): [["{cat_member}", "committee", "--branch", "North"]],
    ("seed",): [["--members", "3", "--volunteers", "1", "--seed", "1", "--codes", "{out_csv}"]],
    ("campaign", "run"): [["{kind}", "--period", "2026-12", "--today", "2026-12-01"]],
    ("follow-up",): [["--today", "2026-12-01"]],
    ("outcomes", "import"): [["{results_csv}", "--today", "2026-11-03"]],
    ("report",): [["{which}", "--format", "csv"]],
    ("task", "reassign"): [["{cat_task}", "{bob_id}"]],
    ("task", "skip"): [["{bob_task}", "--reason", "going on holiday"]],
    # volunteer commands, on the volunteer's own things (rule 5)
    ("whoami",): [[]],
    ("tasks",): [["--format", "csv"]],
    ("task", "show"): [["{bob_task}"]],
    ("task", "record"): [["{bob_task}", "no_answer"]],
    ("task", "done"): [["{bob_task}"]],
    ("task", "release"): [["{bob_task}"]],
    ("member", "show"): [["{bob_member}"]],
    ("member", "event"): [["{bob_member}", "hospitalised", "--date", "2026-11-02"]],
}


def _guess(cmd) -> list[str]:
    """Arguments for a command SAMPLES does not know yet: one value per required param."""
    out = []
    for p in cmd.params:
        if not p.required:
            continue
        choices = getattr(p.type, "choices", None)
        value = (str(choices[0]) if choices else
                 "{ledger_csv}" if "path" in type(p.type).__name__.lower() else "1")
        out += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    return out


def _cases(paths, *, every_choice: bool):
    """(path, arguments) per command: every sample and choice, or only the first of each."""
    for path in paths:
        cmd = TREE[path][0]
        variants = SAMPLES.get(path) or [_guess(cmd)]
        if not every_choice:
            variants = variants[:1]
        for n, args in enumerate(variants):
            named = [p for p in cmd.params if getattr(p.type, "choices", None)
                     and any("{" + p.name + "}" in a for a in args)]
            combos = itertools.product(*[[str(c) for c in p.type.choices] for p in named])
            for combo in combos if every_choice else itertools.islice(combos, 1):
                filled = list(args)
                for p, choice in zip(named, combo):
                    filled = [a.replace("{" + p.name + "}", choice) for a in filled]
                label = "-".join(path + combo) + (f"-{n}" if n else "")
                yield pytest.param(path, filled, id=label)


def _coordinator_only_options():
    """Options of volunteer commands whose help says they are for coordinators."""
    for path in sorted(VOLUNTEER_COMMANDS):
        for p in TREE[path][0].params:
            if p.param_type_name == "option" and "(coordinators)" in (p.help or ""):
                yield path, p


COORDINATOR_OPTIONS = list(_coordinator_only_options())
NEEDS_CODE = sorted(COORDINATOR_COMMANDS + sorted(VOLUNTEER_COMMANDS - {("login",),
                                                                         ("logout",)}))

# --- a small ledger: a coordinator, two volunteers, eight members with a survey task each --


@dataclass
class World:
    url: str
    tmp: Path
    coord: str
    bob: str
    cat: str
    tasks: dict[int, tuple[int | None, int]]  # task id → (volunteer id, member id)
    contacts: dict[int, set[str]]  # member id → its contact details
    names: dict[int, str]  # member id → name
    loose: int = 0  # an open task nobody holds
    extra: dict = field(default_factory=dict)

    @staticmethod
    def vid(code: str) -> int:
        return int(code.split("-", 1)[0])

    def of(self, code: str) -> list[int]:
        return sorted(t for t, (v, _) in self.tasks.items() if v == self.vid(code))

    def others(self, code: str) -> list[int]:
        """Members of tasks that are not this volunteer's."""
        return sorted({m for t, (v, m) in self.tasks.items() if v != self.vid(code)})

    def placeholders(self) -> dict[str, str]:
        bob_task, cat_task = self.of(self.bob)[0], self.of(self.cat)[0]
        return {"bob_id": str(self.vid(self.bob)), "cat_id": str(self.vid(self.cat)),
                "bob_task": str(bob_task), "cat_task": str(cat_task),
                "bob_member": str(self.tasks[bob_task][1]),
                "cat_member": str(self.tasks[cat_task][1]), **self.extra}


def member_row(i: int) -> str:
    """Distinct, fixed-width contact details, so that counting them in output is exact."""
    away = i % 3 == 0
    values = {"ledger_no": f"P{i:02d}", "name": f"Member {chr(65 + i)}",
              "birth_date": "1940-01-01", "phone": f"555-{1000 + i}", "branch": "North",
              "residence": "away" if away else "local",
              "home_address": f"{100 + i} Quietwater Lane",
              "current_address": f"{100 + i} Farview Road" if away else "",
              "homebound": "no", "family_contact_name": f"Kinsman {chr(65 + i)}x",
              "family_contact_phone": f"555-{2000 + i}"}
    return ",".join(values[c] for c in COLUMNS) + "\n"


def load_world(url: str, tmp: Path, world: World | None = None) -> World:
    eng = engine(url)
    with session_scope(eng, write=False) as s:
        tasks = {t: (v, m) for t, v, m in s.execute(
            select(OutreachTask.id, OutreachTask.volunteer_id, OutreachTask.member_id))}
        members = s.scalars(select(Member)).all()
        contacts = {m.id: {getattr(m, f) for f in PRIVATE if getattr(m, f)}
                    for m in members}
        names = {m.id: m.name for m in members}
    if world is not None:
        world.tasks, world.contacts, world.names = tasks, contacts, names
        return world
    return World(url, tmp, "", "", "", tasks, contacts, names)


def build_world(url: str, tmp: Path) -> World:
    """Ann (coordinator), Bob and Cat (volunteers) in North; eight members, one survey task
    each, shared between Bob and Cat; Cat hands one back, so one task is open and nobody's."""
    coord, bob = bootstrap()
    r = outreach("volunteer", "add", "Cat Volunteer", "--branch", "North", code=coord)
    cat = first_code(r.stdout)
    ledger = tmp / "ledger.csv"
    ledger.write_text(",".join(COLUMNS) + "\n" + "".join(map(member_row, range(MEMBERS))))
    assert outreach("members", "import", str(ledger), code=coord).exit_code == 0
    eng = engine(url)
    plan_jobs.plan_campaign(eng, "survey", "2026-11", today=TODAY)
    w = load_world(url, tmp)
    w.coord, w.bob, w.cat = coord, bob, cat
    assert len(w.of(bob)) >= 2 and len(w.of(cat)) >= 3, "both volunteers have tasks"
    w.loose = w.of(cat)[-1]
    assert outreach("task", "release", str(w.loose), code=cat).exit_code == 0
    return load_world(url, tmp, w)


@pytest.fixture(scope="module")
def world_image(tmp_path_factory) -> dict:
    """The world as the first test built it, to copy for the others (building it a hundred
    times would take most of this file's time): SQLite's file, or PostgreSQL's rows."""
    return {"file": tmp_path_factory.mktemp("world-image") / "outreach.db"}


def _data_tables():
    return [t for t in Base.metadata.sorted_tables if t.name in DATA_TABLES]


def _save(url: str, image: dict) -> None:
    if url.startswith("sqlite"):  # a consistent copy, WAL included
        src, dst = sqlite3.connect(url.split("///", 1)[1]), sqlite3.connect(image["file"])
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return
    eng = engine(url)
    with eng.connect() as conn:
        image["rows"] = {t.name: [dict(r._mapping) for r in conn.execute(select(t))]
                         for t in _data_tables()}


def _restore(url: str, image: dict) -> None:
    """Into the clean database `db_url` just made, before anything opened it."""
    if url.startswith("sqlite"):
        shutil.copyfile(image["file"], url.split("///", 1)[1])
        return
    eng = engine(url)
    with eng.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # as conftest
        for t in _data_tables():
            if image["rows"][t.name]:
                conn.execute(t.insert(), image["rows"][t.name])
            if "id" in t.c:
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {t.name}), false)"))


@pytest.fixture
def world(db_url, tmp_path, world_image) -> World:
    """A fresh copy of the small world for each test (see `build_world`), with a file of
    one new member and a results file for the commands that take one."""
    if "world" not in world_image:
        w = build_world(db_url, tmp_path)
        _save(db_url, world_image)
        world_image["world"] = copy.deepcopy(w)
    else:
        _restore(db_url, world_image)
        w = copy.deepcopy(world_image["world"])
        w.url, w.tmp = db_url, tmp_path
    new = tmp_path / "new-member.csv"
    new.write_text(",".join(COLUMNS) + "\n" + member_row(MEMBERS))
    results = tmp_path / "results.csv"
    results.write_text(f"task_id,outcome,note,answers\n{w.of(w.bob)[0]},no_answer,,\n")
    w.extra = {"ledger_csv": str(new), "results_csv": str(results),
               "out_csv": str(tmp_path / "out.csv")}
    return w


@pytest.fixture
def through_service(world, monkeypatch):
    """The volunteer's commands go through the ledger service (`outreach serve`, here in a
    thread on the same database) instead of opening the database: OUTREACH_SERVER is set.
    Coordinator-only commands still run on the database, as they do for real."""
    from tests.service.conftest import Running

    svc = Running(world.url)
    monkeypatch.setenv("OUTREACH_SERVER", svc.url)
    yield svc
    svc.stop()


@pytest.fixture(params=["local", "service"])
def door(request):
    """Rules 1-3 and 5 hold on both doors: the CLI on the ledger, and the CLI as a client
    of the ledger service."""
    if request.param == "service":
        request.getfixturevalue("through_service")
    return request.param


# --- what the tests compare ---------------------------------------------------------------


#: What a wrong code may write: the count of wrong codes in a row (it sets the delay),
#: per volunteer and — through the ledger service — per client address.
LOGIN_COUNTERS = {("volunteers", "failed_logins")}
LOGIN_TABLES = {"login_failures"}


def snapshot(url: str, *, logins: bool = True) -> dict[str, list[tuple]]:
    """Every row of every table, to show that a refused command wrote nothing (but, with
    ``logins=False``, the count of wrong codes)."""
    eng = engine(url)
    with eng.connect() as conn:
        return {t.name: sorted((tuple(r) for r in conn.execute(select(*[
            c for c in t.c if logins or (t.name, c.name) not in LOGIN_COUNTERS]))),
            key=repr) for t in Base.metadata.sorted_tables
            if logins or t.name not in LOGIN_TABLES}


def count_shown(output: str, values) -> int:
    """How many of these values appear in the output (never which: they are private)."""
    return sum(1 for v in values if v and v in output)


def contacts_of(world: World, members) -> set[str]:
    return {v for m in members for v in world.contacts[m]}


# The checks below raise their own AssertionError: pytest would otherwise print the
# compared values, which can be command output, table rows or contact details.

def safe(output: str, limit: int = 300) -> str:
    """Output fit for an assertion message: digits and family names masked (phones and
    addresses carry digits)."""
    return re.sub(r"Kinsman \w+", "Kinsman …", re.sub(r"\d", "#", output.strip()[-limit:]))


def none_shown(output: str, values, what: str = "the output") -> None:
    n = count_shown(output, values)
    if n:
        raise AssertionError(f"{n} contact details (or codes) in {what}")


def succeeded(r) -> None:
    if r.exit_code != 0:
        raise AssertionError(f"exit {r.exit_code}: {safe(r.stderr)}")


def refused(r, *, code: int = 1, says: str | None = None) -> None:
    """The exit code, one line on stderr (saying ``says``, a regex), nothing on stdout."""
    lines = r.stderr.strip().splitlines()
    problems = [p for p, bad in [
        (f"exit {r.exit_code}, not {code}", r.exit_code != code),
        (f"{len(lines)} lines on stderr", len(lines) != 1 or
         not lines[0].startswith("outreach: ")),
        (f"{len(r.stdout)} characters on stdout", r.stdout != ""),
        ("a traceback", "Traceback" in r.output),
        (f"no {says!r}", says is not None and not re.search(says, r.stderr)),
    ] if bad]
    if problems:
        raise AssertionError(", ".join(problems) + f": {safe(r.stderr)}")


def unchanged(before: dict, after: dict) -> None:
    """Tables compared; only the names and row counts of those that differ are shown."""
    changed = {t: (len(before[t]), len(after[t])) for t in before if before[t] != after[t]}
    if changed:
        raise AssertionError(f"written (table: rows before, after): {changed}")


def needles(code: str) -> set[str]:
    """A code as it could appear: whole, its secret part, the secret without dashes."""
    secret = code.split("-", 1)[1]
    return {code, secret, secret.replace("-", "")}


# --- rule 1: a volunteer's list is their own -------------------------------------------------

FILTERS = [(), ("--kind", "survey"), ("--status", "assigned"), ("--status", "open"),
           ("--limit", "50", "--today", "2026-12-31")]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: " ".join(f) or "no-filter")
def test_volunteer_lists_only_their_own_tasks(world, door, filters, fmt):
    """Rule 1: whatever filter a volunteer adds, the list stays theirs — no task, name or
    contact detail of another volunteer's (or nobody's) task appears in any format."""
    r = outreach("tasks", *filters, "--format", fmt, code=world.bob)
    succeeded(r)
    others = world.others(world.bob)
    none_shown(r.stdout, [world.names[m] for m in others], "the list (others' members)")
    none_shown(r.stdout, contacts_of(world, others), "the list")
    if fmt == "json":
        ids = {row["id"] for row in json.loads(r.stdout)}
        assert ids <= set(world.of(world.bob)), "only Bob's task ids"
    if filters[:2] != ("--status", "open"):
        mine = [world.tasks[t][1] for t in world.of(world.bob)]
        listed = count_shown(r.stdout, [world.names[m] for m in mine])
        assert listed == len(mine), "each of Bob's own tasks is listed"


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("path,option", COORDINATOR_OPTIONS,
                         ids=lambda x: x.opts[0] if hasattr(x, "opts") else " ".join(x))
def test_coordinator_views_of_the_list_refuse_a_volunteer(world, door, path, option, fmt):
    """Rule 1: the options that list other people's tasks refuse a volunteer, in every
    format, revealing nothing (the options are found from their help, not listed here)."""
    value = {"branch": "North", "volunteer": str(World.vid(world.cat))}.get(option.name)
    args = [*path, option.opts[0], *([value] if value else []), "--format", fmt]
    r = outreach(*args, code=world.bob)
    refused(r, says="only a coordinator")
    none_shown(r.output, contacts_of(world, world.others(world.bob)))
    assert outreach(*args, code=world.coord).exit_code == 0, "a coordinator may"


# --- rule 2: another volunteer's task is out of reach ----------------------------------------

ANSWERS = ["--answer", "phone=same", "--answer", "address=same", "--answer",
           "residence=local", "--answer", "homebound=no"]
ACTIONS = {
    "show": ["task", "show", "{task}"],
    "record-no_answer": ["task", "record", "{task}", "no_answer"],
    "record-reached": ["task", "record", "{task}", "reached"],
    "record-reached-answers": ["task", "record", "{task}", "reached", *ANSWERS],
    "done": ["task", "done", "{task}"],
    "done-answers": ["task", "done", "{task}", *ANSWERS],
    "release": ["task", "release", "{task}"],
    "skip": ["task", "skip", "{task}", "--reason", "not mine"],
    "reassign-to-me": ["task", "reassign", "{task}", "{me}"],
    "member-show": ["member", "show", "{member}"],
}


@pytest.mark.parametrize("whose", ["another-volunteers", "nobodys"])
@pytest.mark.parametrize("action", ACTIONS)
def test_volunteer_cannot_touch_another_volunteers_task(world, door, action, whose):
    """Rule 2: on a task that is not theirs a volunteer is refused at once — before any
    question about the visit — in one line, with nothing written and nothing of the member
    shown."""
    task = world.of(world.cat)[0] if whose == "another-volunteers" else world.loose
    member = world.tasks[task][1]
    args = [a.format(task=task, member=member, me=World.vid(world.bob))
            for a in ACTIONS[action]]
    before = snapshot(world.url)
    r = outreach(*args, code=world.bob)
    refused(r, says="not yours|only a coordinator|not in your open tasks")
    none_shown(r.output, world.contacts[member])
    unchanged(before, snapshot(world.url))


# --- rule 3: contact details only for one's own open tasks ------------------------------------

def _close(world: World, task: int, how: str) -> str:
    """Close (or pass on) one of Bob's tasks; returns its status afterwards."""
    if how == "done":
        succeeded(outreach("task", "record", str(task), "refused", code=world.bob))
        return "done"
    if how == "failed":
        for _ in range(5):
            r = outreach("task", "record", str(task), "no_answer", code=world.bob)
            succeeded(r)
            if "task is failed" in r.stdout:
                return "failed"
        raise AssertionError("the task did not fail after five attempts")
    if how == "cancelled":
        succeeded(outreach("task", "skip", str(task), "--reason", "in hospital",
                           code=world.coord))
        return "cancelled"
    if how == "expired":
        eng = engine(world.url)
        assert expire_closed(eng, today=dt.date(2027, 6, 1)) > 0
        return "expired"
    if how == "released":
        succeeded(outreach("task", "release", str(task), code=world.bob))
        return "open"
    assert how == "reassigned"
    succeeded(outreach("task", "reassign", str(task), str(World.vid(world.cat)),
                       code=world.coord))
    return "assigned"


@pytest.mark.parametrize("how", ["done", "failed", "cancelled", "expired", "released",
                                 "reassigned"])
def test_contact_details_end_when_the_task_is_no_longer_an_open_one_of_yours(world, door,
                                                                            how):
    """Rule 3: while the task is Bob's and open he sees the member's phone, address and
    family contact; once it is closed or passed on, no view shows them: task show, member
    show and the list with --status in every format."""
    task = world.of(world.bob)[0]
    member = world.tasks[task][1]
    private = world.contacts[member]
    r = outreach("task", "show", str(task), code=world.bob)
    succeeded(r)
    shown = count_shown(r.stdout, private)
    assert shown >= 3, "phone, address and family contact are shown while it is open"
    shown = count_shown(outreach("tasks", "--format", "csv", code=world.bob).stdout, private)
    assert shown >= 2, "the run sheet has phone and address"

    status = _close(world, task, how)
    for args in (["task", "show", str(task)], ["member", "show", str(member)]):
        r = outreach(*args, code=world.bob)
        refused(r)
        none_shown(r.output, private, " ".join(args[:2]))
    for fmt in ("table", "csv", "json"):
        r = outreach("tasks", "--status", status, "--format", fmt, code=world.bob)
        succeeded(r)
        none_shown(r.stdout, private, f"tasks --status {status} --format {fmt}")
        listed = world.names[member] in r.stdout
        assert listed == (how in ("done", "failed", "cancelled", "expired")), \
            "a closed task stays in its holder's list; a passed-on one leaves it"


# --- rule 4: coordinator-only commands refuse volunteers --------------------------------------

def test_the_command_list_is_complete():
    """Rule 4: the names above are all real commands, the coordinators' list is what the
    README promises, and no command whose help says "coordinators" is counted as a
    volunteer's or code-free one."""
    assert VOLUNTEER_COMMANDS | NO_CODE_COMMANDS <= set(TREE), "a listed command is gone"
    for path in [("volunteer", "add"), ("members", "import"), ("members", "export"),
                 ("member", "confirm"), ("campaign", "run"), ("follow-up",),
                 ("outcomes", "import"), ("report",), ("task", "reassign"), ("task", "skip"),
                 ("seed",)]:
        assert path in COORDINATOR_COMMANDS, path
    marked = re.compile(r"\(coordinators|coordinators only", re.IGNORECASE)
    for path, (cmd, groups) in TREE.items():
        if any(marked.search(h) for h in (cmd.help or "", *groups)):
            assert path in COORDINATOR_COMMANDS, f"{' '.join(path)} says it is for coordinators"
    assert {p.name for _, p in COORDINATOR_OPTIONS} >= {"all_", "branch", "volunteer"}


@pytest.mark.parametrize("path,args", list(_cases(COORDINATOR_COMMANDS, every_choice=True)))
def test_every_coordinator_command_refuses_a_volunteer(world, path, args):
    """Rule 4: each coordinator-only command in the tree — with arguments that would do
    real work for a coordinator — refuses a volunteer's code: "only a coordinator", one
    line, nothing written, no file made, no contact detail shown."""
    args = [a.format_map(world.placeholders()) for a in args]
    before = snapshot(world.url)
    r = outreach(*path, *args, code=world.bob)
    refused(r, says="only a coordinator")
    none_shown(r.output, contacts_of(world, world.contacts))
    assert not (world.tmp / "out.csv").exists(), "no file written"
    unchanged(before, snapshot(world.url))


@pytest.mark.parametrize("path", sorted(p for p in NO_CODE_COMMANDS if p[0] == "db"),
                         ids=" ".join)
def test_code_free_commands_reveal_nothing(world, path):
    """Rule 4: the database commands that need no code show counts, never a member, and
    change nothing on an upgraded ledger (`stack` and `demo` touch no ledger of ours)."""
    before = snapshot(world.url)
    r = outreach(*path)
    succeeded(r)
    none_shown(r.output, list(world.names.values()), "the output (member names)")
    none_shown(r.output, contacts_of(world, world.contacts))
    unchanged(before, snapshot(world.url))


# --- rule 5: a missing, wrong or malformed code -----------------------------------------------

def bad_codes(world: World, *, every: bool = True) -> dict[str, tuple[str | None, int, str]]:
    """label → (code, exit code, what the one line says); the first three are one of each
    kind, the others more ways to get it wrong."""
    bob_id, bob_secret = world.bob.split("-", 1)
    codes = {
        "missing": (None, 1, "access code"),
        "wrong-secret": (f"{bob_id}-{world.cat.split('-', 1)[1]}", 1, "wrong access code"),
        "a-character-short": (world.bob[:-1], 2, "not an access code"),
        "unknown-id": (f"999-{bob_secret}", 1, "wrong access code"),
        "no-id": (bob_secret, 2, "not an access code"),
    }
    return codes if every else dict(list(codes.items())[:3])


@pytest.mark.parametrize("path,args", list(_cases(NEEDS_CODE, every_choice=False)))
def test_every_command_that_needs_a_code_refuses_a_bad_one(world, path, args):
    """Rule 5: no code, a wrong one (right shape, wrong secret) and a malformed one (a
    character short) are each refused by every command that needs a code — exit 1 or 2,
    one line that never repeats what was typed, nothing written (but the count of wrong
    codes)."""
    args = [a.format_map(world.placeholders()) for a in args]
    before = snapshot(world.url, logins=False)
    for label, (code, exit_code, says) in bad_codes(world, every=False).items():
        r = outreach(*path, *args, env={"OUTREACH_TOKEN": code or ""})
        try:
            refused(r, code=exit_code, says=says)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
        none_shown(r.output, needles(code or world.bob) | needles(world.bob), label)
    unchanged(before, snapshot(world.url, logins=False))


#: The volunteer's commands that go through the ledger service when OUTREACH_SERVER is set.
SERVICE_COMMANDS = sorted(VOLUNTEER_COMMANDS - {("login",), ("logout",), ("member", "show"),
                                                ("member", "event")})


@pytest.mark.parametrize("path,args", list(_cases(SERVICE_COMMANDS, every_choice=False)))
def test_every_volunteer_command_refuses_a_bad_code_through_the_service(
        world, through_service, path, args):
    """Rule 5 through the ledger service: the same refusals, lines and exit codes."""
    test_every_command_that_needs_a_code_refuses_a_bad_one(world, path, args)


def test_login_refuses_a_bad_code(world, door):
    """Rule 5: `outreach login` refuses every kind of bad code (also an unknown id, and
    the secret without its id), stores nothing and does not repeat what was typed."""
    token = Path(os.environ["OUTREACH_HOME"]) / "token"
    for label, (code, exit_code, says) in bad_codes(world).items():
        r = outreach("login", input=(code or "") + "\n")
        try:
            refused(r, code=exit_code, says=says)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
        none_shown(r.output, needles(code or world.bob) | needles(world.bob), label)
        assert not token.exists(), f"{label}: a code was stored"


# --- rule 6: codes are never stored in clear --------------------------------------------------

def raw_database(url: str) -> bytes:
    """The database as stored: SQLite's file, WAL and shared memory as bytes; on PostgreSQL
    the text of every row of every table."""
    if url.startswith("sqlite"):
        db = Path(url.split("///", 1)[1])
        files = sorted(db.parent.glob(db.name + "*"))  # with -wal and -shm when present
        return b"".join(f.read_bytes() for f in files)
    eng = engine(url)
    with eng.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "'public' AND table_type = 'BASE TABLE'")).scalars().all()
        rows = [row for t in tables
                for row in conn.execute(text(f'SELECT CAST(t AS text) FROM "{t}" t'))
                .scalars()]
    return "\n".join(rows).encode()


def test_access_codes_are_not_stored_in_clear(world):
    """Rule 6: after adding people (by hand and by `seed`), a new code for one of them,
    logging in and working, no code (old or new) and no secret part of one is anywhere in
    the stored database — only salted hashes, which the scan does find (so it looks in the
    right place)."""
    codes = [world.coord, world.bob, world.cat]
    seeded = world.tmp / "codes.csv"
    succeeded(outreach("seed", "--members", "10", "--volunteers", "3", "--seed", "2",
                       "--codes", str(seeded), code=world.coord))
    codes += [line.rsplit(",", 1)[1] for line in seeded.read_text().splitlines()[1:]]
    assert len(codes) >= 6
    r = outreach("volunteer", "new-code", str(World.vid(world.cat)), code=world.coord)
    succeeded(r)
    codes.append(first_code(r.stdout))
    assert outreach("login", "--code", world.bob).exit_code == 0
    assert outreach("whoami").exit_code == 0
    assert outreach("task", "record", str(world.of(world.bob)[0]), "no_answer").exit_code == 0
    raw = raw_database(world.url)
    eng = engine(world.url)
    with session_scope(eng, write=False) as s:
        hashes = s.scalars(select(Volunteer.code_hash)).all()
    hashes_found = sum(1 for h in hashes if h.encode() in raw)
    assert hashes_found == len(hashes) == len(codes) - 1, "the scan sees every stored hash"
    found = sum(1 for c in codes if any(n.encode() in raw for n in needles(c)))
    assert found == 0, f"{found} of {len(codes)} codes are stored in clear"


# --- rule 7: codes are never logged -----------------------------------------------------------

def prefect_published() -> tuple[list, list, list]:
    """Every log, artifact and flow run, page by page (the API answers 200 at most; pages
    of 20 make even this file's few dozen logs take more than one)."""
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()

    async def read():
        async with get_client() as client:
            async def every(fn, page=20):
                out = []
                while True:
                    got = await fn(limit=page, offset=len(out))
                    out += got
                    if len(got) < page:
                        return out
            return (await every(client.read_logs), await every(client.read_artifacts),
                    await every(client.read_flow_runs))

    return asyncio.run(read())


@pytest.fixture
def prefect_ready(prefect_harness):
    """Prefect configures logging (the root logger's handlers too) when first imported:
    done here, before the test's log capture starts, or the capture would be dropped."""
    import outreach.flows.campaigns  # noqa: F401
    from outreach import flows


@pytest.mark.prefect
def test_access_codes_never_reach_logs_or_prefect(world, prefect_ready, caplog):
    """Rule 7: a coordinator logs in and runs flows through Prefect (a campaign, a results
    file), others type right and wrong codes; with every logger at DEBUG, no code is in
    our log records, Prefect's logs, artifacts or flow-run parameters."""
    caplog.set_level(logging.INFO, logger="sqlalchemy")  # statements and parameters
    caplog.set_level(logging.DEBUG, logger="prefect")
    caplog.set_level(logging.DEBUG)  # last: it sets the capturing handler's level too
    wrong = world.bob.split("-", 1)[0] + "-" + world.cat.split("-", 1)[1]
    assert outreach("whoami", code=wrong).exit_code == 1
    assert outreach("tasks", code=world.bob).exit_code == 0
    assert outreach("login", "--code", world.coord).exit_code == 0
    period = "2027-07"
    succeeded(outreach("campaign", "run", "phone_visit", "--period", period, "--today",
                       "2027-07-01"))
    succeeded(outreach("outcomes", "import", world.extra["results_csv"], "--today",
                       "2027-07-02"))  # the flow that is told who acts (by id)

    logs, artifacts, runs = prefect_published()
    ours = {fr.id for fr in runs if fr.parameters.get("period") == period}
    read = sum(1 for lg in logs if lg.flow_run_id in ours)
    assert ours and read > 0, "our flow's logs were read"
    captured = sum(1 for rec in caplog.records if rec.name.startswith("sqlalchemy"))
    assert captured > 0, "our own log records were captured too"
    published = "\n".join(
        [lg.message for lg in logs] + [f"{a.key} {a.data} {a.description}" for a in artifacts]
        + [json.dumps(fr.parameters, default=str) for fr in runs]
        + [caplog.text] + [str(rec.args) for rec in caplog.records])
    codes = [world.coord, world.bob, world.cat, wrong]
    found = sum(1 for c in codes if count_shown(published, needles(c)))
    assert found == 0, f"{found} of {len(codes)} codes logged or published"


# --- rule 8: private files --------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("case", ["login-makes-home", "db-upgrade-makes-home",
                                  "login-over-an-open-file", "seed-codes", "members-export"])
def test_private_files_stay_private_under_umask_0(world, tmp_path, monkeypatch, case):
    """Rule 8: the stored code (`login`), the codes file of `seed` and the ledger export are
    0600 even under umask 0, also over an existing world-readable file; a folder outreach
    makes for the code (OUTREACH_HOME: by `login`, or by the default database of `db
    upgrade`) is the owner's alone."""
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("OUTREACH_HOME", str(home))
    old = os.umask(0)
    try:
        if case == "db-upgrade-makes-home":
            from outreach.db import session as db_session

            monkeypatch.delenv("OUTREACH_DATABASE_URL")
            for eng in db_session._engines.values():
                eng.dispose()
            db_session._engines.clear()  # the db_url fixture disposes what is made here
            coord, _ = bootstrap()
            assert (home / "outreach.db").exists()
            made, files = home, [home / "token"]
            succeeded(outreach("login", "--code", coord))
        elif case in ("login-makes-home", "login-over-an-open-file"):
            made, files = home, [home / "token"]
            if case == "login-over-an-open-file":
                home.mkdir(mode=0o700)
                made = None
                (home / "token").write_text("old\n")
                os.chmod(home / "token", 0o666)
            succeeded(outreach("login", "--code", world.bob))
            assert (home / "token").read_text().strip() == world.bob, "the code is stored"
        elif case == "seed-codes":
            made, files = None, [tmp_path / "codes.csv"]
            succeeded(outreach("seed", "--members", "3", "--volunteers", "1", "--codes",
                               str(files[0]), code=world.coord))
        else:
            made, files = None, [tmp_path / "ledger-out.csv"]
            succeeded(outreach("members", "export", str(files[0]), code=world.coord))
    finally:
        os.umask(old)
    for f in files:
        assert _mode(f) == 0o600, f"{f.name} is {oct(_mode(f))}"
    if made is not None:
        assert _mode(made) & 0o077 == 0, f"the folder outreach made is {oct(_mode(made))}"


# --- rule 9: wrong codes are slowed down ------------------------------------------------------

DELAY = 0.3


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """The waits the access check asks for, recorded instead of slept: the rule is about
    how long a wrong code is made to wait, which needs no clock to check."""
    import types

    import outreach.tasks.access.permissions
    from outreach import tasks

    waits: list[float] = []
    monkeypatch.setattr(tasks.access.permissions, "time", types.SimpleNamespace(sleep=waits.append))
    monkeypatch.setattr(tasks.access.permissions, "BASE_DELAY", DELAY)
    return waits


@pytest.mark.parametrize("entry", ["login", "OUTREACH_TOKEN"])
@pytest.mark.parametrize("variant", ["wrong-secret", "unknown-id", "bobs-secret-cats-id"])
def test_wrong_codes_are_slowed_and_not_echoed(world, slept, entry, variant):
    """Rule 9: a wrong code is answered only after `BASE_DELAY` seconds, at login and on
    any command — whatever OUTREACH_LOGIN_DELAY says — and the answer does not repeat the
    code."""
    bob_id, bob_secret = world.bob.split("-", 1)
    code = {"wrong-secret": f"{bob_id}-{world.cat.split('-', 1)[1]}",
            "unknown-id": f"4242-{bob_secret}",
            "bobs-secret-cats-id": f"{World.vid(world.cat)}-{bob_secret}"}[variant]
    env = {"OUTREACH_LOGIN_DELAY": "0"}  # a setting of old: it switches nothing off
    if entry == "login":
        r = outreach("login", input=code + "\n", env=env)
    else:
        r = outreach("tasks", "--format", "json", code=code, env=env)
    refused(r, says="wrong access code")
    none_shown(r.output, needles(code) | needles(world.bob))
    assert slept == [DELAY], f"waits asked for: {slept}"
    assert not (Path(os.environ["OUTREACH_HOME"]) / "token").exists(), "nothing stored"


def test_wrong_codes_in_a_row_wait_longer(world, slept):
    """Rule 9: guessing gets slower — each wrong code in a row for one volunteer waits
    twice as long as the one before — and the right code is then answered without a
    wait."""
    wrong = f"{World.vid(world.bob)}-{world.cat.split('-', 1)[1]}"
    for _ in range(3):
        refused(outreach("whoami", code=wrong))
    assert slept == [DELAY, 2 * DELAY, 4 * DELAY], f"waits asked for: {slept}"
    slept.clear()
    r = outreach("whoami", code=world.bob)
    succeeded(r)
    assert slept == [], f"the right code waited: {slept}"


@pytest.mark.parametrize("entry", ["login", "OUTREACH_TOKEN"])
def test_right_code_is_not_slowed(world, slept, entry):
    """Rule 9: the delay is for wrong codes only."""
    if entry == "login":
        r = outreach("login", input=world.bob + "\n")
    else:
        r = outreach("whoami", code=world.bob)
    succeeded(r)
    assert "Bob Volunteer" in r.stdout, "it is Bob"
    assert slept == [], f"a right code waited: {slept}"


def test_right_secret_with_another_id_is_refused(world):
    """Rule 9: the id in front of a code picks whose hash is checked; Bob's secret behind
    Cat's (or Ann's) id is a wrong code, not Bob and not Cat."""
    secret = world.bob.split("-", 1)[1]
    for other in (world.cat, world.coord):
        code = f"{World.vid(other)}-{secret}"
        for args in (["whoami"], ["tasks", "--format", "json"], ["task", "show",
                                                                   str(world.of(world.cat)[0])]):
            refused(outreach(*args, code=code), says="wrong access code")
        refused(outreach("login", "--code", code), says="wrong access code")
    r = outreach("whoami", code=world.bob)
    succeeded(r)
    assert r.stdout.startswith("Bob Volunteer"), "the right pair works"


def test_a_volunteer_records_life_events_only_for_members_of_their_own_open_tasks(world):
    """Rule 1 for `member event`: Bob may record that a member of his own open tasks is in
    hospital (a care visit follows), not that anyone else is; nothing is written then."""
    before = snapshot(world.url)
    r = outreach("member", "event", world.placeholders()["cat_member"], "hospitalised",
                 "--date", "2026-11-02", code=world.bob)
    refused(r, says="not in your open tasks")
    none_shown(r.output, contacts_of(world, world.contacts))
    unchanged(before, snapshot(world.url))
    succeeded(outreach("member", "event", world.placeholders()["bob_member"], "hospitalised",
                       "--date", "2026-11-02", code=world.bob))
