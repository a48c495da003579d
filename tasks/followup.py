"""The daily follow-up sweep, step by step. Each step is one short transaction and is safe
to run again (it only moves what still needs moving); the flow wraps each in a Prefect task.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.orm import Session

from db.machines import OPEN_TASK, MemberStatus, TaskStatus, sources
from db.models import CampaignKind, Member, MemberStatusChange, OutreachTask, Volunteer
from db.session import session_scope
from db.state import move_task
from tasks.outcomes import UNREACHABLE_AFTER, coordinator_for, escalate


def fail_exhausted(engine: Engine, *, today: dt.date) -> int:
    """Assigned tasks whose attempts are used up become failed."""
    with session_scope(engine) as s:
        res = s.execute(update(OutreachTask).where(
            OutreachTask.status == TaskStatus.ASSIGNED,
            OutreachTask.attempts >= OutreachTask.max_attempts)
            .values(status=TaskStatus.FAILED, status_by=None,
                    status_reason=f"follow-up {today}: attempts exhausted",
                    next_attempt_on=None, version=OutreachTask.version + 1)
            .execution_options(synchronize_session=False))
        return res.rowcount or 0


def expire_closed(engine: Engine, *, today: dt.date) -> int:
    """Open or assigned tasks whose window closed before today expire."""
    with session_scope(engine) as s:
        res = s.execute(update(OutreachTask).where(
            OutreachTask.status.in_(list(sources("task", TaskStatus.EXPIRED))),
            OutreachTask.closes_on < today)
            .values(status=TaskStatus.EXPIRED, status_by=None,
                    status_reason=f"follow-up {today}: window closed",
                    next_attempt_on=None, version=OutreachTask.version + 1)
            .execution_options(synchronize_session=False))
        return res.rowcount or 0


def mark_unreachable(engine: Engine, *, today: dt.date) -> dict:
    """Members with N failed contacts in a row become unreachable; a coordinator of their
    branch gets an escalation task (call the family contact)."""
    with session_scope(engine) as s:
        ids = list(s.scalars(select(Member.id).where(
            Member.failed_contacts >= UNREACHABLE_AFTER,
            Member.status.in_([MemberStatus.UNVERIFIED, MemberStatus.ACTIVE]))))
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

    Planned tasks are then handed out by `tasks.plan.assign_open`. Escalations are a
    coordinator's work, which `assign_open` never hands out: open ones (released here, or
    made when the branch had no coordinator) go to an active coordinator of the member's
    branch or the nearest branch above it.
    """
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


def retries_due(session: Session, *, today: dt.date) -> int:
    """Assigned tasks whose next attempt is due (they are back on the volunteer's list)."""
    return session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.status == TaskStatus.ASSIGNED, OutreachTask.next_attempt_on <= today)) or 0


def reminders(session: Session, *, today: dt.date) -> list[dict]:
    """Overdue tasks per volunteer: ids and counts only (safe for artifacts)."""
    stmt = (select(OutreachTask.volunteer_id, Volunteer.name, func.count(),
                   func.min(OutreachTask.due_on))
            .join(Volunteer, Volunteer.id == OutreachTask.volunteer_id)
            .where(OutreachTask.status == TaskStatus.ASSIGNED, OutreachTask.due_on < today)
            .group_by(OutreachTask.volunteer_id, Volunteer.name)
            .order_by(func.count().desc(), OutreachTask.volunteer_id))
    return [{"volunteer_id": r[0], "volunteer": r[1], "overdue": r[2],
             "oldest_due": r[3].isoformat(), "days_late": (today - r[3]).days}
            for r in session.execute(stmt)]


def open_unassigned(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutreachTask).where(and_(
        OutreachTask.status == TaskStatus.OPEN))) or 0

