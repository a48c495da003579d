"""The daily follow-up flow: expire, fail, escalate, hand out, remind."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from outreach.db.session import session_scope
from outreach.flows import common
from outreach.i18n import N_, _
from outreach.tasks.work import followup, followup_jobs
from outreach.tasks.access import idempotency, sessions, tickets
from outreach.tasks.links import member_links
from outreach.tasks.campaigns import plan_jobs
from outreach.tasks.kernel.rules import check_not_future


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def expire_closed(today: dt.date) -> int:
    with session_scope(common.engine()) as s:
        tickets.purge_expired(s)  # run tickets nobody used go too (issue 24)
        idempotency.purge(s)  # and Idempotency-Keys older than 30 days
        sessions.purge_idle(s)  # and phone sessions idle 30 days (issue 26)
        member_links.purge_keys(s)  # and member links' Idempotency-Keys older than 30 days
    return followup_jobs.expire_closed(common.engine(), today=today)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def fail_exhausted(today: dt.date) -> int:
    return followup_jobs.fail_exhausted(common.engine(), today=today)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def mark_unreachable(today: dt.date) -> dict:
    return followup_jobs.mark_unreachable(common.engine(), today=today)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def release_inactive(today: dt.date) -> int:
    return followup_jobs.release_inactive(common.engine(), today=today)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def assign_open() -> dict:
    return plan_jobs.assign_open(common.engine())


@task(cache_policy=NO_CACHE)
def reminders(today: dt.date) -> tuple[list[dict], int, int]:
    with session_scope(common.engine(), write=False) as s:
        return (followup.reminders(s, today=today), followup.retries_due(s, today=today),
                followup.open_unassigned(s))


#: The sweep's counts as the markdown artifact names them.
COUNTS = {
    "expired": N_("expired"),
    "failed": N_("failed"),
    "unreachable": N_("unreachable"),
    "escalations": N_("escalations"),
    "released": N_("released"),
    "assigned": N_("assigned"),
    "still_open": N_("still open"),
    "retries_due": N_("retries due"),
    "volunteers_with_overdue": N_("volunteers with overdue"),
    "overdue_tasks": N_("overdue tasks"),
}


@flow(name="follow-up", log_prints=False)
def follow_up(today: Annotated[Optional[dt.date], common.field(
        _("Date of the sweep"),
        _("Which day to sweep for; empty means today. Not after tomorrow: the sweep acts on "
          "what happened."), default=None)] = None) -> dict:
    """Daily follow-up: expire closed windows, fail exhausted tasks, make members with
    repeated failed contacts unreachable and escalate them to a coordinator, hand the tasks
    of inactive volunteers to others, and list overdue tasks per volunteer.

    Args:
        today: Which day to sweep for; empty means today.
    """
    log = get_run_logger()
    today = check_not_future(common.day(today), N_("the follow-up date"))
    expired = expire_closed(today)
    failed = fail_exhausted(today)
    unreachable = mark_unreachable(today)
    released = release_inactive(today)
    assigned = assign_open()
    overdue, retries, still_open = reminders(today)
    common.table(overdue, common.key("reminders", today),
                 _("Overdue tasks per volunteer on {day} (send each a reminder)")
                 .format(day=today))
    result = {"today": today.isoformat(), "expired": expired, "failed": failed,
              "unreachable": unreachable["unreachable"],
              "escalations": unreachable["escalations"], "released": released,
              "assigned": assigned.get("assigned", 0), "still_open": still_open,
              "retries_due": retries, "volunteers_with_overdue": len(overdue),
              "overdue_tasks": sum(r["overdue"] for r in overdue)}
    common.markdown(
        "\n".join([_("# Follow-up {day}").format(day=today), ""]
                  + [f"- **{_(COUNTS[k])}**: {v}" for k, v in result.items() if k != "today"]),
        common.key("follow-up", today), _("Follow-up sweep of {day}").format(day=today))
    if unreachable["unreachable"]:
        common.event("members.unreachable", f"outreach.follow-up.{today}",
                     count=unreachable["unreachable"])
    if unreachable["escalations"]:
        common.event("escalations.created", f"outreach.follow-up.{today}",
                     count=unreachable["escalations"])
    log.info(_("follow-up {day}: {counts}").format(
        day=today, counts={k: v for k, v in result.items() if k != "today"}))
    return result
