"""The state machines: member lifecycle, outreach-task status, meetings and attendance,
care occasions.

A hand-written table per machine: a dict from each state to the states it may move to.
The same tables drive `db.state.move_member` / `db.state.move_task` and the CLI's help
(`describe`). The database's guards (`db.guards`) consult the ``*_transition`` tables that
history rows reference; the migrations fill those tables with literal rows, so a change
here needs a new migration (`tests/db/test_migrate.py` fails until there is one). The
tests check every pair against their own hand-written copy of these tables
(`tests.db.factories`), not against these.

``NEW`` is a pseudo-state: the "from" of the history row written when a row is created,
so that the history of every member and task replays from its first row.

Meetings and attendance (organisational life, see ``MEETING_TRANSITIONS`` and
``ATTENDANCE_TRANSITIONS`` for the rules and the choices made) and care occasions
(``CARE_TRANSITIONS``) follow the same pattern.
"""

from __future__ import annotations

import enum

from outreach.i18n import _


class MemberStatus(enum.StrEnum):
    UNVERIFIED = "unverified"
    ACTIVE = "active"
    UNREACHABLE = "unreachable"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    DO_NOT_CONTACT = "do_not_contact"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class CareStatus(enum.StrEnum):
    DUE = "due"
    VISITED = "visited"
    MISSED = "missed"
    CANCELLED = "cancelled"


class MeetingStatus(enum.StrEnum):
    PLANNED = "planned"
    HELD = "held"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class AttendanceStatus(enum.StrEnum):
    INVITED = "invited"
    PRESENT = "present"
    REMOTE = "remote"
    EXCUSED = "excused"
    ABSENT = "absent"
    MADE_UP = "made_up"


NEW = "new"

M = MemberStatus
T = TaskStatus
MS = MeetingStatus
A = AttendanceStatus
C = CareStatus

#: Lifecycle of a member. Deceased is final; moved_out may come back in.
MEMBER_TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({M.UNVERIFIED, M.ACTIVE}),
    M.UNVERIFIED: frozenset({M.ACTIVE, M.UNREACHABLE, M.MOVED_OUT, M.DECEASED, M.DO_NOT_CONTACT}),
    M.ACTIVE: frozenset({M.UNREACHABLE, M.MOVED_OUT, M.DECEASED, M.DO_NOT_CONTACT}),
    M.UNREACHABLE: frozenset({M.ACTIVE, M.MOVED_OUT, M.DECEASED, M.DO_NOT_CONTACT}),
    M.MOVED_OUT: frozenset({M.UNVERIFIED, M.ACTIVE, M.DECEASED, M.DO_NOT_CONTACT}),
    M.DO_NOT_CONTACT: frozenset({M.UNVERIFIED, M.ACTIVE, M.MOVED_OUT, M.DECEASED}),
    M.DECEASED: frozenset(),
}

#: Member transitions only a coordinator may make (death needs a second person's
#: confirmation; only a coordinator undoes do-not-contact).
MEMBER_COORDINATOR_ONLY: frozenset[tuple[str, str]] = frozenset(
    {(s, M.DECEASED) for s in MEMBER_TRANSITIONS if s not in (NEW, M.DECEASED)}
    | {(M.DO_NOT_CONTACT, t) for t in MEMBER_TRANSITIONS[M.DO_NOT_CONTACT]}
)

#: Task status. A failed attempt keeps the task assigned; a reassignment is the
#: assigned → assigned row of history (who had it, who has it now), not a state.
TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({T.OPEN, T.ASSIGNED}),
    T.OPEN: frozenset({T.ASSIGNED, T.CANCELLED, T.EXPIRED}),
    T.ASSIGNED: frozenset({T.ASSIGNED, T.OPEN, T.DONE, T.FAILED, T.CANCELLED, T.EXPIRED}),
    T.DONE: frozenset(),
    T.FAILED: frozenset(),
    T.CANCELLED: frozenset(),
    T.EXPIRED: frozenset(),
}

#: Meeting status. ``new → held`` records a meeting after the fact (``meeting plan`` with a
#: past date). ``planned → planned`` is a move to another date: the history row carries the
#: new ``planned_on`` (as a task's reassignment carries the new volunteer), so every date a
#: meeting was ever planned for is history, and only a planned meeting can be moved.
#: After it is held: closed (minutes done, make-up study given out). Closed and cancelled
#: are final.
MEETING_TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({MS.PLANNED, MS.HELD}),
    MS.PLANNED: frozenset({MS.PLANNED, MS.HELD, MS.CANCELLED}),
    MS.HELD: frozenset({MS.CLOSED}),
    MS.CLOSED: frozenset(),
    MS.CANCELLED: frozenset(),
}

