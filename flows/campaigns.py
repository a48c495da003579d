"""Campaign flows: survey, phone visits, deliveries.

Each flow opens the campaign run of its period, plans and assigns it range by range (one
Prefect task per range of member ids — ids go in, counts come out, never rows), hands out
leftovers, and ends with a summary table per branch. A rerun of the same period creates
nothing new and finishes whatever a crashed run left.

Shards (PostgreSQL): a run is cut into shards independent for assignment (`tasks.campaigns.shards`:
regions of the branch tree with their volunteers), and each shard is its own flow run of
the ``campaign-shard`` deployment on the work pool, given the run's id, so that several
workers plan at once; the run waits for them, adds up their counts into its summary and
progress, then hands out leftovers as before. A failed or crashed shard fails the run;
the rerun plans what is left, as ever. Run outside a deployment (tests, `outreach
campaign run` without a stack) the shards are subflows here, one after another — the same
shard flow. SQLite keeps one run, one writer.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from outreach.db.models import CampaignKind
from outreach.db.session import session_scope
from outreach.flows import common
from outreach.i18n import _
from outreach.db.dialect import is_pg
from outreach.tasks.kernel import labels
from outreach.tasks.campaigns import plan, plan_jobs, shard_jobs
from outreach.tasks.campaigns.shards import (
    RANGES_PER_SHARD, Shard, add, plan_ranges, spans as shard_spans,
)
from outreach.tasks.campaigns.rules import BATCH_SIZE, DUE_DAYS, SHARDS, WINDOWS
from outreach.tasks.work.rules import MAX_ATTEMPTS
from outreach.tasks.kernel.rules import PERIOD_OR_EMPTY_PATTERN, check_period

K = CampaignKind

# Plain strings with an empty default, not Optional: the UI then shows one text box
# instead of a choice between "str" and "None" tabs.
# The fields' titles and help texts: `flows.common.field` (in the deploying language).
Period = Annotated[str, common.field(
    _("Period (YYYY-MM)"),
    _("The month this run covers, for example 2026-11. Empty: this month."),
    default="", pattern=PERIOD_OR_EMPTY_PATTERN)]
BranchName = Annotated[str, common.field(
    _("Branch"),
    _("Only members of this branch and the branches nested in it. Empty: every branch."),
    default="", max_length=120)]
BatchSize = Annotated[int, common.field(
    _("Members per batch"), _("How many member ids each planning step covers."),
    default=BATCH_SIZE.default, ge=BATCH_SIZE.low, le=BATCH_SIZE.high)]
Today = Annotated[Optional[dt.date], common.field(
    _("Planning date"),
    _("The day the run counts from (due dates, windows). Empty: today."), default=None)]
DryRun = Annotated[bool, common.field(
    _("Dry run"), _("Only count the tasks a run would make now; write nothing."),
    default=False)]

DueDays = Annotated[int, common.field(
    _("Due in (days)"), _("Each task is due this many days after planning."),
    default=DUE_DAYS.default, ge=DUE_DAYS.low, le=DUE_DAYS.high)]
# A dropdown of every allowed value: Literal built from the limits in `tasks.kernel.rules`.
MaxAttempts = Annotated[Literal[tuple(range(MAX_ATTEMPTS.low, MAX_ATTEMPTS.high + 1))],
                        common.field(_("Attempts"),
                                     _("Failed attempts before a task counts as failed."),
                                     default=MAX_ATTEMPTS.default)]
#: The targeting windows a coordinator picks from (`tasks.campaigns.rules.WINDOWS`), as dropdowns.
SurveyWindow = Annotated[Literal[WINDOWS[K.SURVEY][0]], common.field(
    _("Not confirmed within (days)"),
    _("Members whose details were not confirmed this recently."),
    default=WINDOWS[K.SURVEY][1])]
PhoneWindow = Annotated[Literal[WINDOWS[K.PHONE_VISIT][0]], common.field(
    _("Not reached within (days)"),
    _("Call members living away not reached this recently."),
    default=WINDOWS[K.PHONE_VISIT][1])]
ShardCount = Annotated[int, common.field(
    _("Shards (PostgreSQL)"),
    _("Parts of the run planned at the same time, each its own flow run on the work pool. "
      "0: one per online worker. SQLite: always one."),
    default=SHARDS.default, ge=SHARDS.low, le=SHARDS.high)]
Material = Annotated[str, common.field(
    _("Study material"), _("What to bring this period, e.g. 'November newsletter'."),
    min_length=1, max_length=200)]
#: What the monthly delivery brings unless the form says otherwise (prefect.yaml's too).
DEFAULT_MATERIAL = _("Monthly study materials")


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
               rule: Rule, shard: Shard | None = None) -> dict:
    return plan_jobs.plan_range(common.engine(), run_id, lo, hi, today=today,
                                branch_id=branch_id, within_days=rule.within_days,
                                due_days=rule.due_days, max_attempts=rule.max_attempts,
                                shard=shard)


@task(cache_policy=NO_CACHE)
def split(count: int, branch_id: int | None) -> list[Shard]:
    return shard_jobs.split(common.engine(), count=count, branch_id=branch_id)


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
    from outreach.db.errors import NotFound
    from outreach.tasks.ledger.people import get_branch

    with session_scope(common.engine(), write=False) as s:
        br = get_branch(s, name=name)
        if br is None:
            raise NotFound(_("no branch named {name!r}").format(name=name))
        return br.id


# --- shards -------------------------------------------------------------------------------

#: The deployment (flow name/deployment name in prefect.yaml) that runs one shard.
SHARD_DEPLOYMENT = "campaign-shard/campaign-shard"
#: Seconds between two looks at the shards' flow runs.
SHARD_POLL_S = 2.0


class ShardFailed(RuntimeError):
    """A shard's flow run did not complete; the run's rerun finishes what is left."""


def _this_run():
    ctx = FlowRunContext.get()
    return ctx.flow_run if ctx is not None else None


def _online_workers(pool: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus

    with get_client(sync_client=True) as client:
        return len(client.read_workers_for_work_pool(pool, worker_filter=WorkerFilter(
            status=WorkerFilterStatus(any_=["ONLINE"]))))


def shard_count(requested: int, ranges: int) -> int:
    """How many shards to cut a run into: one on SQLite; ``requested`` if not 0; else, when
    a deployment runs the flow, one per online worker of its pool but at most one per
    `RANGES_PER_SHARD` ranges of members (a small run is not worth a flow run per
    shard); else one."""
    if not is_pg(common.engine()):
        return 1
    if requested:
        return requested
    run = _this_run()
    if run is None or run.deployment_id is None or not run.work_pool_name:
        return 1
    return max(1, min(_online_workers(run.work_pool_name), ranges // RANGES_PER_SHARD))


def _on_the_pool(each: list[dict], slug: str, progress: common.Progress) -> list[dict] | None:
    """Run every shard as a flow run of `SHARD_DEPLOYMENT` on the work pool, all at once,
    wait for them and return their results in order; None when this run is not a
    deployment's (or the shard deployment is missing): then they run here."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    run = _this_run()
    if run is None or run.deployment_id is None:
        return None
    # One key per attempt of this run: a retry of the same flow run (Prefect's "Retry",
    # flow retries) starts fresh shards instead of finding the failed ones again.
    attempt = getattr(run, "run_count", 0) or 0
    try:
        started = [run_deployment(
            SHARD_DEPLOYMENT, timeout=0,
            idempotency_key=f"{run.id}-{attempt}-shard-{p['shard']}",
            flow_run_name=f"{slug}-shard-{p['shard']}-of-{p['of']}",
            parameters={k: v.isoformat() if isinstance(v, dt.date) else v
                        for k, v in p.items()}) for p in each]
    except ObjectNotFound:
        get_run_logger().warning(_("no {name} deployment: the shards run in this flow run")
                                 .format(name=SHARD_DEPLOYMENT))
        return None
    done: dict[int, object] = {}
    with get_client(sync_client=True) as client:
        while len(done) < len(started):
            time.sleep(SHARD_POLL_S)
            for i, fr in enumerate(started):
                if i in done:
                    continue
                fr = client.read_flow_run(fr.id)
                if fr.state is not None and fr.state.is_final():
                    done[i] = fr
                    progress.step(progress.total // len(started))
    failed = [(i + 1, done[i].state.name) for i in sorted(done)
              if not done[i].state.is_completed()]
    if failed:
        raise ShardFailed(_("{n} of {of} shards did not complete (shard {first}: {state}); "
                            "run the campaign again: it plans what is left")
                          .format(n=len(failed), of=len(started), first=failed[0][0],
                                  state=failed[0][1]))
    with get_client(sync_client=True) as client:
        return [shard_counts(client, done[i].id, p["run_id"], p["shard"])
                for i, p in enumerate(each)]


def counts_key(run_id: int, shard: int) -> str:
    """The key of the table artifact in which a shard leaves its counts for the run."""
    return common.key("run", run_id, "shard", shard, "counts")


def shard_counts(client, flow_run_id, run_id: int, shard: int) -> dict:
    """What a completed shard flow run counted, read from the artifact it left
    (`counts_key`) through the Prefect server. Not from the shard's saved result: a result
    is a file on the disk of the machine the shard ran on, which the run, on another
    machine, cannot read."""
    import json

    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[counts_key(run_id, shard)])),
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    if not found:
        raise ShardFailed(_("shard {shard} completed but left no counts; run the campaign "
                            "again: it plans what is left").format(shard=shard))
    return json.loads(found[-1].data)[0]


