"""Volunteer commands: who am I, my tasks, one task, record what happened.

Each goes to a backend: `Local` (the `tasks/` functions on this machine's database) or,
with ``OUTREACH_SERVER`` / `outreach login --server`, `cli.remote.Remote` (the ledger
service, which calls the same `tasks/` functions). Both return the same plain data and the
printing here is shared, so the output, exit codes and one-line errors are the same.

Kept light: no Prefect, Faker or Alembic on this path; in remote mode not even SQLAlchemy.
"""

from __future__ import annotations

import csv
import os
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from outreach.cli.common import (FORCE_HELP, actor, check_target, db_session, edge, is_terminal,
                        parse_date, write_private)
from outreach.db import settings
from outreach.db.errors import BadInput
from outreach.i18n import N_, _, ngettext
from outreach.tasks.kernel.labels import (  # codes as people read them (English: the code)
    label as name_of,
)
from outreach.tasks.work.rules import NOTICE_ANSWERS, SURVEY_ANSWERS, describe_outcomes

task_app = typer.Typer(help=_("One task: show it, record what happened, hand it back."),
                       no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


# --- where the work goes: the ledger on this machine, or the ledger service -----------------


def _who(actor) -> dict:
    return {"id": actor.id, "name": actor.name, "role": str(actor.role),
            "branch_id": actor.branch_id}


class Local:
    """The embedded mode: `tasks/` on this machine's database (SQLite file or
    OUTREACH_DATABASE_URL). Each method is one transaction."""

    def login(self, code: str) -> dict:
        from outreach.tasks.access.permissions import authenticate

        with db_session(write=False) as s:
            return _who(authenticate(s, code))

    def whoami(self) -> dict:
        with db_session(write=False) as s:
            return _who(actor(s))

    def tasks(self, *, all: bool, branch, volunteer, kind, status, today, limit,
              contacts: bool, file: str | None = None) -> list[dict]:
        from outreach.tasks.work.worklist import list_tasks

        # with contacts (a run sheet) the showing is logged: a write transaction
        with db_session(write=contacts) as s:
            return list_tasks(s, actor=actor(s), all_=all, branch=branch,
                              volunteer_id=volunteer, kind=kind, status=status, today=today,
                              limit=limit, contacts=contacts, file_name=file)

    def task_view(self, task_id: int) -> dict:
        from outreach.tasks.work.worklist import task_view

        with db_session() as s:  # the showing is logged (`tasks.ledger.access_log`)
            return task_view(s, task_id=task_id, actor=actor(s))

    def record_or_ask(self, task_id: int, outcome, note, answers, day, key: str) -> dict:
        """Recorded in one write transaction — unless survey answers must be asked first:
        then nothing is written, and the write lock is never held while a person types.
        ``key``: the command's Idempotency-Key, kept as the service keeps it
        (`tasks.access.idempotency`): the same key again is the same answer, nothing done."""
        from dataclasses import asdict

        from outreach.cli.remote import outcome_body
        from outreach.tasks.access.idempotency import once
        from outreach.tasks.work.worklist import AnswerForm, record_or_ask

        with db_session() as s:
            who = actor(s)

            def work() -> tuple[int, dict, bool]:
                res = record_or_ask(s, task_id=task_id, outcome=outcome, actor=who, note=note,
                                    answers=answers, today=day)
                if isinstance(res, AnswerForm):
                    return 200, {"form": asdict(res)}, False
                return 200, {"recorded": asdict(res)}, True

            return once(s, actor=who, key=key, method="POST", path=f"/tasks/{task_id}/outcomes",
                        body=outcome_body(outcome, note, answers, day, ask=True),
                        work=work).body

    def record(self, task_id: int, outcome: str, note, answers, day, key: str) -> dict:
        from dataclasses import asdict

        from outreach.cli.remote import outcome_body
        from outreach.tasks.access.idempotency import once
        from outreach.tasks.work.outcomes import record_outcome

        with db_session() as s:
            who = actor(s)

            def work() -> tuple[int, dict, bool]:
                return 200, {"recorded": asdict(record_outcome(
                    s, task_id=task_id, outcome=outcome, actor=who, note=note,
                    answers=answers, today=day))}, True

            return once(s, actor=who, key=key, method="POST", path=f"/tasks/{task_id}/outcomes",
                        body=outcome_body(outcome, note, answers, day),
                        work=work).body["recorded"]

    def release(self, task_id: int, key: str) -> None:
        from outreach.tasks.access.idempotency import once
        from outreach.tasks.work.outcomes import release

        with db_session() as s:
            who = actor(s)

            def work() -> tuple[int, dict, bool]:
                t = release(s, task_id=task_id, actor=who)
                return 200, {"task_id": t.id, "status": str(t.status)}, True

            once(s, actor=who, key=key, method="POST", path=f"/tasks/{task_id}/release",
                 body=None, work=work)


    def member_link(self, ref: str, *, days: int | None, revoke: bool, key: str) -> dict:
        from outreach.tasks.links.member_links import link_once

        with db_session() as s:
            return link_once(s, ref=ref, actor=actor(s), key=key, days=days, revoke=revoke)


def backend(server: str | None = None):
    """The ledger service when one is set (``OUTREACH_SERVER`` or `login --server`),
    otherwise the ledger on this machine."""
    from outreach.cli import remote

    url = server or remote.server()
    if url:
        return remote.Remote(url, settings.token())
    return Local()


def _parse_answers(pairs: list[str] | None) -> dict[str, str]:
    from outreach.tasks.work.rules import parse_answers

    return parse_answers(pairs or [])


# --- the commands ---------------------------------------------------------------------------


def tasks(
    all_: Annotated[bool, typer.Option("--all", help=_("Everyone's tasks (coordinators)."))
                    ] = False,
    format: Annotated[Format, typer.Option(
        "--format", help=_("table, csv (a printable run sheet), json, or xlsx (the run "
                           "sheet in Excel, with --output)."))] = Format.table,
    branch: Annotated[Optional[str], typer.Option(
        help=_("Only this branch (coordinators)."))] = None,
    volunteer: Annotated[Optional[int], typer.Option(
        help=_("Only this volunteer's (coordinators)."))] = None,
    kind: Annotated[Optional[str], typer.Option(
        help=_("survey, phone_visit, delivery or escalation."))] = None,
    status: Annotated[Optional[str], typer.Option(
        help=_("A task status (default: open and assigned)."))] = None,
    today: Annotated[Optional[str], typer.Option(
        help=_("Date for 'overdue' (YYYY-MM-DD)."))] = None,
    limit: Annotated[Optional[int], typer.Option(help=_("At most this many rows."), min=1,
                                                 max=1_000_000)] = None,
    output: Annotated[Optional[str], typer.Option(
        help=_("With --format xlsx: the Excel file to write (mode 0600)."))] = None,
    force: Annotated[bool, typer.Option("--force", help=_(FORCE_HELP))] = False,
) -> None:
    """List your open tasks by due date (! marks overdue ones).

    \b
    Examples:
      outreach tasks
      outreach tasks --format csv > run-sheet.csv    (print it for a delivery round)
      outreach tasks --format xlsx --output run-sheet.xlsx    (the same, in Excel)
      outreach tasks --all --branch North --kind delivery --format json
    """
    _tasks(all_, format, branch, volunteer, kind, status, today, limit, output, force)


@edge
def _tasks(all_, format, branch, volunteer, kind, status, today, limit, output=None,
           force=False) -> None:
    if (format == Format.xlsx) != (output is not None):
        raise BadInput(_("--format xlsx goes with --output FILE.xlsx (and --output with "
                         "--format xlsx)"))
    day = parse_date(today, "--today")
    if output is not None:
        check_target(output, force=force)  # refused before the tasks are fetched
    rows = backend().tasks(all=all_, branch=branch, volunteer=volunteer, kind=kind,
                           status=status, today=day, limit=limit,
                           contacts=format in (Format.csv, Format.xlsx),
                           file=os.path.basename(output) if output else None)
    if format == Format.xlsx:
        from outreach.tasks.work.runsheet import to_xlsx

        write_private(output, to_xlsx(rows), force=force)
        typer.echo(ngettext("{n} task written to {path}", "{n} tasks written to {path}",
                            len(rows)).format(n=len(rows), path=output))
        return
    print_tasks(rows, format, wide=bool(all_ or volunteer or branch), status=status)


def print_tasks(rows: list[dict], format: Format, *, wide: bool, status: str | None) -> None:
    """The list as a table, a run sheet (csv) or JSON — the same for both backends."""
    from outreach.tasks.work.runsheet import SHEET_FIELDS, headings, sheet_rows, to_json

    if format == Format.json:
        typer.echo(to_json(rows))
        return
    if format == Format.csv:
        from outreach.tasks.kernel.csvfile import safe_cell

        w = csv.DictWriter(sys.stdout, fieldnames=SHEET_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: safe_cell(v, phone=k == "phone") for k, v in r.items()}
                    for r in sheet_rows(rows))
        return
    if not rows:
        typer.echo(_("no open tasks") if status is None
                   else _("no {status} tasks").format(status=name_of(status, of="task_status")))
        return
    table = [[("!" if r["overdue"] else "") + str(r["id"]), name_of(r["kind"], of="task_kind"),
              r["member"], r["branch"], r["due"], r["attempts"]]
             + ([r["volunteer_id"] or "-", name_of(r["status"], of="task_status")] if wide
                else [])
             for r in rows]
    fields = ["id", "kind", "member", "branch", "due", "attempts"]
    if wide:
        fields += ["volunteer", "status"]
    typer.echo(simple_table(table, headings(fields)))
    overdue, n = sum(r["overdue"] for r in rows), len(rows)
    if overdue:
        typer.echo(ngettext("{n} task, {overdue} overdue (!)", "{n} tasks, {overdue} overdue (!)",
                            n).format(n=n, overdue=overdue))
    else:
        typer.echo(ngettext("{n} task", "{n} tasks", n).format(n=n))


