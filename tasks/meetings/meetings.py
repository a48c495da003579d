"""Organisational life: meetings, attendance, notices, make-up study, cadence and the report.

A coordinator plans a meeting of a branch (`plan_meeting`): its invitations are written
set-based (one INSERT … SELECT) — a committee meeting invites the branch's committee
(`BranchRole`), every other kind every contactable member of the branch and of the branches
nested in it (`tasks.ledger.tree`). A date before today records a meeting already held; a date far
enough ahead (`tasks.meetings.rules.NOTICE_DAYS`) gives members living away and homebound members a
``notice`` task through the task engine (`tasks.work.engine.give_tasks`: capacity, continuity).
Attendance is marked one by one (`mark_attendance`) or from a file (`import_attendance`,
all-or-nothing); closing the meeting (`close_meeting`) marks whoever is still ``invited``
absent and gives every excused or absent member a ``make_up`` task (a visit when homebound,
a call when living away, the material brought or talked through otherwise), due within
`tasks.meetings.rules.MAKE_UP_DAYS`. Completing that task moves the attendance to ``made_up``
(`tasks.work.outcomes`).

Cadence, organisational life and the report (`branches_behind`, `members_without_life`,
`meetings_report`) are in `tasks.meetings.life`.

Service functions: they flush, never commit; each declares who may call it
(`tasks.access.permissions.requires`). Errors never carry a member's contact details.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from outreach.db.codes import CampaignKind, MeetingKind, MemberRole, RemoteOption
from outreach.db.errors import BadInput, NotFound, Refused, shown
from outreach.db.machines import (
    CONTACTABLE_MEMBER,
    MISSED,
    OPEN_TASK,
    AttendanceStatus as A,
    MeetingStatus as MS,
    TaskStatus,
)
from outreach.db.models import (
    Attendance,
    Branch,
    BranchRole,
    Campaign,
    CampaignRun,
    Meeting,
    Member,
    OutreachTask,
)
from outreach.db.state import flush, move_attendance, move_meeting, set_branch_role
from outreach.i18n import N_, _
from outreach.tasks.kernel import rules
from outreach.tasks.meetings import rules as meeting_rules
from outreach.tasks.ledger import tree
from outreach.tasks.kernel.labels import label
from outreach.tasks.access.permissions import (
    COORDINATOR, COUNTS, Actor, requires,
)
from outreach.tasks.kernel.csvfile import cell_value, records, text_of
from outreach.tasks.ledger.book import LedgerFileError
from outreach.tasks.ledger.people import find_member, get_branch

#: The marks a coordinator gives (made_up comes from a make-up task, invited from planning).
MARKS = (A.PRESENT, A.REMOTE, A.EXCUSED, A.ABSENT)
#: Columns of an attendance file (reason may be left out).
ATTENDANCE_COLUMNS = ("ledger_no", "attendance", "reason")
#: Longest free texts.
SHORT_TEXT, LONG_TEXT = 200, 10_000
#: Kinds in report order.
KIND_ORDER = tuple(k.value for k in MeetingKind)

#: Member statuses that are invited and given tasks.
CONTACTABLE = tuple(str(s) for s in CONTACTABLE_MEMBER)


# --- small checks and look-ups ------------------------------------------------------------------


def _text(value: str | None, what: str, limit: int = SHORT_TEXT) -> str | None:
    """A free text someone typed: stripped, empty → None; too long or control characters
    refused (the value itself is not repeated)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    rules.check_text(text, what)
    if len(text) > limit:
        raise BadInput(_("{what} is too long ({limit} characters at most) or contains "
                         "control characters").format(what=_(what), limit=limit))
    return text


def check_kind(kind: str) -> MeetingKind:
    try:
        return MeetingKind(str(kind).strip().lower())
    except ValueError:
        raise BadInput(_("unknown kind of meeting {value}; one of: {choices}").format(
            value=shown(str(kind)), choices=", ".join(k.value for k in MeetingKind))) from None


