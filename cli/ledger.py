"""Ledger commands: db, seed, volunteers, members import/export, member show.

(`login`, `logout` and `whoami` are in `cli.volunteer`: they also talk to the ledger
service.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from outreach.cli.common import (FORCE_HELP, PrivateFile, actor, check_target, db_session,
                                 edge, write_private)
from outreach.db import settings
from outreach.db.errors import BadInput
from outreach.i18n import _

db_app = typer.Typer(help=_("The database: create or upgrade the schema."),
                     no_args_is_help=True)
volunteer_app = typer.Typer(help=_("Volunteers and coordinators (coordinators only)."),
                            no_args_is_help=True)
members_app = typer.Typer(help=_("The whole ledger as CSV or Excel (coordinators only)."),
                          no_args_is_help=True)
member_app = typer.Typer(help=_("One member."), no_args_is_help=True)


@db_app.command("upgrade")
@edge
def db_upgrade() -> None:
    """Create the schema, or upgrade it to this version of outreach.

    Example: outreach db upgrade
    """
    from outreach.db import migrate
    from outreach.db.session import engine

    before = migrate.current(engine())
    rev = migrate.upgrade(engine())
    where = settings.database_url().split("@")[-1]
    if before == rev:
        typer.echo(_("database already at revision {rev} ({where})").format(rev=rev,
                                                                           where=where))
    else:
        typer.echo(_("database upgraded {before} → {rev} ({where})").format(
            before=before or _("empty"), rev=rev, where=where))


@db_app.command("status")
@edge
def db_status() -> None:
    """Print the database's revision and whether it needs an upgrade."""
    from outreach.db import migrate
    from outreach.db.session import engine

    rev = migrate.current(engine())
    state = _("up to date") if rev == migrate.HEAD else migrate.problem(engine(), rev)
    typer.echo(_("revision {rev} (this outreach needs {head}): {state}").format(
        rev=rev or _("none"), head=migrate.HEAD, state=state))


@db_app.command("check")
@edge
def db_check() -> None:
    """Replay every member's and task's history and compare it with their state now.

    Prints counts only; exits 1 if anything does not add up.
    """
    from outreach.tasks.ledger.audit import replay

    with db_session(write=False) as s:
        out = replay(s)
    bad = {k: v for k, v in out.items() if k not in ("members", "tasks") and v}
    if bad:
        typer.echo(_("{members} members and {tasks} tasks checked against their history: "
                     "PROBLEMS {bad}").format(members=out["members"], tasks=out["tasks"],
                                              bad=bad))
    else:
        typer.echo(_("{members} members and {tasks} tasks checked against their history: "
                     "all consistent").format(members=out["members"], tasks=out["tasks"]))
    if bad:
        raise typer.Exit(code=1)


@db_app.command("backup")
@edge
def db_backup(
    file: Annotated[Optional[Path], typer.Argument(help=_(
        "Where to write the copy (default: backups/outreach-YYYYMMDD-HHMMSS.db, or .dump "
        "on PostgreSQL, in the outreach home)."))] = None,
    force: Annotated[bool, typer.Option("--force", help=_(
        "Replace FILE if it already exists."))] = False,
) -> None:
    """Copy the ledger while everything runs, check the copy, keep it (mode 0600);
    coordinators only.

    SQLite: SQLite's online backup; PostgreSQL: pg_dump's custom format. The copy is kept
    only once it has passed the checks: integrity, and every member's and task's history
    replayed (as `outreach db check`). Restore it with `outreach db restore FILE`.

    Example: outreach db backup
    """
    from outreach.tasks.ledger.backup_jobs import back_up, size_text

    with db_session(write=False) as s:
        who = actor(s)
    copy = back_up(settings.database_url(), file, actor=who, force=force)
    typer.echo(_("backup written to {path} (mode 0600): {members} members, {tasks} tasks, "
                 "{attempts} attempts; {size} in {seconds:.1f} s; checked: integrity and "
                 "history").format(path=copy.path, members=copy.members, tasks=copy.tasks,
                                   attempts=copy.attempts, size=size_text(copy.size),
                                   seconds=copy.seconds))


