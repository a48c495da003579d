"""`outreach meeting …`: organisational life — plan meetings, mark attendance (also from a
file), close them (make-up study for whoever missed them), and see who is behind.

Coordinators only. The work is in `tasks.meetings.meetings`; this module parses, calls and prints.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from outreach.cli.campaign import Format, emit
from outreach.cli.common import actor, db_session, edge, pad, parse_date
from outreach.cli.deployments import ticket as run_ticket
from outreach.db import settings
from outreach.db.errors import BadInput
from outreach.i18n import _

meeting_app = typer.Typer(
    help=_("Meetings of a branch: plan, mark attendance, close (coordinators)."),
    no_args_is_help=True)

KINDS = "assembly, committee, group, lecture or theme_day"


def _coordinator(s):
    """The caller, refused first unless a coordinator: a volunteer hears "only a
    coordinator", not what is wrong with the arguments."""
    from outreach.tasks.access.permissions import COORDINATOR, check

    who = actor(s)
    check(COORDINATOR, who, session=s)
    return who


def _today(today: str | None) -> dt.date:
    return parse_date(today, "--today") or settings.today()


FormatOpt = Annotated[Format, typer.Option("--format", help=_("table, csv or json."))]
TodayOpt = Annotated[Optional[str], typer.Option(
    help=_("As of this date (YYYY-MM-DD), default today."))]


@meeting_app.command("plan")
@edge
def plan(
    branch: Annotated[str, typer.Option(help=_("The branch holding the meeting."))],
    kind: Annotated[str, typer.Option(
        help=_("assembly, committee, group, lecture or theme_day."))],
    date: Annotated[str, typer.Option(help=_("YYYY-MM-DD; a past date records a meeting "
                                             "already held."))],
    topic: Annotated[Optional[str], typer.Option(help=_("What it is about."))] = None,
    material: Annotated[Optional[str], typer.Option(
        help=_("The study material (what make-up study brings or talks through)."))] = None,
    place: Annotated[Optional[str], typer.Option(help=_("Where it takes place."))] = None,
    remote: Annotated[bool, typer.Option(
        "--remote", help=_("Members far away can take part by phone."))] = False,
    video: Annotated[bool, typer.Option(
        "--video", help=_("… by video conference instead (implies --remote)."))] = False,
    remote_details: Annotated[Optional[str], typer.Option(
        help=_("The conference number or link."))] = None,
    today: TodayOpt = None,
) -> None:
    """Plan a meeting and invite its members; prints the new meeting's id.

    A committee meeting invites the branch's committee (`outreach member role`); the other
    kinds every contactable member of the branch and of the branches nested in it. A date
    7 days ahead or more gives members living away and homebound members a notice task.

    Example: outreach meeting plan --branch North --kind assembly --date 2026-12-10 --remote
    """
    from outreach.tasks.kernel.labels import label
    from outreach.tasks.meetings.meetings import plan_meeting

    option = "video" if video else "phone" if remote else "none"
    with db_session() as s:
        who = _coordinator(s)
        out = plan_meeting(s, branch=branch, kind=kind, on=parse_date(date, "--date"),
                           actor=who, today=_today(today),
                           topic=topic, material=material, place=place, remote=option,
                           remote_details=remote_details)
    n = out["notices"]
    typer.echo(out["id"])
    typer.echo(_("meeting {id} {status}: {invited} invited, {created} notice tasks "
                 "({assigned} assigned, {open} open)").format(
                     id=out["id"], status=label(out["status"], of="meeting_status"),
                     invited=out["invited"],
                     created=n["created"], assigned=n["assigned"], open=n["open"]),
               err=True)


@meeting_app.command("list")
@edge
def list_(
    branch: Annotated[Optional[str], typer.Option(
        help=_("A branch (and those nested in it)."))] = None,
    period: Annotated[Optional[str], typer.Option(
        help=_("YYYY-MM or YYYY-Qn, default this quarter."))] = None,
    format: FormatOpt = Format.table,
    today: TodayOpt = None,
) -> None:
    """List meetings with their attendance counts.

    Example: outreach meeting list --period 2026-Q4 --format csv > meetings.csv
    """
    from outreach.tasks.meetings.meetings import list_meetings

    with db_session(write=False) as s:
        who = _coordinator(s)
        rows = list_meetings(s, actor=who, today=_today(today), branch=branch, period=period)
    emit(rows, format)


