"""Tiny ORM factories for tests: add a row to the given session and flush (never commit).

Every argument has a sensible default, so ``task(session)`` builds the whole chain
(branch, member, campaign, run). Names and ledger numbers are unique per call.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from sqlalchemy.orm import Session

from outreach.db.machines import AttendanceStatus, CareStatus, MeetingStatus, MemberStatus, TaskStatus
from outreach.db.models import (
    Attendance,
    Branch,
    BranchKind,
    Campaign,
    CampaignKind,
    CampaignRun,
    CareOccasion,
    CareOccasionKind,
    Meeting,
    MeetingKind,
    Member,
    OutreachTask,
    Role,
    Volunteer,
)
from outreach.tasks.access.permissions import Actor, authenticate, format_code, new_credentials

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


#: When a test's coordinators became coordinators, unless a test says otherwise: long
#: before anything a test records (the two-person rule for a death compares the two).
LONG_AGO = dt.datetime(2000, 1, 1)


def volunteer(session: Session, *, branch_: Branch | None = None, role: Role = Role.VOLUNTEER,
              name: str | None = None, capacity: int = 20, active: bool = True,
              with_secret: bool = False, coordinator_since: dt.datetime | None = None,
              ) -> Volunteer | tuple[Volunteer, str]:
    """A volunteer; with ``with_secret=True`` returns ``(volunteer, secret)``."""
    secret, salt, hashed = new_credentials()
    if role == Role.COORDINATOR and coordinator_since is None:
        coordinator_since = LONG_AGO
    v = _add(session, Volunteer(name=name or _unique("volunteer"),
                                branch_id=(branch_ or branch(session)).id, role=role,
                                capacity=capacity, active=active,
                                code_salt=salt, code_hash=hashed,
                                coordinator_since=coordinator_since))
    return (v, secret) if with_secret else v


def actor(session: Session, volunteer_: Volunteer, secret: str | None = None) -> Actor:
    """The volunteer as an actor, built the only way there is: `authenticate` with their
    code. Without ``secret`` the volunteer gets a fresh code first (a test's shortcut)."""
    if secret is None:
        secret, volunteer_.code_salt, volunteer_.code_hash = new_credentials()
        session.flush()
    return authenticate(session, format_code(volunteer_.id, secret))


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
    """An outreach task; ``status`` must be initial (open, or assigned with a volunteer).

    Made `LONG_AGO` unless a test says otherwise: outcomes may not be dated before the
    task existed, and the tests' fixed days lie before the real today."""
    run = run or campaign_run(session)
    member_ = member_ or member(session)
    due_on = due_on or dt.date(2026, 1, 15)
    fields.setdefault("created_at", LONG_AGO)
    return _add(session, OutreachTask(
        run_id=run.id, member_id=member_.id,
        kind=fields.pop("kind", None) or session.get(Campaign, run.campaign_id).kind,
        status=status, volunteer_id=volunteer_.id if volunteer_ else None,
        status_by=status_by, status_reason=status_reason,
        due_on=due_on, closes_on=closes_on or due_on + dt.timedelta(days=14), **fields))


#: A test meeting's planned day, unless a test says otherwise.
MEETING_DAY = dt.date(2026, 3, 12)


def meeting(session: Session, *, branch_: Branch | None = None,
            kind: MeetingKind = MeetingKind.GROUP, status: str = MeetingStatus.PLANNED,
            planned_on: dt.date | None = None, held_on: dt.date | None = None,
            status_by: int | None = None, status_reason: str | None = "created in a test",
            **fields) -> Meeting:
    """A meeting; ``status`` must be initial (planned, or held: recorded after the fact,
    held on its planned day unless ``held_on`` says otherwise)."""
    planned_on = planned_on or MEETING_DAY
    if status == MeetingStatus.HELD and held_on is None:
        held_on = planned_on
    return _add(session, Meeting(branch_id=(branch_ or branch(session)).id, kind=kind,
                                 status=status, planned_on=planned_on, held_on=held_on,
                                 status_by=status_by, status_reason=status_reason, **fields))


def attendance(session: Session, *, meeting_: Meeting | None = None,
               member_: Member | None = None, status: str = AttendanceStatus.INVITED,
               status_by: int | None = None, status_reason: str | None = "created in a test",
               **fields) -> Attendance:
    """One member's attendance; by default at a new held meeting of the member's branch
    (every mark may still move there). ``status`` must be initial."""
    member_ = member_ or member(session)
    if meeting_ is None:
        meeting_ = meeting(session, branch_=session.get(Branch, member_.branch_id),
                           status=MeetingStatus.HELD)
    return _add(session, Attendance(meeting_id=meeting_.id, member_id=member_.id,
                                    status=status, status_by=status_by,
                                    status_reason=status_reason, **fields))


#: A test care occasion's day, unless a test says otherwise (its window: a week either side).
CARE_DAY = dt.date(2026, 6, 1)


def care_occasion(session: Session, *, member_: Member | None = None,
                  kind: CareOccasionKind = CareOccasionKind.BIRTHDAY,
                  occasion_on: dt.date | None = None, status: str = CareStatus.DUE,
                  status_by: int | None = None, status_reason: str | None = "created in a test",
                  **fields) -> CareOccasion:
    """A care occasion with a window of a week either side; ``status`` must be initial."""
    day = occasion_on or CARE_DAY
    fields.setdefault("window_from", day - dt.timedelta(days=7))
    fields.setdefault("window_to", day + dt.timedelta(days=7))
    return _add(session, CareOccasion(member_id=(member_ or member(session)).id, kind=kind,
                                      occasion_on=day, status=status, status_by=status_by,
                                      status_reason=status_reason, **fields))


# --- reaching a state: the database only allows legal paths -------------------------------

def path_to(machine: str, state: str) -> list[str]:
    """The shortest legal path from ``new`` to ``state``, ``new`` excluded.

    ``path_to("task", "done") == ["assigned", "done"]``: create the row in the first state,
    then move along the rest. Raises ValueError for a state no path reaches.
    """
    from collections import deque

    from outreach.db.machines import NEW

    table: dict[str, set[str]] = {}
    for a, b in ORACLE[machine]:  # the oracle's pairs: the code's tables are under test
        table.setdefault(a, set()).add(b)
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
    from outreach.db.state import move_member

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
    from outreach.db.state import move_task

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


#: What `db.state.move_attendance` is given for a make-up study in tests.
MADE_UP = {"made_up_on": dt.date(2026, 4, 2), "made_up_how": "visit"}


def _walked(machine: str, state: str, make, move, actor: Volunteer | None):
    """A row made in the first state of the legal path to ``state``, then moved along it
    with ``move(row, to, actor_id=…, reason=…)``."""
    path = path_to(machine, state)
    actor_id = actor.id if actor else None
    row = make(path[0], actor_id)
    for s in path[1:]:
        move(row, s, actor_id=actor_id, reason=f"test: to {s}")
    return row


def meeting_in(session: Session, state: str, *, actor: Volunteer | None = None,
               **fields) -> Meeting:
    """A meeting walked along legal moves (`db.state.move_meeting`) to ``state``."""
    from outreach.db.state import move_meeting

    return _walked(
        "meeting", state,
        lambda first, by: meeting(session, status=first, status_by=by, **fields),
        lambda m, s, **kw: move_meeting(
            session, m, s, held_on=m.planned_on if s == MeetingStatus.HELD else None, **kw),
        actor)


def attendance_in(session: Session, state: str, *, actor: Volunteer | None = None,
                  **fields) -> Attendance:
    """An attendance walked along legal moves (`db.state.move_attendance`) to ``state``."""
    from outreach.db.state import move_attendance

    return _walked(
        "attendance", state,
        lambda first, by: attendance(session, status=first, status_by=by, **fields),
        lambda a, s, **kw: move_attendance(
            session, a, s, **(MADE_UP if s == AttendanceStatus.MADE_UP else {}), **kw),
        actor)


def care_in(session: Session, state: str, *, actor: Volunteer | None = None,
            **fields) -> CareOccasion:
    """A care occasion walked along legal moves (`db.state.move_care`) to ``state``."""
    from outreach.db.state import move_care

    return _walked(
        "care", state,
        lambda first, by: care_occasion(session, status=first, status_by=by, **fields),
        lambda c, s, **kw: move_care(session, c, s, **kw),
        actor)


# --- the independent oracle: the machines written out by hand -----------------------------
# The tests take their expected answers from here, never from `db.machines`: a test that
# asks the table it tests cannot see a pair added to or dropped from it. Change these lists
# only together with the product rule (and a migration for the database's tables).

MEMBER_STATES = ["unverified", "active", "unreachable", "moved_out", "deceased",
                 "do_not_contact"]
TASK_STATES = ["open", "assigned", "done", "failed", "cancelled", "expired"]

#: Every allowed member move; ("new", s): a member may be created in s.
MEMBER_ALLOWED = frozenset({
    ("new", "unverified"), ("new", "active"),
    ("unverified", "active"), ("unverified", "unreachable"), ("unverified", "moved_out"),
    ("unverified", "deceased"), ("unverified", "do_not_contact"),
    ("active", "unreachable"), ("active", "moved_out"), ("active", "deceased"),
    ("active", "do_not_contact"),
    ("unreachable", "active"), ("unreachable", "moved_out"), ("unreachable", "deceased"),
    ("unreachable", "do_not_contact"),
    ("moved_out", "unverified"), ("moved_out", "active"), ("moved_out", "deceased"),
    ("moved_out", "do_not_contact"),
    ("do_not_contact", "unverified"), ("do_not_contact", "active"),
    ("do_not_contact", "moved_out"), ("do_not_contact", "deceased"),
    # deceased: final
})

#: The member moves only a coordinator may make: every death (a second coordinator
#: confirms it), and every way out of do-not-contact.
MEMBER_COORDINATOR_ONLY = frozenset({
    ("unverified", "deceased"), ("active", "deceased"), ("unreachable", "deceased"),
    ("moved_out", "deceased"), ("do_not_contact", "deceased"),
    ("do_not_contact", "unverified"), ("do_not_contact", "active"),
    ("do_not_contact", "moved_out"),
})

#: Every allowed task move; assigned -> assigned is a reassignment; done, failed,
#: cancelled and expired are final.
TASK_ALLOWED = frozenset({
    ("new", "open"), ("new", "assigned"),
    ("open", "assigned"), ("open", "cancelled"), ("open", "expired"),
    ("assigned", "assigned"), ("assigned", "open"), ("assigned", "done"),
    ("assigned", "failed"), ("assigned", "cancelled"), ("assigned", "expired"),
})

MEETING_STATES = ["planned", "held", "closed", "cancelled"]
ATTENDANCE_STATES = ["invited", "present", "remote", "excused", "absent", "made_up"]

#: Every allowed meeting move. new -> held: a meeting recorded after the fact;
#: planned -> planned: moved to another date; closed and cancelled are final.
MEETING_ALLOWED = frozenset({
    ("new", "planned"), ("new", "held"),
    ("planned", "planned"), ("planned", "held"), ("planned", "cancelled"),
    ("held", "closed"),
})

#: Every allowed attendance move. new -> a mark: attendance entered after the fact; a mark
#: may be corrected into any other mark; excused and absent may be made up; made_up final.
ATTENDANCE_ALLOWED = frozenset({
    ("new", "invited"), ("new", "present"), ("new", "remote"), ("new", "excused"),
    ("new", "absent"),
    ("invited", "present"), ("invited", "remote"), ("invited", "excused"),
    ("invited", "absent"),
    ("present", "remote"), ("present", "excused"), ("present", "absent"),
    ("remote", "present"), ("remote", "excused"), ("remote", "absent"),
    ("excused", "present"), ("excused", "remote"), ("excused", "absent"),
    ("excused", "made_up"),
    ("absent", "present"), ("absent", "remote"), ("absent", "excused"),
    ("absent", "made_up"),
})

CARE_STATES = ["due", "visited", "missed", "cancelled"]

#: Every allowed care-occasion move: planned due; then visited (a care visit within the
#: window), missed (the window closed without one) or cancelled (no visit to make any
#: more: died, moved out, do-not-contact). All three final.
CARE_ALLOWED = frozenset({
    ("new", "due"),
    ("due", "visited"), ("due", "missed"), ("due", "cancelled"),
})

ORACLE = {"member": MEMBER_ALLOWED, "task": TASK_ALLOWED, "meeting": MEETING_ALLOWED,
          "attendance": ATTENDANCE_ALLOWED, "care": CARE_ALLOWED}
STATES = {"member": MEMBER_STATES, "task": TASK_STATES, "meeting": MEETING_STATES,
          "attendance": ATTENDANCE_STATES, "care": CARE_STATES}


def oracle_allows(machine: str, from_status: str, to_status: str) -> bool:
    return (str(from_status), str(to_status)) in ORACLE[machine]


def oracle_initial(machine: str) -> list[str]:
    """The states a row may be created in, sorted."""
    return sorted(b for a, b in ORACLE[machine] if a == "new")


# --- every pair of states, for the tests that walk them all -------------------------------

MEMBER_PAIRS = [(a, b) for a in MEMBER_STATES for b in MEMBER_STATES]
TASK_PAIRS = [(a, b) for a in TASK_STATES for b in TASK_STATES]
MEETING_PAIRS = [(a, b) for a in MEETING_STATES for b in MEETING_STATES]
ATTENDANCE_PAIRS = [(a, b) for a in ATTENDANCE_STATES for b in ATTENDANCE_STATES]
CARE_PAIRS = [(a, b) for a in CARE_STATES for b in CARE_STATES]
