"""Coordinator commands that run through Prefect: campaigns, follow-up, results, reports.

Prefect is imported inside the commands, never at module level: the volunteer commands
share this CLI and must start fast.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import actor, db_session, edge, parse_date
from db.errors import BadInput
from tasks.csvfile import safe_cell

campaign_app = typer.Typer(help="Run a campaign through Prefect (coordinators).",
                           no_args_is_help=True)
outcomes_app = typer.Typer(help="Results files from paper run sheets (coordinators).",
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


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def quiet_prefect() -> None:
    """Offline and quiet, set before Prefect is imported."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The flow's log goes to Prefect (the UI); the terminal gets our own summary line,
    # never Prefect's console log with a failed run's traceback.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _coordinator() -> int:
    from tasks.access import require_coordinator

    with db_session(write=False) as s:
        who = actor(s)
        require_coordinator(who)
        return who.id


def _run_flow(fn, **params):
    """Run a flow through Prefect in this process; domain errors come back as themselves."""
    from prefect.exceptions import PrefectException

    try:
        return fn(**params)
    except PrefectException as exc:
        raise BadInput(f"the flow could not start: {exc.__class__.__name__}") from None


@campaign_app.command("run")
@edge
def campaign_run(
    kind: Annotated[Kind, typer.Argument(help="survey, phone_visit or delivery.")],
    period: Annotated[Optional[str], typer.Option(
        help="The month, YYYY-MM (default: this month).")] = None,
    branch: Annotated[Optional[str], typer.Option(
        help="Only this branch and those nested in it.")] = None,
    material: Annotated[Optional[str], typer.Option(
        help="Delivery: the title of the study material.")] = None,
    today: Annotated[Optional[str], typer.Option(
        help="Plan as of this date (YYYY-MM-DD).")] = None,
    within_days: Annotated[Optional[int], typer.Option(
        help="Survey: not confirmed within (180, 365, 730); phone visits: not reached "
             "within (14, 30, 60, 90) days.")] = None,
    due_days: Annotated[int, typer.Option(help="Tasks are due this many days later.",
                                          min=1, max=90)] = 14,
    max_attempts: Annotated[int, typer.Option(help="Failed attempts before a task fails.",
                                              min=1, max=5)] = 3,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count; write nothing.")]
    = False,
) -> None:
    """Plan and assign a campaign run through Prefect and print its summary.

    Running the same period again creates nothing new and finishes what a crashed run left.

    \b
    Examples:
      outreach campaign run phone_visit --period 2026-11
      outreach campaign run delivery --period 2026-11 --material "November booklet"
      outreach campaign run survey --period 2026-11 --branch North --dry-run
    """
    from tabulate import tabulate

    from tasks.plan import check_period

    day = parse_date(today, "--today")
    if material and kind != Kind.delivery:
        raise BadInput("--material goes with delivery campaigns only")
    if period is not None:
        check_period(period)
    _coordinator()
    if branch is not None:
        from tasks.people import get_branch

        with db_session(write=False) as s:
            if get_branch(s, name=branch) is None:
                raise BadInput(f"no branch named {branch[:60]!r}")
    quiet_prefect()
    from flows.campaigns import FLOWS

    params = dict(period=period or "", branch=branch or "", today=day, dry_run=dry_run,
                  due_days=due_days, max_attempts=max_attempts)
    windows = {Kind.survey: ("not_confirmed_within", (180, 365, 730)),
               Kind.phone_visit: ("not_reached_within", (14, 30, 60, 90))}
    if within_days is not None:
        if kind not in windows or within_days not in windows[kind][1]:
            allowed = ", ".join(str(d) for d in windows.get(kind, ("", ()))[1]) or "none"
            raise BadInput(f"--within-days for {kind.value} takes one of: {allowed}")
        params[windows[kind][0]] = within_days
    if kind == Kind.delivery:
        params["material"] = material or "Monthly study materials"
    result = _run_flow(FLOWS[kind.value], **params)
    if dry_run:
        typer.echo(f"dry run {kind.value} {result['period']}: {result['targeted']} members "
                   "would be targeted; nothing was written")
        return
    typer.echo(f"{kind.value} {result['period']} (run {result['run_id']}): "
               f"{result['targeted']} targeted, {result['created']} new tasks, "
               f"{result['still_open']} left open without a volunteer")
    with db_session(write=False) as s:
        from tasks.plan import summary

        rows = summary(s, result["run_id"])
    typer.echo(tabulate([{k: v for k, v in r.items() if k != "branch_id"} for r in rows],
                        headers="keys", tablefmt="simple"))