def run_shards(found: list[Shard], *, run_id: int, spans: list[tuple[int, int]],
               slug: str, title: str, today: dt.date, branch_id: int | None,
               batch_size: int, rule: Rule) -> dict:
    """Plan the run's ``found`` shards — on the work pool, or here one after another —
    and return their summed counts; a table artifact lists each shard's."""
    n = len(found)
    progress = common.Progress(f"{slug}-progress", len(spans) * n,
                               _("{what}: member batches planned in {n} shards")
                               .format(what=title, n=n))
    base = {"run_id": run_id, "today": today, "first_id": spans[0][0],
            "stop_id": spans[-1][1], "batch_size": batch_size, "branch_id": branch_id,
            "within_days": rule.within_days, "due_days": rule.due_days,
            "max_attempts": rule.max_attempts, "slug": slug, "of": n}
    each = [{**base, "shard": i, "regions": list(s.regions), "alone": list(s.alone)}
            for i, s in enumerate(found, 1)]
    results = _on_the_pool(each, slug, progress)
    if results is None:  # not a deployment's run: the same shard flow, here, in turn
        results = []
        for p in each:
            results.append(campaign_shard(**p))
            progress.step(len(spans))
    common.table([{"shard": i, "branches": len(s.regions) + len(s.alone),
                   "members": s.members, **{k: r.get(k, 0) for k in (
                       "targeted", "created", "assigned", "unassigned")}}
                  for i, (s, r) in enumerate(zip(found, results), 1)],
                 f"{slug}-shards", _("{what}: what each shard planned").format(what=title))
    totals: dict = {}
    for r in results:
        add(totals, r)
    return totals


