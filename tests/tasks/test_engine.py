"""The task engine for meetings (`tasks.work.engine`): a meeting's run, and tasks given out by the
planning rule — idempotent, within capacity, continuity first, own branch then up the
tree, only volunteers, left open when nobody has room. Runs on SQLite, and on PostgreSQL
when ``OUTREACH_TEST_DATABASE_URL`` is set (the ``session`` fixture)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.db.errors import BadInput, NotFound
from outreach.db.machines import AttendanceStatus as AS
from outreach.db.machines import MeetingStatus
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import CampaignKind, CampaignRun, OutreachTask, Role, TaskStatusChange
from outreach.tasks.work import engine
from tests.db import factories as f

DUE, CLOSES = dt.date(2026, 4, 1), dt.date(2026, 4, 30)
#: The members of a meeting who missed it (what `meeting close` gives make-up study).
MISSED_SQL = ("SELECT a.member_id FROM attendance a WHERE a.meeting_id = :meeting "
              "AND a.status IN ('excused', 'absent')")


def _meeting_with(session, branch, members, status=AS.ABSENT):
    meeting = f.meeting(session, branch_=branch, status=MeetingStatus.HELD, material="Booklet 3")
    for m in members:
        f.attendance(session, meeting_=meeting, member_=m, status=status)
    return meeting


def _give(session, meeting, kind=CampaignKind.MAKE_UP, **kw):
    run = engine.meeting_run(session, kind=kind, meeting_id=meeting.id)
    counts = engine.give_tasks(session, run_id=run.id, kind=kind, member_ids_sql=MISSED_SQL,
                               params={"meeting": meeting.id}, due_on=DUE, closes_on=CLOSES,
                               **kw)
    return run, counts


def _tasks(session, run_id):
    session.expire_all()
    return {t.member_id: t for t in session.scalars(
        select(OutreachTask).where(OutreachTask.run_id == run_id))}


def _load(session, volunteer_id):
    return session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.volunteer_id == volunteer_id, OutreachTask.status == TS.ASSIGNED))


def test_meeting_run_is_one_run_per_meeting_and_kind(session):
    meeting = f.meeting(session, material="Booklet 7")
    a = engine.meeting_run(session, kind="make_up", meeting_id=meeting.id)
    b = engine.meeting_run(session, kind=CampaignKind.MAKE_UP, meeting_id=meeting.id)
    n = engine.meeting_run(session, kind="notice", meeting_id=meeting.id)
    assert a.id == b.id != n.id
    assert (a.period, a.meeting_id, a.material) == (f"m{meeting.id}", meeting.id, "Booklet 7")
    assert n.meeting_id == meeting.id
    with pytest.raises(BadInput, match="notice or make_up"):
        engine.meeting_run(session, kind="survey", meeting_id=meeting.id)
    with pytest.raises(NotFound):
        engine.meeting_run(session, kind="notice", meeting_id=10**9)


def test_give_tasks_assigns_by_load_and_rerun_creates_nothing(session):
    branch = f.branch(session)
    v1 = f.volunteer(session, branch_=branch, capacity=5)
    v2 = f.volunteer(session, branch_=branch, capacity=5)
    coord = f.coordinator(session, branch_=branch, capacity=50)
    members = [f.member(session, branch_=branch) for _ in range(4)]
    meeting = _meeting_with(session, branch, members)
    present = f.member(session, branch_=branch)
    f.attendance(session, meeting_=meeting, member_=present, status=AS.PRESENT)

    run, counts = _give(session, meeting)
    assert counts == {"created": 4, "assigned": 4, "open": 0}
    tasks = _tasks(session, run.id)
    assert set(tasks) == {m.id for m in members}  # the present member gets none
    assert all(t.kind == CampaignKind.MAKE_UP and t.status == TS.ASSIGNED
               and t.due_on == DUE and t.closes_on == CLOSES and t.max_attempts == 3
               for t in tasks.values())
    assert _load(session, v1.id) == _load(session, v2.id) == 2  # least loaded first
    assert _load(session, coord.id) == 0  # coordinators keep their room for escalations
    # the database's triggers wrote the history of each task
    assert session.scalar(select(func.count()).select_from(TaskStatusChange).where(
        TaskStatusChange.task_id.in_([t.id for t in tasks.values()]),
        TaskStatusChange.from_status == "new", TaskStatusChange.to_status == "assigned")) == 4

    _run, again = _give(session, meeting)
    assert again == {"created": 0, "assigned": 0, "open": 0}
    assert len(_tasks(session, run.id)) == 4


def test_give_tasks_respects_capacity_across_runs_and_leaves_the_rest_open(session):
    branch = f.branch(session)
    vol = f.volunteer(session, branch_=branch, capacity=3)
    f.task(session, status=TS.ASSIGNED, volunteer_=vol)  # already busy elsewhere
    members = [f.member(session, branch_=branch) for _ in range(4)]
    meeting = _meeting_with(session, branch, members)

    run, counts = _give(session, meeting)
    assert counts == {"created": 4, "assigned": 2, "open": 2}
    assert _load(session, vol.id) == 3
    tasks = _tasks(session, run.id)
    first_two = sorted(m.id for m in members)[:2]
    assert {mid for mid, t in tasks.items() if t.status == TS.ASSIGNED} == set(first_two)
    assert all(t.volunteer_id is None and t.status_reason == "planned"
               for t in tasks.values() if t.status == TS.OPEN)


def test_nobody_with_room_leaves_every_task_open(session):
    branch = f.branch(session)
    f.volunteer(session, branch_=branch, capacity=0)
    f.volunteer(session, branch_=branch, active=False)
    members = [f.member(session, branch_=branch) for _ in range(3)]
    meeting = _meeting_with(session, branch, members, status=AS.EXCUSED)
    run, counts = _give(session, meeting)
    assert counts == {"created": 3, "assigned": 0, "open": 3}
    assert {t.status for t in _tasks(session, run.id).values()} == {TS.OPEN}


def test_continuity_then_the_parent_branch(session):
    parent = f.branch(session)
    child = f.branch(session, parent=parent)
    up = f.volunteer(session, branch_=parent, capacity=10)
    f.volunteer(session, branch_=f.branch(session), capacity=10)  # another tree: never
    known = f.volunteer(session, branch_=child, capacity=10)
    f.task(session, status=TS.ASSIGNED, volunteer_=known)  # busier than a newcomer would be
    m_known = f.member(session, branch_=child, last_reached_by=known.id)
    m_rest = [f.member(session, branch_=child) for _ in range(2)]
    # the known volunteer takes the own-branch members too (the only one there)
    meeting = _meeting_with(session, child, [m_known, *m_rest])
    run, counts = _give(session, meeting)
    tasks = _tasks(session, run.id)
    assert tasks[m_known.id].volunteer_id == known.id
    assert tasks[m_known.id].status_reason == "assigned (continuity)"
    assert {tasks[m.id].volunteer_id for m in m_rest} == {known.id}

    # with the child's volunteer full, the parent's volunteer takes them
    known.capacity = _load(session, known.id)
    session.flush()
    more = [f.member(session, branch_=child) for _ in range(2)]
    meeting2 = _meeting_with(session, child, more)
    run2, counts2 = _give(session, meeting2, kind=CampaignKind.NOTICE)
    tasks2 = _tasks(session, run2.id)
    assert counts2 == {"created": 2, "assigned": 2, "open": 0}
    assert {t.volunteer_id for t in tasks2.values()} == {up.id}
    assert {t.status_reason for t in tasks2.values()} == {"assigned (parent branch)"}
    assert {t.kind for t in tasks2.values()} == {CampaignKind.NOTICE}


def test_give_tasks_skips_members_who_may_not_be_contacted(session):
    branch = f.branch(session)
    f.volunteer(session, branch_=branch)
    fine = f.member(session, branch_=branch)
    gone = f.member_in(session, "deceased", branch_=branch)
    quiet = f.member_in(session, "do_not_contact", branch_=branch)
    meeting = _meeting_with(session, branch, [fine, gone, quiet])
    run, counts = _give(session, meeting)
    assert counts["created"] == 1 and set(_tasks(session, run.id)) == {fine.id}


def test_give_tasks_refuses_a_run_of_another_kind_and_bad_settings(session):
    meeting = f.meeting(session)
    run = engine.meeting_run(session, kind="notice", meeting_id=meeting.id)
    args = dict(member_ids_sql=MISSED_SQL, params={"meeting": meeting.id})
    with pytest.raises(BadInput, match="not a make_up run"):
        engine.give_tasks(session, run_id=run.id, kind="make_up", due_on=DUE,
                          closes_on=CLOSES, **args)
    with pytest.raises(BadInput, match="close"):
        engine.give_tasks(session, run_id=run.id, kind="notice", due_on=CLOSES,
                          closes_on=DUE, **args)
    with pytest.raises(BadInput, match="attempts"):
        engine.give_tasks(session, run_id=run.id, kind="notice", due_on=DUE,
                          closes_on=CLOSES, max_attempts=0, **args)
    with pytest.raises(NotFound):
        engine.give_tasks(session, run_id=10**9, kind="notice", due_on=DUE,
                          closes_on=CLOSES, **args)
    assert session.scalar(select(func.count()).select_from(CampaignRun).where(
        CampaignRun.meeting_id == meeting.id)) == 1


def test_only_role_volunteer_takes_meeting_tasks(session):
    branch = f.branch(session)
    f.volunteer(session, branch_=branch, role=Role.COORDINATOR, capacity=50)
    meeting = _meeting_with(session, branch, [f.member(session, branch_=branch)])
    _run, counts = _give(session, meeting)
    assert counts == {"created": 1, "assigned": 0, "open": 1}


def test_a_notice_card_shows_the_meeting_and_the_remote_option(session):
    from outreach.cli.volunteer import render_card
    from outreach.tasks.work.worklist import task_view

    branch = f.branch(session)
    vol = f.volunteer(session, branch_=branch)
    member = f.member(session, branch_=branch)
    meeting = f.meeting(session, branch_=branch, kind="assembly", topic="Annual report",
                        material="Report 2026", remote="video", remote_details="room 42")
    f.attendance(session, meeting_=meeting, member_=member)
    run = engine.meeting_run(session, kind="notice", meeting_id=meeting.id)
    engine.give_tasks(session, run_id=run.id, kind="notice", member_ids_sql=(
        "SELECT a.member_id FROM attendance a WHERE a.meeting_id = :meeting"),
        params={"meeting": meeting.id}, due_on=DUE, closes_on=CLOSES)
    task = _tasks(session, run.id)[member.id]
    view = task_view(session, task_id=task.id, actor=f.actor(session, vol))
    assert view["meeting"] == {
        "id": meeting.id, "kind": "assembly", "status": "planned",
        "on": meeting.planned_on.isoformat(), "topic": "Annual report",
        "material": "Report 2026", "place": None, "remote": "video",
        "remote_details": "room 42", "attendance": "invited", "attendance_reason": None,
        "member_answer": None, "member_reason": None, "studied_at": None}
    assert view["success"] == "reached" and "visited" not in view["outcomes"]
    card = render_card(view)
    assert f"assembly on {meeting.planned_on.isoformat()}" in card
    assert "video (room 42)" in card and "Report 2026" in card and "take an excuse" in card
    # a planned task's card has no meeting part
    other = f.task(session, status=TS.ASSIGNED, volunteer_=vol)
    assert "meeting" not in task_view(session, task_id=other.id, actor=f.actor(session, vol))


def test_meeting_tasks_left_open_are_handed_out_later_by_assign_open(db_url):
    """What found no room when the meeting gave it out goes to a volunteer who has room
    later, by the same rule (`plan_jobs.assign_open`), like a campaign's leftovers."""
    from sqlalchemy.orm import Session

    from outreach.db.session import make_engine
    from outreach.tasks.campaigns import plan_jobs

    eng = make_engine(db_url)
    try:
        with Session(eng, expire_on_commit=False) as s, s.begin():
            branch = f.branch(s)
            members = [f.member(s, branch_=branch) for _ in range(3)]
            meeting = _meeting_with(s, branch, members)
            run, counts = _give(s, meeting)
        assert counts == {"created": 3, "assigned": 0, "open": 3}
        with Session(eng, expire_on_commit=False) as s, s.begin():
            vol = f.volunteer(s, branch_=s.get(type(branch), branch.id), capacity=2)
        out = plan_jobs.assign_open(eng, run.id)
        assert (out["assigned"], out["still_open"]) == (2, 1)
        with Session(eng) as s:
            tasks = _tasks(s, run.id)
            assert sorted(t.volunteer_id for t in tasks.values() if t.volunteer_id) == \
                [vol.id, vol.id]
    finally:
        eng.dispose()
