"""Campaign flows: survey, phone visits, deliveries.

Each flow opens the campaign run of its period, plans and assigns it range by range (one
Prefect task per range of member ids — ids go in, counts come out, never rows), hands out
leftovers, and ends with a summary table per branch. A rerun of the same period creates
nothing new and finishes whatever a crashed run left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from db.models import CampaignKind
from db.session import session_scope
from flows import common
from tasks import plan

# Plain strings with an empty default, not Optional: the UI then shows one text box
# instead of a choice between "str" and "None" tabs.
Period = Annotated[str, Field(
    default="", title="Period (YYYY-MM)", pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
    description="The month this run covers, for example 2026-11. Empty: this month.")]
BranchName = Annotated[str, Field(
    default="", title="Branch", max_length=120,
    description="Only members of this branch and the branches nested in it. "
                "Empty: every branch.")]
BatchSize = Annotated[int, Field(
    default=plan.DEFAULT_BATCH, ge=100, le=200_000, title="Members per batch",
    description="How many member ids each planning step covers.")]
Today = Annotated[Optional[dt.date], Field(
    default=None, title="Planning date",
    description="The day the run counts from (due dates, windows). Empty: today.")]
DryRun = Annotated[bool, Field(
    default=False, title="Dry run",
    description="Only count who would be targeted; write nothing.")]

DueDays = Annotated[int, Field(
    default=14, ge=1, le=90, title="Due in (days)",
    description="Each task is due this many days after planning.")]
MaxAttempts = Annotated[Literal[1, 2, 3, 4, 5], Field(
    default=3, title="Attempts",
    description="Failed attempts before a task counts as failed.")]


@dataclass(frozen=True)
class Rule:
    """A run's settings for the tasks it makes (passed to each planning step)."""

    within_days: int | None
    due_days: int
    max_attempts: int


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def open_run(kind: str, period: str, material: str | None) -> int:
    with session_scope(common.engine()) as s:
        return plan.open_run(s, kind, period, material=material).id


@task(cache_policy=NO_CACHE)
def ranges(batch_size: int) -> list[tuple[int, int]]:
    return plan.id_ranges(common.engine(), size=batch_size)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def plan_range(run_id: int, lo: int, hi: int, today: dt.date, branch_id: int | None,
               rule: Rule) -> dict:
    return plan.plan_range(common.engine(), run_id, lo, hi, today=today, branch_id=branch_id,
                           within_days=rule.within_days, due_days=rule.due_days,
                           max_attempts=rule.max_attempts)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def assign_leftovers(run_id: int) -> dict:
    return plan.assign_open(common.engine(), run_id)


@task(cache_policy=NO_CACHE)
def run_summary(run_id: int) -> list[dict]:
    with session_scope(common.engine(), write=False) as s:
        return plan.summary(s, run_id)


@task(cache_policy=NO_CACHE)
def preview(kind: str, period: str, today: dt.date, branch_id: int | None,
            within_days: int | None) -> list[dict]:
    return plan.preview(common.engine(), kind, period, today=today, branch_id=branch_id,
                        within_days=within_days)


@task(cache_policy=NO_CACHE)
def branch_id_of(name: str | None) -> int | None:
    if not name:
        return None
    from db.errors import NotFound
    from tasks.people import get_branch

    with session_scope(common.engine(), write=False) as s:
        br = get_branch(s, name=name)
        if br is None:
            raise NotFound(f"no branch named {name!r}")
        return br.id


def run_campaign(kind: CampaignKind, *, period: str | None, branch: str | None,
                 material: str | None, today: dt.date | None, batch_size: int,
                 dry_run: bool, rule: Rule) -> dict:
    """The body every campaign flow shares."""
    log = get_run_logger()
    today = common.day(today)
    period = plan.check_period(period or f"{today:%Y-%m}")
    branch_id = branch_id_of(branch)
    slug = common.key(kind.value, period, branch)
    if dry_run:
        rows = preview(kind.value, period, today, branch_id, rule.within_days)
        common.table(rows, f"{slug}-preview",
                     f"Dry run of {kind.value} {period}: who would be targeted per branch")
        total = sum(r["targeted"] for r in rows)
        log.info("dry run of %s %s: %d members would be targeted", kind.value, period, total)
        return {"kind": kind.value, "period": period, "dry_run": True, "targeted": total}
    run_id = open_run(kind.value, period, material)
    spans = ranges(batch_size)
    progress = common.Progress(f"{slug}-progress", len(spans),
                               f"{kind.value} {period}: member batches planned")
    totals = {"created": 0, "assigned": 0, "unassigned": 0, "continuity": 0, "busy": 0}
    for lo, hi in spans:
        counts = plan_range(run_id, lo, hi, today, branch_id, rule)
        for k in totals:
            totals[k] += counts.get(k, 0)
        progress.step()
    leftovers = assign_leftovers(run_id)
    rows = run_summary(run_id)
    common.table(rows, f"{slug}-summary",
                 f"{kind.value} {period}: targeted, assigned and unassigned per branch")
    result = {"kind": kind.value, "period": period, "run_id": run_id, "batches": len(spans),
              **totals, "assigned_later": leftovers.get("assigned", 0),
              "targeted": sum(r["targeted"] for r in rows),
              "still_open": sum(r["unassigned"] for r in rows)}
    log.info("%s %s (run %d): %d batches, %d tasks created, %d open without a volunteer",
             kind.value, period, run_id, len(spans), totals["created"], result["still_open"])
    common.event("campaign.planned", f"outreach.campaign-run.{run_id}", kind=kind.value,
                 period=period, created=totals["created"], still_open=result["still_open"])
    return result