@db_app.command("restore")
@edge
def db_restore(
    file: Annotated[Path, typer.Argument(help=_("A backup written by `outreach db backup`."))],
    yes: Annotated[bool, typer.Option("--yes", help=_("Do not ask before restoring."))] = False,
) -> None:
    """Put a backup in the ledger's place; the current ledger is kept aside (coordinators
    only, where the ledger has a coordinator).

    Refused while the stack or the ledger service uses the ledger, and for a backup of a
    newer outreach; a backup of an older one is upgraded. The copy is checked (integrity,
    history) before the current ledger is moved aside: SQLite keeps it as
    <file>.before-restore-<time>, PostgreSQL as the database <name>_before_restore_<time>.

    Example: outreach db restore ~/.outreach/backups/outreach-20261130-020000.db
    """
    from outreach.cli import stack
    from outreach.cli.common import is_terminal
    from outreach.db.errors import Refused
    from outreach.tasks.ledger.backup_jobs import authorise_restore, restore

    running = stack.load()
    if running is not None and any(stack.is_ours(p) for p in running.procs):
        raise Refused(_("the stack runs ({url}) and uses the ledger: `outreach stack down` "
                        "first; nothing was changed").format(url=running.url))
    authorise_restore(settings.database_url(), settings.token())  # before any question
    if not yes:
        if not is_terminal():
            raise BadInput(_("restoring replaces the ledger: add --yes to go ahead without "
                             "a question"))
        typer.confirm(_("Put {name} in the ledger's place (the current ledger is kept "
                        "aside)?").format(name=file.name), abort=True)
    copy = restore(settings.database_url(), file, code=settings.token())
    if copy.upgraded_from:
        typer.echo(_("upgraded the backup from revision {old} to {rev}").format(
            old=copy.upgraded_from, rev=copy.revision))
    typer.echo(_("restored {name}: {members} members, {tasks} tasks, {attempts} attempts "
                 "(revision {rev}); checked: integrity and history").format(
                     name=copy.name, members=copy.members, tasks=copy.tasks,
                     attempts=copy.attempts, rev=copy.revision))
    if copy.aside:
        typer.echo(_("the ledger as it was before is kept as {aside}").format(
            aside=copy.aside))


def seed(
    members: Annotated[int, typer.Option(help=_("How many members to create."), min=0)] = 1000,
    volunteers: Annotated[Optional[int], typer.Option(
        help=_("How many volunteers (default: one per 40 members)."), min=0)] = None,
    seed_: Annotated[Optional[int], typer.Option(
        "--seed", help=_("Random seed: the same seed gives the same ledger."))] = None,
    locale: Annotated[Optional[str], typer.Option(
        help=_("en_US or zh_CN (default: zh_CN when outreach speaks Chinese)."))] = None,
    codes: Annotated[Optional[Path], typer.Option(
        help=_("Write the new people's access codes to this CSV (mode 0600)."))] = None,
    force: Annotated[bool, typer.Option("--force", help=_(FORCE_HELP))] = False,
) -> None:
    """Fill the ledger with realistic made-up members, branches and volunteers.

    Needs no code on a database without a coordinator — but then --codes, so that the
    coordinators it creates can log in; after that, a coordinator's code.

    Example: outreach seed --members 5000 --seed 7 --codes codes.csv
    """
    _seed(members, volunteers, seed_, locale, codes, force)


@edge
def _seed(members, volunteers, seed_, locale, codes, force=False) -> None:
    from outreach.tasks.ledger.people import check_seed

    from outreach.tasks.kernel.rules import seed_locale

    locale = seed_locale(locale)
    with db_session(write=False) as s:
        check_seed(s, actor=_bootstrap_actor(s), codes_kept=codes is not None)
    # The codes' file is checked and made (0600, beside it) before anything is written: a
    # path that cannot be written is refused while the ledger is still untouched.
    out = PrivateFile(codes, force=force) if codes is not None else None
    from outreach.db.session import engine
    from outreach.seed.generate import seed_ledger

    try:
        result = seed_ledger(engine(), members=members, volunteers=volunteers, seed=seed_,
                             locale=locale)
        typer.echo(_("seeded {members} members ({away} away, {homebound} homebound), "
                     "{volunteers} volunteers ({coordinators} coordinators), {branches} "
                     "branches").format(members=result.members, away=result.away,
                                        homebound=result.homebound,
                                        volunteers=result.volunteers,
                                        coordinators=result.coordinators,
                                        branches=result.branches))
        if out is not None:
            write_codes(out, result.codes)
            typer.echo(_("access codes written to {path} (mode 0600)").format(path=codes))
    finally:
        if out is not None:  # a seed that failed wrote nothing: neither does the command
            out.discard()
    if out is None:
        typer.echo(_("access codes not kept (no --codes): give the new people codes with "
                     "`outreach volunteer new-code ID`"))
    _print_summary()