# No saved result: the run reads a shard's counts from its artifact (`shard_counts`), and
# a result file would only pile up on the disk of the shard's machine.
@flow(name="campaign-shard", log_prints=False, persist_result=False)
def campaign_shard(run_id: int, regions: list[int], alone: Optional[list[int]] = None,
                   today: Today = None, first_id: int = 0, stop_id: int = 0,
                   batch_size: BatchSize = BATCH_SIZE.default, branch_id: Optional[int] = None,
                   within_days: Optional[int] = None, due_days: DueDays = DUE_DAYS.default,
                   max_attempts: MaxAttempts = MAX_ATTEMPTS.default, slug: str = "",
                   shard: int = 1, of: int = 1) -> dict:
    """One shard of a campaign run; the survey, phone-visit or delivery run starts it with
    its own settings (not meant to be started by hand). Counts only.

    Args:
        run_id: The campaign run this shard belongs to.
        regions: Branches planned with everything nested in them.
        alone: Branches planned for their own members only.
        today: The run's planning date.
        first_id: The lowest member id of the run's ranges.
        stop_id: One past the highest member id of the run's ranges.
        batch_size: Member ids per planning step (the run's).
        branch_id: Only members under this branch (the run's branch), if set.
        within_days: The run's window or cadence, if it overrides the campaign's.
        due_days: Each task is due this many days after planning.
        max_attempts: Failed attempts before a task counts as failed.
        slug: The run's artifact key.
        shard: This shard's number.
        of: How many shards the run has.
    """
    log = get_run_logger()
    today = common.day(today)
    part = Shard(tuple(regions), tuple(alone or ()))
    ranges = shard_spans(first_id, stop_id, batch_size)
    rule = Rule(within_days, due_days, max_attempts)
    progress = common.Progress(common.key(slug or f"run-{run_id}", "shard", shard, "progress"),
                               len(ranges), _("run {run}, shard {shard} of {of}: member "
                                              "batches planned")
                               .format(run=run_id, shard=shard, of=of))
    totals = plan_ranges(ranges, lambda lo, hi: plan_range(run_id, lo, hi, today, branch_id,
                                                           rule, part), step=progress.step)
    log.info(_("run {run}, shard {shard} of {of}: {created} tasks created, {open} open")
             .format(run=run_id, shard=shard, of=of, created=totals.get("created", 0),
                     open=totals.get("unassigned", 0)))
    counts = {"shard": shard, "of": of, **totals}
    # For the run that started this shard (`shard_counts`): codes and numbers, not shown.
    create_table_artifact([counts], key=counts_key(run_id, shard),
                          description=_("run {run}, shard {shard} of {of}: its counts, for "
                                        "the run").format(run=run_id, shard=shard, of=of))
    return counts


