"""The `outreach` command line.

One Typer app. Volunteer commands (login, tasks, task …) import neither Prefect nor
Faker nor Alembic: start-up time matters to them. Campaign commands import Prefect inside
the command function.
"""

from __future__ import annotations

import os
import sys

import typer

from cli import campaign, demo, ledger, stack, volunteer

app = typer.Typer(
    name="outreach",
    help="Home-visit outreach: the ledger of members, campaigns and volunteers' tasks.\n\n"
         "Exit codes: 0 done, 1 refused (not allowed, illegal transition, conflict), "
         "2 bad input or usage.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.add_typer(ledger.db_app, name="db")
app.add_typer(ledger.volunteer_app, name="volunteer")
app.add_typer(ledger.members_app, name="members")
app.add_typer(ledger.member_app, name="member")
app.command("seed")(ledger.seed)
app.command("login")(ledger.login)
app.command("logout")(ledger.logout)
app.command("whoami")(ledger.whoami)
app.command("tasks")(volunteer.tasks)
app.add_typer(volunteer.task_app, name="task")
ledger.member_app.command("confirm")(volunteer.member_confirm)
app.add_typer(campaign.campaign_app, name="campaign")
app.command("follow-up")(campaign.follow_up)
app.add_typer(campaign.outcomes_app, name="outcomes")
app.command("report")(campaign.report)
app.command("demo")(demo.demo)
app.add_typer(stack.stack_app, name="stack")


def run() -> None:
    """Console-script entry: a bug we did not foresee still prints one line, no traceback.

    The line names the error's class only: exception texts can carry SQL parameters,
    which may be a member's contact details. ``OUTREACH_DEBUG=1`` shows the traceback.
    """
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence, see docstring
        if os.environ.get("OUTREACH_DEBUG"):
            raise
        print(f"outreach: internal error ({exc.__class__.__name__}); nothing more was "
              "written. Run again with OUTREACH_DEBUG=1 for details.", file=sys.stderr)
        sys.exit(1)