def write_codes(out: PrivateFile, codes: list) -> None:
    """The new people's codes into the codes file (`seed --codes`), after the seed."""
    import csv
    import io

    from outreach.db.errors import OutreachError, Refused

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["volunteer_id", "name", "role", "branch", "code"])
    w.writerows(codes)
    try:
        out.commit(buf.getvalue())
    except OutreachError as exc:  # the disk filled, the name was taken meanwhile
        raise Refused(_("the ledger WAS seeded, but the access codes were not written "
                        "({reason}): give the new people codes with `outreach volunteer "
                        "new-code ID`").format(reason=exc)) from None


def _bootstrap_actor(s):
    """Who acts where a ledger without a coordinator needs no code: nobody (None) until the
    first coordinator exists — a stale OUTREACH_TOKEN or stored code is then ignored, not
    refused — and after that whoever the code says (None without one)."""
    from outreach.tasks.access.permissions import coordinator_exists

    return actor(s, required=False) if coordinator_exists(s) else None


def _print_summary() -> None:
    from outreach.cli.common import table
    from outreach.tasks.ledger.reports import ledger_summary

    with db_session(write=False) as s:
        rows = ledger_summary(s)
    typer.echo(table(rows, intfmt=","))


@volunteer_app.command("add")
@edge
def volunteer_add(
    name: Annotated[str, typer.Argument(help=_("The person's name."))],
    branch: Annotated[str, typer.Option(help=_("Their branch (created if new)."))],
    coordinator: Annotated[bool, typer.Option(
        "--coordinator", help=_("A coordinator rather than a volunteer."))] = False,
    capacity: Annotated[int, typer.Option(help=_("Most open tasks at once."))] = 20,
) -> None:
    """Add a volunteer (or coordinator) and print their personal access code, once.

    The very first coordinator of a new database needs no code; after that this needs a
    coordinator's code.

    Example: outreach volunteer add "Li Wei" --branch North --capacity 15
    """
    from outreach.tasks.ledger.people import add_volunteer

    with db_session() as s:
        vol, code, created = add_volunteer(s, name=name, branch=branch, coordinator=coordinator,
                                           capacity=capacity, actor=_bootstrap_actor(s))
    if created:
        typer.echo(_("created branch {branch}").format(branch=repr(branch)))
    added = (_("added coordinator {id} ({name}), capacity {capacity}") if coordinator else
             _("added volunteer {id} ({name}), capacity {capacity}"))
    typer.echo(added.format(id=vol.id, name=vol.name, capacity=vol.capacity))
    typer.echo(_("access code (shown once, keep it safe): {code}").format(code=code))


@volunteer_app.command("list")
@edge
def volunteer_list() -> None:
    """List volunteers and coordinators with their open tasks (coordinators only)."""
    from outreach.cli.common import table
    from outreach.tasks.ledger.reports import volunteer_list as rows_of

    with db_session(write=False) as s:
        rows = rows_of(s, actor=actor(s))
    typer.echo(table(rows))


@volunteer_app.command("deactivate")
@edge
def volunteer_deactivate(
    volunteer: Annotated[str, typer.Argument(help=_("Volunteer id (or unique name)."))],
) -> None:
    """Mark a volunteer inactive; follow-up hands their open tasks to others.

    The last active coordinator cannot be made inactive.

    Example: outreach volunteer deactivate 17
    """
    _set_active(volunteer, False)


@volunteer_app.command("activate")
@edge
def volunteer_activate(
    volunteer: Annotated[str, typer.Argument(help=_("Volunteer id (or unique name)."))],
) -> None:
    """Mark an inactive volunteer (or coordinator) active again.

    Example: outreach volunteer activate 17
    """
    _set_active(volunteer, True)