# --- the campaign flows ---------------------------------------------------------------------


def run_campaign(kind: CampaignKind, *, period: str | None, branch: str | None,
                 material: str | None, today: dt.date | None, batch_size: int,
                 dry_run: bool, rule: Rule, shards: int = 0) -> dict:
    """The body every campaign flow shares."""
    log = get_run_logger()
    today = common.day(today)
    period = check_period(period or f"{today:%Y-%m}")
    what = labels.label(kind.value, of="task_kind")  # for people; the key keeps the code
    branch_id = branch_id_of(branch)
    slug = common.key(kind.value, period, branch)
    if dry_run:
        rows = preview(kind.value, period, today, branch_id, rule.within_days)
        common.table(rows, f"{slug}-preview",
                     _("Dry run of {kind} {period}: who would be targeted per branch")
                     .format(kind=what, period=period))
        total = sum(r["targeted"] for r in rows)
        log.info(_("dry run of {kind} {period}: {n} members would get a task")
                 .format(kind=what, period=period, n=total))
        return {"kind": kind.value, "period": period, "dry_run": True, "targeted": total,
                "busy": sum(r["busy"] for r in rows),
                "planned": sum(r["planned"] for r in rows)}
    run_id = open_run(kind.value, period, material)
    spans = ranges(batch_size)
    count = shard_count(shards, len(spans)) if spans else 1
    found = split(count, branch_id) if count > 1 else []
    if len(found) > 1:  # PostgreSQL: the shards at once, then leftovers as below
        totals = run_shards(found, run_id=run_id, spans=spans, slug=slug,
                            title=f"{what} {period}", today=today, branch_id=branch_id,
                            batch_size=batch_size, rule=rule)
        totals["assigned_later"] = assign_leftovers(run_id).get("assigned", 0)
    else:
        progress = common.Progress(f"{slug}-progress", len(spans),
                                   _("{kind} {period}: member batches planned")
                                   .format(kind=what, period=period))
        # The same body as `tasks.campaigns.plan_jobs.plan_campaign`, with a Prefect task per range.
        totals = plan_jobs.plan_and_assign(
            spans, lambda lo, hi: plan_range(run_id, lo, hi, today, branch_id, rule),
            lambda: assign_leftovers(run_id), step=progress.step)
    rows = run_summary(run_id)
    common.table(rows, f"{slug}-summary",
                 _("{kind} {period}: targeted, assigned and unassigned per branch")
                 .format(kind=what, period=period))
    result = {"kind": kind.value, "period": period, "run_id": run_id, "batches": len(spans),
              "shards": max(1, len(found)),
              **{k: totals[k] for k in ("created", "assigned", "unassigned", "continuity",
                                        "busy", "assigned_later")},
              "targeted": sum(r["targeted"] for r in rows),
              "still_open": sum(r["unassigned"] for r in rows)}
    log.info(_("{kind} {period} (run {run}): {batches} batches, {created} tasks created, "
               "{open} open without a volunteer")
             .format(kind=what, period=period, run=run_id, batches=len(spans),
                     created=totals["created"], open=result["still_open"]))
    common.event("campaign.planned", f"outreach.campaign-run.{run_id}", kind=kind.value,
                 period=period, created=totals["created"], still_open=result["still_open"])
    return result


