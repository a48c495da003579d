"""The `outreach` command line: one Typer app, built in two sizes.

Volunteer commands (login, tasks, task …) import neither Prefect nor Faker nor Alembic,
and when one of them is called, `run` builds an app of just those commands: start-up
time matters to volunteers (issue 4 holds it to 1.5x `import sqlalchemy.orm`). Campaign
commands import Prefect inside the command function.
"""

from __future__ import annotations

import inspect
import os
import sys

# First: the language is chosen before Typer and Click build their texts.
from outreach.i18n import N_, _

from outreach.cli.exits import INTERRUPTED  # Ctrl-C's one line, before anything heavy

# Typer and the commands are imported inside `run` (and `build`): a Ctrl-C during those
# first moments is then ours to answer in one line, not a traceback (issue 11, defect 14).

HELP = N_("Home-visit outreach: the ledger of members, campaigns and volunteers' tasks.\n\n"
        "Exit codes: 0 done, 1 refused (not allowed, illegal transition, conflict), "
        "2 bad input or usage; Ctrl-C stops with 1 and writes nothing.")
#: First words that need only the volunteer commands.
VOLUNTEER_WORDS = frozenset({"tasks", "task", "login", "logout", "whoami"})


def _new():
    import typer

    return typer.Typer(name="outreach", help=_(HELP), no_args_is_help=True, add_completion=True,
                       pretty_exceptions_enable=False)


def _volunteer_commands(app) -> None:
    from outreach.cli import volunteer

    app.command("login")(volunteer.login)
    app.command("logout")(volunteer.logout)
    app.command("whoami")(volunteer.whoami)
    app.command("tasks")(volunteer.tasks)
    app.add_typer(volunteer.task_app, name="task")


def _infos(app) -> list:
    """The command infos of an app and of its sub-apps, all levels."""
    infos = list(app.registered_commands)
    groups = [g.typer_instance for g in app.registered_groups]
    while groups:
        sub = groups.pop()
        infos += sub.registered_commands
        groups += [g.typer_instance for g in sub.registered_groups]
    return infos


def commands(app):
    """Every command function of an app and its sub-apps (once each)."""
    seen = set()
    for info in _infos(app):
        if info.callback is not None and info.callback not in seen:
            seen.add(info.callback)
            yield info.callback


def _translate_help(app):
    """Typer takes a command's help from its function's docstring: give it the
    translation (`cli.catalog` extracts these docstrings)."""
    for info in _infos(app):
        doc = inspect.getdoc(info.callback) if info.callback else None
        if info.help is None and doc:
            info.help = _(doc)
    return app


def build(*, volunteer_only: bool = False):
    """The whole app, or (``volunteer_only``) the volunteer's commands alone."""
    app = _new()
    if volunteer_only:
        _volunteer_commands(app)
        return _translate_help(app)
    from outreach.cli import campaign, demo, ledger, serve, stack, volunteer

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
    from outreach.cli import meeting

    app.add_typer(meeting.meeting_app, name="meeting")
    from outreach.cli import care

    app.add_typer(care.care_app, name="care")
    app.command("demo")(demo.demo)
    app.add_typer(stack.stack_app, name="stack")
    app.command("serve")(serve.serve)
    return _translate_help(app)


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
    Ctrl-C at any moment (even while the commands are being imported) prints one line
    and exits 1; the transaction it cut short is rolled back.
    """
    try:
        _run()
    except KeyboardInterrupt:
        print("outreach: " + _(INTERRUPTED), file=sys.stderr)
        sys.exit(1)


def _click_command(app):
    """The Click command Typer builds, with the help of Typer's completion options (plain
    English in Typer) translated too."""
    import typer.main

    command = typer.main.get_command(app)
    for param in command.params:
        if param.name in ("install_completion", "show_completion") and param.help:
            param.help = _(param.help)
    return command


def _run() -> None:
    first = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    app = build(volunteer_only=first in VOLUNTEER_WORDS and "--help" not in sys.argv[1:2])
    try:
        _click_command(app)()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the last line of defence, see docstring
        if os.environ.get("OUTREACH_DEBUG"):
            raise
        print("outreach: " + _("internal error ({name}); nothing more was written. Run "
                               "again with OUTREACH_DEBUG=1 for details.").format(
                                   name=exc.__class__.__name__), file=sys.stderr)
        sys.exit(1)