def _cells(text: str) -> int:
    """Terminal columns a text takes: wide (CJK) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def simple_table(rows: list[list], headers: list[str]) -> str:
    """A table in tabulate's "simple" look — numbers right, text left, headers padded by
    two, a dashed rule under them — without importing tabulate (30 ms of a volunteer's
    start-up) and with Chinese names aligned."""
    import re

    number = re.compile(r"[-+]?\d+")
    cols = list(zip(headers, *rows))
    right = [all(isinstance(v, int) or number.fullmatch(str(v)) for v in c[1:]) for c in cols]
    width = [max([_cells(str(c[0])) + 2] + [_cells(str(v)) for v in c[1:]]) for c in cols]

    def line(values) -> str:
        cells = []
        for v, w, r in zip(values, width, right):
            pad = " " * (w - _cells(str(v)))
            cells.append(pad + str(v) if r else str(v) + pad)
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in width)]
                     + [line(r) for r in rows])


@task_app.command("show")
@edge
def task_show(task_id: Annotated[int, typer.Argument(metavar="ID",
                                                     help=_("The task's id."))]) -> None:
    """Show what a visit needs: name, phone, address, family contact, earlier attempts.

    Example: outreach task show 42
    """
    typer.echo(render_card(backend().task_view(task_id)))


#: What a volunteer does on a task of organisational life.
MEETING_TODO = {
    "notice": N_("call the member: tell them of the meeting, offer the remote option, take an "
                 "excuse (--answer attendance=present|remote|excused --answer reason=…)"),
    "make_up": N_("go through the missed meeting's material with the member: a visit "
                  "(visited), a call (reached) or the material delivered (delivered)"),
}
#: A make-up study by how it is meant to be done (`tasks.work.rules.make_up_how`).
MAKE_UP_TODO = {
    "visit": N_("visit the member at home (homebound) and go through the missed meeting's "
                "material together; record visited"),
    "phone": N_("call the member (living away) and talk through the missed meeting's "
                "material; record reached"),
    "materials": N_("bring the missed meeting's material to the member; record delivered"),
}
#: A card's yes / no values (codes in JSON) as people read them.
YES_NO = {"yes": N_("yes"), "no": N_("no")}


def _row(label: str, value) -> str:
    """One line of a card: the label (translated) padded to 14 terminal columns."""
    text = _(label)
    return "  " + text + " " * max(14 - _cells(text), 1) + str(value)


def _meeting_lines(kind: str, mt: dict, how: str | None = None) -> list[str]:
    """The meeting part of a notice or make-up card (``how``: a make-up's way)."""
    remote = _("no") if mt["remote"] == "none" else name_of(mt["remote"], of="remote_option") + (
        f" ({mt['remote_details']})" if mt["remote_details"] else "")
    lines = [_row(N_("meeting"), _("{kind} on {day} (id {id}, {status})").format(
                 kind=name_of(mt["kind"], of="meeting_kind"), day=mt["on"], id=mt["id"],
                 status=name_of(mt["status"], of="meeting_status"))),
             _row(N_("topic"), mt["topic"] or "-"),
             _row(N_("material"), mt["material"] or "-"),
             _row(N_("place"), mt["place"] or "-"),
             _row(N_("remote"), remote)]
    if mt["attendance"]:
        lines.append(_row(N_("attendance"), name_of(mt["attendance"], of="attendance")
                          + (f" ({mt['attendance_reason']})" if mt["attendance_reason"]
                             else "")))
    if mt.get("member_answer"):  # the member's own answer through their link
        lines.append(_row(N_("member says"), name_of(mt["member_answer"], of="attendance")
                          + (f" ({mt['member_reason']})" if mt.get("member_reason") else "")))
    if mt.get("studied_at"):
        lines.append(_row(N_("member says"), _("studied the material ({at})").format(
            at=mt["studied_at"])))
    todo = MAKE_UP_TODO.get(how or "") if kind == "make_up" else None
    if todo or kind in MEETING_TODO:
        lines.append(_row(N_("what to do"), _(todo or MEETING_TODO[kind])))
    return lines


def render_card(view: dict) -> str:
    """`tasks.work.worklist.task_view` as the text `task show` prints."""
    m, vol = view["member"], view["volunteer"]
    vol_text = f"{vol['name']} ({vol['id']})" if vol else "-"
    head = _("task {id}  {kind}  {status}  due {due}").format(
        id=view["id"], kind=name_of(view["kind"], of="task_kind"),
        status=name_of(view["status"], of="task_status"), due=view["due"])
    if view["next_attempt"]:
        attempts = _("{n} of {most}, try again from {day}").format(
            n=view["attempts"], most=view["max_attempts"], day=view["next_attempt"])
    else:
        attempts = _("{n} of {most}").format(n=view["attempts"], most=view["max_attempts"])
    lines = [
        head + ("  " + _("OVERDUE") if view["overdue"] else ""),
        _row(N_("attempts"), attempts),
        _row(N_("volunteer"), vol_text),
        _row(N_("member"), _("{name}  (id {id}, ledger {ledger_no}, {branch})").format(
            name=m["name"], id=m["id"], ledger_no=m["ledger_no"], branch=m["branch"])),
        _row(N_("phone"), m["phone"] or "-"),
        _row(N_("address"), m["address"] or "-") + ("   " + _("(lives away)") if m["away"]
                                                     else ""),
        _row(N_("homebound"), _(YES_NO.get(m["homebound"], m["homebound"]))),
        _row(N_("family"), f"{m['family_contact_name'] or '-'}  "
                           f"{m['family_contact_phone'] or ''}").rstrip(),
    ]
    if m["needs"]:
        lines.append(_row(N_("needs"), m["needs"]))
    if view["kind"] == "escalation":
        lines.append(_row(N_("what to do"), _("the member could not be reached: call the "
                                              "family contact")))
    if view.get("meeting"):
        lines += _meeting_lines(view["kind"], view["meeting"], view.get("how"))
    if view["earlier"]:
        lines.append("  " + _("earlier attempts (newest first)"))
        for a in view["earlier"]:
            lines.append(f"    {a['on']}  {a['outcome']}  {a['note'] or ''}".rstrip())
    lines.append(_row(N_("outcomes"), _("{codes}  (done = {code})").format(
        codes=", ".join(view["outcomes"]), code=view["success"])))
    return "\n".join(lines)


def _ask_answers(form: dict, answers: dict[str, str]) -> dict[str, str]:
    """Ask on a terminal for the survey answers not given, one at a time: each answer is
    checked as it is typed, by the rule `record_outcome` applies (`tasks.kernel.rules`, pure: no
    round trip to the ledger service), a bad one is asked again, and the value on record
    is shown in the prompt (Enter keeps it). Refuses on no terminal."""
    from outreach.tasks.work.rules import check_answer

    if not is_terminal():
        raise BadInput(_("a survey that reached the member needs answers: {answers}").format(
            answers=", ".join(f"--answer {k}=… ({form['fields'][k]})"
                              for k in form["missing"])))
    typer.echo(_("The survey reached the member: please give the answers "
                 "(Enter keeps what is on record, shown in [brackets])."))
    answers = dict(answers)
    for key, what in form["fields"].items():
        if key in answers:
            continue
        kept = form["on_record"].get(key)
        label = f"  {key} — {what}" + (f" [{kept}]" if kept else "")
        while True:
            value = typer.prompt(label, default="", show_default=False).strip()
            if not value:
                if key in form["missing"]:
                    answers[key] = "same"
                break
            try:
                check_answer(key, value)
            except BadInput as exc:
                typer.echo("  " + _("{error}; please try again").format(error=exc), err=True)
                continue
            answers[key] = value
            break
    return answers


def _record(task_id: int, outcome: str | None, note, answers: dict[str, str], day,
            key: str | None = None) -> dict:
    """Record (``outcome`` None: the kind's success), asking the survey's questions first
    when answers are missing. ``key``: the Idempotency-Key (default: a fresh one)."""
    b = backend()
    key = _key(key)
    res = b.record_or_ask(task_id, outcome, note, answers, day, key)
    if "recorded" in res:
        return res["recorded"]
    form = res["form"]
    answers = _ask_answers(form, answers)
    return b.record(task_id, form["outcome"], note, answers, day, key)


def _key(given: str | None) -> str:
    """The command's Idempotency-Key: the one given (the ledger, or the service, checks
    it), or a fresh one."""
    from outreach.cli.remote import new_key

    return new_key() if given is None else given


#: ``--idempotency-key`` of the volunteer's write commands.
KeyOption = Annotated[Optional[str], typer.Option(
    "--idempotency-key", metavar="KEY",
    help=_("Repeat an earlier command deliberately: the same key gets that command's answer "
           "and records nothing again (default: a fresh key per command)."))]


_RECORD_HELP = N_("""Record what happened on a visit or call.

\b
Outcomes by kind of task (`outreach task show ID` lists those of one task):
{outcomes}

\b
Examples:
  outreach task record 42 no_answer --note "rang twice"
  outreach task record 42 reached --answer phone=same --answer address=same \\
      --answer residence=local --answer homebound=no
  outreach task record 42 moved --answer residence=away --answer address="5 Elm Rd, Springfield"
""")


@task_app.command("record", help=_(_RECORD_HELP).format(outcomes=describe_outcomes(brief=True)))
@edge
def task_record(
    task_id: Annotated[int, typer.Argument(metavar="ID", help=_("The task's id."))],
    outcome: Annotated[str, typer.Argument(help=_("What happened: an outcome that fits the "
                                                  "task's kind (listed above)."))],
    note: Annotated[Optional[str], typer.Option(
        help=_("A short note for the next visit."))] = None,
    answer: Annotated[Optional[list[str]], typer.Option(
        "--answer", help=_("Survey answer KEY=VALUE (repeat): {keys}; 'same' keeps what is on "
                           "record, 'none' clears an optional one. A notice takes {notice} "
                           "(attendance=present|remote|excused; excused needs a reason).")
        .format(keys=", ".join(SURVEY_ANSWERS), notice=", ".join(NOTICE_ANSWERS))
    )] = None,
    today: Annotated[Optional[str], typer.Option(
        help=_("Date of the visit (YYYY-MM-DD): not in the future."))] = None,
    idempotency_key: KeyOption = None,
) -> None:
    day = parse_date(today, "--today")
    _say(_record(task_id, outcome, note, _parse_answers(answer), day, idempotency_key))


def _say(res: dict) -> None:
    msg = _("task {id}: {outcome} recorded; task is {status}").format(
        id=res["task_id"], outcome=name_of(res["outcome"], of="outcome"),
        status=name_of(res["task_status"], of="task_status"))
    if res["task_status"] == "assigned":
        msg += " " + _("(attempt {n}, try again from {day})").format(
            n=res["attempts"], day=res["next_attempt_on"])
    parts = [msg]
    if res["pending_confirmation"]:
        parts.append(_("waiting for a coordinator's confirmation"))
    parts.append(_("member {id} is {status}").format(
        id=res["member_id"], status=name_of(res["member_status"], of="member_status")))
    if res["escalation_task_id"]:
        parts.append(_("escalation task {id} created for a coordinator").format(
            id=res["escalation_task_id"]))
    typer.echo(_(SEPARATOR).join(parts))


#: Between the clauses of one line ("；" in Chinese).
SEPARATOR = N_("; ")


@task_app.command("done")
@edge
def task_done(
    task_id: Annotated[int, typer.Argument(metavar="ID", help=_("The task's id."))],
    note: Annotated[Optional[str], typer.Option(help=_("A short note."))] = None,
    answer: Annotated[Optional[list[str]], typer.Option(
        "--answer", help=_("Survey answer KEY=VALUE (repeat)."))] = None,
    idempotency_key: KeyOption = None,
) -> None:
    """Record success: 'reached' for calls and surveys, 'delivered' for deliveries.

    Example: outreach task done 42 --note "gave the booklet to her in person"
    """
    _say(_record(task_id, None, note, _parse_answers(answer), None, idempotency_key))


@task_app.command("release")
@edge
def task_release(task_id: Annotated[int, typer.Argument(metavar="ID")],
                 idempotency_key: KeyOption = None) -> None:
    """Hand a task back so that someone else can take it.

    Example: outreach task release 42
    """
    backend().release(task_id, _key(idempotency_key))
    typer.echo(_("task {id} handed back; it is open again").format(id=task_id))


# --- who you are ------------------------------------------------------------------------------


def login(
    code: Annotated[Optional[str], typer.Option(
        help=_("The access code (asked for, hidden, when not given)."))] = None,
    server: Annotated[Optional[str], typer.Option(
        help=_("The ledger service's address (https://host:port), kept for the next "
               "commands: they then need no database."))] = None,
) -> None:
    """Store your personal access code so that the next commands know who you are.

    \b
    Examples:
      outreach login   (then type the code you were given)
      outreach login --server https://ledger.example.org
    """
    _login(code, server)


@edge
def _login(code: Optional[str], server: Optional[str]) -> None:
    from outreach.cli import remote

    url = remote.check_url(server) if server is not None else None
    if code is None:
        if not sys.stdin.isatty():
            code = sys.stdin.readline().strip()
        else:
            code = typer.prompt(_("Access code"), hide_input=True)
    url = url or remote.server()
    if url:
        if not url.startswith("https://") and not remote.is_loopback(url):
            typer.echo("outreach: " + _("warning: http:// sends your code unencrypted; ask "
                                        "your coordinator for the https:// address"), err=True)
        b = remote.Remote(url, code)
        who = b.whoami()
    else:
        who = Local().login(code)
    home = settings.home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # the code's folder: ours only
    # outreach's own files, replaced at each login (never through a link, never another's)
    write_private(settings.token_path(), code.strip() + "\n", force=True)
    if server is not None:
        write_private(remote.server_path(), url + "\n", force=True)
    if server is not None:
        typer.echo(_("logged in as {name} ({role} {id}) at {url}").format(
            name=who["name"], role=name_of(who["role"], of="role"), id=who["id"], url=url))
    else:
        typer.echo(_("logged in as {name} ({role} {id})").format(
            name=who["name"], role=name_of(who["role"], of="role"), id=who["id"]))


def logout() -> None:
    """Forget the stored access code (and the ledger service's address `login` kept)."""
    from outreach.cli import remote

    path = settings.token_path()
    remote.server_path().unlink(missing_ok=True)
    if path.exists():
        path.unlink()
        typer.echo(_("logged out"))
    else:
        typer.echo(_("not logged in"))


@edge
def whoami() -> None:
    """Print who the stored access code belongs to."""
    who = backend().whoami()
    typer.echo(_("{name} ({role} {id}, branch {branch})").format(
        name=who["name"], role=name_of(who["role"], of="role"), id=who["id"],
        branch=who["branch_id"]))


@task_app.command("reassign")
@edge
def task_reassign(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    volunteer: Annotated[str, typer.Argument(help=_("Volunteer id (or unique name)."))],
    force: Annotated[bool, typer.Option(
        "--force", help=_("Give it even to a full volunteer or one of another branch "
                          "(recorded in the task's history)."))] = False,
) -> None:
    """Give a task to another volunteer (coordinators): one with room (open tasks below
    their capacity) of the member's branch or a branch above it, unless --force.

    Example: outreach task reassign 42 7
    """
    from outreach.tasks.work.outcomes import reassign
    from outreach.tasks.ledger.people import get_volunteer

    with db_session() as s:
        who = actor(s)
        vol = get_volunteer(s, ref=volunteer)
        reassign(s, task_id=task_id, volunteer_id=vol.id, actor=who, force=force)
    typer.echo(_("task {id} is now with volunteer {volunteer}").format(id=task_id,
                                                                       volunteer=vol.id))


@task_app.command("skip")
@edge
def task_skip(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help=_("Why the task is skipped."))],
) -> None:
    """Cancel a task with a reason (coordinators).

    Example: outreach task skip 42 --reason "in hospital until March"
    """
    from outreach.tasks.work.outcomes import skip

    with db_session() as s:
        skip(s, task_id=task_id, reason=reason, actor=actor(s))
    typer.echo(_("task {id} cancelled").format(id=task_id))


def member_confirm(
    ref: Annotated[str, typer.Argument(metavar="ID", help=_("Member id or ledger number."))],
    what: Annotated[str, typer.Argument(metavar="deceased|moved",
                                        help=_("The outcome to confirm."))],
) -> None:
    """Confirm a recorded 'deceased' (or 'moved' out of the organisation) outcome.

    Coordinators only, and not the person who recorded it.

    Example: outreach member confirm M0000042 deceased
    """
    _confirm(ref, what)


@edge
def _confirm(ref: str, what: str) -> None:
    from outreach.tasks.work.outcomes import confirm

    with db_session() as s:
        m = confirm(s, member_ref=ref, what=what, actor=actor(s))
        status = m.status
    typer.echo(_("member {id} is now {status}; their open tasks were cancelled").format(
        id=m.id, status=name_of(status, of="member_status")))
