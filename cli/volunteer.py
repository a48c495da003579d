"""Volunteer commands: my tasks, one task, record what happened.

Kept light: no Prefect, Faker or Alembic is imported on this path (start-up time).
"""

from __future__ import annotations

import csv
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from cli.common import actor, db_session, edge, is_terminal, parse_date

task_app = typer.Typer(help="One task: show it, record what happened, hand it back.",
                       no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def tasks(
    all_: Annotated[bool, typer.Option("--all", help="Everyone's tasks (coordinators).")] = False,
    format: Annotated[Format, typer.Option(
        "--format", help="table, csv (a printable run sheet) or json.")] = Format.table,
    branch: Annotated[Optional[str], typer.Option(help="Only this branch (coordinators).")] = None,
    volunteer: Annotated[Optional[int], typer.Option(
        help="Only this volunteer's (coordinators).")] = None,
    kind: Annotated[Optional[str], typer.Option(
        help="survey, phone_visit, delivery or escalation.")] = None,
    status: Annotated[Optional[str], typer.Option(
        help="A task status (default: open and assigned).")] = None,
    today: Annotated[Optional[str], typer.Option(help="Date for 'overdue' (YYYY-MM-DD).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many rows.", min=1,
                                                 max=1_000_000)] = None,
) -> None:
    """List your open tasks by due date (! marks overdue ones).

    \b
    Examples:
      outreach tasks
      outreach tasks --format csv > run-sheet.csv    (print it for a delivery round)
      outreach tasks --all --branch North --kind delivery --format json
    """
    _tasks(all_, format, branch, volunteer, kind, status, today, limit)


@edge
def _tasks(all_, format, branch, volunteer, kind, status, today, limit) -> None:
    from tasks.worklist import SHEET_FIELDS, list_tasks, sheet_rows, to_json

    day = parse_date(today, "--today")
    with db_session(write=False) as s:
        who = actor(s)
        rows = list_tasks(s, actor=who, all_=all_, branch=branch, volunteer_id=volunteer,
                          kind=kind, status=status, today=day, limit=limit,
                          contacts=format == Format.csv)
    if format == Format.json:
        typer.echo(to_json(rows))
        return
    if format == Format.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=SHEET_FIELDS, lineterminator="\n")
        w.writeheader()
        from tasks.csvfile import safe_cell

        w.writerows({k: safe_cell(v, phone=k == "phone") for k, v in r.items()}
                    for r in sheet_rows(rows))
        return
    if not rows:
        typer.echo("no open tasks" if status is None else f"no {status} tasks")
        return
    from tabulate import tabulate

    table = [[("!" if r["overdue"] else "") + str(r["id"]), r["kind"], r["member"], r["branch"],
              r["due"], r["attempts"]] + ([r["volunteer_id"] or "-", r["status"]]
                                          if (all_ or volunteer or branch) else [])
             for r in rows]
    headers = ["task", "kind", "member", "branch", "due", "attempts"]
    if all_ or volunteer or branch:
        headers += ["volunteer", "status"]
    typer.echo(tabulate(table, headers=headers, tablefmt="simple"))
    overdue = sum(r["overdue"] for r in rows)
    typer.echo(f"{len(rows)} task{'s' if len(rows) != 1 else ''}"
               + (f", {overdue} overdue (!)" if overdue else ""))


@task_app.command("show")
@edge
def task_show(task_id: Annotated[int, typer.Argument(metavar="ID", help="The task's id.")]) -> None:
    """Show what a visit needs: name, phone, address, family contact, earlier attempts.

    Example: outreach task show 42
    """
    from tasks.worklist import task_card

    with db_session(write=False) as s:
        text = task_card(s, task_id=task_id, actor=actor(s))
    typer.echo(text)


def _ask_answers(kind: str, outcome: str, answers: dict[str, str]) -> dict[str, str]:
    """Ask on a terminal for survey answers not given; refuse on no terminal."""
    from tasks.outcomes import SURVEY_FIELDS, check_answers, check_outcome, missing_answers

    code = check_outcome(kind, outcome)
    missing = missing_answers(kind, code, answers)
    # Keys and values given must be right before anything is asked ('same' stands in
    # for what is still missing, so only the given answers are judged here).
    check_answers(kind, code, {**{k: "same" for k in missing}, **answers})
    if not missing:
        return answers
    if not is_terminal():
        from db.errors import BadInput

        raise BadInput("a survey that reached the member needs answers: "
                       + ", ".join(f"--answer {k}=… ({SURVEY_FIELDS[k]})" for k in missing))
    typer.echo("The survey reached the member: please give the answers "
               "(type 'same' to confirm what is on record).")
    for key in SURVEY_FIELDS:
        if key in answers:
            continue
        required = key in missing
        value = typer.prompt(f"  {key} — {SURVEY_FIELDS[key]}",
                             default=None if required else "", show_default=False)
        if value.strip():
            answers[key] = value.strip()
    return answers


