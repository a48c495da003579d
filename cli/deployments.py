"""Running work through Prefect from the command line, shared by the commands that need it
(campaigns, follow-up, results files, meetings, care, the demo): who may start a run, where
it goes (the running stack's deployment, or Prefect's temporary server here), and the run
tickets that let a form in the Prefect UI act for a coordinator.

Prefect is imported inside the functions, never at module level: the volunteer commands
share this CLI and must start fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from outreach.cli.common import actor, db_session
from outreach.db.errors import BadInput
from outreach.i18n import _

#: Seconds Prefect's temporary server may take to start (Prefect's default, 20, is less
#: than a first start on a fresh Prefect home takes on an idle 2-core machine, 24-29 s).
EPHEMERAL_STARTUP_S = 150


def quiet_prefect() -> None:
    """Offline and quiet, set before Prefect is imported."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                          str(EPHEMERAL_STARTUP_S))
    # The flow's log goes to Prefect (the UI); the terminal gets our own summary line,
    # never Prefect's console log with a failed run's traceback.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def running_stack():
    """The stack `outreach stack up` started for this ledger, when its server answers
    (then CLI-started runs go to it and show in its UI); None otherwise."""
    from outreach.cli import stack as stack_mod
    from outreach.db import settings

    found = stack_mod.load()
    if found is None or not found.procs or found.ledger != settings.database_url() \
            or not stack_mod.auth_string() or not stack_mod.healthy(found.api_url):
        return None
    return found


def use_prefect():
    """Quiet Prefect, pointed at the running stack if there is one (before Prefect is
    imported): its API, its auth string and its result storage. Returns the stack."""
    quiet_prefect()
    found = running_stack()
    if found is not None:
        from outreach.cli import stack as stack_mod

        os.environ["PREFECT_API_URL"] = found.api_url
        os.environ["PREFECT_API_AUTH_STRING"] = stack_mod.auth_string()
        os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(
            Path(found.home) / "prefect" / "storage")
    return found


def coordinator() -> int:
    """The caller's id, refused unless a coordinator (before a run is started)."""
    from outreach.tasks.access.permissions import require_coordinator

    with db_session(write=False) as s:
        who = actor(s)
        require_coordinator(who)
        return who.id


def run_flow(fn, stack=None, **params):
    """Run a flow and return its result; domain errors come back as themselves.

    With ``stack`` (see `use_prefect`) the run goes to the stack's deployment of the flow
    and a worker runs it (it shows in the UI); otherwise it runs in this process on
    Prefect's temporary server, whose failure to start is one line."""
    from prefect.exceptions import PrefectException

    from outreach.db.errors import NotReady

    try:
        if stack is not None:
            return run_deployment(fn.name, stack, params)
        return fn(**params)
    except PrefectException as exc:
        raise BadInput(_("the flow could not start: {name}").format(
            name=exc.__class__.__name__)) from None
    except RuntimeError as exc:
        if "ephemeral" not in str(exc).lower() and "temporary" not in str(exc).lower():
            raise
        limit = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
        raise NotReady(_("Prefect's temporary server did not start in {limit} s (a busy "
                         "machine?); nothing was run: try again, or start the stack once "
                         "(`outreach stack up`) and runs go to it").format(
                             limit=limit)) from None


def run_deployment(name: str, stack, params: dict):
    """Run the stack's deployment ``name/name`` with ``params`` and wait for its result."""
    import datetime as dt

    from prefect.deployments import run_deployment as prefect_run_deployment
    from pydantic import SecretStr

    from outreach.cli import stack as stack_mod
    from outreach.db.errors import OutreachError, Refused

    if stack_mod.online_workers(stack.api_url) < 1:
        raise Refused(_("the stack at {url} has no worker online; see `outreach stack "
                        "status`").format(url=stack.url))
    plain = {k: v.isoformat() if isinstance(v, dt.date) else
             v.get_secret_value() if isinstance(v, SecretStr) else v
             for k, v in params.items() if v is not None}
    run = prefect_run_deployment(f"{name}/{name}", parameters=plain, timeout=None,
                                 poll_interval=1)
    where = f"{stack.url}/runs/flow-run/{run.id}"
    typer.echo(_("ran on the stack: {where}").format(where=where), err=True)
    state = run.state
    try:  # a failed run keeps its exception: a domain error comes back as itself
        result = state.result() if state is not None else None
    except OutreachError:
        raise
    except Exception:  # noqa: BLE001 - any other reason is one line, never its text
        result = None  # (an exception's text can carry SQL parameters: contact details)
    if state is not None and state.is_completed() and isinstance(result, dict):
        return result
    if state is None:
        raise Refused(_("the {name} run ended without a state; its log is in the UI: "
                        "{where}").format(name=name, where=where))
    raise Refused(_("the {name} run ended {state}; its log is in the UI: {where}").format(
        name=name, state=state.name, where=where))


def ticket(minutes: int | None = None, purpose: str = "record-outcomes") -> str:
    """A run ticket for a form (record-outcomes, plan-meeting), made with the caller's
    access code."""
    from outreach.db import settings
    from outreach.tasks.access import tickets

    with db_session() as s:
        return tickets.issue(s, settings.token(), purpose=purpose,
                             minutes=minutes or tickets.MINUTES)
