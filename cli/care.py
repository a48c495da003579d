"""Care commands (coordinators): `outreach care plan`.

Prefect is imported only when a stack is running (the run then goes to its ``care``
deployment and shows in its UI); otherwise the same steps (`tasks.care.care_jobs`) run here,
each committing its own transaction, without starting a temporary Prefect server.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from outreach.cli.common import edge, parse_date
from outreach.db import settings
from outreach.i18n import _

care_app = typer.Typer(help=_("Care visits: milestone birthdays, festivals, life events, "
                              "hardship (coordinators)."), no_args_is_help=True)

def _occasion(code: str) -> str:
    """A kind of care occasion as people read it (English: the code with spaces)."""
    from outreach.tasks.kernel import labels

    if labels.english():
        return code.replace("_", " ")
    return labels.label(code, of="care_occasion")


def _line(result: dict) -> str:
    made = ", ".join(f"{_occasion(k)} {v}" for k, v in result["occasions"].items())
    return _("care {today}: occasions {made}; care visits {created} made ({assigned} "
             "assigned, {open} open); {missed} missed, {cancelled} cancelled; {transfers} "
             "transfer tasks").format(
                 today=result["today"], made=made, created=result["created"],
                 assigned=result["assigned"], open=result["open"], missed=result["missed"],
                 cancelled=result["cancelled"], transfers=result["transfers"])


@care_app.command("plan")
@edge
def care_plan(
    today: Annotated[Optional[str], typer.Option(
        help=_("Plan as of this date (YYYY-MM-DD); not after tomorrow."))] = None,
) -> None:
    """Plan care: occasions whose window (7 days before to 7 after) has begun get a care
    visit; closed windows without one become missed; members living away for six months
    get a coordinator's transfer task. The daily `care` deployment runs the same.

    Example: outreach care plan --today 2027-01-30
    """

    from outreach.cli.deployments import (coordinator, run_deployment, running_stack,
                                          use_prefect)
    from outreach.tasks.kernel.rules import check_not_future

    day = parse_date(today, "--today") or settings.today()
    check_not_future(day, "--today")
    coordinator()
    if running_stack() is not None:
        stack = use_prefect()
        result = run_deployment("care", stack, {"today": day})
    else:
        from outreach.db import migrate
        from outreach.db.session import engine
        from outreach.tasks.care.care_jobs import plan_care

        eng = engine()
        migrate.require_current(eng)
        typer.echo(_("no stack running: planned here (the daily `care` deployment runs the "
                     "same steps)"), err=True)
        result = plan_care(eng, today=day)
    typer.echo(_line(result))
