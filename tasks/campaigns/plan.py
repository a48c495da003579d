"""Planning a campaign run: who gets a task this period, and which volunteer does it.

The rules of planning, as Session functions and pure Python; the set-based jobs that run
them over a whole ledger (`plan_range`, `assign_open`, `plan_campaign`, `preview`) are in
`tasks.campaigns.plan_jobs`.

Transactions: the functions here take a Session and flush, or take plain values; the
caller commits.

Targeting (members in `CONTACTABLE_MEMBER` only: never deceased, moved out or
do-not-contact; optionally only one branch and every branch nested under it):

* survey — not confirmed within the campaign's ``window_days``;
* phone_visit — living away, not reached within ``cadence_days``;
* delivery — homebound and living locally (away members get phone visits instead);
* every kind skips a member who already has an open or assigned task of the same kind
  in another run, and a member who already has a task in this run (idempotent rerun).

The assignment rule (`match`: continuity, then the least-loaded volunteer with room of the
member's branch, then up the tree) is the task engine's, in `tasks.work.assign`: only
active volunteers with role ``volunteer`` take planned tasks (coordinators keep their
capacity for escalations); what finds no room stays ``open`` and is counted;
`assign_open` hands it out later, by the same rule.

A task closes (expires) at the end of its period's month, but never sooner than two due
windows after planning: ``closes_on = max(last day of period, today + 2 × due_days)``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, case, func, select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, NotFound
from outreach.i18n import _
from outreach.db.models import Branch, Campaign, CampaignKind, CampaignRun, Member, OutreachTask
from outreach.db.state import first_or_add
from outreach.tasks.campaigns import rules as campaign_rules
from outreach.tasks.work import rules as work_rules
from outreach.tasks.campaigns.rules import BATCH_SIZE  # noqa: F401  (re-exported)
from outreach.tasks.kernel.rules import check_period, period_end
from outreach.tasks.work.assign import ASSIGNED, CONTACTABLE_SQL, OPEN
from outreach.tasks.work.engine import PLANNED_KINDS, check_kind, ensure_campaign

#: Members per range (one Prefect task each in the flows): `tasks.campaigns.rules.BATCH_SIZE`'s default.
DEFAULT_BATCH = BATCH_SIZE.default


# --- campaign and run -------------------------------------------------------------------


def check_planned(kind: CampaignKind | str) -> CampaignKind:
    """``kind`` if a campaign plans it (escalations are made by follow-up)."""
    kind = check_kind(kind)
    if kind not in PLANNED_KINDS:
        raise BadInput(_("{kind} tasks are made by follow-up, not planned by a campaign")
                       .format(kind=kind.value))
    return kind


def open_run(session: Session, kind: CampaignKind | str, period: str, *,
             material: str | None = None) -> CampaignRun:
    """The run of ``kind`` for ``period`` (YYYY-MM), created if missing (flushes only)."""
    period = check_period(period)
    kind = check_planned(kind)
    campaign = ensure_campaign(session, kind)
    query = select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                      CampaignRun.period == period)
    run = first_or_add(session, query, lambda: CampaignRun(
        campaign_id=campaign.id, period=period, material=material))
    if material and not run.material:
        run.material = material
        session.flush()
    return run


def settings(due_days: int, max_attempts: int) -> tuple[int, int]:
    """A run's due days and attempts, checked against `tasks.campaigns.rules.DUE_DAYS` / `MAX_ATTEMPTS`."""
    return campaign_rules.DUE_DAYS.check(due_days), work_rules.MAX_ATTEMPTS.check(max_attempts)


def closes_on(period: str, today: dt.date, due_days: int) -> dt.date:
    """When a task of this run expires: end of the period, at least two due windows away."""
    return max(period_end(period), today + dt.timedelta(days=2 * due_days))


# --- targeting ----------------------------------------------------------------------------


def target_sql(kind: CampaignKind, branches: list[int] | None) -> str:
    """The WHERE clause of the targeting rule for ``kind`` (members aliased ``m``;
    parameters ``:lo``, ``:hi`` and ``:since`` or ``:yes``)."""
    rule = {
        CampaignKind.SURVEY: "(m.confirmed_on IS NULL OR m.confirmed_on < :since)",
        CampaignKind.PHONE_VISIT: "m.residence = 'away' AND "
                                  "(m.last_reached_on IS NULL OR m.last_reached_on < :since)",
        CampaignKind.DELIVERY: "m.homebound = :yes AND m.residence = 'local'",
    }[kind]
    where = f"m.id >= :lo AND m.id < :hi AND m.status IN ({CONTACTABLE_SQL}) AND {rule}"
    if branches is not None:  # none at all: a shard with nothing under the branch asked
        where += (f" AND m.branch_id IN ({', '.join(str(int(b)) for b in sorted(branches))})"
                  if branches else " AND 1 = 0")
    return where


#: state of a targeted member: to plan now, already has a task in this run, busy elsewhere.
TO_PLAN, IN_RUN, BUSY = 0, 1, 2


def state_sql() -> str:
    """The state column (`TO_PLAN`, `IN_RUN`, `BUSY`) of a targeted member ``m`` for run
    ``:run`` of kind ``:kind``: the same expression for planning and for the dry run."""
    return f"""COALESCE((SELECT MIN(CASE WHEN t.run_id = :run THEN {IN_RUN} ELSE {BUSY} END)
                     FROM outreach_tasks t
                     WHERE t.member_id = m.id AND (t.run_id = :run OR
                           (t.kind = :kind AND t.status IN ('{OPEN}', '{ASSIGNED}')))),
                    {TO_PLAN})"""


def target_params(kind: CampaignKind, today: dt.date, window_days: int,
                  cadence_days: int) -> dict:
    """The ``:since`` / ``:yes`` parameters of `target_sql` for ``kind`` as of ``today``."""
    if kind is CampaignKind.SURVEY:
        return {"since": today - dt.timedelta(days=window_days)}
    if kind is CampaignKind.PHONE_VISIT:
        return {"since": today - dt.timedelta(days=cadence_days)}
    return {"yes": True}


def run_and_campaign(conn: Connection | Session, run_id: int):
    """(period, kind, window_days, cadence_days, max_attempts, due_days) of a run."""
    c, r = Campaign, CampaignRun
    row = conn.execute(
        select(r.period, c.kind, c.window_days, c.cadence_days, c.max_attempts, c.due_days)
        .join(c, c.id == r.campaign_id).where(r.id == run_id)).first()
    if row is None:
        raise NotFound(_("no campaign run {id}").format(id=run_id))
    return row


# --- reporting ----------------------------------------------------------------------------


def summary(session: Session | Connection, run_id: int) -> list[dict]:
    """Per branch of the run's tasks: targeted, assigned (has a volunteer), unassigned (open).

    Ids, branch names and counts only — never a phone number or an address.
    """
    t, m, b = OutreachTask, Member, Branch
    rows = session.execute(
        select(b.id, b.name, func.count(t.id),
               func.count(t.volunteer_id),
               func.sum(case((t.status == OPEN, 1), else_=0)))
        .select_from(t).join(m, m.id == t.member_id).join(b, b.id == m.branch_id)
        .where(t.run_id == run_id).group_by(b.id, b.name).order_by(b.name)).all()
    return [{"branch_id": bid, "branch": name, "targeted": n, "assigned": a,
             "unassigned": int(o or 0)} for bid, name, n, a, o in rows]
