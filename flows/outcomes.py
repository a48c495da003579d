"""Applying a results file (paper run sheets, offline volunteers) through Prefect.

Who records is never a plain parameter: the form takes a run ticket (`tasks.access.tickets`),
which the flow redeems before it reads a line — a wrong, used or expired ticket fails the
run with nothing applied — and every row is recorded by the coordinator it stands for.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from pydantic import SecretStr

from outreach.db.session import session_scope
from outreach.flows import common
from outreach.i18n import _
from outreach.tasks.access import ticket_jobs
from outreach.tasks.access.permissions import Actor
from outreach.tasks.work.results import apply_results, load_results_file

CHUNK = 2_000


@task(cache_policy=NO_CACHE)
def count_rows(path: str) -> int:
    return len(load_results_file(path))


@task(cache_policy=NO_CACHE)
def apply_chunk(path: str, start: int, stop: int, actor: Actor,
                today: dt.date | None) -> dict:
    """Apply rows [start, stop) of the file in one transaction (a savepoint per row)."""
    rows = load_results_file(path)
    with session_scope(common.engine()) as s:
        rep = apply_results(s, rows, actor=actor, today=today, start=start, stop=stop)
    return {"applied": rep.applied, "duplicates": rep.duplicates, "problems": rep.problems,
            "by_outcome": rep.by_outcome, "escalations": rep.escalations}


def who(ticket: SecretStr | str | None, purpose: str = "record-outcomes") -> Actor:
    """The coordinator a run ticket for ``purpose`` stands for; the ticket is used up
    (committed at once, accepted or refused, so that it cannot serve twice even if the
    run fails later)."""
    value = ticket.get_secret_value() if isinstance(ticket, SecretStr) else ticket
    return ticket_jobs.use(common.engine(), value, purpose=purpose)


@flow(name="record-outcomes", log_prints=False)
def record_outcomes(
    path: Annotated[str, common.field(
        _("Results file"),
        _("Path of the CSV (task_id,outcome,note,answers) on the worker's machine."))],
    ticket: Annotated[SecretStr, common.field(
        _("Run ticket"),
        _("From `outreach outcomes ticket` (good for one run, 15 minutes): the rows are "
          "recorded by the coordinator who asked for it. Never type an access code here."))],
    today: Annotated[Optional[dt.date], common.field(
        _("Visit date"), _("Date of visits for rows without a date column; empty means "
                           "today."), default=None)] = None,
) -> dict:
    """Apply a results file: good rows are recorded, bad rows are listed by line, and no
    row is ever applied twice.

    Args:
        path: Path of the results CSV on the worker's machine.
        ticket: A run ticket from `outreach outcomes ticket` (one run, 15 minutes); the
            rows are recorded by the coordinator who asked for it. Never an access code.
        today: Date of visits for rows without a date; empty means today.
    """
    actor = who(ticket)  # before anything is read or applied
    log = get_run_logger()
    total = count_rows(path)
    progress = common.Progress(common.key("outcomes", actor.id, "progress"),
                               max(1, -(-total // CHUNK)), _("result rows applied (chunks)"))
    out = {"rows": total, "applied": 0, "duplicates": 0, "escalations": 0, "problems": [],
           "by_outcome": {}}
    for start in range(0, total, CHUNK):
        # quote(): Prefect passes the actor as it is, never rebuilding it from its fields.
        part = apply_chunk(path, start, min(total, start + CHUNK), quote(actor), today)
        for k in ("applied", "duplicates", "escalations"):
            out[k] += part[k]
        out["problems"] += part["problems"]
        for k, v in part["by_outcome"].items():
            out["by_outcome"][k] = out["by_outcome"].get(k, 0) + v
        progress.step()
    common.table([{"outcome": k, "rows": v} for k, v in sorted(out["by_outcome"].items())],
                 common.key("outcomes", "applied"), _("Outcomes applied from the results file"))
    if out["problems"]:
        # Problems name lines, task ids and codes — never contact details.
        common.markdown(_("# Rows not applied") + "\n\n"
                        + "\n".join(f"- {common.escape(p)}" for p in out["problems"]),
                        common.key("outcomes", "problems"), _("Rows of the results file refused"))
    log.info(_("results: {rows} rows, {applied} applied, {duplicates} already applied, "
               "{refused} refused")
             .format(rows=total, applied=out["applied"], duplicates=out["duplicates"],
                     refused=len(out["problems"])))
    return out
