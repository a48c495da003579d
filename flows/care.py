"""The daily care flow: plan care occasions, give their care visits, and transfer tasks.

Each step is one of `tasks.care.care_jobs` (its own transaction, safe to run again); the
artifacts carry counts only (occasions per kind, tasks, missed, cancelled, transfers).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from outreach.flows import common
from outreach.i18n import _
from outreach.tasks.care import care_jobs
from outreach.tasks.kernel import labels


def _step(job):
    """A Prefect task (retried twice) running one of `tasks.care.care_jobs` for a day."""
    def run(today: dt.date):
        return job(common.engine(), today=today)

    run.__name__ = run.__qualname__ = job.__name__
    return task(run, name=job.__name__.replace("_", "-"), cache_policy=NO_CACHE, retries=2,
                retry_delay_seconds=2)


close_occasions = _step(care_jobs.close_occasions)
plan_occasions = _step(care_jobs.plan_occasions)
give_visits = _step(care_jobs.give_visits)
plan_transfers = _step(care_jobs.plan_transfers)


def _occasion(kind: str) -> str:
    """An occasion's name: the code with spaces in English (as before), else its label."""
    return kind.replace("_", " ") if labels.english() else labels.label(kind,
                                                                          of="care_occasion")


def summary(result: dict) -> str:
    """The run's counts as markdown (no member, no contact detail)."""
    lines = [_("# Care planning {day}").format(day=result["today"]), "",
             _("| occasions planned | count |"), "|---|---|"]
    lines += [f"| {_occasion(k)} | {v} |" for k, v in result["occasions"].items()]
    lines += ["", _("- **care visits made**: {created} ({assigned} assigned, {open} open)")
              .format(created=result["created"], assigned=result["assigned"],
                      open=result["open"]),
              _("- **missed** (window closed without a visit): {n}").format(n=result["missed"]),
              _("- **cancelled** (member no longer contactable): {n}")
              .format(n=result["cancelled"]),
              _("- **transfer tasks** (living away six months): {n}")
              .format(n=result["transfers"])]
    return "\n".join(lines)


@flow(name="care", log_prints=False)
def care(today: Annotated[Optional[dt.date], common.field(
        _("Date of the planning"),
        _("Which day to plan care for; empty means today. Not after tomorrow."),
        default=None)] = None) -> dict:
    """Daily care planning: due occasions whose window closed become missed (cancelled
    when the member is no longer contactable); milestone birthdays, the Double Ninth, the
    Spring Festival and hardship months whose window has begun get an occasion; each
    occasion without a care visit gets one (capacity, continuity); members living away for
    six months get a coordinator's transfer task, once.

    Args:
        today: Which day to plan for; empty means today.
    """
    log = get_run_logger()
    today = care_jobs.care_day(common.day(today))
    closed = close_occasions(today)
    made = plan_occasions(today)
    visits = give_visits(today)
    transfers = plan_transfers(today)
    result = {"today": today.isoformat(), "occasions": made, **visits, **closed,
              "transfers": transfers}
    common.markdown(summary(result), common.key("care", today),
                    _("Care planning of {day}").format(day=today))
    common.table([{"kind": k, "occasions": v} for k, v in made.items()],
                 common.key("care-occasions", today),
                 _("Care occasions planned on {day}").format(day=today),
                 of={"kind": "care_occasion"})
    if closed["missed"]:
        common.event("care.missed", f"outreach.care.{today}", count=closed["missed"])
    log.info(_("care {day}: {counts}").format(
        day=today, counts={k: v for k, v in result.items() if k != "today"}))
    return result
