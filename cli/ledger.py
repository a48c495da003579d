"""Ledger commands: db, seed, volunteers, members import/export, member show.

(`login`, `logout` and `whoami` are in `cli.volunteer`: they also talk to the ledger
service.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import actor, db_session, edge, write_private
from db import settings
from db.errors import BadInput

db_app = typer.Typer(help="The database: create or upgrade the schema.", no_args_is_help=True)
volunteer_app = typer.Typer(help="Volunteers and coordinators (coordinators only).",
                            no_args_is_help=True)
members_app = typer.Typer(help="The whole ledger as CSV (coordinators only).",
                          no_args_is_help=True)
member_app = typer.Typer(help="One member.", no_args_is_help=True)


@db_app.command("upgrade")
@edge
def db_upgrade() -> None:
    """Create the schema, or upgrade it to this version of outreach.

    Example: outreach db upgrade
    """
    from db import migrate
    from db.session import engine

    before = migrate.current(engine())
    rev = migrate.upgrade(engine())
    where = settings.database_url().split("@")[-1]
    if before == rev:
        typer.echo(f"database already at revision {rev} ({where})")
    else:
        typer.echo(f"database upgraded {before or 'empty'} → {rev} ({where})")


@db_app.command("status")
@edge
def db_status() -> None:
    """Print the database's revision and whether it needs an upgrade."""
    from db import migrate
    from db.session import engine

    rev = migrate.current(engine())
    state = "up to date" if rev == migrate.HEAD else migrate.problem(engine(), rev)
    typer.echo(f"revision {rev or 'none'} (this outreach needs {migrate.HEAD}): {state}")


@db_app.command("check")
@edge
def db_check() -> None:
    """Replay every member's and task's history and compare it with their state now.

    Prints counts only; exits 1 if anything does not add up.
    """
    from tasks.audit import replay

    with db_session(write=False) as s:
        out = replay(s)
    bad = {k: v for k, v in out.items() if k not in ("members", "tasks") and v}
    typer.echo(f"{out['members']} members and {out['tasks']} tasks checked against their "
               f"history: " + ("all consistent" if not bad else f"PROBLEMS {bad}"))
    if bad:
        raise typer.Exit(code=1)


def seed(
    members: Annotated[int, typer.Option(help="How many members to create.", min=0)] = 1000,
    volunteers: Annotated[Optional[int], typer.Option(
        help="How many volunteers (default: one per 40 members).", min=0)] = None,
    seed_: Annotated[Optional[int], typer.Option(
        "--seed", help="Random seed: the same seed gives the same ledger.")] = None,
    locale: Annotated[str, typer.Option(help="Faker locale: en_US or zh_CN.")] = "en_US",
    codes: Annotated[Optional[Path], typer.Option(
        help="Write the new people's access codes to this CSV (mode 0600).")] = None,
) -> None:
    """Fill the ledger with realistic made-up members, branches and volunteers.

    Needs no code on a database without a coordinator — but then --codes, so that the
    coordinators it creates can log in; after that, a coordinator's code.

    Example: outreach seed --members 5000 --seed 7 --codes codes.csv
    """
    _seed(members, volunteers, seed_, locale, codes)


@edge
def _seed(members, volunteers, seed_, locale, codes) -> None:
    import os

    from cli.common import open_private
    from tasks.people import check_seed

    if locale not in ("en_US", "zh_CN"):
        raise BadInput(f"locale must be en_US or zh_CN, not {locale!r}")
    with db_session(write=False) as s:
        check_seed(s, actor=_bootstrap_actor(s), codes_kept=codes is not None)
    # The codes' file is opened (0600) before anything is written: a path that cannot be
    # written is refused while the ledger is still untouched.
    made = codes is not None and not codes.exists()
    fd = open_private(str(codes)) if codes is not None else None
    from db.session import engine
    from seed.generate import seed_ledger

    try:
        result = seed_ledger(engine(), members=members, volunteers=volunteers, seed=seed_,
                             locale=locale)
    except BaseException:
        if fd is not None:
            os.close(fd)
            if made:  # the seed wrote nothing: neither does the command
                codes.unlink(missing_ok=True)
        raise
    typer.echo(f"seeded {result.members} members ({result.away} away, {result.homebound} "
               f"homebound), {result.volunteers} volunteers ({result.coordinators} "
               f"coordinators), {result.branches} branches")
    if fd is not None:
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["volunteer_id", "name", "role", "branch", "code"])
        w.writerows(result.codes)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(buf.getvalue())
        except OSError as exc:
            from db.errors import Refused

            raise Refused(f"the ledger WAS seeded, but the access codes could not be written "
                          f"to {str(codes)!r} ({exc.strerror}): give the new people codes "
                          "with `outreach volunteer new-code ID`") from None
        typer.echo(f"access codes written to {codes} (mode 0600)")
    else:
        typer.echo("access codes not kept (no --codes): give the new people codes with "
                   "`outreach volunteer new-code ID`")
    _print_summary()