@task_app.command("record")
@edge
def task_record(
    task_id: Annotated[int, typer.Argument(metavar="ID", help="The task's id.")],
    outcome: Annotated[str, typer.Argument(help="What happened: reached, no_answer, "
                                                "delivered, moved … (see `task show`).")],
    note: Annotated[Optional[str], typer.Option(help="A short note for the next visit.")] = None,
    answer: Annotated[Optional[list[str]], typer.Option(
        "--answer", help="Survey answer KEY=VALUE (repeat): phone, address, residence, "
                         "homebound, family_contact_name, family_contact_phone, needs, "
                         "interests.")] = None,
    today: Annotated[Optional[str], typer.Option(help="Date of the visit (YYYY-MM-DD).")] = None,
) -> None:
    """Record what happened on a visit or call.

    \b
    Examples:
      outreach task record 42 no_answer --note "rang twice"
      outreach task record 42 reached --answer phone=same --answer address=same \\
          --answer residence=local --answer homebound=no
      outreach task record 42 moved --answer residence=away --answer address="5 Elm Rd, Springfield"
    """
    from tasks.outcomes import parse_answers

    day = parse_date(today, "--today")
    _say(_record(task_id, outcome, note, parse_answers(answer or []), day))


def _record(task_id: int, outcome: str | None, note, answers: dict[str, str], day):
    """Record in one write transaction — unless survey answers must be asked first: the
    write lock is never held while a person types. ``outcome`` None: the kind's success."""
    from tasks.outcomes import SUCCESS, check_outcome, load_task, missing_answers, \
        record_outcome, require_holder

    with db_session() as s:
        who = actor(s)
        task = load_task(s, task_id)
        require_holder(task, who)  # not yours: refused before any question about the visit
        kind = str(task.kind)
        code = outcome or SUCCESS[kind].value
        if not missing_answers(kind, check_outcome(kind, code), answers):
            return record_outcome(s, task_id=task_id, outcome=code, actor=who, note=note,
                                  answers=answers, today=day)
    answers = _ask_answers(kind, code, answers)
    with db_session() as s:
        return record_outcome(s, task_id=task_id, outcome=code, actor=actor(s), note=note,
                              answers=answers, today=day)


def _say(res) -> None:
    msg = f"task {res.task_id}: {res.outcome} recorded; task is {res.task_status}"
    if res.task_status == "assigned":
        msg += f" (attempt {res.attempts}, try again from {res.next_attempt_on})"
    if res.pending_confirmation:
        msg += "; waiting for a coordinator's confirmation"
    msg += f"; member {res.member_id} is {res.member_status}"
    if res.escalation_task_id:
        msg += f"; escalation task {res.escalation_task_id} created for a coordinator"
    typer.echo(msg)


@task_app.command("done")
@edge
def task_done(
    task_id: Annotated[int, typer.Argument(metavar="ID", help="The task's id.")],
    note: Annotated[Optional[str], typer.Option(help="A short note.")] = None,
    answer: Annotated[Optional[list[str]], typer.Option(
        "--answer", help="Survey answer KEY=VALUE (repeat).")] = None,
) -> None:
    """Record success: 'reached' for calls and surveys, 'delivered' for deliveries.

    Example: outreach task done 42 --note "gave the booklet to her in person"
    """
    from tasks.outcomes import parse_answers

    _say(_record(task_id, None, note, parse_answers(answer or []), None))


@task_app.command("release")
@edge
def task_release(task_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Hand a task back so that someone else can take it.

    Example: outreach task release 42
    """
    from tasks.outcomes import release

    with db_session() as s:
        release(s, task_id=task_id, actor=actor(s))
    typer.echo(f"task {task_id} handed back; it is open again")


@task_app.command("reassign")
@edge
def task_reassign(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    volunteer: Annotated[str, typer.Argument(help="Volunteer id (or unique name).")],
) -> None:
    """Give a task to another volunteer (coordinators).

    Example: outreach task reassign 42 7
    """
    from tasks.outcomes import reassign
    from tasks.people import get_volunteer

    with db_session() as s:
        who = actor(s)
        vol = get_volunteer(s, ref=volunteer)
        reassign(s, task_id=task_id, volunteer_id=vol.id, actor=who)
    typer.echo(f"task {task_id} is now with volunteer {vol.id}")


@task_app.command("skip")
@edge
def task_skip(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why the task is skipped.")],
) -> None:
    """Cancel a task with a reason (coordinators).

    Example: outreach task skip 42 --reason "in hospital until March"
    """
    from tasks.outcomes import skip

    with db_session() as s:
        skip(s, task_id=task_id, reason=reason, actor=actor(s))
    typer.echo(f"task {task_id} cancelled")


def member_confirm(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Member id or ledger number.")],
    what: Annotated[str, typer.Argument(metavar="deceased|moved",
                                        help="The outcome to confirm.")],
) -> None:
    """Confirm a recorded 'deceased' (or 'moved' out of the organisation) outcome.

    Coordinators only, and not the person who recorded it.

    Example: outreach member confirm M0000042 deceased
    """
    _confirm(ref, what)


@edge
def _confirm(ref: str, what: str) -> None:
    from tasks.outcomes import confirm

    with db_session() as s:
        m = confirm(s, member_ref=ref, what=what, actor=actor(s))
        status = m.status
    typer.echo(f"member {m.id} is now {status}; their open tasks were cancelled")
