"""Moving a member, a task, a meeting, an attendance or a care occasion from one state to
the next: the one place that does it (and a member's role in a branch, with its history).

`move_member`, `move_task`, `move_meeting`, `move_attendance` and `move_care` check the transition
table and refuse anything else with a clear message; the database's triggers then check the same pair again and write the
history row in the same transaction (see `db.guards`). Set-based moves in flows use
`machines.sources()` in their WHERE clause and rely on the same triggers.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, TypeVar

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outreach.db.errors import Conflict, Refused
from outreach.i18n import N_, _
from outreach.db.machines import (
    MEMBER_COORDINATOR_ONLY,
    MISSED,
    AttendanceStatus,
    MeetingStatus,
    allowed,
    describe,
)
from outreach.db.models import (
    Attendance,
    BranchRole,
    CareOccasion,
    Meeting,
    Member,
    MemberChange,
    OutreachTask,
)

Row = TypeVar("Row")


def first_or_add(session: Session, query: Select, make: Callable[[], Row]) -> Row:
    """The row ``query`` finds, or a new one from ``make()`` if there is none.

    Two transactions can both find nothing (PostgreSQL, READ COMMITTED: two volunteers'
    first escalations of a day, two reruns of one period); the second INSERT then waits
    for the first and fails on the unique key. The INSERT runs in a savepoint, so the
    loser reads the winner's committed row instead of failing the whole command.
    """
    found = session.scalars(query).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
    except IntegrityError:
        return session.scalars(query).one()
    return row


def _why_not(machine: str, what: str, current: str, to: str) -> str:
    nexts = [line for line in describe(machine).splitlines() if line.startswith(f"{current} →")]
    hint = nexts[0].split("→", 1)[1].strip() if nexts else "(final)"
    if hint == "(final)":
        hint = _("(final)")
    return _("{what} is {current}; it cannot become {to} (from {current}: {hint})").format(
        what=what, current=current, to=to, hint=hint)


#: How a row of each machine is named in messages ("care occasion 12 is due; …").
_NAMES = {"member": N_("member {id}"), "task": N_("task {id}"), "meeting": N_("meeting {id}"),
          "attendance": N_("attendance {id}"), "care": N_("care occasion {id}")}


def _check(machine: str, row, to: str) -> tuple[str, str]:
    """``row``'s current status and its name in messages; refuses a move the machine's
    table does not allow."""
    current, what = str(row.status), _(_NAMES[machine]).format(id=row.id)
    if not allowed(machine, current, to):
        raise Refused(_why_not(machine, what, current, to))
    return current, what


def changed_meanwhile(what: str) -> Conflict:
    """The refusal for a row whose version moved since this session read it."""
    return Conflict(_("{what} was changed by someone else just now; nothing was written, "
                      "look again and retry").format(what=what))


def flush(session: Session, what: str) -> None:
    """Flush, turning the database's refusals and lost races into domain errors.

    It does not roll back: the transaction's owner (``session.begin()`` or a savepoint's
    ``begin_nested()``) does that when the error passes through it.
    """
    try:
        session.flush()
    except StaleDataError as exc:
        raise changed_meanwhile(what) from exc
    except IntegrityError as exc:
        raise Refused(_("{what}: the database refused the change ({why})").format(
            what=what, why=str(exc.orig).splitlines()[0])) from exc


def _write(session: Session, row, to: str, *, actor_id: int | None, reason: str,
           what: str) -> None:
    """Set a checked move's new status, who and why (the trigger copies them into the
    history row), and flush it."""
    row.status = to
    row.status_by = actor_id
    row.status_reason = reason
    flush(session, what)


def move_member(session: Session, member: Member, to: str, *, actor_id: int | None,
                reason: str, coordinator: bool = False) -> None:
    """Move a member's lifecycle to ``to``; refuses illegal and coordinator-only moves."""
    current, what = _check("member", member, to)
    if (current, to) in MEMBER_COORDINATOR_ONLY and not coordinator:
        raise Refused(_("{what}: {current} → {to} needs a coordinator").format(
            what=what, current=current, to=to))
    _write(session, member, to, actor_id=actor_id, reason=reason, what=what)


def move_task(session: Session, task: OutreachTask, to: str, *, actor_id: int | None,
              reason: str, volunteer_id: int | None = ...) -> None:
    """Move a task to ``to`` (and optionally to another volunteer); refuses illegal moves."""
    _current, what = _check("task", task, to)
    if volunteer_id is not ...:
        task.volunteer_id = volunteer_id
    _write(session, task, to, actor_id=actor_id, reason=reason, what=what)


def move_meeting(session: Session, meeting: Meeting, to: str, *, actor_id: int | None,
                 reason: str, planned_on: dt.date | None = None,
                 held_on: dt.date | None = None) -> None:
    """Move a meeting to ``to``; ``planned → planned`` with another ``planned_on`` moves it
    to that date (a row of history). Held needs the day it was held."""
    _current, what = _check("meeting", meeting, to)
    if to == MeetingStatus.PLANNED and planned_on in (None, meeting.planned_on):
        raise Refused(_("{what} is planned for {day}; give another date to move it").format(
            what=what, day=meeting.planned_on))
    if to == MeetingStatus.HELD and held_on is None and meeting.held_on is None:
        raise Refused(_("{what}: give the day it was held").format(what=what))
    if planned_on is not None:
        meeting.planned_on = planned_on
    if held_on is not None:
        meeting.held_on = held_on
    _write(session, meeting, to, actor_id=actor_id, reason=reason, what=what)