def _bootstrap_actor(s):
    """Who acts where a ledger without a coordinator needs no code: nobody (None) until the
    first coordinator exists — a stale OUTREACH_TOKEN or stored code is then ignored, not
    refused — and after that whoever the code says (None without one)."""
    from tasks.access import coordinator_exists

    return actor(s, required=False) if coordinator_exists(s) else None


def _print_summary() -> None:
    from tabulate import tabulate

    from tasks.reports import ledger_summary

    with db_session(write=False) as s:
        rows = ledger_summary(s)
    typer.echo(tabulate(rows, headers="keys", tablefmt="simple", intfmt=","))


@volunteer_app.command("add")
@edge
def volunteer_add(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    branch: Annotated[str, typer.Option(help="Their branch (created if new).")],
    coordinator: Annotated[bool, typer.Option(
        "--coordinator", help="A coordinator rather than a volunteer.")] = False,
    capacity: Annotated[int, typer.Option(help="Most open tasks at once.")] = 20,
) -> None:
    """Add a volunteer (or coordinator) and print their personal access code, once.

    The very first coordinator of a new database needs no code; after that this needs a
    coordinator's code.

    Example: outreach volunteer add "Li Wei" --branch North --capacity 15
    """
    from tasks.people import add_volunteer

    with db_session() as s:
        vol, code, created = add_volunteer(s, name=name, branch=branch, coordinator=coordinator,
                                           capacity=capacity, actor=_bootstrap_actor(s))
        role = "coordinator" if coordinator else "volunteer"
    if created:
        typer.echo(f"created branch {branch!r}")
    typer.echo(f"added {role} {vol.id} ({vol.name}), capacity {vol.capacity}")
    typer.echo(f"access code (shown once, keep it safe): {code}")


@volunteer_app.command("list")
@edge
def volunteer_list() -> None:
    """List volunteers and coordinators with their open tasks (coordinators only)."""
    from tabulate import tabulate

    from tasks.reports import volunteer_list as rows_of

    with db_session(write=False) as s:
        rows = rows_of(s, actor=actor(s))
    typer.echo(tabulate(rows, headers="keys", tablefmt="simple"))


@volunteer_app.command("deactivate")
@edge
def volunteer_deactivate(
    volunteer: Annotated[str, typer.Argument(help="Volunteer id (or unique name).")],
) -> None:
    """Mark a volunteer inactive; follow-up hands their open tasks to others.

    The last active coordinator cannot be made inactive.

    Example: outreach volunteer deactivate 17
    """
    _set_active(volunteer, False)


@volunteer_app.command("activate")
@edge
def volunteer_activate(
    volunteer: Annotated[str, typer.Argument(help="Volunteer id (or unique name).")],
) -> None:
    """Mark an inactive volunteer (or coordinator) active again.

    Example: outreach volunteer activate 17
    """
    _set_active(volunteer, True)


def _set_active(ref: str, active: bool) -> None:
    from tasks.people import get_volunteer, set_volunteer_active

    with db_session() as s:
        who = actor(s)
        vol = get_volunteer(s, ref=ref)
        changed = set_volunteer_active(s, volunteer=vol, active=active, actor=who)
    state = "active" if active else "inactive"
    if not changed:
        typer.echo(f"volunteer {vol.id} is already {state}")
    elif active:
        typer.echo(f"volunteer {vol.id} is active again")
    else:
        typer.echo(f"volunteer {vol.id} is inactive; `outreach follow-up` reassigns their tasks")


