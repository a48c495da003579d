"""Applying a results file (paper run sheets, offline volunteers) through Prefect."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from db.errors import Refused
from db.models import Volunteer
from db.session import session_scope
from flows import common
from tasks.access import Actor
from tasks.results import apply_results, load_results_file

CHUNK = 2_000


@task(cache_policy=NO_CACHE)
def count_rows(path: str) -> int:
    return len(load_results_file(path))


@task(cache_policy=NO_CACHE)
def apply_chunk(path: str, start: int, stop: int, recorded_by: int,
                today: dt.date | None) -> dict:
    """Apply rows [start, stop) of the file in one transaction (a savepoint per row)."""
    rows = load_results_file(path)
    with session_scope(common.engine()) as s:
        vol = s.get(Volunteer, recorded_by)
        if vol is None or not vol.active:
            raise Refused(f"volunteer {recorded_by} cannot record outcomes")
        actor = Actor(id=vol.id, name=vol.name, role=str(vol.role), branch_id=vol.branch_id)
        rep = apply_results(s, rows, actor=actor, today=today, start=start, stop=stop)
    return {"applied": rep.applied, "duplicates": rep.duplicates, "problems": rep.problems,
            "by_outcome": rep.by_outcome, "escalations": rep.escalations}


@flow(name="record-outcomes", log_prints=False)
def record_outcomes(
    path: Annotated[str, Field(title="Results file",
                               description="Path of the CSV (task_id,outcome,note,answers) "
                                           "on the worker's machine.")],
    recorded_by: Annotated[int, Field(title="Recorded by (volunteer id)",
                                      description="Who typed the results in: a coordinator, "
                                                  "or the volunteer whose tasks they are.")],
    today: Annotated[Optional[dt.date], Field(
        default=None, title="Visit date",
        description="Date of visits for rows without a date column; empty means today.")]
    = None,
) -> dict:
    """Apply a results file: good rows are recorded, bad rows are listed by line, and no
    row is ever applied twice.

    Args:
        path: Path of the results CSV on the worker's machine.
        recorded_by: Id of the coordinator (or volunteer) who typed the results in.
        today: Date of visits for rows without a date; empty means today.
    """
    log = get_run_logger()
    total = count_rows(path)
    progress = common.Progress(common.key("outcomes", recorded_by, "progress"),
                               max(1, -(-total // CHUNK)), "result rows applied (chunks)")
    out = {"rows": total, "applied": 0, "duplicates": 0, "escalations": 0, "problems": [],
           "by_outcome": {}}
    for start in range(0, total, CHUNK):
        part = apply_chunk(path, start, min(total, start + CHUNK), recorded_by, today)
        for k in ("applied", "duplicates", "escalations"):
            out[k] += part[k]
        out["problems"] += part["problems"]
        for k, v in part["by_outcome"].items():
            out["by_outcome"][k] = out["by_outcome"].get(k, 0) + v
        progress.step()
    common.table([{"outcome": k, "rows": v} for k, v in sorted(out["by_outcome"].items())],
                 common.key("outcomes", "applied"), "Outcomes applied from the results file")
    if out["problems"]:
        # Problems name lines, task ids and codes — never contact details.
        common.markdown("# Rows not applied\n\n" + "\n".join(f"- {p}" for p in out["problems"]),
                        common.key("outcomes", "problems"), "Rows of the results file refused")
    log.info("results: %d rows, %d applied, %d already applied, %d refused", total,
             out["applied"], out["duplicates"], len(out["problems"]))
    return out
