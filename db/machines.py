"""The two state machines: member lifecycle and outreach-task status.

A hand-written table per machine: a dict from each state to the states it may move to.
The same tables drive `transition()` in `db.state`, the CLI's help, the tests (every pair)
and the database guard (`db.guards` copies them into the ``*_transition`` tables that
history rows reference and that triggers consult).

``NEW`` is a pseudo-state: the "from" of the history row written when a row is created,
so that the history of every member and task replays from its first row.
"""

from __future__ import annotations

import enum


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


NEW = "new"

M = MemberStatus
T = TaskStatus

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

LIVING_MEMBER = frozenset(s for s in MemberStatus if s is not M.DECEASED)
#: Members outreach may target: never deceased, moved out or do-not-contact.
CONTACTABLE_MEMBER = frozenset({M.UNVERIFIED, M.ACTIVE, M.UNREACHABLE})
OPEN_TASK = frozenset({T.OPEN, T.ASSIGNED})
FINAL_TASK = frozenset({T.DONE, T.FAILED, T.CANCELLED, T.EXPIRED})

MACHINES: dict[str, dict[str, frozenset[str]]] = {
    "member": MEMBER_TRANSITIONS,
    "task": TASK_TRANSITIONS,
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
        nxt = ", ".join(sorted(str(t) for t in targets)) or "(final)"
        lines.append(f"{state} → {nxt}")
    return "\n".join(lines)


def sources(machine: str, to_status: str) -> frozenset[str]:
    """The states (``new`` excluded) from which ``to_status`` may be reached."""
    return frozenset(a for a, targets in MACHINES[machine].items()
                     if a != NEW and to_status in targets)
