"""The daily follow-up sweep's jobs, step by step.

Transactions: every function here takes an Engine and owns its transaction — one short
transaction per step, committed before the next — and is safe to run again (it only moves
what still needs moving); the flow wraps each in a Prefect task. The read-only counts of
the sweep (`retries_due`, `reminders`, …) take a Session and are in `tasks.work.followup`.

Every step takes ``today``, the day the sweep acts for. It acts on what happened, so it
may not be after the real today (plus a day for time zones): `tasks.kernel.rules.check_not_future`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, or_, select, update

from outreach.db.machines import OPEN_TASK, MemberStatus, TaskStatus, sources
from outreach.db.models import CampaignKind, Member, MemberStatusChange, OutreachTask, Volunteer
from outreach.db.session import session_scope
from outreach.db.state import move_task
from outreach.i18n import N_
from outreach.tasks.ledger.people import coordinator_for
from outreach.tasks.work.outcomes import escalate
from outreach.tasks.work.rules import UNREACHABLE_AFTER, attempts_exhausted, becomes_unreachable
from outreach.tasks.kernel.rules import check_not_future


def sweep_day(today: dt.date) -> dt.date:
    """The sweep's day, refused when it is in the future (`rules.check_not_future`)."""
    return check_not_future(today, N_("the follow-up date"))


def _close(engine: Engine, today: dt.date, to: TaskStatus, why: str, *where) -> int:
    """Move every task matching ``where`` to ``to`` by one UPDATE (the database's triggers
    write the history rows); one transaction. Returns how many moved."""
    sweep_day(today)
    with session_scope(engine) as s:
        res = s.execute(update(OutreachTask).where(*where)
                        .values(status=to, status_by=None,
                                status_reason=f"follow-up {today}: {why}",
                                next_attempt_on=None, version=OutreachTask.version + 1)
                        .execution_options(synchronize_session=False))
        return res.rowcount or 0


def fail_exhausted(engine: Engine, *, today: dt.date) -> int:
    """Assigned tasks whose attempts are used up become failed."""
    return _close(engine, today, TaskStatus.FAILED, "attempts exhausted",
                  OutreachTask.status == TaskStatus.ASSIGNED,
                  attempts_exhausted(OutreachTask.attempts, OutreachTask.max_attempts))


def expire_closed(engine: Engine, *, today: dt.date) -> int:
    """Open or assigned tasks whose window closed before today expire."""
    return _close(engine, today, TaskStatus.EXPIRED, "window closed",
                  OutreachTask.status.in_(list(sources("task", TaskStatus.EXPIRED))),
                  OutreachTask.closes_on < today)


def mark_unreachable(engine: Engine, *, today: dt.date) -> dict:
    """Members with N failed contacts in a row become unreachable; a coordinator of their
    branch gets an escalation task (call the family contact)."""
    sweep_day(today)
    with session_scope(engine) as s:
        ids = list(s.scalars(select(Member.id).where(
            becomes_unreachable(Member.failed_contacts, Member.status))))
        escalations = 0
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            s.execute(update(Member).where(Member.id.in_(part),
                                           Member.status.in_(list(sources(
                                               "member", MemberStatus.UNREACHABLE))))
                      .values(status=MemberStatus.UNREACHABLE, status_by=None,
                              status_reason=f"follow-up {today}: {UNREACHABLE_AFTER} failed "
                                            "contacts in a row",
                              version=Member.version + 1)
                      .execution_options(synchronize_session=False))
        # One escalation per unreachable spell: members made unreachable (by this sweep,
        # by a recorded outcome, or by an earlier sweep that crashed half-way) without an
        # escalation task created since they became unreachable get one.
        became = (select(func.max(MemberStatusChange.at))
                  .where(MemberStatusChange.member_id == Member.id,
                         MemberStatusChange.to_status == MemberStatus.UNREACHABLE.value)
                  .scalar_subquery())
        # An escalation still open from an earlier spell covers this one too (`escalate`
        # returns it instead of making a new one, which must not count again every day).
        has_escalation = select(OutreachTask.id).where(
            OutreachTask.member_id == Member.id, OutreachTask.kind == "escalation",
            or_(OutreachTask.created_at >= became,
                OutreachTask.status.in_(list(OPEN_TASK)))).exists()
        pending = list(s.scalars(select(Member).where(
            Member.status == MemberStatus.UNREACHABLE, ~has_escalation)))
        for member in pending:
            if escalate(s, member=member, today=today, actor_id=None):
                escalations += 1
        return {"unreachable": len(ids), "escalations": escalations}


def release_inactive(engine: Engine, *, today: dt.date) -> int:
    """Tasks held by volunteers who are no longer active go back to open.

    Planned tasks are then handed out by `tasks.campaigns.plan_jobs.assign_open`. Escalations are a
    coordinator's work, which `assign_open` never hands out: open ones (released here, or
    made when the branch had no coordinator) go to an active coordinator of the member's
    branch or the nearest branch above it.
    """
    sweep_day(today)
    with session_scope(engine) as s:
        inactive = select(Volunteer.id).where(Volunteer.active.is_(False))
        res = s.execute(update(OutreachTask).where(
            OutreachTask.status == TaskStatus.ASSIGNED,
            OutreachTask.volunteer_id.in_(inactive))
            .values(status=TaskStatus.OPEN, volunteer_id=None, status_by=None,
                    status_reason=f"follow-up {today}: volunteer inactive",
                    version=OutreachTask.version + 1)
            .execution_options(synchronize_session=False))
        released = res.rowcount or 0
        open_escalations = s.execute(
            select(OutreachTask, Member.branch_id)
            .join(Member, Member.id == OutreachTask.member_id)
            .where(OutreachTask.status == TaskStatus.OPEN,
                   OutreachTask.kind == CampaignKind.ESCALATION)
            .order_by(OutreachTask.id)).all()
        for task, branch_id in open_escalations:
            coord = coordinator_for(s, branch_id)
            if coord is None:
                break  # no active coordinator anywhere
            move_task(s, task, TaskStatus.ASSIGNED, actor_id=None,
                      reason=f"follow-up {today}: escalation to a coordinator",
                      volunteer_id=coord)
        return released
