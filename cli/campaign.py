"""Coordinator commands that run through Prefect: campaigns, follow-up, results, reports.

Prefect is imported inside the commands, never at module level: the volunteer commands
share this CLI and must start fast.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from outreach.cli.common import FORCE_HELP, actor, check_target, db_session, edge, parse_date
from outreach.cli.deployments import coordinator, run_flow, ticket, use_prefect
from outreach.db import settings
from outreach.db.errors import BadInput
from outreach.i18n import _, ngettext
from outreach.tasks.kernel.csvfile import safe_cell
from outreach.tasks.campaigns.rules import DUE_DAYS, SHARDS, WINDOWS
from outreach.tasks.work.rules import MAX_ATTEMPTS
from outreach.tasks.kernel.rules import check_not_future, check_period

campaign_app = typer.Typer(help=_("Run a campaign through Prefect (coordinators)."),
                           no_args_is_help=True)
outcomes_app = typer.Typer(help=_("Results files from paper run sheets (coordinators)."),
                           no_args_is_help=True)


class Kind(str, Enum):
    survey = "survey"
    phone_visit = "phone_visit"
    delivery = "delivery"


class Report(str, Enum):
    coverage = "coverage"
    volunteers = "volunteers"
    unreachable = "unreachable"
    movements = "movements"
    meetings = "meetings"
    scorecard = "scorecard"
    access = "access"


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    xlsx = "xlsx"


#: The flows' parameter for each kind's window (`tasks.campaigns.rules.WINDOWS`: choices, default).
_WINDOW_PARAM = {Kind.survey: "not_confirmed_within", Kind.phone_visit: "not_reached_within"}
_WITHIN_HELP = _(
    "Survey: not confirmed within ({survey}); phone visits: not reached within ({phone}) "
    "days.").format(survey=", ".join(map(str, WINDOWS["survey"][0])),
                    phone=", ".join(map(str, WINDOWS["phone_visit"][0])))


@campaign_app.command("run")
@edge
def campaign_run(
    kind: Annotated[Kind, typer.Argument(help=_("survey, phone_visit or delivery."))],
    period: Annotated[Optional[str], typer.Option(
        help=_("The month, YYYY-MM (default: this month)."))] = None,
    branch: Annotated[Optional[str], typer.Option(
        help=_("Only this branch and those nested in it."))] = None,
    material: Annotated[Optional[str], typer.Option(
        help=_("Delivery: the title of the study material."))] = None,
    today: Annotated[Optional[str], typer.Option(
        help=_("Plan as of this date (YYYY-MM-DD)."))] = None,
    within_days: Annotated[Optional[int], typer.Option(help=_WITHIN_HELP)] = None,
    due_days: Annotated[int, typer.Option(help=_("Tasks are due this many days later."),
                                          min=DUE_DAYS.low, max=DUE_DAYS.high)]
    = DUE_DAYS.default,
    max_attempts: Annotated[int, typer.Option(help=_("Failed attempts before a task fails."),
                                              min=MAX_ATTEMPTS.low, max=MAX_ATTEMPTS.high)]
    = MAX_ATTEMPTS.default,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_("Only count; write nothing."))]
    = False,
    shards: Annotated[int, typer.Option(
        help=_("Split the run into this many shards planned at once on PostgreSQL (0: one "
               "per online worker of a running stack; 1 in this process)."),
        min=SHARDS.low, max=SHARDS.high)] = SHARDS.default,
) -> None:
    """Plan and assign a campaign run through Prefect and print its summary.

    Running the same period again creates nothing new and finishes what a crashed run left.

    \b
    Examples:
      outreach campaign run phone_visit --period 2026-11
      outreach campaign run delivery --period 2026-11 --material "November booklet"
      outreach campaign run survey --period 2026-11 --branch North --dry-run
    """
    from outreach.cli.common import table

    day = parse_date(today, "--today")
    if material and kind != Kind.delivery:
        raise BadInput(_("--material goes with delivery campaigns only"))
    if period is not None:
        check_period(period)
    coordinator()
    if branch is not None:
        from outreach.tasks.ledger.people import get_branch

        with db_session(write=False) as s:
            if get_branch(s, name=branch) is None:
                raise BadInput(_("no branch named {name}").format(name=repr(branch[:60])))
    stack = use_prefect()
    from outreach.flows.campaigns import FLOWS

    params = dict(period=period or "", branch=branch or "", today=day, dry_run=dry_run,
                  due_days=due_days, max_attempts=max_attempts, shards=shards)
    if within_days is not None:
        if kind not in _WINDOW_PARAM or within_days not in WINDOWS[kind.value][0]:
            allowed = ", ".join(map(str, WINDOWS.get(kind.value, ((),))[0])) or _("none")
            raise BadInput(_("--within-days for {kind} takes one of: {allowed}").format(
                kind=kind.value, allowed=allowed))
        params[_WINDOW_PARAM[kind]] = within_days
    if kind == Kind.delivery:
        params["material"] = material or _("Monthly study materials")
    result = run_flow(FLOWS[kind.value], stack, **params)
    if dry_run:
        typer.echo(_("dry run {kind} {period}: {targeted} members would be targeted; nothing "
                     "was written").format(kind=kind.value, period=result["period"],
                                           targeted=result["targeted"]))
        return
    typer.echo(_("{kind} {period} (run {run}): {targeted} targeted, {created} new tasks, "
                 "{open} left open without a volunteer").format(
                     kind=kind.value, period=result["period"], run=result["run_id"],
                     targeted=result["targeted"], created=result["created"],
                     open=result["still_open"]))
    with db_session(write=False) as s:
        from outreach.tasks.campaigns.plan import summary

        rows = summary(s, result["run_id"])
    typer.echo(table([{k: v for k, v in r.items() if k != "branch_id"} for r in rows]))


@edge
def follow_up(
    today: Annotated[Optional[str], typer.Option(
        help=_("Sweep as of this date (YYYY-MM-DD); not after tomorrow."))] = None,
) -> None:
    """Run the daily follow-up through Prefect: expire, fail, escalate, reassign, remind.

    Example: outreach follow-up --today 2026-12-01
    """
    day = parse_date(today, "--today")
    if day is not None:
        check_not_future(day, "--today")  # the sweep acts on what happened
    coordinator()
    stack = use_prefect()
    from outreach.flows.followup import follow_up as flow_fn

    result = run_flow(flow_fn, stack, today=day)
    typer.echo(_("follow-up {today}: {expired} expired, {failed} failed, {unreachable} "
                 "members unreachable, {escalations} escalations, {released} released from "
                 "inactive volunteers, {assigned} assigned, {overdue} overdue tasks with "
                 "{volunteers} volunteers").format(
                     today=result["today"], expired=result["expired"],
                     failed=result["failed"], unreachable=result["unreachable"],
                     escalations=result["escalations"], released=result["released"],
                     assigned=result["assigned"], overdue=result["overdue_tasks"],
                     volunteers=result["volunteers_with_overdue"]))


@outcomes_app.command("ticket")
@edge
def outcomes_ticket(
    minutes: Annotated[int, typer.Option(help=_("How long the ticket is good for (1-60)."))]
    = 15,
) -> None:
    """Print a run ticket for the record-outcomes form in the Prefect UI: good for one run
    and a few minutes, and the rows are recorded by you. Never type your access code into
    Prefect: it keeps run parameters in clear.

    Example: outreach outcomes ticket
    """
    typer.echo(ticket(minutes))


@outcomes_app.command("import")
@edge
def outcomes_import(
    file: Annotated[Path, typer.Argument(help=_("Results CSV: task_id,outcome,note,answers."))],
    today: Annotated[Optional[str], typer.Option(
        help=_("Visit date for rows without a date column (YYYY-MM-DD)."))] = None,
) -> None:
    """Apply a results file through Prefect: good rows are recorded, bad rows listed by
    line, nothing applied twice. A filled-in run sheet (`outreach tasks --format csv`)
    imports as it is.

    Example: outreach outcomes import round-2026-11.csv
    """
    from outreach.tasks.work.results import load_results_file

    day = parse_date(today, "--today")
    load_results_file(file)  # refuse a file that is not CSV before starting Prefect
    made = ticket()  # the flow records as the coordinator whose code made it
    stack = use_prefect()
    from pydantic import SecretStr

    from outreach.flows.outcomes import record_outcomes

    result = run_flow(record_outcomes, stack, path=str(file.resolve()),
                       ticket=SecretStr(made), today=day)
    typer.echo(_("{file}: {rows} rows, {applied} applied, {duplicates} already applied "
                 "before, {refused} refused").format(
                     file=file.name, rows=result["rows"], applied=result["applied"],
                     duplicates=result["duplicates"], refused=len(result["problems"])))
    for p in result["problems"]:
        typer.echo(p, err=True)
    if result["problems"]:
        raise typer.Exit(code=2)


def report(
    which: Annotated[Report, typer.Argument(
        help=_("coverage, volunteers, unreachable, movements, meetings, scorecard or "
               "access."))],
    format: Annotated[Format, typer.Option("--format",
                                           help=_("table, csv, json, markdown or xlsx "
                                                  "(Excel, with --output)."))]
    = Format.table,
    output: Annotated[Optional[Path], typer.Option(
        help=_("With --format xlsx: the Excel file to write (mode 0600)."))] = None,
    period: Annotated[Optional[str], typer.Option(
        help=_("Coverage: the month (YYYY-MM), default this month; meetings and scorecard: "
               "the quarter (YYYY-Qn), default this quarter."))] = None,
    today: Annotated[Optional[str], typer.Option(
        help=_("As of this date (YYYY-MM-DD)."))] = None,
    branch: Annotated[Optional[str], typer.Option(
        help=_("Meetings and scorecard: a branch (and those nested in it)."))] = None,
    indicator: Annotated[Optional[str], typer.Option(
        help=_("Scorecard with --members: movements, contact, education, care, rights or "
               "role."))] = None,
    members: Annotated[bool, typer.Option(
        "--members", help=_("Scorecard: list the members who do not meet --indicator "
                            "(ledger number, name, branch)."))] = False,
    force: Annotated[bool, typer.Option("--force", help=_(FORCE_HELP))] = False,
    member: Annotated[Optional[str], typer.Option(
        "--member", metavar="LEDGER_NO",
        help=_("Access: who was shown this member's contact details."))] = None,
    volunteer: Annotated[Optional[int], typer.Option(
        "--volunteer", metavar="ID",
        help=_("Access: whose contact details this volunteer was shown."))] = None,
    since: Annotated[Optional[str], typer.Option(
        help=_("Access: from this day (YYYY-MM-DD)."))] = None,
    until: Annotated[Optional[str], typer.Option(
        help=_("Access: up to this day, included (YYYY-MM-DD)."))] = None,
) -> None:
    """Print a report (coordinators).

    \b
    coverage     per branch and segment: members, reached this period, overdue,
                 unreachable, never reached in the last three campaigns
    volunteers   workload: open, done, overdue, success rate
    unreachable  unreachable members with their family contacts
    movements    who moved away or came back, when, recorded by whom
    meetings     per branch and kind for a quarter: due, held, invited, present, remote,
                 excused, absent, made_up, attendance and make-up rates; and the members
                 with no organisational life in the last six months
    scorecard    the six haves per branch for a quarter: movements, contact, education,
                 care, rights, role — figures, goal, green/amber/red, change from the
                 previous quarter; --indicator NAME --members lists who does not meet it
    access       who was shown members' contact details, when, through which door
                 (--member LEDGER_NO or --volunteer ID, --since, --until)

    Example: outreach report coverage --format csv > coverage.csv
    """
    if (format == Format.xlsx) != (output is not None):
        return _refuse(_("--format xlsx goes with --output FILE.xlsx (and --output with "
                         "--format xlsx)"))
    if which == Report.access:
        return _access_report(format, member, volunteer, since, until, output=output,
                              force=force)
    if member is not None or volunteer is not None or since is not None or until is not None:
        return _refuse(_("--member, --volunteer, --since and --until are for the access "
                         "report"))
    if which == Report.scorecard:
        return _scorecard_report(format, period, today, branch, indicator, members,
                                 output=output, force=force)
    if indicator is not None or members:
        return _refuse(_("--indicator and --members are for the scorecard"))
    _report(which, format, period, today, branch=branch, output=output, force=force)


@edge
def _refuse(message: str) -> None:
    raise BadInput(message)


@edge
def _report(which: Report, format: Format, period: str | None, today: str | None,
            branch: str | None = None, output: Path | None = None,
            force: bool = False) -> None:

    from outreach.tasks.campaigns import coverage

    day = parse_date(today, "--today") or settings.today()
    if output is not None:
        check_target(output, force=force)  # refused before the ledger is read
    if which == Report.meetings:
        return _meetings_report(format, period, day, branch, output=output, force=force)
    if branch is not None:
        raise BadInput(_("--branch is for the meetings report"))
    if period is not None:
        check_period(period)  # refused for every report, not only coverage
    # the unreachable list shows family contacts: logged (`tasks.ledger.access_log`), a write
    with db_session(write=which == Report.unreachable) as s:
        who = actor(s)  # each report checks who may read it
        if which == Report.coverage:
            rows = coverage.coverage(s, today=day, period=period, actor=who)
        elif which == Report.volunteers:
            rows = coverage.volunteer_workload(s, today=day, actor=who)
        elif which == Report.unreachable:
            rows = coverage.unreachable_list(s, today=day, actor=who,
                                             file_name=output.name if output else None)
        else:
            rows = coverage.movements(s, period=period, today=day, actor=who)
    emit(rows, format, output=output, force=force)


def _meetings_report(format: Format, period: str | None, day, branch: str | None,
                     output: Path | None = None, force: bool = False) -> None:
    from outreach.tasks.meetings.life import meetings_report
    from outreach.tasks.kernel.rules import check_quarter

    if period is not None:
        check_quarter(period)
    with db_session(write=False) as s:
        out = meetings_report(s, actor=actor(s), today=day, period=period, branch=branch)
    if format == Format.json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1, default=str))
        return
    emit(out["rows"], format, output=output, force=force)
    line = _("{period} ({first} to {last}): {n} members with no organisational life in the "
             "last {months} months").format(period=out["period"], first=out["from"],
                                            last=out["to"], n=out["members_without_life"],
                                            months=out["life_months"])
    typer.echo(line, err=format == Format.csv)


@edge
def _scorecard_report(format: Format, period: str | None, today: str | None,
                      branch: str | None, indicator: str | None, members: bool,
                      output: Path | None = None, force: bool = False) -> None:

    from outreach.tasks.scorecard import scorecard as sc
    from outreach.tasks.ledger.people import get_branch
    from outreach.tasks.kernel.rules import check_quarter, quarter_of

    day = parse_date(today, "--today") or settings.today()
    period = check_quarter(period) if period is not None else quarter_of(day)
    if members != (indicator is not None):
        raise BadInput(_("--members goes with --indicator NAME (and --indicator with "
                         "--members)"))
    if output is not None:
        check_target(output, force=force)  # refused before the ledger is read
    with db_session(write=False) as s:
        branch_id = None
        if branch is not None:
            found = get_branch(s, name=branch)
            if found is None:
                from outreach.db.errors import NotFound

                raise NotFound(_("no branch named {name}").format(name=repr(branch[:120])))
            branch_id = found.id
        if members:
            rows = sc.scorecard_members(s, actor=actor(s), period=period, branch_id=branch_id,
                                        indicator=indicator)
        else:
            rows = sc.scorecard(s, actor=actor(s), period=period, branch_id=branch_id)
    if format == Format.markdown and not members:
        typer.echo(sc.scorecard_markdown(rows, period))
        return
    emit(rows, format, output=output, force=force)


@edge
def _access_report(format: Format, member: str | None, volunteer: int | None,
                   since: str | None, until: str | None, output: Path | None = None,
                   force: bool = False) -> None:
    """Who was shown contact details (`tasks.ledger.access_log.access_report`)."""
    from outreach.tasks.ledger.access_log import access_report

    if format == Format.markdown:
        raise BadInput(_("the access report is a table, csv, json or xlsx"))
    first, last = parse_date(since, "--since"), parse_date(until, "--until")
    if output is not None:
        check_target(output, force=force)  # refused before the ledger is read
    with db_session(write=False) as s:
        rows = access_report(s, actor=actor(s), member=member, volunteer=volunteer,
                             since=first, until=last)
    if not rows and format == Format.table:
        typer.echo(_("no one was shown these contact details"))
        return
    emit(rows, format, output=output, force=force)


def emit(rows: list[dict], format: Format, *, output: Path | None = None,
         force: bool = False) -> None:
    if format == Format.xlsx:
        from outreach.cli.common import write_private
        from outreach.tasks.kernel.xlsxfile import rows_workbook

        write_private(output, rows_workbook(rows, sheet=output.stem), force=force)
        typer.echo(ngettext("{n} row written to {path}", "{n} rows written to {path}",
                            len(rows)).format(n=len(rows), path=output))
    elif format == Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    elif format == Format.csv:
        if rows:
            w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows({k: safe_cell(v, phone="phone" in k) for k, v in r.items()}
                        for r in rows)
    else:
        from outreach.cli.common import table

        style = "github" if format == Format.markdown else "simple"
        typer.echo(table(rows, style=style) if rows else _("nothing to show"))