def _id(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 2**31):
        raise BadInput(_("a meeting id is a number (see `outreach meeting list`)"))
    return int(text)


MeetingId = Annotated[str, typer.Argument(metavar="ID", help=_("The meeting's id."))]


@meeting_app.command("show")
@edge
def show(
    meeting_id: MeetingId,
    format: Annotated[Format, typer.Option("--format", help=_("table or json."))]
    = Format.table,
) -> None:
    """Show a meeting: details, roles, attendance counts, every invited member's mark.

    Example: outreach meeting show 12
    """
    from outreach.tasks.meetings.meetings import meeting_view

    with db_session(write=False) as s:
        who = _coordinator(s)
        view = meeting_view(s, meeting_id=_id(meeting_id), actor=who)
    if format == Format.json:
        typer.echo(json.dumps(view, ensure_ascii=False, indent=1, default=str))
        return
    if format == Format.csv:
        emit(view["invited"], format)
        return
    from outreach.cli.common import table
    from outreach.tasks.kernel.labels import label

    lines = [_("meeting {id}  {kind}  {status}  branch {branch}").format(
        id=view["id"], kind=label(view["kind"], of="meeting_kind"),
        status=label(view["status"], of="meeting_status"), branch=view["branch"]),
             _("  planned       {planned}   held {held}").format(
                 planned=view["planned_on"], held=view["held_on"] or "-")]
    for key, word in (("topic", _("topic")), ("material", _("material")),
                       ("place", _("place")), ("chair", _("chair")),
                       ("recorder", _("recorder")), ("minutes", _("minutes")),
                       ("decisions", _("decisions"))):
        if view[key]:
            lines.append(f"  {pad(word, 13)} {view[key]}")
    remote = label(view["remote"], of="remote_option") + (
        f" ({view['remote_details']})" if view["remote_details"] else "")
    lines.append(f"  {pad(_('remote'), 13)} {remote}")
    lines.append(f"  {pad(_('roles'), 13)} " + (", ".join(
        f"{label(r['role'], of='member_role')} {r['name']} ({r['ledger_no']})"
        for r in view["roles"]) or "-"))
    lines.append(f"  {pad(_('attendance'), 13)} " + "  ".join(
        f"{label(k, of='attendance')} {v}" for k, v in view["counts"].items()))
    typer.echo("\n".join(lines))
    if view["invited"]:
        typer.echo(table([_member_says(r) for r in view["invited"]],
                         of={"attendance": "attendance", "segment": "residence"}))


def _member_says(row: dict) -> dict:
    """An invited member's row with what they said through their own link in one column
    (`member_says`: "remote", "excused: in hospital", "studied 2026-03-20 10:05")."""
    from outreach.tasks.kernel.labels import label

    out = {k: v for k, v in row.items()
           if k not in ("member_answer", "member_reason", "studied_at")}
    said = []
    if row.get("member_answer"):
        said.append(label(row["member_answer"], of="attendance")
                    + (f": {row['member_reason']}" if row.get("member_reason") else ""))
    if row.get("studied_at"):
        said.append(_("studied {at}").format(at=row["studied_at"]))
    out["member_says"] = "; ".join(said)
    return out



@meeting_app.command("mark")
@edge
def mark(
    meeting_id: MeetingId,
    ledger_no: Annotated[str, typer.Argument(metavar="LEDGER_NO",
                                             help=_("The member's ledger number (or id)."))],
    status: Annotated[str, typer.Argument(metavar="present|remote|excused|absent",
                                          help=_("present, remote, excused or absent."))],
    reason: Annotated[Optional[str], typer.Option(help=_("Why (required for excused)."))]
    = None,
    today: TodayOpt = None,
) -> None:
    """Mark one invited member's attendance (a correction is a new mark).

    Example: outreach meeting mark 12 M0000042 excused --reason "in hospital"
    """
    from outreach.tasks.kernel.labels import label
    from outreach.tasks.meetings.meetings import mark_attendance

    with db_session() as s:
        who = _coordinator(s)
        out = mark_attendance(s, meeting_id=_id(meeting_id), ref=ledger_no, status=status,
                              reason=reason, actor=who, today=_today(today))
    said = (_("meeting {meeting}: member {member} {status}") if out["changed"] else
            _("meeting {meeting}: member {member} {status} (unchanged)"))
    typer.echo(said.format(meeting=out["meeting_id"], member=out["member_id"],
                           status=label(out["status"], of="attendance")))


