"""Tiny ORM factories for tests: add a row to the given session and flush (never commit).

Every argument has a sensible default, so ``task(session)`` builds the whole chain
(branch, member, campaign, run). Names and ledger numbers are unique per call.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from sqlalchemy.orm import Session

from db.machines import MemberStatus, TaskStatus
from db.models import (
    Branch,
    BranchKind,
    Campaign,
    CampaignKind,
    CampaignRun,
    Member,
    OutreachTask,
    Role,
    Volunteer,
)
from tasks.access import new_credentials

_seq = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}-{uuid.uuid4().hex[:6]}"


def _add(session: Session, obj):
    session.add(obj)
    session.flush()
    return obj


def branch(session: Session, *, name: str | None = None,
           kind: BranchKind = BranchKind.GEOGRAPHIC, parent: Branch | None = None) -> Branch:
    return _add(session, Branch(name=name or _unique("branch"), kind=kind,
                                parent_id=parent.id if parent else None))


def volunteer(session: Session, *, branch_: Branch | None = None, role: Role = Role.VOLUNTEER,
              name: str | None = None, capacity: int = 20, active: bool = True,
              with_secret: bool = False) -> Volunteer | tuple[Volunteer, str]:
    """A volunteer; with ``with_secret=True`` returns ``(volunteer, secret)``."""
    secret, salt, hashed = new_credentials()
    v = _add(session, Volunteer(name=name or _unique("volunteer"),
                                branch_id=(branch_ or branch(session)).id, role=role,
                                capacity=capacity, active=active,
                                code_salt=salt, code_hash=hashed))
    return (v, secret) if with_secret else v


def coordinator(session: Session, **kw) -> Volunteer:
    return volunteer(session, role=Role.COORDINATOR, **kw)


def member(session: Session, *, branch_: Branch | None = None,
           status: str = MemberStatus.UNVERIFIED, status_by: int | None = None,
           status_reason: str | None = "created in a test", **fields) -> Member:
    """A member; ``status`` must be an initial state (the database refuses others)."""
    fields.setdefault("ledger_no", _unique("L"))
    fields.setdefault("name", _unique("member"))
    return _add(session, Member(branch_id=(branch_ or branch(session)).id, status=status,
                                status_by=status_by, status_reason=status_reason, **fields))


def campaign(session: Session, *, kind: CampaignKind = CampaignKind.PHONE_VISIT,
             name: str | None = None, **fields) -> Campaign:
    return _add(session, Campaign(name=name or _unique("campaign"), kind=kind, **fields))


def campaign_run(session: Session, *, campaign_: Campaign | None = None,
                 period: str | None = None, **fields) -> CampaignRun:
    return _add(session, CampaignRun(campaign_id=(campaign_ or campaign(session)).id,
                                     period=period or _unique("p")[:20], **fields))


def task(session: Session, *, member_: Member | None = None, run: CampaignRun | None = None,
         status: str = TaskStatus.OPEN, volunteer_: Volunteer | None = None,
         status_by: int | None = None, status_reason: str | None = "created in a test",
         due_on: dt.date | None = None, closes_on: dt.date | None = None,
         **fields) -> OutreachTask:
    """An outreach task; ``status`` must be initial (open, or assigned with a volunteer)."""
    run = run or campaign_run(session)
    member_ = member_ or member(session)
    due_on = due_on or dt.date(2026, 1, 15)
    return _add(session, OutreachTask(
        run_id=run.id, member_id=member_.id,
        kind=fields.pop("kind", None) or session.get(Campaign, run.campaign_id).kind,
        status=status, volunteer_id=volunteer_.id if volunteer_ else None,
        status_by=status_by, status_reason=status_reason,
        due_on=due_on, closes_on=closes_on or due_on + dt.timedelta(days=14), **fields))


# --- reaching a state: the database only allows legal paths -------------------------------

def path_to(machine: str, state: str) -> list[str]:
    """The shortest legal path from ``new`` to ``state``, ``new`` excluded.

    ``path_to("task", "done") == ["assigned", "done"]``: create the row in the first state,
    then move along the rest. Raises ValueError for a state no path reaches.
    """
    from collections import deque

    from db.machines import MACHINES, NEW

    table = MACHINES[machine]
    prev: dict[str, str | None] = {NEW: None}
    queue = deque([NEW])
    while queue:
        here = queue.popleft()
        if here == state:
            break
        for nxt in sorted(str(t) for t in table.get(here, ())):
            if nxt not in prev:
                prev[nxt] = here
                queue.append(nxt)
    if state not in prev:
        raise ValueError(f"no legal path reaches {machine} state {state!r}")
    path = []
    at: str | None = str(state)
    while at is not None and at != NEW:
        path.append(at)
        at = prev[at]
    return path[::-1]


def task_volunteer(to: str, volunteer_id: int | None):
    """The ``volunteer_id`` argument for `move_task` that keeps the task CHECKs true:
    a volunteer when it becomes assigned, None when it reopens, unchanged otherwise."""
    if to == TaskStatus.ASSIGNED:
        return volunteer_id
    if to == TaskStatus.OPEN:
        return None
    return ...


def member_in(session: Session, state: str, *, actor: Volunteer | None = None,
              **fields) -> Member:
    """A member walked along legal moves (`db.state.move_member`) to ``state``."""
    from db.state import move_member

    path = path_to("member", state)
    actor_id = actor.id if actor else None
    m = member(session, status=path[0], status_by=actor_id, **fields)
    for s in path[1:]:
        move_member(session, m, s, actor_id=actor_id, reason=f"test: to {s}", coordinator=True)
    return m


def task_in(session: Session, state: str, *, volunteer_: Volunteer | None = None,
            actor: Volunteer | None = None, **fields) -> OutreachTask:
    """A task walked along legal moves (`db.state.move_task`) to ``state``; an assigned
    task (or one that was assigned on the way) is given ``volunteer_`` (made if None)."""
    from db.state import move_task

    path = path_to("task", state)
    if TaskStatus.ASSIGNED in path and volunteer_ is None:
        volunteer_ = volunteer(session)
    actor_id = actor.id if actor else None
    t = task(session, status=path[0], status_by=actor_id,
             volunteer_=volunteer_ if path[0] == TaskStatus.ASSIGNED else None, **fields)
    for s in path[1:]:
        move_task(session, t, s, actor_id=actor_id, reason=f"test: to {s}",
                  volunteer_id=task_volunteer(s, volunteer_.id if volunteer_ else None))
    return t


# --- every pair of states, for the tests that walk them all -------------------------------

MEMBER_STATES = [str(s) for s in MemberStatus]
TASK_STATES = [str(s) for s in TaskStatus]
MEMBER_PAIRS = [(a, b) for a in MEMBER_STATES for b in MEMBER_STATES]
TASK_PAIRS = [(a, b) for a in TASK_STATES for b in TASK_STATES]
