"""The `outreach` command line: one Typer app, built in two sizes.

Volunteer commands (login, tasks, task …) import neither Prefect nor Faker nor Alembic,
and when one of them is called, `run` builds an app of just those commands: start-up
time matters to volunteers (issue 4 holds it to 1.5x `import sqlalchemy.orm`). Campaign
commands import Prefect inside the command function.
"""

from __future__ import annotations

import os
import sys

import typer

HELP = ("Home-visit outreach: the ledger of members, campaigns and volunteers' tasks.\n\n"
        "Exit codes: 0 done, 1 refused (not allowed, illegal transition, conflict), "
        "2 bad input or usage.")
#: First words that need only the volunteer commands.
VOLUNTEER_WORDS = frozenset({"tasks", "task", "login", "logout", "whoami"})


def _new() -> typer.Typer:
    return typer.Typer(name="outreach", help=HELP, no_args_is_help=True, add_completion=True,
                       pretty_exceptions_enable=False)


def _volunteer_commands(app: typer.Typer) -> None:
    from cli import ledger, volunteer

    app.command("login")(ledger.login)
    app.command("logout")(ledger.logout)
    app.command("whoami")(ledger.whoami)
    app.command("tasks")(volunteer.tasks)
    app.add_typer(volunteer.task_app, name="task")


def build(*, volunteer_only: bool = False) -> typer.Typer:
    """The whole app, or (``volunteer_only``) the volunteer's commands alone."""
    app = _new()
    if volunteer_only:
        _volunteer_commands(app)
        return app
    from cli import campaign, demo, ledger, stack, volunteer

    app.add_typer(ledger.db_app, name="db")
    app.add_typer(ledger.volunteer_app, name="volunteer")
    app.add_typer(ledger.members_app, name="members")
    app.add_typer(ledger.member_app, name="member")
    app.command("seed")(ledger.seed)
    _volunteer_commands(app)
    if "confirm" not in {c.name for c in ledger.member_app.registered_commands}:
        ledger.member_app.command("confirm")(volunteer.member_confirm)
    app.add_typer(campaign.campaign_app, name="campaign")
    app.command("follow-up")(campaign.follow_up)
    app.add_typer(campaign.outcomes_app, name="outcomes")
    app.command("report")(campaign.report)
    app.command("demo")(demo.demo)
    app.add_typer(stack.stack_app, name="stack")
    return app


def __getattr__(name: str):
    """``cli.main.app``: the whole app, built on first use (tests and completion use it)."""
    if name == "app":
        globals()["app"] = built = build()
        return built
    raise AttributeError(name)


def run() -> None:
    """Console-script entry: a bug we did not foresee still prints one line, no traceback.

    The line names the error's class only: exception texts can carry SQL parameters,
    which may be a member's contact details. ``OUTREACH_DEBUG=1`` shows the traceback.
    """
    first = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    app = build(volunteer_only=first in VOLUNTEER_WORDS and "--help" not in sys.argv[1:2])
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
