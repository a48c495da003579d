"""Care commands (coordinators): `outreach care plan`.

Prefect is imported only when a stack is running (the run then goes to its ``care``
deployment and shows in its UI); otherwise the same steps (`tasks.care_jobs`) run here,
each committing its own transaction, without starting a temporary Prefect server.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cli.common import edge, parse_date

care_app = typer.Typer(help="Care visits: milestone birthdays, festivals, life events, "
                            "hardship (coordinators).", no_args_is_help=True)


def _line(result: dict) -> str:
    made = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result["occasions"].items())
    return (f"care {result['today']}: occasions {made}; care visits {result['created']} made "
            f"({result['assigned']} assigned, {result['open']} open); {result['missed']} "
            f"missed, {result['cancelled']} cancelled; {result['transfers']} transfer tasks")


@care_app.command("plan")
@edge
def care_plan(
    today: Annotated[Optional[str], typer.Option(
        help="Plan as of this date (YYYY-MM-DD); not after tomorrow.")] = None,
) -> None:
    """Plan care: occasions whose window (7 days before to 7 after) has begun get a care
    visit; closed windows without one become missed; members living away for six months
    get a coordinator's transfer task. The daily `care` deployment runs the same.

    Example: outreach care plan --today 2027-01-30
    """
    import datetime as dt

    from cli.campaign import _coordinator, _run_deployment, running_stack, use_prefect
    from tasks.rules import check_not_future

    day = parse_date(today, "--today") or dt.date.today()
    check_not_future(day, "--today")
    _coordinator()
    if running_stack() is not None:
        stack = use_prefect()
        result = _run_deployment("care", stack, {"today": day})
    else:
        from db import migrate
        from db.session import engine
        from tasks.care_jobs import plan_care

        eng = engine()
        migrate.require_current(eng)
        typer.echo("no stack running: planned here (the daily `care` deployment runs the "
                   "same steps)", err=True)
        result = plan_care(eng, today=day)
    typer.echo(_line(result))