@volunteer_app.command("new-code")
@edge
def volunteer_new_code(
    volunteer: Annotated[str, typer.Argument(help="Volunteer id (or unique name).")],
) -> None:
    """Give a volunteer a new access code, for a lost or leaked one: the old code stops
    working at once, the count of wrong codes starts again (coordinators only).

    Example: outreach volunteer new-code 17
    """
    from tasks.access import new_code
    from tasks.people import get_volunteer

    with db_session() as s:
        who = actor(s)
        vol = get_volunteer(s, ref=volunteer)
        code = new_code(s, volunteer=vol, actor=who)
    typer.echo(f"new code for {vol.id} ({vol.name}); the old one no longer works")
    typer.echo(f"access code (shown once, keep it safe): {code}")


@members_app.command("import")
@edge
def members_import(
    file: Annotated[Path, typer.Argument(help="CSV file, UTF-8 (with or without BOM).")],
) -> None:
    """Import or update members from a CSV ledger file, all or nothing.

    Columns, exactly: ledger_no,name,birth_date,phone,branch,residence,home_address,
    current_address,homebound,family_contact_name,family_contact_phone. A file with any
    bad row is refused whole, listing every problem by line number.

    Example: outreach members import ledger.csv
    """
    from tasks.csvfile import is_file
    from tasks.ledger import import_ledger, read_ledger

    if not is_file(file):
        raise BadInput(f"no such file: {file}")
    rows = read_ledger(file)
    with db_session() as s:
        res = import_ledger(s, rows, actor=actor(s, required=False), source=file.name)
    typer.echo(f"imported {file.name}: {res.created} new, {res.updated} updated "
               f"({res.changes} field changes recorded), {res.unchanged} unchanged")
    if res.branches_created:
        typer.echo(f"new branches: {', '.join(res.branches_created)}")


@members_app.command("export")
@edge
def members_export(
    file: Annotated[Path, typer.Argument(help="Where to write the CSV ('-' for stdout).")],
) -> None:
    """Export the whole ledger as CSV (same columns as import; it imports back unchanged).

    The file holds contact details: it is written with mode 0600.

    Example: outreach members export ledger.csv
    """
    import io

    from tasks.ledger import export_ledger

    with db_session(write=False) as s:
        buf = io.StringIO()
        n = export_ledger(s, buf, actor=actor(s))
    if str(file) == "-":
        sys.stdout.write(buf.getvalue())
        return
    write_private(str(file), buf.getvalue())
    typer.echo(f"exported {n} members to {file}")


@member_app.command("show")
@edge
def member_show(
    ref: Annotated[str, typer.Argument(metavar="ID_OR_LEDGER_NO",
                                       help="Ledger number (e.g. M0000042) or member id.")],
) -> None:
    """Show one member: details, contacts, open tasks and recent history.

    Coordinators see every member; a volunteer only members of their own open tasks.

    Example: outreach member show M0000042
    """
    from tasks.reports import member_card

    with db_session(write=False) as s:
        who = actor(s)
        text = member_card(s, ref=ref, actor=who)
    typer.echo(text)


@member_app.command("role")
@edge
def member_role(
    ref: Annotated[str, typer.Argument(metavar="ID_OR_LEDGER_NO",
                                       help="Ledger number (e.g. M0000042) or member id.")],
    role: Annotated[str, typer.Argument(metavar="secretary|deputy|committee|none")],
    branch: Annotated[str, typer.Option(help="The branch (the member's, or one above it).")],
) -> None:
    """Give a member a role in a branch, or take it away with none (coordinators).

    Shown by `member show` and `meeting show`; a committee meeting invites the branch's
    secretary, deputy and committee members.

    Example: outreach member role M0000042 secretary --branch North
    """
    import datetime as dt

    from tasks.meetings import set_role

    with db_session() as s:
        out = set_role(s, ref=ref, branch=branch, role=role, actor=actor(s),
                       today=dt.date.today())
    typer.echo(f"member {out['member_id']}: {out['role']} in {out['branch']}"
               + ("" if out["changed"] else " (unchanged)"))


