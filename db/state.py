"""Moving a member or a task from one state to the next: the one place that does it.

`move_member` and `move_task` check the transition table and refuse anything else with a
clear message; the database's triggers then check the same pair again and write the
history row in the same transaction (see `db.guards`). Set-based moves in flows use
`machines.sources()` in their WHERE clause and rely on the same triggers.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from db.errors import Conflict, Refused
from db.machines import MEMBER_COORDINATOR_ONLY, allowed, describe
from db.models import Member, OutreachTask

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
    hint = nexts[0].split("→", 1)[1].strip() if nexts else "(none)"
    return f"{what} is {current}; it cannot become {to} (from {current}: {hint})"


def flush(session: Session, what: str) -> None:
    """Flush, turning the database's refusals and lost races into domain errors.

    It does not roll back: the transaction's owner (``session.begin()`` or a savepoint's
    ``begin_nested()``) does that when the error passes through it.
    """
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(f"{what} was changed by someone else just now; nothing was written, "
                       "look again and retry") from exc
    except IntegrityError as exc:
        raise Refused(f"{what}: the database refused the change "
                      f"({str(exc.orig).splitlines()[0]})") from exc


def move_member(session: Session, member: Member, to: str, *, actor_id: int | None,
                reason: str, coordinator: bool = False) -> None:
    """Move a member's lifecycle to ``to``; refuses illegal and coordinator-only moves."""
    current = str(member.status)
    what = f"member {member.id}"
    if not allowed("member", current, to):
        raise Refused(_why_not("member", what, current, to))
    if (current, to) in MEMBER_COORDINATOR_ONLY and not coordinator:
        raise Refused(f"{what}: {current} → {to} needs a coordinator")
    member.status = to
    member.status_by = actor_id
    member.status_reason = reason
    flush(session, what)


def move_task(session: Session, task: OutreachTask, to: str, *, actor_id: int | None,
              reason: str, volunteer_id: int | None = ...) -> None:
    """Move a task to ``to`` (and optionally to another volunteer); refuses illegal moves."""
    current = str(task.status)
    what = f"task {task.id}"
    if not allowed("task", current, to):
        raise Refused(_why_not("task", what, current, to))
    task.status = to
    if volunteer_id is not ...:
        task.volunteer_id = volunteer_id
    task.status_by = actor_id
    task.status_reason = reason
    flush(session, what)