def _set_active(ref: str, active: bool) -> None:
    from outreach.tasks.ledger.people import get_volunteer, set_volunteer_active

    with db_session() as s:
        who = actor(s)
        vol = get_volunteer(s, ref=ref)
        changed = set_volunteer_active(s, volunteer=vol, active=active, actor=who)
    if not changed:
        already = (_("volunteer {id} is already active") if active else
                   _("volunteer {id} is already inactive"))
        typer.echo(already.format(id=vol.id))
    elif active:
        typer.echo(_("volunteer {id} is active again").format(id=vol.id))
    else:
        typer.echo(_("volunteer {id} is inactive; `outreach follow-up` reassigns their "
                     "tasks").format(id=vol.id))


@volunteer_app.command("new-code")
@edge
def volunteer_new_code(
    volunteer: Annotated[str, typer.Argument(help=_("Volunteer id (or unique name)."))],
) -> None:
    """Give a volunteer a new access code, for a lost or leaked one: the old code stops
    working at once, the count of wrong codes starts again (coordinators only).

    Example: outreach volunteer new-code 17
    """
    from outreach.tasks.access.permissions import new_code
    from outreach.tasks.ledger.people import get_volunteer

    with db_session() as s:
        who = actor(s)
        vol = get_volunteer(s, ref=volunteer)
        code = new_code(s, volunteer=vol, actor=who)
    typer.echo(_("new code for {id} ({name}); the old one no longer works").format(
        id=vol.id, name=vol.name))
    typer.echo(_("access code (shown once, keep it safe): {code}").format(code=code))


@members_app.command("import")
@edge
def members_import(
    file: Annotated[Path, typer.Argument(help=_(
        "A CSV file (UTF-8, with or without BOM) or an Excel workbook (.xlsx, first "
        "sheet)."))],
    encoding: Annotated[str, typer.Option(
        "--encoding", help=_("A CSV file's encoding: utf-8 (the default) or gb18030 (GBK, "
                             "what Chinese Excel's plain CSV is)."))] = "utf-8",
) -> None:
    """Import or update members from a ledger file, CSV or Excel, all or nothing.

    Columns, exactly, in English: ledger_no,name,birth_date,phone,branch,residence,
    home_address,current_address,homebound,family_contact_name,family_contact_phone; or in
    Chinese: 台账编号,姓名,出生日期,联系电话,所在支部,居住情况,家庭住址,现居住地址,行动不便,
    家属联系人,家属联系电话. Residence local/away or 本地/外出, homebound yes/no or 是/否,
    dates 2026-11-30, 2026/11/30 or 2026年11月30日 (in Excel also real dates). A file with
    any bad row is refused whole, listing every problem by line (Excel: row) number.

    Example: outreach members import ledger.xlsx
    """
    from outreach.tasks.kernel.csvfile import check_encoding, must_be_file
    from outreach.tasks.ledger.book import import_ledger, read_ledger

    check_encoding(encoding)
    must_be_file(file)
    rows = read_ledger(file, encoding=encoding)
    with db_session() as s:
        res = import_ledger(s, rows, actor=actor(s, required=False), source=file.name)
    typer.echo(_("imported {file}: {created} new, {updated} updated ({changes} field changes "
                 "recorded), {unchanged} unchanged").format(
                     file=file.name, created=res.created, updated=res.updated,
                     changes=res.changes, unchanged=res.unchanged))
    if res.branches_created:
        typer.echo(_("new branches: {names}").format(names=", ".join(res.branches_created)))