@edge
def follow_up(
    today: Annotated[Optional[str], typer.Option(
        help="Sweep as of this date (YYYY-MM-DD).")] = None,
) -> None:
    """Run the daily follow-up through Prefect: expire, fail, escalate, reassign, remind.

    Example: outreach follow-up --today 2026-12-01
    """
    day = parse_date(today, "--today")
    _coordinator()
    quiet_prefect()
    from flows.followup import follow_up as flow_fn

    result = _run_flow(flow_fn, today=day)
    typer.echo(f"follow-up {result['today']}: {result['expired']} expired, {result['failed']} "
               f"failed, {result['unreachable']} members unreachable, {result['escalations']} "
               f"escalations, {result['released']} released from inactive volunteers, "
               f"{result['assigned']} assigned, {result['overdue_tasks']} overdue tasks with "
               f"{result['volunteers_with_overdue']} volunteers")


@outcomes_app.command("import")
@edge
def outcomes_import(
    file: Annotated[Path, typer.Argument(help="Results CSV: task_id,outcome,note,answers.")],
    today: Annotated[Optional[str], typer.Option(
        help="Visit date for rows without a date column (YYYY-MM-DD).")] = None,
) -> None:
    """Apply a results file through Prefect: good rows are recorded, bad rows listed by
    line, nothing applied twice. A filled-in run sheet (`outreach tasks --format csv`)
    imports as it is.

    Example: outreach outcomes import round-2026-11.csv
    """
    from tasks.results import load_results_file

    day = parse_date(today, "--today")
    load_results_file(file)  # refuse a file that is not CSV before starting Prefect
    who = _coordinator()
    quiet_prefect()
    from flows.outcomes import record_outcomes

    result = _run_flow(record_outcomes, path=str(file.resolve()), recorded_by=who, today=day)
    typer.echo(f"{file.name}: {result['rows']} rows, {result['applied']} applied, "
               f"{result['duplicates']} already applied before, {len(result['problems'])} "
               "refused")
    for p in result["problems"]:
        typer.echo(p, err=True)
    if result["problems"]:
        raise typer.Exit(code=2)


def report(
    which: Annotated[Report, typer.Argument(
        help="coverage, volunteers, unreachable or movements.")],
    format: Annotated[Format, typer.Option("--format", help="table, csv or json.")]
    = Format.table,
    period: Annotated[Optional[str], typer.Option(
        help="Coverage: the month (YYYY-MM), default this month.")] = None,
    today: Annotated[Optional[str], typer.Option(help="As of this date (YYYY-MM-DD).")] = None,
) -> None:
    """Print a report (coordinators).

    \b
    coverage     per branch and segment: members, reached this period, overdue,
                 unreachable, never reached in the last three campaigns
    volunteers   workload: open, done, overdue, success rate
    unreachable  unreachable members with their family contacts
    movements    who moved away or came back, when, recorded by whom

    Example: outreach report coverage --format csv > coverage.csv
    """
    _report(which, format, period, today)


@edge
def _report(which: Report, format: Format, period: str | None, today: str | None) -> None:
    import datetime as dt

    from tasks import coverage
    from tasks.access import require_coordinator

    day = parse_date(today, "--today") or dt.date.today()
    if period is not None:
        coverage.month_bounds(period, day)  # refused for every report, not only coverage
    with db_session(write=False) as s:
        require_coordinator(actor(s))
        if which == Report.coverage:
            rows = coverage.coverage(s, today=day, period=period)
        elif which == Report.volunteers:
            rows = coverage.volunteer_workload(s, today=day)
        elif which == Report.unreachable:
            rows = coverage.unreachable_list(s, today=day)
        else:
            rows = coverage.movements(s, period=period, today=day)
    emit(rows, format)


def emit(rows: list[dict], format: Format) -> None:
    if format == Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    elif format == Format.csv:
        if rows:
            w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows({k: safe_cell(v, phone="phone" in k) for k, v in r.items()}
                        for r in rows)
    else:
        from tabulate import tabulate

        typer.echo(tabulate(rows, headers="keys", tablefmt="simple") if rows else "nothing to show")