@meeting_app.command("attendance")
@edge
def attendance(
    meeting_id: MeetingId,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv",
                                         help=_("Columns: ledger_no,attendance,reason."))],
    today: TodayOpt = None,
) -> None:
    """Mark attendance from a CSV file: all or nothing, every problem listed by line.

    Example: outreach meeting attendance 12 sheet.csv
    """
    from outreach.tasks.kernel.csvfile import must_be_file
    from outreach.tasks.meetings.meetings import import_attendance

    with db_session() as s:
        who = _coordinator(s)
        must_be_file(file)
        out = import_attendance(s, meeting_id=_id(meeting_id), data=file.read_bytes(),
                                actor=who, today=_today(today))
    typer.echo(_("meeting {meeting}: {marked} marked, {unchanged} unchanged").format(
        meeting=out["meeting_id"], marked=out["marked"], unchanged=out["unchanged"]))


@meeting_app.command("close")
@edge
def close(
    meeting_id: MeetingId,
    chair: Annotated[Optional[str], typer.Option(help=_("Who chaired it."))] = None,
    recorder: Annotated[Optional[str], typer.Option(help=_("Who took the minutes."))] = None,
    minutes: Annotated[Optional[str], typer.Option(help=_("The minutes (short text)."))]
    = None,
    decisions: Annotated[Optional[str], typer.Option(help=_("What was decided."))] = None,
    today: TodayOpt = None,
) -> None:
    """Close a held meeting; prints how many make-up tasks it created.

    Members still invited are marked absent, and every excused or absent member gets a
    make-up task (homebound: a visit, living away: a call). Closing again creates none.

    Example: outreach meeting close 12 --chair "Li Wei" --minutes "budget agreed"
    """
    from outreach.tasks.meetings.meetings import close_meeting

    with db_session() as s:
        who = _coordinator(s)
        out = close_meeting(s, meeting_id=_id(meeting_id), chair=chair, recorder=recorder,
                            minutes=minutes, decisions=decisions, actor=who,
                            today=_today(today))
    made = out["make_up"]
    typer.echo(made["created"])
    said = (_("meeting {id} closed: {absent} marked absent, {created} make-up tasks "
              "({assigned} assigned, {open} open)") if out["closed"] else
            _("meeting {id} was closed already: {absent} marked absent, {created} make-up "
              "tasks ({assigned} assigned, {open} open)"))
    typer.echo(said.format(id=out["id"], absent=out["marked_absent"], created=made["created"],
                           assigned=made["assigned"], open=made["open"]), err=True)


@meeting_app.command("hold")
@edge
def hold(
    meeting_id: MeetingId,
    on: Annotated[Optional[str], typer.Option(
        help=_("The day it was held (YYYY-MM-DD), default its planned day."))] = None,
    today: TodayOpt = None,
) -> None:
    """Record that a planned meeting was held (marking or closing does it too)."""
    from outreach.tasks.meetings.meetings import hold_meeting

    with db_session() as s:
        who = _coordinator(s)
        out = hold_meeting(s, meeting_id=_id(meeting_id), held_on=parse_date(on, "--on"),
                           actor=who, today=_today(today))
    typer.echo(_("meeting {id} held on {day}").format(id=out["id"], day=out["held_on"]))


@meeting_app.command("move")
@edge
def move(
    meeting_id: MeetingId,
    date: Annotated[str, typer.Option(help=_("The new date (YYYY-MM-DD)."))],
    reason: Annotated[Optional[str], typer.Option(help=_("Why (kept in its history)."))]
    = None,
    today: TodayOpt = None,
) -> None:
    """Move a planned meeting to another date (its open notices follow it)."""
    from outreach.tasks.meetings.meetings import move_meeting_date

    with db_session() as s:
        who = _coordinator(s)
        out = move_meeting_date(s, meeting_id=_id(meeting_id), on=parse_date(date, "--date"),
                                reason=reason, actor=who, today=_today(today))
    typer.echo(_("meeting {id} planned for {day}; {moved} notices moved, {new} new").format(
        id=out["id"], day=out["planned_on"], moved=out["notices_moved"],
        new=out["notices"]["created"]))