@flow(name="survey", log_prints=False)
def survey(period: Period = "", branch: BranchName = "", today: Today = None,
           not_confirmed_within: SurveyWindow = WINDOWS[K.SURVEY][1],
           due_days: DueDays = DUE_DAYS.default, max_attempts: MaxAttempts = MAX_ATTEMPTS.default,
           batch_size: BatchSize = BATCH_SIZE.default, dry_run: DryRun = False,
           shards: ShardCount = SHARDS.default) -> dict:
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
        shards: PostgreSQL: parts planned at once, each its own flow run on the work
            pool; 0 means one per online worker.
    """
    return run_campaign(CampaignKind.SURVEY, period=period, branch=branch, material=None,
                        today=today, batch_size=batch_size, dry_run=dry_run, shards=shards,
                        rule=Rule(not_confirmed_within, due_days, max_attempts))


@flow(name="phone-visit", log_prints=False)
def phone_visit(period: Period = "", branch: BranchName = "", today: Today = None,
                not_reached_within: PhoneWindow = WINDOWS[K.PHONE_VISIT][1],
                due_days: DueDays = DUE_DAYS.default,
                max_attempts: MaxAttempts = MAX_ATTEMPTS.default,
                batch_size: BatchSize = BATCH_SIZE.default, dry_run: DryRun = False,
                shards: ShardCount = SHARDS.default) -> dict:
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
        shards: PostgreSQL: parts planned at once, each its own flow run on the work
            pool; 0 means one per online worker.
    """
    return run_campaign(CampaignKind.PHONE_VISIT, period=period, branch=branch, material=None,
                        today=today, batch_size=batch_size, dry_run=dry_run, shards=shards,
                        rule=Rule(not_reached_within, due_days, max_attempts))


@flow(name="delivery", log_prints=False)
def delivery(material: Material = DEFAULT_MATERIAL,
             period: Period = "", branch: BranchName = "", today: Today = None,
             due_days: DueDays = DUE_DAYS.default,
             max_attempts: MaxAttempts = MAX_ATTEMPTS.default,
             batch_size: BatchSize = BATCH_SIZE.default, dry_run: DryRun = False,
             shards: ShardCount = SHARDS.default) -> dict:
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
        shards: PostgreSQL: parts planned at once, each its own flow run on the work
            pool; 0 means one per online worker.
    """
    return run_campaign(CampaignKind.DELIVERY, period=period, branch=branch, material=material,
                        today=today, batch_size=batch_size, dry_run=dry_run, shards=shards,
                        rule=Rule(None, due_days, max_attempts))


FLOWS = {"survey": survey, "phone_visit": phone_visit, "delivery": delivery}
