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
from tasks import plan, plan_jobs
from tasks.rules import (
    BATCH_SIZE,
    DUE_DAYS,
    MAX_ATTEMPTS,
    PERIOD_OR_EMPTY_PATTERN,
    WINDOWS,
    check_period,
)

K = CampaignKind

# Plain strings with an empty default, not Optional: the UI then shows one text box
# instead of a choice between "str" and "None" tabs.
Period = Annotated[str, Field(
    default="", title="Period (YYYY-MM)", pattern=PERIOD_OR_EMPTY_PATTERN,
    description="The month this run covers, for example 2026-11. Empty: this month.")]
BranchName = Annotated[str, Field(
    default="", title="Branch", max_length=120,
    description="Only members of this branch and the branches nested in it. "
                "Empty: every branch.")]
BatchSize = Annotated[int, Field(
    default=BATCH_SIZE.default, ge=BATCH_SIZE.low, le=BATCH_SIZE.high, title="Members per batch",
    description="How many member ids each planning step covers.")]
Today = Annotated[Optional[dt.date], Field(
    default=None, title="Planning date",
    description="The day the run counts from (due dates, windows). Empty: today.")]
DryRun = Annotated[bool, Field(
    default=False, title="Dry run",
    description="Only count the tasks a run would make now; write nothing.")]

DueDays = Annotated[int, Field(
    default=DUE_DAYS.default, ge=DUE_DAYS.low, le=DUE_DAYS.high, title="Due in (days)",
    description="Each task is due this many days after planning.")]
# A dropdown of every allowed value: Literal built from the limits in `tasks.rules`.
MaxAttempts = Annotated[Literal[tuple(range(MAX_ATTEMPTS.low, MAX_ATTEMPTS.high + 1))], Field(
    default=MAX_ATTEMPTS.default, title="Attempts",
    description="Failed attempts before a task counts as failed.")]
#: The targeting windows a coordinator picks from (`tasks.rules.WINDOWS`), as dropdowns.
SurveyWindow = Annotated[Literal[WINDOWS[K.SURVEY][0]], Field(
    default=WINDOWS[K.SURVEY][1], title="Not confirmed within (days)",
    description="Members whose details were not confirmed this recently.")]
PhoneWindow = Annotated[Literal[WINDOWS[K.PHONE_VISIT][0]], Field(
    default=WINDOWS[K.PHONE_VISIT][1], title="Not reached within (days)",
    description="Call members living away not reached this recently.")]


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
    return plan_jobs.id_ranges(common.engine(), size=batch_size)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def plan_range(run_id: int, lo: int, hi: int, today: dt.date, branch_id: int | None,
               rule: Rule) -> dict:
    return plan_jobs.plan_range(common.engine(), run_id, lo, hi, today=today,
                                branch_id=branch_id, within_days=rule.within_days,
                                due_days=rule.due_days, max_attempts=rule.max_attempts)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def assign_leftovers(run_id: int) -> dict:
    return plan_jobs.assign_open(common.engine(), run_id)


@task(cache_policy=NO_CACHE)
def run_summary(run_id: int) -> list[dict]:
    with session_scope(common.engine(), write=False) as s:
        return plan.summary(s, run_id)


@task(cache_policy=NO_CACHE)
def preview(kind: str, period: str, today: dt.date, branch_id: int | None,
            within_days: int | None) -> list[dict]:
    return plan_jobs.preview(common.engine(), kind, period, today=today, branch_id=branch_id,
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
    period = check_period(period or f"{today:%Y-%m}")
    branch_id = branch_id_of(branch)
    slug = common.key(kind.value, period, branch)
    if dry_run:
        rows = preview(kind.value, period, today, branch_id, rule.within_days)
        common.table(rows, f"{slug}-preview",
                     f"Dry run of {kind.value} {period}: who would be targeted per branch")
        total = sum(r["targeted"] for r in rows)
        log.info("dry run of %s %s: %d members would get a task", kind.value, period, total)
        return {"kind": kind.value, "period": period, "dry_run": True, "targeted": total,
                "busy": sum(r["busy"] for r in rows),
                "planned": sum(r["planned"] for r in rows)}
    run_id = open_run(kind.value, period, material)
    spans = ranges(batch_size)
    progress = common.Progress(f"{slug}-progress", len(spans),
                               f"{kind.value} {period}: member batches planned")
    # The same body as `tasks.plan_jobs.plan_campaign`, with a Prefect task per range.
    totals = plan_jobs.plan_and_assign(
        spans, lambda lo, hi: plan_range(run_id, lo, hi, today, branch_id, rule),
        lambda: assign_leftovers(run_id), step=progress.step)
    rows = run_summary(run_id)
    common.table(rows, f"{slug}-summary",
                 f"{kind.value} {period}: targeted, assigned and unassigned per branch")
    result = {"kind": kind.value, "period": period, "run_id": run_id, "batches": len(spans),
              **{k: totals[k] for k in ("created", "assigned", "unassigned", "continuity",
                                        "busy", "assigned_later")},
              "targeted": sum(r["targeted"] for r in rows),
              "still_open": sum(r["unassigned"] for r in rows)}
    log.info("%s %s (run %d): %d batches, %d tasks created, %d open without a volunteer",
             kind.value, period, run_id, len(spans), totals["created"], result["still_open"])
    common.event("campaign.planned", f"outreach.campaign-run.{run_id}", kind=kind.value,
                 period=period, created=totals["created"], still_open=result["still_open"])
    return result


@flow(name="survey", log_prints=False)
def survey(period: Period = "", branch: BranchName = "", today: Today = None,
           not_confirmed_within: SurveyWindow = WINDOWS[K.SURVEY][1],
           due_days: DueDays = DUE_DAYS.default, max_attempts: MaxAttempts = MAX_ATTEMPTS.default,
           batch_size: BatchSize = BATCH_SIZE.default, dry_run: DryRun = False) -> dict:
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
                not_reached_within: PhoneWindow = WINDOWS[K.PHONE_VISIT][1],
                due_days: DueDays = DUE_DAYS.default,
                max_attempts: MaxAttempts = MAX_ATTEMPTS.default,
                batch_size: BatchSize = BATCH_SIZE.default, dry_run: DryRun = False) -> dict:
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
             due_days: DueDays = DUE_DAYS.default,
             max_attempts: MaxAttempts = MAX_ATTEMPTS.default,
             batch_size: BatchSize = BATCH_SIZE.default, dry_run: DryRun = False) -> dict:
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
