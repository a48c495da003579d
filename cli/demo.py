"""`outreach demo`: the whole product on a fresh embedded database, in a couple of minutes.

Seeds a ledger, runs survey, phone visits and deliveries through Prefect, lets simulated
volunteers record a realistic mix of outcomes over three rounds of visits (through the
same results-file flow a coordinator uses for paper run sheets), runs the follow-up and
prints the coverage report.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
from pathlib import Path
from typing import Annotated, Optional

import typer

from outreach.cli.common import edge
from outreach.db import settings
from outreach.i18n import _

# Outcome mixes per kind of task, by weight: what volunteers report back.
MIX = {
    "survey": [("reached", 60), ("no_answer", 14), ("not_home", 6), ("left_message", 4),
               ("callback_requested", 3), ("wrong_number", 3), ("moved", 3), ("refused", 3),
               ("temporarily_away", 2), ("do_not_contact", 1), ("deceased", 1)],
    "phone_visit": [("reached", 62), ("no_answer", 16), ("left_message", 8),
                    ("callback_requested", 5), ("wrong_number", 3), ("moved", 2),
                    ("refused", 2), ("temporarily_away", 1), ("deceased", 1)],
    "delivery": [("delivered", 70), ("delivered_to_family", 12), ("not_home", 10),
                 ("inaccessible", 3), ("temporarily_away", 2), ("moved", 2), ("refused", 1)],
    "escalation": [("reached", 60), ("no_answer", 30), ("moved", 5), ("deceased", 5)],
}
#: The demo's week: rounds of visits on these days after the start, the sweep on the last.
DAYS = 7
ROUNDS = (0, 3, DAYS)
#: One member in this many never answers: they become unreachable and are escalated.
HARD_TO_REACH = 12
#: The demo's access codes (volunteer_id, name, role, branch, code), in the demo's folder.
CODES = "codes.csv"


def _pick(rng: random.Random, kind: str) -> str:
    codes, weights = zip(*MIX[kind])
    return rng.choices(codes, weights)[0]


def _answers(outcome: str, kind: str) -> str:
    if kind == "survey" and outcome == "reached":
        return "phone=same; address=same; residence=same; homebound=same"
    if outcome == "moved":
        return "residence=away"
    return ""


def _round(path: Path, day: dt.date, coordinator, rng: random.Random) -> int:
    """Write the results of one round of visits: every assigned task that is due."""
    from outreach.cli.common import db_session
    from outreach.tasks.work.worklist import list_tasks

    with db_session(write=False) as s:
        rows = list_tasks(s, actor=coordinator, all_=True, status="assigned", today=day)
    due = [r for r in rows if r["next_attempt"] is None or r["next_attempt"] <= day.isoformat()]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["task_id", "outcome", "note", "answers", "date"])
        written = 0
        for r in due:
            kind = r["kind"]
            if kind == "escalation" and day < settings.today():
                # Escalations are made now, by the earlier rounds' outcomes: a call
                # cannot be recorded on a day before its task existed.
                continue
            if r["member_id"] % HARD_TO_REACH == 0 and kind != "escalation":
                outcome = "not_home" if kind == "delivery" else "no_answer"
            else:
                outcome = _pick(rng, kind)
            w.writerow([r["id"], outcome, f"demo round {day}", _answers(outcome, kind),
                        day.isoformat()])
            written += 1
    return written


@edge
def demo(
    members: Annotated[int, typer.Option(help=_("How many members to seed."), min=10)] = 3000,
    seed: Annotated[int, typer.Option(help=_("Random seed of the ledger and the outcomes."))]
    = 7,
    locale: Annotated[Optional[str], typer.Option(
        help=_("en_US or zh_CN (default: zh_CN when outreach speaks Chinese)."))] = None,
    today: Annotated[Optional[str], typer.Option(help=_("Start date (YYYY-MM-DD)."))] = None,
) -> None:
    """Run the whole thing on a fresh embedded database and print the coverage report.

    The demo database is $OUTREACH_HOME/demo/outreach.db (made anew each time); your own
    ledger is not touched. The people's access codes are in $OUTREACH_HOME/demo/codes.csv:
    the end of the run says how to open the phone pages with one of them.

    Example: outreach demo --members 5000
    """
    from outreach.cli.deployments import quiet_prefect
    from outreach.cli.common import parse_date
    from outreach.db import settings
    from outreach.tasks.kernel.rules import seed_locale

    locale = seed_locale(locale)

    # The demo plays a week that ends today: visits cannot be recorded in the future.
    start = parse_date(today, "--today") or settings.today() - dt.timedelta(days=DAYS)
    folder = settings.home() / "demo"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("outreach.db", "outreach.db-wal", "outreach.db-shm"):
        (folder / name).unlink(missing_ok=True)
    os.environ["OUTREACH_DATABASE_URL"] = f"sqlite:///{folder / 'outreach.db'}"
    quiet_prefect()

    from outreach.cli.common import db_session, pad, table
    from outreach.tasks.kernel.labels import label
    from outreach.db import migrate
    from outreach.db.session import engine
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import coverage
    from outreach.tasks.access.permissions import SYSTEM, authenticate

    typer.echo(_("demo database: {path}").format(path=folder / "outreach.db"))
    migrate.upgrade(engine())
    res = seed_ledger(engine(), members=members, seed=seed, locale=locale, today=start)
    typer.echo(_("1. seeded {members} members ({away} living away, {homebound} homebound) in "
                 "{branches} branches, {volunteers} volunteers").format(
                     members=res.members, away=res.away, homebound=res.homebound,
                     branches=res.branches, volunteers=res.volunteers))
    from outreach.cli.common import PrivateFile
    from outreach.cli.ledger import write_codes

    # the people's codes, for the phone pages (said at the end); 0600, made anew each time
    write_codes(PrivateFile(folder / CODES, force=True), res.codes)
    code = next(c[4] for c in res.codes if c[2] == "coordinator")
    os.environ["OUTREACH_TOKEN"] = code
    with db_session(write=False) as s:
        coordinator = authenticate(s, code)

    from outreach.flows.campaigns import delivery, phone_visit, survey
    from outreach.flows.followup import follow_up
    from outreach.flows.outcomes import record_outcomes
    from pydantic import SecretStr

    from outreach.tasks.access import tickets

    period = f"{start:%Y-%m}"
    typer.echo(_("2. campaigns through Prefect:"))
    booklet = _("Study booklet {period}").format(period=period)
    for name, fn, extra in (("survey", survey, {}), ("phone_visit", phone_visit, {}),
                            ("delivery", delivery, {"material": booklet})):
        out = fn(period=period, today=start, **extra)
        typer.echo("   " + _("{name} {targeted} targeted, {created} tasks, {open} without a "
                             "volunteer").format(name=pad(label(name, of="task_kind"), 12),
                                                 targeted=f"{out['targeted']:6}",
                                                 created=f"{out['created']:6}",
                                                 open=f"{out['still_open']:5}"))
    rng = random.Random(seed)
    typer.echo(_("3. volunteers record what happened (three rounds of visits):"))
    for i, offset in enumerate(ROUNDS, 1):
        day = start + dt.timedelta(days=offset)
        path = folder / f"results-round-{i}.csv"
        n = _round(path, day, coordinator, rng)
        with db_session() as s:  # the flow records as the coordinator the ticket names
            ticket = tickets.issue(s, code, purpose="record-outcomes")
        out = record_outcomes(path=str(path), ticket=SecretStr(ticket), today=day)
        typer.echo("   " + _("round {i} ({day}): {n} visits, {applied} recorded, {escalations} "
                             "escalations, {refused} refused").format(
                                 i=i, day=day, n=n, applied=out["applied"],
                                 escalations=out["escalations"],
                                 refused=len(out["problems"])))
    sweep = start + dt.timedelta(days=DAYS)
    out = follow_up(today=sweep)
    typer.echo(_("4. follow-up {day}: {failed} failed, {unreachable} became unreachable, "
                 "{escalations} escalations, {assigned} assigned, {overdue} overdue").format(
                     day=sweep, failed=out["failed"], unreachable=out["unreachable"],
                     escalations=out["escalations"], assigned=out["assigned"],
                     overdue=out["overdue_tasks"]))
    with db_session(write=False) as s:
        rows = coverage.coverage(s, today=sweep, period=period, actor=SYSTEM)
    typer.echo("\n" + _("Coverage {period} (as of {day}):").format(period=period, day=sweep))
    typer.echo(table(rows))
    typer.echo("\n" + phone_pages(folder))


def phone_pages(folder: Path) -> str:
    """How to open the phone pages (``/app/``) on the demo ledger: the service on its
    database, the address, where the volunteers' codes are (`outreach demo` writes them to
    FOLDER/codes.csv, mode 0600)."""
    from outreach.cli.serve import PORT

    return _("Phone pages: run {serve}, then open {url} and log in with a volunteer's "
             "access code from {codes}").format(
                 serve=f"OUTREACH_DATABASE_URL=sqlite:///{folder / 'outreach.db'} outreach serve",
                 url=f"http://127.0.0.1:{PORT}/app/", codes=folder / CODES)