@member_app.command("reactivate")
@edge
def member_reactivate(
    ref: Annotated[str, typer.Argument(metavar="ID_OR_LEDGER_NO",
                                       help="Ledger number (e.g. M0000042) or member id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the member's history).")],
) -> None:
    """Undo a member's do-not-contact (coordinators): the member is unverified again, so
    that the next survey confirms their details; the reason goes into the history.

    Example: outreach member reactivate M0000042 --reason "asked to be visited again"
    """
    from tasks.people import reactivate_member

    with db_session() as s:
        m = reactivate_member(s, member_ref=ref, reason=reason, actor=actor(s))
        mid, status = m.id, m.status
    typer.echo(f"member {mid} is {status} again")


# --- care: life events, hardship, contributions (issue 13) -------------------------------------

_REF = typer.Argument(metavar="ID_OR_LEDGER_NO",
                      help="Ledger number (e.g. M0000042) or member id.")


@member_app.command("event")
@edge
def member_event(
    ref: Annotated[str, _REF],
    kind: Annotated[str, typer.Argument(metavar="hospitalised|bereaved|hardship|other")],
    date: Annotated[Optional[str], typer.Option(
        "--date", help="When it happened (YYYY-MM-DD; default today; not in the future).")]
    = None,
    note: Annotated[Optional[str], typer.Option(help="What happened, in a few words.")] = None,
) -> None:
    """Record a life event of a member: a care visit is made at once, due within 7 days.

    A volunteer records events only for members of their own open tasks; a coordinator
    for anyone.

    Example: outreach member event M0000042 hospitalised --date 2026-11-28
    """
    import datetime as dt

    from cli.common import parse_date
    from tasks.care import record_event

    on = parse_date(date, "--date")
    with db_session() as s:
        out = record_event(s, member_ref=ref, kind=kind, actor=actor(s), today=dt.date.today(),
                           on=on, note=note)
    task = f"care visit task {out['task_id']}" if out["task_id"] else \
        "no care visit yet (nobody has room; the daily care planning tries again)"
    typer.echo(f"life event {out['event_id']} recorded; care occasion {out['occasion_id']} "
               f"due until {out['window_to']}: {task}")


@member_app.command("hardship")
@edge
def member_hardship(
    ref: Annotated[str, _REF],
    level: Annotated[Optional[int], typer.Option(
        "--level", help="1 (mild) to 3 (severe): a care visit every month.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="No longer in hardship.")] = False,
) -> None:
    """Mark a member in hardship (a monthly care visit until cleared), or clear it
    (coordinators). Every change is kept in the member's history.

    Example: outreach member hardship M0000042 --level 2
    """
    import datetime as dt

    from tasks.care import clear_hardship, mark_hardship

    if clear == (level is not None):
        raise BadInput("give either --level 1-3 or --clear")
    with db_session() as s:
        if clear:
            out = clear_hardship(s, member_ref=ref, actor=actor(s), today=dt.date.today())
            typer.echo(f"member {out['member_id']}: hardship cleared on {out['cleared_on']} "
                       f"({out['cancelled']} due care occasion(s) cancelled)")
            return
        out = mark_hardship(s, member_ref=ref, level=level, actor=actor(s),
                            today=dt.date.today())
    if not out["changed"]:
        typer.echo(f"member {out['member_id']}: already in hardship at level {level} "
                   "(unchanged)")
        return
    typer.echo(f"member {out['member_id']}: in hardship at level {level}; monthly care "
               f"visits ({out['created']} made now)")


@member_app.command("contribution")
@edge
def member_contribution(
    ref: Annotated[str, _REF],
    kind: Annotated[str, typer.Option(
        "--kind", help="teaching, volunteering, mediation, mentoring or other.")],
    date: Annotated[str, typer.Option("--date", help="When (YYYY-MM-DD; not in the future).")],
    note: Annotated[Optional[str], typer.Option(help="What they did, in a few words.")] = None,
) -> None:
    """Record what a member did for others (coordinators): shown on `member show`,
    counted per branch (room to play a role).

    Example: outreach member contribution M0000042 --kind teaching --date 2026-11-20
    """
    from cli.common import parse_date
    from tasks.care import add_contribution

    on = parse_date(date, "--date")
    with db_session() as s:
        out = add_contribution(s, member_ref=ref, kind=kind, on=on, actor=actor(s), note=note)
    typer.echo(f"contribution {out['id']}: member {out['member_id']} {out['kind']} on "
               f"{out['on']}")
