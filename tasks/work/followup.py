"""The daily follow-up sweep's read-only counts: retries due, reminders, open tasks.

Transactions: these take a Session and only read; the caller owns the transaction. The
sweep's steps that move tasks and members (expire, fail, mark unreachable, release) own
their transactions and are in `tasks.work.followup_jobs`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.db.machines import TaskStatus
from outreach.db.models import OutreachTask, Volunteer


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
    return session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.status == TaskStatus.OPEN)) or 0