@flow(name="survey", log_prints=False)
def survey(period: Period = "", branch: BranchName = "", today: Today = None,
           not_confirmed_within: Annotated[Literal[180, 365, 730], Field(
               default=365, title="Not confirmed within (days)",
               description="Members whose details were not confirmed this recently.")] = 365,
           due_days: DueDays = 14, max_attempts: MaxAttempts = 3,
           batch_size: BatchSize = plan.DEFAULT_BATCH, dry_run: DryRun = False) -> dict:
    """Survey (census): every living member not confirmed within a year gets a visit.

    Args:
        period: The month this run covers (YYYY-MM); empty means this month.
        branch: Only this branch and the branches nested in it; empty means all.
        today: The day the run counts from; empty means today.
        not_confirmed_within: Target members not confirmed within this many days.
        due_days: Each task is due this many days after planning.
        max_attempts: Failed attempts before a task counts as failed.
        batch_size: Member ids per planning step.
        dry_run: Only count who would be targeted.
    """
    return run_campaign(CampaignKind.SURVEY, period=period, branch=branch, material=None,
                        today=today, batch_size=batch_size, dry_run=dry_run,
                        rule=Rule(not_confirmed_within, due_days, max_attempts))


@flow(name="phone-visit", log_prints=False)
def phone_visit(period: Period = "", branch: BranchName = "", today: Today = None,
                not_reached_within: Annotated[Literal[14, 30, 60, 90], Field(
                    default=30, title="Not reached within (days)",
                    description="Call members living away not reached this recently.")] = 30,
                due_days: DueDays = 14, max_attempts: MaxAttempts = 3,
                batch_size: BatchSize = plan.DEFAULT_BATCH, dry_run: DryRun = False) -> dict:
    """Phone visits: members living away, not reached within the cadence (30 days).

    Args:
        period: The month this run covers (YYYY-MM); empty means this month.
        branch: Only this branch and the branches nested in it; empty means all.
        today: The day the run counts from; empty means today.
        not_reached_within: Call members not reached within this many days.
        due_days: Each task is due this many days after planning.
        max_attempts: Failed attempts before a task counts as failed.
        batch_size: Member ids per planning step.
        dry_run: Only count who would be targeted.
    """
    return run_campaign(CampaignKind.PHONE_VISIT, period=period, branch=branch, material=None,
                        today=today, batch_size=batch_size, dry_run=dry_run,
                        rule=Rule(not_reached_within, due_days, max_attempts))


@flow(name="delivery", log_prints=False)
def delivery(material: Annotated[str, Field(
                 title="Study material", min_length=1, max_length=200,
                 description="What to bring this period, e.g. 'November newsletter'.")]
             = "Monthly study materials",
             period: Period = "", branch: BranchName = "", today: Today = None,
             due_days: DueDays = 14, max_attempts: MaxAttempts = 3,
             batch_size: BatchSize = plan.DEFAULT_BATCH, dry_run: DryRun = False) -> dict:
    """Deliveries: homebound members get the period's study material at their door.

    Args:
        material: The title of what is delivered this period.
        period: The month this run covers (YYYY-MM); empty means this month.
        branch: Only this branch and the branches nested in it; empty means all.
        today: The day the run counts from; empty means today.
        due_days: Each task is due this many days after planning.
        max_attempts: Failed attempts before a task counts as failed.
        batch_size: Member ids per planning step.
        dry_run: Only count who would be targeted.
    """
    return run_campaign(CampaignKind.DELIVERY, period=period, branch=branch, material=material,
                        today=today, batch_size=batch_size, dry_run=dry_run,
                        rule=Rule(None, due_days, max_attempts))


FLOWS = {"survey": survey, "phone_visit": phone_visit, "delivery": delivery}