@members_app.command("export")
@edge
def members_export(
    file: Annotated[Path, typer.Argument(help=_(
        "Where to write: a .csv file, an .xlsx file (Excel), or '-' (CSV to stdout)."))],
    lang: Annotated[Optional[str], typer.Option(
        "--lang", help=_("Headers and words: en or zh_CN (default: the language outreach "
                         "speaks)."))] = None,
    force: Annotated[bool, typer.Option("--force", help=_(FORCE_HELP))] = False,
) -> None:
    """Export the whole ledger as CSV or Excel (same columns as import; it imports back
    unchanged).

    A FILE ending in .xlsx is an Excel workbook: dates as dates, phone numbers as text,
    the header frozen. --lang zh_CN writes the Chinese headers (台账编号,姓名,…) and
    本地/外出, 是/否. The file holds contact details: it is written with mode 0600, never
    through a link, and an existing FILE is replaced only with --force.

    Example: outreach members export ledger.xlsx --lang zh_CN
    """
    import contextlib
    import io

    from outreach.i18n import current
    from outreach.tasks.ledger.book import check_lang, export_ledger, export_ledger_xlsx

    lang = check_lang(lang or current())
    excel = str(file) != "-" and file.suffix.lower() == ".xlsx"
    # the file is checked (and made, empty and private) before the ledger is read
    with (contextlib.nullcontext() if str(file) == "-" else
          PrivateFile(file, force=force)) as out:
        with db_session() as s:  # the export is logged (`tasks.ledger.access_log`)
            buf = io.BytesIO() if excel else io.StringIO()
            export = export_ledger_xlsx if excel else export_ledger
            n = export(s, buf, actor=actor(s), lang=lang,
                       file_name=None if str(file) == "-" else file.name)
        if out is None:
            sys.stdout.write(buf.getvalue())
            return
        out.commit(buf.getvalue())
    typer.echo(_("exported {n} members to {path}").format(n=n, path=file))


@members_app.command("purge")
@edge
def members_purge(
    before: Annotated[str, typer.Option(
        "--before", metavar="DATE",
        help=_("Members deceased or moved out before this day (YYYY-MM-DD) lose their "
               "contact details."))],
    yes: Annotated[bool, typer.Option("--yes", help=_("Do not ask before purging."))] = False,
) -> None:
    """Clear the phone, addresses and family contact of members deceased or moved out
    before DATE (coordinators): keep personal information no longer than it is needed.

    Their status history stays; each cleared field is a row of their history, without
    its value. Prints counts only. A DATE in the future is refused.

    Example: outreach members purge --before 2024-01-01
    """
    from outreach.cli.common import is_terminal, parse_date
    from outreach.tasks.kernel import rules
    from outreach.tasks.ledger.access_log import purge_departed

    day = parse_date(before, "--before")
    if day > rules.real_today():  # refused before anyone is asked
        raise BadInput(_("--before {day} is in the future; the purge is for members who "
                         "left before a day that has passed").format(day=day))
    if not yes:
        from outreach.tasks.access.permissions import require_coordinator

        with db_session(write=False) as s:  # a volunteer is refused before any question
            require_coordinator(actor(s))
        if not is_terminal():
            raise BadInput(_("the purge clears contact details for good: add --yes to go "
                             "ahead without a question"))
        typer.confirm(_("Clear the contact details of members deceased or moved out before "
                        "{day}? They cannot be brought back.").format(day=day), abort=True)
    with db_session() as s:
        done = purge_departed(s, actor=actor(s), before=day)
    typer.echo(_("purged {members} members: {fields} contact fields cleared, {answers} "
                 "survey answers cleaned").format(members=done.members, fields=done.fields,
                                                  answers=done.answers))
    if done.history_kept:
        typer.echo(_("{n} earlier rows of their member history still hold old contact "
                     "details: that history cannot be changed (append-only)").format(
                         n=done.history_kept))


@member_app.command("show")
@edge
def member_show(
    ref: Annotated[str, typer.Argument(metavar="ID_OR_LEDGER_NO",
                                       help=_("Ledger number (e.g. M0000042) or member id."))],
) -> None:
    """Show one member: details, contacts, open tasks and recent history.

    Coordinators see every member; a volunteer only members of their own open tasks.

    Example: outreach member show M0000042
    """
    from outreach.tasks.ledger.reports import member_card

    with db_session() as s:  # the showing is logged (`tasks.ledger.access_log`)
        who = actor(s)
        text = member_card(s, ref=ref, actor=who)
    typer.echo(text)