def check_remote(remote: str | None) -> RemoteOption:
    try:
        return RemoteOption(str(remote or "none").strip().lower())
    except ValueError:
        raise BadInput(_("unknown remote option {value}; one of: {choices}").format(
            value=shown(str(remote)),
            choices=", ".join(r.value for r in RemoteOption))) from None


def check_mark(status: str, what: str = N_("attendance")) -> A:
    low = str(status).strip().lower()
    if low not in {str(m) for m in MARKS}:
        raise BadInput(_("{what} must be one of {choices}, not {value}").format(
            what=_(what), choices=", ".join(str(m) for m in MARKS),
            value=shown(str(status))))
    return A(low)


def branch_named(session: Session, name: str) -> Branch:
    branch = get_branch(session, name=str(name))
    if branch is None:
        raise NotFound(_("no branch named {name}").format(name=repr(str(name)[:120])))
    return branch


def _meeting(session: Session, meeting_id) -> Meeting:
    if not isinstance(meeting_id, int) or isinstance(meeting_id, bool) \
            or not 0 < meeting_id < 2**31:
        raise NotFound(_("no meeting with id {id}").format(id=str(meeting_id)[:20]))
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(_("no meeting with id {id}").format(id=meeting_id))
    return meeting


def _invitees(session: Session, meeting: Meeting):
    """The member ids a meeting invites (a SELECT): the branch's committee for a committee
    meeting, else every contactable member of the branch and the branches nested in it."""
    if meeting.kind == MeetingKind.COMMITTEE:
        return (select(Member.id).join(BranchRole, BranchRole.member_id == Member.id)
                .where(BranchRole.branch_id == meeting.branch_id,
                       Member.status.in_(CONTACTABLE)))
    return select(Member.id).where(Member.branch_id.in_(tree.subtree_ids(session,
                                                                         meeting.branch_id)),
                                   Member.status.in_(CONTACTABLE))