def move_attendance(session: Session, attendance: Attendance, to: str, *,
                    actor_id: int | None, reason: str, note: str | None = ...,
                    made_up_on: dt.date | None = None, made_up_how: str | None = None,
                    meeting: Meeting | None = None) -> None:
    """Mark (or correct) one member's attendance, or record their make-up study.

    ``note`` replaces the attendance's own reason (why excused); ``made_up`` needs
    ``made_up_on`` and ``made_up_how``. The meeting's status limits the moves (see
    `db.machines.ATTENDANCE_TRANSITIONS`): none on a cancelled meeting, only the make-up
    study once it is closed. ``meeting`` saves a look-up when the caller has it."""
    current, what = _check("attendance", attendance, to)
    meeting = meeting or session.get(Meeting, attendance.meeting_id)
    if meeting.status == MeetingStatus.CANCELLED:
        raise Refused(_("{what}: meeting {id} was cancelled; its attendance stays as it "
                        "is").format(what=what, id=meeting.id))
    if meeting.status == MeetingStatus.CLOSED and not (
            current in MISSED and to == AttendanceStatus.MADE_UP):
        raise Refused(_("{what}: meeting {id} is closed; only a make-up study of an "
                        "excused or absent member can still be recorded").format(
                            what=what, id=meeting.id))
    if to == AttendanceStatus.MADE_UP and (made_up_on is None or made_up_how is None):
        raise Refused(_("{what}: a make-up study needs when and how (visit, phone, "
                        "materials)").format(what=what))
    if note is not ...:
        attendance.reason = note
    if to == AttendanceStatus.MADE_UP:
        attendance.made_up_on = made_up_on
        attendance.made_up_how = made_up_how
    _write(session, attendance, to, actor_id=actor_id, reason=reason, what=what)


def move_care(session: Session, occasion: CareOccasion, to: str, *, actor_id: int | None,
              reason: str, task_id: int | None = ...) -> None:
    """Move a care occasion to ``to`` (visited, missed, cancelled); refuses illegal moves.
    ``task_id``: the care visit task that visited it, when the caller has it."""
    _current, what = _check("care", occasion, to)
    if task_id is not ...:
        occasion.task_id = task_id
    _write(session, occasion, to, actor_id=actor_id, reason=reason, what=what)


# --- a member's changes: one writer ------------------------------------------------------------
# Every change to a member's record is written here, whoever makes it (an outcome, a ledger
# import, a role, a hardship): the field set and one ``member_changes`` row (who, why, old,
# new), the values as text one way (`change_text`).


def change_text(value) -> str | None:
    """A value as ``member_changes`` keeps it: None stays None, a bool is ``yes`` / ``no``,
    anything else its text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def member_change(member_id: int, field: str, old, new, *, actor_id: int | None,
                  reason: str | None) -> dict:
    """The values of one ``member_changes`` row (old and new as `change_text`)."""
    return dict(member_id=member_id, field=field, old_value=change_text(old),
                new_value=change_text(new), actor_id=actor_id, reason=reason)


def note_member_change(session: Session, member_id: int, field: str, old, new, *,
                       actor_id: int | None, reason: str | None) -> None:
    """One ``member_changes`` row for a change not held in one of the member's columns (a
    role, a hardship, a branch by name)."""
    session.add(MemberChange(**member_change(member_id, field, old, new, actor_id=actor_id,
                                             reason=reason)))


def set_member_fields(session: Session, member: Member, values: dict, *,
                      actor_id: int | None, reason: str | None,
                      changes: list[dict] | None = None) -> list[str]:
    """Set ``values`` (field → value) on ``member``; every field whose value changes gets a
    ``member_changes`` row — added to the session, or, in the bulk form (a ledger import),
    appended to ``changes`` for ONE insert (`insert_member_changes`). Returns the fields
    that changed (flushes nothing)."""
    changed = []
    for field, value in values.items():
        old = getattr(member, field)
        if old == value:
            continue
        row = member_change(member.id, field, old, value, actor_id=actor_id, reason=reason)
        setattr(member, field, value)
        if changes is None:
            session.add(MemberChange(**row))
        else:
            changes.append(row)
        changed.append(field)
    return changed


def insert_member_changes(session: Session, changes: list[dict]) -> int:
    """The bulk form: ``changes`` (`member_change` rows) in one INSERT; returns how many."""
    if changes:
        # render_nulls: one executemany, not one INSERT per pattern of empty values
        session.execute(insert(MemberChange).execution_options(render_nulls=True), changes)
    return len(changes)


#: The ``member_changes.field`` of a change of role; values are ``"<branch id>:<role>"``.
ROLE_FIELD = "branch_role"


def set_branch_role(session: Session, member: Member, branch_id: int, role: str | None, *,
                    actor_id: int | None, reason: str | None, today: dt.date) -> bool:
    """Give ``member`` the role ``role`` in a branch (None: no role), writing the change to
    ``member_changes``; False when the member already had exactly that role."""
    held = session.scalars(select(BranchRole).where(BranchRole.branch_id == branch_id,
                                                    BranchRole.member_id == member.id)).first()
    old = str(held.role) if held else None
    if old == (str(role) if role else None):
        return False
    if role is None:
        session.delete(held)
    elif held is None:
        session.add(BranchRole(member_id=member.id, branch_id=branch_id, role=role, since=today))
    else:
        held.role, held.since = role, today
    note_member_change(session, member.id, ROLE_FIELD, f"{branch_id}:{old}" if old else None,
                       f"{branch_id}:{role}" if role else None, actor_id=actor_id,
                       reason=reason)
    flush(session, f"member {member.id}")
    return True