@member_app.command("link")
@edge
def member_link(
    ref: Annotated[str, typer.Argument(metavar="LEDGER_NO",
                                       help=_("Ledger number (e.g. M0000042) or member id."))],
    days: Annotated[int, typer.Option(help=_("How many days the link works."), min=1,
                                      max=365)] = 30,
    revoke: Annotated[bool, typer.Option("--revoke", help=_(
        "Withdraw the member's links instead (every link still valid)."))] = False,
    qr: Annotated[Optional[str], typer.Option(help=_(
        "The QR code image to write (PNG, mode 0600; default member-link-LEDGER_NO.png)."))
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=_(FORCE_HELP))] = False,
) -> None:
    """Make a member's own link (and its QR code), or withdraw their links.

    The member opens it on their phone, without a login: they see their name and branch
    and, partly hidden, what the ledger holds; they can confirm or correct their address,
    phone and family contact, answer a meeting notice and confirm make-up study.
    Coordinators for any member; a volunteer for members on their own open tasks. The
    address starts with OUTREACH_PUBLIC_URL (default: the local service's).

    \b
    Examples:
      outreach member link M0000042
      outreach member link M0000042 --days 60 --qr wang.png
      outreach member link M0000042 --revoke
    """
    from outreach.cli.remote import new_key
    from outreach.cli.volunteer import backend

    path = None
    if not revoke:
        path = qr or "member-link-" + "".join(
            ch if ch.isalnum() or ch in "-_" else "_" for ch in ref)[:60] + ".png"
        check_target(path, force=force)  # refused before a link is made
    out = backend().member_link(ref, days=days, revoke=revoke, key=new_key())
    if revoke:
        typer.echo(_("member {ref}: {n} links withdrawn").format(ref=ref, n=out["revoked"]))
        return
    import io

    import segno

    url = out["url"]
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=4)
    write_private(path, buf.getvalue(), force=force)
    typer.echo(url)
    typer.echo(_("member {no}: link valid until {until}; QR code in {path} (hand it to the "
                 "member only)").format(no=out["ledger_no"], until=out["expires_at"],
                                        path=path), err=True)


@member_app.command("role")
@edge
def member_role(
    ref: Annotated[str, typer.Argument(metavar="ID_OR_LEDGER_NO",
                                       help=_("Ledger number (e.g. M0000042) or member id."))],
    role: Annotated[str, typer.Argument(metavar="secretary|deputy|committee|none",
                                        help=_("The role: secretary, deputy, committee, or "
                                               "none to take it away."))],
    branch: Annotated[str, typer.Option(help=_("The branch (the member's, or one above it)."))],
) -> None:
    """Give a member a role in a branch, or take it away with none (coordinators).

    Shown by `member show` and `meeting show`; a committee meeting invites the branch's
    secretary, deputy and committee members.

    Example: outreach member role M0000042 secretary --branch North
    """

    from outreach.tasks.kernel.labels import label
    from outreach.tasks.meetings.meetings import set_role

    with db_session() as s:
        out = set_role(s, ref=ref, branch=branch, role=role, actor=actor(s),
                       today=settings.today())
    said = (_("member {id}: {role} in {branch}") if out["changed"] else
            _("member {id}: {role} in {branch} (unchanged)"))
    typer.echo(said.format(id=out["member_id"], role=label(out["role"], of="member_role"),
                           branch=out["branch"]))


@member_app.command("reactivate")
@edge
def member_reactivate(
    ref: Annotated[str, typer.Argument(metavar="ID_OR_LEDGER_NO",
                                       help=_("Ledger number (e.g. M0000042) or member id."))],
    reason: Annotated[str, typer.Option(help=_("Why (kept in the member's history)."))],
) -> None:
    """Undo a member's do-not-contact, or take a moved-out member back in (coordinators):
    the member is unverified again, so that the next survey confirms their details; the
    reason goes into the history (back in: a movement too).

    Example: outreach member reactivate M0000042 --reason "asked to be visited again"
    """
    from outreach.tasks.kernel.labels import label
    from outreach.tasks.ledger.people import reactivate_member

    with db_session() as s:
        m = reactivate_member(s, member_ref=ref, reason=reason, actor=actor(s))
        mid, status = m.id, m.status
    typer.echo(_("member {id} is {status} again").format(
        id=mid, status=label(status, of="member_status")))


# --- care: life events, hardship, contributions (issue 13) -------------------------------------

_REF = typer.Argument(metavar="ID_OR_LEDGER_NO",
                      help=_("Ledger number (e.g. M0000042) or member id."))