def _invite(session: Session, meeting: Meeting, actor: Actor) -> int:
    """Write the invitations of a meeting, set-based; returns how many."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ids = _invitees(session, meeting).subquery()
    rows = select(literal(meeting.id), ids.c.id, literal(A.INVITED.value),
                  literal(actor.id), literal("invited"), literal(1), literal(now))
    result = session.execute(insert(Attendance).from_select(
        ["meeting_id", "member_id", "status", "status_by", "status_reason", "version",
         "created_at"], rows))
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else \
        session.scalar(select(func.count()).select_from(Attendance)
                       .where(Attendance.meeting_id == meeting.id))


#: Who gets a notice: members living away and homebound members still invited.
NOTICE_SQL = ("SELECT m.id FROM members m JOIN attendance a ON a.member_id = m.id "
              "WHERE a.meeting_id = :meeting_id AND a.status = 'invited' "
              "AND (m.residence = 'away' OR m.homebound = :yes)")
#: Who gets a make-up study: every excused or absent member. How (a visit when homebound,
#: a call when living away, the material brought otherwise) is the outcome the volunteer
#: records (`tasks.work.rules.MAKE_UP_HOW`); the task view shows the member's situation.
MAKE_UP_SQL = ("SELECT a.member_id FROM attendance a WHERE a.meeting_id = :meeting_id "
               "AND a.status IN ('excused', 'absent')")


def _give(session: Session, *, run_id: int, kind: str, sql: str, params: dict,
          due_on: dt.date, closes_on: dt.date, today: dt.date) -> dict:
    """`tasks.work.engine.give_tasks` (contactable members without a task in the run)."""
    from outreach.tasks.work import engine

    return engine.give_tasks(session, run_id=run_id, kind=kind, member_ids_sql=sql,
                             params=params, due_on=due_on, closes_on=closes_on, today=today)


def _zeros() -> dict:
    return {"created": 0, "assigned": 0, "open": 0}


def _send_notices(session: Session, meeting: Meeting, today: dt.date) -> dict:
    """Notice tasks for a planned meeting far enough ahead (none otherwise)."""
    if meeting.status != MS.PLANNED or \
            meeting.planned_on < today + dt.timedelta(days=meeting_rules.NOTICE_DAYS.default):
        return _zeros()
    from outreach.tasks.work import engine

    run = engine.meeting_run(session, kind=CampaignKind.NOTICE.value, meeting_id=meeting.id)
    due = max(today, meeting.planned_on - dt.timedelta(days=meeting_rules.NOTICE_LEAD_DAYS))
    return _give(session, run_id=run.id, kind=CampaignKind.NOTICE.value, sql=NOTICE_SQL,
                 params={"meeting_id": meeting.id, "yes": True}, due_on=due,
                 closes_on=meeting.planned_on, today=today)


def _make_ups(session: Session, meeting: Meeting, today: dt.date) -> dict:
    """Make-up tasks for every excused or absent (contactable) member of a meeting who has
    none yet in its make-up run; idempotent."""
    from outreach.tasks.work import engine

    run = engine.meeting_run(session, kind=CampaignKind.MAKE_UP.value, meeting_id=meeting.id)
    due = today + dt.timedelta(days=meeting_rules.MAKE_UP_DAYS.default)
    return _give(session, run_id=run.id, kind=CampaignKind.MAKE_UP.value, sql=MAKE_UP_SQL,
                 params={"meeting_id": meeting.id}, due_on=due,
                 closes_on=due + dt.timedelta(days=meeting_rules.MAKE_UP_DAYS.default), today=today)


def _task_runs(meeting_id: int, kind: str):
    return (select(CampaignRun.id).join(Campaign, Campaign.id == CampaignRun.campaign_id)
            .where(CampaignRun.meeting_id == meeting_id, Campaign.kind == kind))


# --- planning -----------------------------------------------------------------------------------


@requires(COORDINATOR)
def plan_meeting(session: Session, *, branch: str, kind: str, on: dt.date, actor: Actor,
                 today: dt.date, topic: str | None = None, material: str | None = None,
                 place: str | None = None, remote: str | None = "none",
                 remote_details: str | None = None) -> dict:
    """Plan a meeting of a branch (or record one already held: a date before today) and
    invite its members; a date `tasks.meetings.rules.NOTICE_DAYS` or more ahead sends notices."""
    the_branch = branch_named(session, branch)
    the_kind = check_kind(kind)
    option = check_remote(remote)
    if not isinstance(on, dt.date) or not rules.FIRST_DAY <= on <= rules.LAST_DAY:
        raise BadInput(_("the meeting's date is not a possible date (years 1900 to 2100)"))
    held = on < today
    if held:
        rules.check_not_future(on, N_("the meeting's date"))
    meeting = Meeting(
        branch_id=the_branch.id, kind=the_kind, planned_on=on,
        status=MS.HELD if held else MS.PLANNED, held_on=on if held else None,
        topic=_text(topic, N_("the topic")), material=_text(material, N_("the material")),
        place=_text(place, N_("the place")), remote=option,
        remote_details=_text(remote_details, N_("the remote details")),
        status_by=actor.id,
        status_reason="recorded after it was held" if held else "planned")
    session.add(meeting)
    flush(session, "the meeting")
    invited = _invite(session, meeting, actor)
    notices = _send_notices(session, meeting, today)
    flush(session, f"meeting {meeting.id}")
    return {"id": meeting.id, "status": str(meeting.status), "invited": invited,
            "notices": notices}


@requires(COORDINATOR)
def move_meeting_date(session: Session, *, meeting_id: int, on: dt.date, actor: Actor,
                      today: dt.date, reason: str | None = None) -> dict:
    """Move a planned meeting to another (not past) date; open notices follow it, and a
    move far enough ahead sends the notices it had not sent yet."""
    meeting = _meeting(session, meeting_id)
    if not isinstance(on, dt.date) or on < today or on > rules.LAST_DAY:
        raise BadInput(_("a meeting can be moved to today or a later date only (to record "
                         "one already held, use `meeting hold`)"))
    move_meeting(session, meeting, MS.PLANNED, actor_id=actor.id, planned_on=on,
                 reason=_text(reason, N_("the reason"), LONG_TEXT) or f"moved to {on}")
    due = max(today, on - dt.timedelta(days=meeting_rules.NOTICE_LEAD_DAYS))
    moved = session.execute(
        update(OutreachTask)
        .where(OutreachTask.run_id.in_(_task_runs(meeting.id, CampaignKind.NOTICE.value)),
               OutreachTask.status.in_([str(s) for s in OPEN_TASK]))
        .values(due_on=due, closes_on=on, version=OutreachTask.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    notices = _send_notices(session, meeting, today)
    return {"id": meeting.id, "planned_on": on, "notices_moved": moved, "notices": notices}


@requires(COORDINATOR)
def cancel_meeting(session: Session, *, meeting_id: int, actor: Actor, reason: str) -> dict:
    """Cancel a planned meeting (a reason is required); its open notice tasks are cancelled."""
    meeting = _meeting(session, meeting_id)
    why = _text(reason, N_("the reason"), LONG_TEXT)
    if not why:
        raise BadInput(_("say why the meeting is cancelled (--reason)"))
    move_meeting(session, meeting, MS.CANCELLED, actor_id=actor.id, reason=why)
    cancelled = session.execute(
        update(OutreachTask)
        .where(OutreachTask.run_id.in_(_task_runs(meeting.id, CampaignKind.NOTICE.value)),
               OutreachTask.status.in_([str(s) for s in OPEN_TASK]))
        .values(status=TaskStatus.CANCELLED.value, status_by=actor.id,
                status_reason=f"meeting {meeting.id} was cancelled",
                version=OutreachTask.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    return {"id": meeting.id, "status": str(meeting.status), "notices_cancelled": cancelled}


def _hold(session: Session, meeting: Meeting, actor: Actor, today: dt.date,
          held_on: dt.date | None = None) -> None:
    """A planned meeting whose day has come becomes held (on its planned day by default)."""
    day = held_on or meeting.planned_on
    if day > today:
        raise Refused(_("meeting {id} is planned for {day}; it cannot be held before it "
                        "happens (an excuse can be taken already)").format(
                            id=meeting.id, day=meeting.planned_on))
    rules.check_not_future(day, N_("the day it was held"))
    move_meeting(session, meeting, MS.HELD, actor_id=actor.id, held_on=day,
                 reason=f"held on {day}")


@requires(COORDINATOR)
def hold_meeting(session: Session, *, meeting_id: int, actor: Actor, today: dt.date,
                 held_on: dt.date | None = None) -> dict:
    """Record that a planned meeting was held (on its planned day unless ``held_on``)."""
    meeting = _meeting(session, meeting_id)
    _hold(session, meeting, actor, today, held_on)
    return {"id": meeting.id, "status": str(meeting.status), "held_on": meeting.held_on}


# --- attendance ---------------------------------------------------------------------------------


def _ready_for(session: Session, meeting: Meeting, status: A, actor: Actor,
               today: dt.date) -> None:
    """Refuse a mark the meeting's state does not take; hold a planned meeting whose day
    has come when someone is marked as having been there (or not)."""
    if meeting.status in (MS.CLOSED, MS.CANCELLED):
        raise Refused(_("meeting {id} is {status}; its attendance cannot be marked any "
                        "more").format(id=meeting.id, status=label(meeting.status, of="meeting_status")))
    if meeting.status == MS.PLANNED and status != A.EXCUSED:
        _hold(session, meeting, actor, today)


@requires(COORDINATOR)
def mark_attendance(session: Session, *, meeting_id: int, ref: str, status: str,
                    actor: Actor, today: dt.date, reason: str | None = None) -> dict:
    """Mark one invited member present, remote, excused (with a reason) or absent."""
    meeting = _meeting(session, meeting_id)
    mark = check_mark(status)
    why = _text(reason, N_("the reason"), LONG_TEXT)
    if mark == A.EXCUSED and not why:
        raise BadInput(_("an excused member needs a reason (--reason)"))
    member = find_member(session, ref=ref)
    att = session.scalars(select(Attendance).where(Attendance.meeting_id == meeting.id,
                                                   Attendance.member_id == member.id)).first()
    if att is None:
        raise BadInput(_("member {member} was not invited to meeting {meeting}").format(
            member=member.id, meeting=meeting.id))
    if att.status == mark:
        return {"meeting_id": meeting.id, "member_id": member.id, "status": str(mark),
                "changed": False}
    _ready_for(session, meeting, mark, actor, today)
    move_attendance(session, att, mark, actor_id=actor.id, note=why, meeting=meeting,
                    reason=f"marked {mark} by a coordinator")
    return {"meeting_id": meeting.id, "member_id": member.id, "status": str(mark),
            "changed": True}


class AttendanceFileError(LedgerFileError):
    """An attendance file with problems; ``problems`` lists them all, line by line (shown
    the way a ledger file's are)."""


def _read_attendance(data: bytes) -> tuple[list[tuple[int, str, str, str]], list[str]]:
    """(line, ledger_no, attendance, reason) per record, and the problems of the shape."""
    import csv

    problems: list[str] = []
    rows: list[tuple[int, str, str, str]] = []
    lines = records(text_of(data))
    try:
        __, header = next(lines, (1, None))
    except csv.Error as exc:
        raise AttendanceFileError([_("line {line}: {problem}").format(
            line=1, problem=str(exc)[:120])]) from None
    if header is None:
        raise BadInput(_("the file is empty: expected the header {columns}").format(
            columns=",".join(ATTENDANCE_COLUMNS)))
    header = [h.strip().lower() for h in header]
    if header not in (list(ATTENDANCE_COLUMNS), list(ATTENDANCE_COLUMNS[:2])):
        raise AttendanceFileError([_("line 1: the header must be {columns} (reason may be "
                                     "left out)").format(columns=",".join(ATTENDANCE_COLUMNS))])
    try:
        for line, values in lines:
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                problems.append(_("line {line}: {n} fields, the header has {m}").format(
                    line=line, n=len(values), m=len(header)))
                continue
            cells = [cell_value(v.strip()) for v in values] + [""]
            rows.append((line, cells[0], cells[1], cells[2]))
    except csv.Error as exc:
        problems.append(_("line {line}: {problem}").format(line=exc.line,
                                                            problem=str(exc)[:120]))
    return rows, problems


@requires(COORDINATOR)
def import_attendance(session: Session, *, meeting_id: int, data: bytes, actor: Actor,
                      today: dt.date) -> dict:
    """Mark attendance from a CSV file (ledger_no,attendance,reason): every line is checked
    first; one problem and nothing is marked (every problem is listed with its line)."""
    meeting = _meeting(session, meeting_id)
    if meeting.status in (MS.CLOSED, MS.CANCELLED):
        raise Refused(_("meeting {id} is {status}; its attendance cannot be marked any "
                        "more").format(id=meeting.id, status=label(meeting.status, of="meeting_status")))
    rows, problems = _read_attendance(data)
    numbers = sorted({r[1] for r in rows if r[1]})
    members: dict[str, int] = {}
    for i in range(0, len(numbers), 500):
        members.update(session.execute(select(Member.ledger_no, Member.id)
                                       .where(Member.ledger_no.in_(numbers[i:i + 500]))).all())
    ids = sorted(set(members.values()))
    invited: dict[int, Attendance] = {}
    for i in range(0, len(ids), 500):
        for att in session.scalars(select(Attendance).where(
                Attendance.meeting_id == meeting.id,
                Attendance.member_id.in_(ids[i:i + 500]))):
            invited[att.member_id] = att
    future = meeting.status == MS.PLANNED and meeting.planned_on > today
    seen: dict[str, int] = {}
    todo: list[tuple[Attendance, A, str | None]] = []
    for line, number, status, reason in rows:
        if not number:
            problems.append(_("line {line}: the ledger number is empty").format(line=line))
            continue
        if number in seen:
            problems.append(_("line {line}: that ledger number is already on line "
                              "{first}").format(line=line, first=seen[number]))
            continue
        seen[number] = line
        mid = members.get(number)
        if mid is None:
            problems.append(_("line {line}: unknown ledger number (no member has it)").format(
                line=line))
            continue
        att = invited.get(mid)
        if att is None:
            problems.append(_("line {line}: member {member} was not invited to meeting "
                              "{meeting}").format(line=line, member=mid, meeting=meeting.id))
            continue
        try:
            mark = check_mark(status, N_("the attendance"))
            why = _text(reason, N_("the reason"), LONG_TEXT)
        except BadInput as exc:
            problems.append(_("line {line}: {problem}").format(line=line, problem=exc))
            continue
        if mark == A.EXCUSED and not why:
            problems.append(_("line {line}: excused needs a reason").format(line=line))
        elif att.status == A.MADE_UP:
            problems.append(_("line {line}: member {member} has made up this meeting "
                              "already").format(line=line, member=mid))
        elif future and mark != A.EXCUSED:
            problems.append(_("line {line}: meeting {meeting} is planned for {day}; before it "
                              "only excused can be marked").format(
                                  line=line, meeting=meeting.id, day=meeting.planned_on))
        elif att.status != mark:
            todo.append((att, mark, why))
    if problems:
        raise AttendanceFileError(problems)
    if todo and meeting.status == MS.PLANNED and any(m != A.EXCUSED for __, m, ___ in todo):
        _hold(session, meeting, actor, today)
    for att, mark, why in todo:
        move_attendance(session, att, mark, actor_id=actor.id, note=why, meeting=meeting,
                        reason="attendance file")
    return {"meeting_id": meeting.id, "marked": len(todo), "unchanged": len(rows) - len(todo)}


# --- closing ------------------------------------------------------------------------------------


@requires(COORDINATOR)
def close_meeting(session: Session, *, meeting_id: int, actor: Actor, today: dt.date,
                  chair: str | None = None, recorder: str | None = None,
                  minutes: str | None = None, decisions: str | None = None) -> dict:
    """Close a held meeting (a planned one whose day has come is held first): chair,
    recorder, minutes, decisions; members still invited are marked absent; every excused or
    absent member gets a make-up task. Closing a closed meeting again creates nothing."""
    meeting = _meeting(session, meeting_id)
    if meeting.status == MS.CANCELLED:
        raise Refused(_("meeting {id} was cancelled; there is nothing to close").format(
            id=meeting.id))
    if meeting.status == MS.CLOSED:
        return {"id": meeting.id, "closed": False, "marked_absent": 0, "make_up": _zeros()}
    if meeting.status == MS.PLANNED:
        _hold(session, meeting, actor, today)
    meeting.chair = _text(chair, N_("the chair")) or meeting.chair
    meeting.recorder = _text(recorder, N_("the recorder")) or meeting.recorder
    meeting.minutes = _text(minutes, N_("the minutes"), LONG_TEXT) or meeting.minutes
    meeting.decisions = _text(decisions, N_("the decisions"), LONG_TEXT) or meeting.decisions
    flush(session, f"meeting {meeting.id}")
    absent = session.execute(
        update(Attendance)
        .where(Attendance.meeting_id == meeting.id, Attendance.status == A.INVITED.value)
        .values(status=A.ABSENT.value, status_by=actor.id,
                status_reason="still invited when the meeting was closed",
                version=Attendance.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    made = _make_ups(session, meeting, today)
    move_meeting(session, meeting, MS.CLOSED, actor_id=actor.id,
                 reason=f"closed: {made['created']} make-up tasks")
    return {"id": meeting.id, "closed": True, "marked_absent": absent, "make_up": made}


@requires(COUNTS)
def give_make_ups(session: Session, *, meeting_id: int, actor: Actor, today: dt.date) -> dict:
    """The make-up tasks a closed meeting still lacks (the monthly flow; idempotent)."""
    meeting = _meeting(session, meeting_id)
    if meeting.status != MS.CLOSED:
        raise Refused(_("meeting {id} is {status}; make-up study is given out when it is "
                        "closed").format(id=meeting.id, status=label(meeting.status, of="meeting_status")))
    return _make_ups(session, meeting, today)


@requires(COUNTS)
def meetings_lacking_make_ups(session: Session, *, actor: Actor, since: dt.date) -> list[int]:
    """Ids of closed meetings held since ``since`` with an excused or absent contactable
    member who has no task in the meeting's make-up run."""
    has_task = (select(OutreachTask.id)
                .join(CampaignRun, CampaignRun.id == OutreachTask.run_id)
                .join(Campaign, Campaign.id == CampaignRun.campaign_id)
                .where(CampaignRun.meeting_id == Meeting.id,
                       Campaign.kind == CampaignKind.MAKE_UP.value,
                       OutreachTask.member_id == Attendance.member_id))
    stmt = (select(Meeting.id).distinct()
            .join(Attendance, Attendance.meeting_id == Meeting.id)
            .join(Member, Member.id == Attendance.member_id)
            .where(Meeting.status == MS.CLOSED.value, Meeting.held_on >= since,
                   Attendance.status.in_([str(s) for s in MISSED]),
                   Member.status.in_(CONTACTABLE), ~exists(has_task))
            .order_by(Meeting.id))
    return list(session.scalars(stmt))


# --- roles --------------------------------------------------------------------------------------


@requires(COORDINATOR)
def set_role(session: Session, *, ref: str, branch: str, role: str, actor: Actor,
             today: dt.date) -> dict:
    """Give a member a role in their branch (or a branch above it): secretary, deputy,
    committee — or none. Returns whether anything changed."""
    low = str(role).strip().lower()
    if low != rules.NONE and low not in {r.value for r in MemberRole}:
        raise BadInput(_("unknown role {value}; one of: {choices}").format(
            value=shown(str(role)),
            choices=", ".join([r.value for r in MemberRole] + [rules.NONE])))
    member = find_member(session, ref=ref)
    the_branch = branch_named(session, branch)
    new = None if low == rules.NONE else MemberRole(low)
    if new is not None:
        if the_branch.id not in tree.ancestors(session, member.branch_id):
            raise Refused(_("member {id} is not a member of branch {branch} (nor of a branch "
                            "nested in it)").format(id=member.id,
                                                    branch=repr(the_branch.name)))
        if str(member.status) not in CONTACTABLE:
            raise Refused(_("member {id} is {status}; only a current member can hold a "
                            "role").format(id=member.id, status=label(member.status, of="member_status")))
    changed = set_branch_role(session, member, the_branch.id, new, actor_id=actor.id,
                              reason=f"role in {the_branch.name}: {new or 'none'}",
                              today=today)
    return {"member_id": member.id, "branch": the_branch.name, "role": str(new or "none"),
            "changed": changed}


@requires(COORDINATOR)
def set_self_study(session: Session, *, branch: str, actor: Actor,
                   on: bool | None = None) -> dict:
    """Whether the branch accepts make-up study done alone (``branches.self_study``, off by
    default): on, a member's "I have studied it" through their own link makes a missed
    meeting ``made_up`` (``self_study``); off, the make-up task's volunteer sees the note.
    ``on`` None only reads the setting. Returns the branch, the setting, whether it
    changed."""
    the_branch = branch_named(session, branch)
    before = bool(the_branch.self_study)
    if on is not None and bool(on) != before:
        the_branch.self_study = bool(on)
        flush(session, f"branch {the_branch.id}")
    return {"branch": the_branch.name, "self_study": bool(the_branch.self_study),
            "changed": bool(the_branch.self_study) != before}


# --- reading --------------------------------------------------------------------------------


def _counts(session: Session, meeting_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(lambda: {str(s): 0 for s in A})
    for i in range(0, len(meeting_ids), 500):
        for mid, status, n in session.execute(
                select(Attendance.meeting_id, Attendance.status, func.count())
                .where(Attendance.meeting_id.in_(meeting_ids[i:i + 500]))
                .group_by(Attendance.meeting_id, Attendance.status)):
            out[mid][str(status)] = n
    return out


@requires(COORDINATOR)
def list_meetings(session: Session, *, actor: Actor, today: dt.date,
                  branch: str | None = None, period: str | None = None) -> list[dict]:
    """Meetings of a period (YYYY-MM or YYYY-Qn; default this quarter) by date, of a branch
    and the branches nested in it (default all), with their attendance counts."""
    first, last = (rules.period_bounds(period, today) if period
                   else rules.quarter_bounds(None, today))
    stmt = (select(Meeting, Branch.name).join(Branch, Branch.id == Meeting.branch_id)
            .where(func.coalesce(Meeting.held_on, Meeting.planned_on).between(first, last))
            .order_by(func.coalesce(Meeting.held_on, Meeting.planned_on), Meeting.id))
    if branch:
        stmt = stmt.where(Meeting.branch_id.in_(tree.subtree_ids(
            session, branch_named(session, branch).id)))
    found = session.execute(stmt).all()
    counts = _counts(session, [m.id for m, __ in found])
    rows = []
    for m, bname in found:
        c = counts[m.id]
        rows.append({"id": m.id, "date": m.held_on or m.planned_on, "branch": bname,
                     "kind": str(m.kind), "status": str(m.status), "topic": m.topic or "",
                     "remote_option": str(m.remote), "invited": sum(c.values()),
                     "present": c["present"], "remote": c["remote"],
                     "excused": c["excused"], "absent": c["absent"], "made_up": c["made_up"]})
    return rows


@requires(COORDINATOR)
def meeting_view(session: Session, *, meeting_id: int, actor: Actor) -> dict:
    """One meeting: its details, the branch's roles, attendance counts and every invited
    member with their mark (names and ledger numbers; no contact details)."""
    m = _meeting(session, meeting_id)
    bname = session.get(Branch, m.branch_id).name
    roles = [{"role": str(r), "member_id": i, "ledger_no": no, "name": n}
             for r, i, no, n in session.execute(
                 select(BranchRole.role, Member.id, Member.ledger_no, Member.name)
                 .join(Member, Member.id == BranchRole.member_id)
                 .where(BranchRole.branch_id == m.branch_id)
                 .order_by(BranchRole.role, Member.name))]
    invited = [{"member_id": i, "ledger_no": no, "name": n, "branch": b,
                "segment": "homebound" if hb else str(res),
                "attendance": str(st), "reason": why or "",
                "made_up": f"{on} ({how})" if on else "",
                # the member's own answer through their link (`tasks.links.member_links`): an
                # intention, the mark stays the coordinator's
                "member_answer": str(said) if said else "", "member_reason": said_why or "",
                "studied_at": studied.isoformat(sep=" ", timespec="minutes") if studied
                else ""}
               for i, no, n, b, res, hb, st, why, on, how, said, said_why, studied
               in session.execute(
                   select(Member.id, Member.ledger_no, Member.name, Branch.name,
                          Member.residence, Member.homebound, Attendance.status,
                          Attendance.reason, Attendance.made_up_on, Attendance.made_up_how,
                          Attendance.member_answer, Attendance.member_reason,
                          Attendance.studied_at)
                   .join(Member, Member.id == Attendance.member_id)
                   .join(Branch, Branch.id == Member.branch_id)
                   .where(Attendance.meeting_id == m.id).order_by(Member.ledger_no))]
    counts = {str(s): 0 for s in A}
    for row in invited:
        counts[row["attendance"]] += 1
    return {"id": m.id, "branch": bname, "kind": str(m.kind), "status": str(m.status),
            "planned_on": m.planned_on, "held_on": m.held_on, "topic": m.topic,
            "material": m.material, "place": m.place, "remote": str(m.remote),
            "remote_details": m.remote_details, "chair": m.chair, "recorder": m.recorder,
            "minutes": m.minutes, "decisions": m.decisions, "roles": roles,
            "counts": {"invited": len(invited), **counts}, "invited": invited}