_MARKS = frozenset({A.PRESENT, A.REMOTE, A.EXCUSED, A.ABSENT})

#: Attendance of one invited member at one meeting. ``new → a mark`` records attendance
#: of a meeting entered after the fact (no invitation step). A mark may be corrected into
#: any other mark (present ⇄ remote ⇄ excused ⇄ absent: a wrong line in an attendance
#: sheet, an excuse that arrives late, an excuse taken in advance on a notice call). This
#: table allows it at any time; the meeting's own status limits it, a rule over two rows
#: kept in code (`db.state.move_attendance`), not in these pairs: once the meeting is
#: closed only ``excused``/``absent`` → ``made_up`` remains (closing gave out the make-up
#: study for exactly those marks), and a cancelled meeting's attendance does not move.
#: ``made_up``: the member caught up (make-up study); final. No way back to invited.
ATTENDANCE_TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({A.INVITED} | _MARKS),
    A.INVITED: _MARKS,
    A.PRESENT: _MARKS - {A.PRESENT},
    A.REMOTE: _MARKS - {A.REMOTE},
    A.EXCUSED: (_MARKS - {A.EXCUSED}) | {A.MADE_UP},
    A.ABSENT: (_MARKS - {A.ABSENT}) | {A.MADE_UP},
    A.MADE_UP: frozenset(),
}

#: A care occasion (a milestone birthday, a festival, a life event, a month in hardship)
#: of one member. Planned ``due`` with its window; ``visited``: a care visit was completed
#: within the window; ``missed``: the window closed without one; ``cancelled``: no visit
#: is to be made any more (the member died, moved out or asked not to be contacted). All
#: three are final: a visit after the window does not turn a missed occasion into a
#: visited one (the scorecard counts visits within the window).
CARE_TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({C.DUE}),
    C.DUE: frozenset({C.VISITED, C.MISSED, C.CANCELLED}),
    C.VISITED: frozenset(),
    C.MISSED: frozenset(),
    C.CANCELLED: frozenset(),
}

#: Members outreach may target: never deceased, moved out or do-not-contact.
CONTACTABLE_MEMBER = frozenset({M.UNVERIFIED, M.ACTIVE, M.UNREACHABLE})
OPEN_TASK = frozenset({T.OPEN, T.ASSIGNED})
FINAL_TASK = frozenset({T.DONE, T.FAILED, T.CANCELLED, T.EXPIRED})
#: Meetings that took place (reports count their attendance).
HELD_MEETING = frozenset({MS.HELD, MS.CLOSED})
#: Attendance that counts as organisational life; and the marks a make-up study is for.
TOOK_PART = frozenset({A.PRESENT, A.REMOTE, A.MADE_UP})
MISSED = frozenset({A.EXCUSED, A.ABSENT})

MACHINES: dict[str, dict[str, frozenset[str]]] = {
    "member": MEMBER_TRANSITIONS,
    "task": TASK_TRANSITIONS,
    "meeting": MEETING_TRANSITIONS,
    "attendance": ATTENDANCE_TRANSITIONS,
    "care": CARE_TRANSITIONS,
}


def pairs(machine: str) -> list[tuple[str, str]]:
    """Every allowed (from, to) pair of a machine, ``new`` included, sorted."""
    table = MACHINES[machine]
    return sorted((str(a), str(b)) for a, targets in table.items() for b in targets)


def allowed(machine: str, from_status: str, to_status: str) -> bool:
    return to_status in MACHINES[machine].get(from_status, frozenset())


def describe(machine: str) -> str:
    """The table as text, for help screens: ``open → assigned, cancelled, expired``."""
    lines = []
    for state, targets in MACHINES[machine].items():
        if state == NEW:
            continue
        nxt = ", ".join(sorted(str(t) for t in targets)) or _("(final)")
        lines.append(f"{state} → {nxt}")
    return "\n".join(lines)


def sources(machine: str, to_status: str) -> frozenset[str]:
    """The states (``new`` excluded) from which ``to_status`` may be reached."""
    return frozenset(a for a, targets in MACHINES[machine].items()
                     if a != NEW and to_status in targets)