@meeting_app.command("cancel")
@edge
def cancel(
    meeting_id: MeetingId,
    reason: Annotated[str, typer.Option(help=_("Why (kept in its history)."))],
) -> None:
    """Cancel a planned meeting; its open notice tasks are cancelled."""
    from outreach.tasks.meetings.meetings import cancel_meeting

    with db_session() as s:
        who = _coordinator(s)
        out = cancel_meeting(s, meeting_id=_id(meeting_id), reason=reason, actor=who)
    typer.echo(_("meeting {id} cancelled; {n} notices cancelled").format(
        id=out["id"], n=out["notices_cancelled"]))


@meeting_app.command("self-study")
@edge
def self_study(
    branch: Annotated[str, typer.Argument(metavar="BRANCH", help=_("The branch's name."))],
    on: Annotated[Optional[bool], typer.Option(
        "--on/--off", help=_("Accept make-up study done alone, or no longer (without "
                             "either: show the setting)."))] = None,
) -> None:
    """Whether a branch accepts make-up study done alone (off by default).

    On: a member who missed a meeting and says "I have studied it" through their own link
    is marked made up (self-study) at once, and their make-up task is cancelled. Off: the
    make-up task's volunteer sees the member's note and talks the material through.

    \b
    Examples:
      outreach meeting self-study North
      outreach meeting self-study North --on
    """
    from outreach.tasks.meetings.meetings import set_self_study

    with db_session(write=on is not None) as s:
        out = set_self_study(s, branch=branch, actor=actor(s), on=on)
    said = (_("branch {branch}: make-up study done alone is accepted") if out["self_study"]
            else _("branch {branch}: make-up study done alone is not accepted"))
    typer.echo(said.format(branch=out["branch"])
               + ("" if out["changed"] or on is None else " " + _("(unchanged)")))


@meeting_app.command("behind")
@edge
def behind(
    format: FormatOpt = Format.table,
    today: TodayOpt = None,
) -> None:
    """Branches that did not hold what their cadence asks.

    Looked at: the last month for monthly kinds, the last quarter for quarterly ones.
    Cadence: OUTREACH_HOME/cadence.json, e.g. {"lecture": 1} (months per kind: 1, 3, or 0
    for not required)."""
    from outreach.tasks.meetings.life import branches_behind

    with db_session(write=False) as s:
        who = _coordinator(s)
        rows = branches_behind(s, actor=who, today=_today(today))
    emit(rows, format)


@meeting_app.command("without-life")
@edge
def without_life(
    months: Annotated[int, typer.Option(help=_("Months looked back."))] = 6,
    branch: Annotated[Optional[str], typer.Option(
        help=_("A branch (and those nested in it)."))] = None,
    format: FormatOpt = Format.table,
    today: TodayOpt = None,
) -> None:
    """Members with no organisational life in the last months: how many, and who.

    Organisational life: present, remote or made up at a meeting held in those months."""
    from outreach.tasks.meetings.life import members_without_life

    with db_session(write=False) as s:
        who = _coordinator(s)
        out = members_without_life(s, actor=who, today=_today(today), months=months,
                                   names=True, branch=branch)
    if format == Format.json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1, default=str))
        return
    emit(out["members"], format)
    typer.echo(_("{count} members without organisational life in the last {months} "
                 "months").format(count=out["count"], months=out["months"]), err=True)


@meeting_app.command("ticket")
@edge
def ticket(
    minutes: Annotated[int, typer.Option(help=_("How long the ticket is good for (1-60)."))]
    = 15,
) -> None:
    """Print a run ticket for the plan-meeting form in the Prefect UI.

    Good for one run and a few minutes; the meeting is planned by you. Never type your
    access code into Prefect: it keeps run parameters in clear.

    Example: outreach meeting ticket
    """
    typer.echo(run_ticket(minutes, purpose="plan-meeting"))