@member_app.command("event")
@edge
def member_event(
    ref: Annotated[str, _REF],
    kind: Annotated[str, typer.Argument(metavar="hospitalised|bereaved|hardship|other",
                                        help=_("What happened: hospitalised, bereaved, "
                                               "hardship or other."))],
    date: Annotated[Optional[str], typer.Option(
        "--date", help=_("When it happened (YYYY-MM-DD; default today; not in the future)."))]
    = None,
    note: Annotated[Optional[str], typer.Option(help=_("What happened, in a few words."))] = None,
) -> None:
    """Record a life event of a member: a care visit is made at once, due within 7 days.

    A volunteer records events only for members of their own open tasks; a coordinator
    for anyone.

    Example: outreach member event M0000042 hospitalised --date 2026-11-28
    """

    from outreach.cli.common import parse_date
    from outreach.tasks.care.care import record_event

    on = parse_date(date, "--date")
    with db_session() as s:
        out = record_event(s, member_ref=ref, kind=kind, actor=actor(s), today=settings.today(),
                           on=on, note=note)
    said = (_("life event {event} recorded; care occasion {occasion} due until {until}: "
              "care visit task {task}") if out["task_id"] else
            _("life event {event} recorded; care occasion {occasion} due until {until}: no "
              "care visit yet (nobody has room; the daily care planning tries again)"))
    typer.echo(said.format(event=out["event_id"], occasion=out["occasion_id"],
                           until=out["window_to"], task=out["task_id"]))


@member_app.command("hardship")
@edge
def member_hardship(
    ref: Annotated[str, _REF],
    level: Annotated[Optional[int], typer.Option(
        "--level", help=_("1 (mild) to 3 (severe): a care visit every month."))] = None,
    clear: Annotated[bool, typer.Option("--clear", help=_("No longer in hardship."))] = False,
) -> None:
    """Mark a member in hardship (a monthly care visit until cleared), or clear it
    (coordinators). Every change is kept in the member's history.

    Example: outreach member hardship M0000042 --level 2
    """

    from outreach.tasks.care.care import clear_hardship, mark_hardship

    if clear == (level is not None):
        raise BadInput(_("give either --level 1-3 or --clear"))
    with db_session() as s:
        if clear:
            out = clear_hardship(s, member_ref=ref, actor=actor(s), today=settings.today())
            typer.echo(_("member {id}: hardship cleared on {day} ({n} due care occasion(s) "
                         "cancelled)").format(id=out["member_id"], day=out["cleared_on"],
                                              n=out["cancelled"]))
            return
        out = mark_hardship(s, member_ref=ref, level=level, actor=actor(s),
                            today=settings.today())
    if not out["changed"]:
        typer.echo(_("member {id}: already in hardship at level {level} (unchanged)").format(
            id=out["member_id"], level=level))
        return
    typer.echo(_("member {id}: in hardship at level {level}; monthly care visits ({n} made "
                 "now)").format(id=out["member_id"], level=level, n=out["created"]))


@member_app.command("contribution")
@edge
def member_contribution(
    ref: Annotated[str, _REF],
    kind: Annotated[str, typer.Option(
        "--kind", help=_("teaching, volunteering, mediation, mentoring or other."))],
    date: Annotated[str, typer.Option("--date",
                                      help=_("When (YYYY-MM-DD; not in the future)."))],
    note: Annotated[Optional[str], typer.Option(help=_("What they did, in a few words."))] = None,
) -> None:
    """Record what a member did for others (coordinators): shown on `member show`,
    counted per branch (room to play a role).

    Example: outreach member contribution M0000042 --kind teaching --date 2026-11-20
    """
    from outreach.cli.common import parse_date
    from outreach.tasks.care.care import add_contribution
    from outreach.tasks.kernel.labels import label

    on = parse_date(date, "--date")
    with db_session() as s:
        out = add_contribution(s, member_ref=ref, kind=kind, on=on, actor=actor(s), note=note)
    typer.echo(_("contribution {id}: member {member} {kind} on {day}").format(
        id=out["id"], member=out["member_id"], kind=label(out["kind"], of="contribution"),
        day=out["on"]))
