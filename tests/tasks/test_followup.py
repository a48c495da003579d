"""The daily follow-up steps on a committed database with a fixed ``today``: what each step
moves, what it leaves alone, and that a second run moves nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    Branch,
    CampaignKind,
    Member,
    MemberStatusChange,
    OutreachTask,
    Role,
    TaskStatusChange,
    Volunteer,
)
from outreach.db.session import make_engine, session_scope
from outreach.tasks.work import followup, followup_jobs
from outreach.tasks.campaigns import plan, plan_jobs
from outreach.tasks.work import outcomes as oc
from outreach.tasks.access.permissions import Actor
from tests.db import factories as f

K = CampaignKind
TODAY = dt.date(2026, 11, 20)
DAY = dt.timedelta(days=1)


@pytest.fixture
def eng(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


def actor(v: Volunteer) -> Actor:
    """The volunteer as an actor, through `authenticate` (tests.db.factories.actor)."""
    return f.actor(object_session(v), v)


def statuses(eng, ids) -> list[str]:
    with session_scope(eng, write=False) as s:
        return [str(s.get(OutreachTask, i).status) for i in ids]


def history(eng, task_id: int) -> list[tuple]:
    with session_scope(eng, write=False) as s:
        return [tuple(r) for r in s.execute(
            select(TaskStatusChange.from_status, TaskStatusChange.to_status,
                   TaskStatusChange.volunteer_id, TaskStatusChange.reason)
            .where(TaskStatusChange.task_id == task_id).order_by(TaskStatusChange.id))]


def escalations(eng, member_id: int | None = None) -> list[OutreachTask]:
    with session_scope(eng, write=False) as s:
        q = select(OutreachTask).where(OutreachTask.kind == K.ESCALATION)
        if member_id is not None:
            q = q.where(OutreachTask.member_id == member_id)
        return list(s.scalars(q.order_by(OutreachTask.id)))


# --- expire -------------------------------------------------------------------------------


def test_expire_closed_expires_open_and_assigned_tasks_past_their_window(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        v = f.volunteer(s, branch_=b)
        run = f.campaign_run(s)
        mk = lambda state, closes: f.task_in(  # noqa: E731
            s, state, member_=f.member(s, branch_=b), run=run, volunteer_=v,
            due_on=closes - 14 * DAY, closes_on=closes).id
        gone_open = mk(TS.OPEN, TODAY - DAY)
        gone_assigned = mk(TS.ASSIGNED, TODAY - 30 * DAY)
        last_day = mk(TS.ASSIGNED, TODAY)
        later = mk(TS.OPEN, TODAY + DAY)
        done = mk(TS.DONE, TODAY - 5 * DAY)
        cancelled = mk(TS.CANCELLED, TODAY - 5 * DAY)
    assert followup_jobs.expire_closed(eng, today=TODAY) == 2
    assert statuses(eng, [gone_open, gone_assigned, last_day, later, done, cancelled]) == \
        ["expired", "expired", "assigned", "open", "done", "cancelled"]
    h = history(eng, gone_assigned)[-1]
    assert h[:2] == ("assigned", "expired") and "window closed" in h[3]
    assert followup_jobs.expire_closed(eng, today=TODAY) == 0
    assert len(history(eng, gone_assigned)) == 2
    assert followup_jobs.expire_closed(eng, today=TODAY + DAY) == 1  # the last day has passed
    assert statuses(eng, [last_day, later]) == ["expired", "open"]


@pytest.mark.parametrize("step", ["expire_closed", "fail_exhausted", "mark_unreachable",
                                  "release_inactive"])
def test_a_sweep_dated_in_the_future_is_refused_and_moves_nothing(eng, step, monkeypatch):
    """Issue 11, defect 7: ``follow-up --today 2100-12-31`` expired every open task. A sweep
    acts on what happened: not after the real today plus one day (time zones)."""
    from outreach.db.errors import BadInput
    from outreach.tasks.kernel import rules

    monkeypatch.setattr(rules, "real_today", lambda: TODAY)
    with session_scope(eng) as s:
        b = f.branch(s)
        v = f.volunteer(s, branch_=b, active=False)
        t = f.task_in(s, TS.ASSIGNED, member_=f.member(s, branch_=b), volunteer_=v,
                      attempts=3, max_attempts=3, due_on=TODAY, closes_on=TODAY + DAY).id
        f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=3)
    for day in (dt.date(2100, 12, 31), TODAY + 2 * DAY):
        with pytest.raises(BadInput, match="in the future"):
            getattr(followup_jobs, step)(eng, today=day)
    assert statuses(eng, [t]) == ["assigned"]
    with session_scope(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(Member)
                        .where(Member.status == MS.UNREACHABLE)) == 0
    getattr(followup_jobs, step)(eng, today=TODAY + DAY)  # tomorrow: another time zone


# --- fail ---------------------------------------------------------------------------------


def test_fail_exhausted_fails_assigned_tasks_without_attempts_left(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        v = f.volunteer(s, branch_=b)
        run = f.campaign_run(s)
        mk = lambda state, attempts, **kw: f.task_in(  # noqa: E731
            s, state, member_=f.member(s, branch_=b), run=run, volunteer_=v,
            attempts=attempts, max_attempts=3, **kw).id
        used_up = mk(TS.ASSIGNED, 3, next_attempt_on=TODAY)
        left = mk(TS.ASSIGNED, 2)
        fresh = mk(TS.OPEN, 0)
    assert followup_jobs.fail_exhausted(eng, today=TODAY) == 1
    assert statuses(eng, [used_up, left, fresh]) == ["failed", "assigned", "open"]
    with session_scope(eng, write=False) as s:
        assert s.get(OutreachTask, used_up).next_attempt_on is None
    assert history(eng, used_up)[-1][:2] == ("assigned", "failed")
    assert followup_jobs.fail_exhausted(eng, today=TODAY) == 0
    assert len(history(eng, used_up)) == 2


# --- unreachable --------------------------------------------------------------------------


def test_mark_unreachable_escalates_once_per_member(eng):
    with session_scope(eng) as s:
        top = f.branch(s)
        b = f.branch(s, parent=top)
        coord = f.coordinator(s, branch_=top)
        f.coordinator(s, branch_=f.branch(s))  # another branch's coordinator
        three = f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=3).id
        five = f.member_in(s, MS.UNVERIFIED, branch_=b, failed_contacts=5).id
        two = f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=2).id
        dnc = f.member_in(s, MS.DO_NOT_CONTACT, branch_=b, failed_contacts=4).id
        dead = f.member_in(s, MS.DECEASED, branch_=b, failed_contacts=4).id
    out = followup_jobs.mark_unreachable(eng, today=TODAY)
    assert out == {"unreachable": 2, "escalations": 2}
    with session_scope(eng, write=False) as s:
        got = {i: str(s.get(Member, i).status) for i in (three, five, two, dnc, dead)}
    assert got == {three: "unreachable", five: "unreachable", two: "active",
                   dnc: "do_not_contact", dead: "deceased"}
    esc = escalations(eng)
    assert sorted(e.member_id for e in esc) == sorted([three, five])
    assert all(e.status == TS.ASSIGNED and e.volunteer_id == coord.id for e in esc)
    assert all(e.due_on > TODAY and e.closes_on > e.due_on for e in esc)

    again = followup_jobs.mark_unreachable(eng, today=TODAY)
    assert again == {"unreachable": 0, "escalations": 0}
    assert len(escalations(eng)) == 2
    assert followup_jobs.mark_unreachable(eng, today=TODAY + 40 * DAY)["escalations"] == 0
    assert len(escalations(eng)) == 2


def test_an_unreachable_member_without_escalation_gets_one(eng):
    """A sweep that crashed after the status change and before the escalation."""
    with session_scope(eng) as s:
        b = f.branch(s)
        f.coordinator(s, branch_=b)
        m = f.member_in(s, MS.UNREACHABLE, branch_=b, failed_contacts=3).id
    assert followup_jobs.mark_unreachable(eng, today=TODAY) == {"unreachable": 0, "escalations": 1}
    assert [e.member_id for e in escalations(eng)] == [m]
    assert followup_jobs.mark_unreachable(eng, today=TODAY)["escalations"] == 0


def test_no_second_escalation_for_a_member_escalated_by_a_recorded_outcome(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        f.coordinator(s, branch_=b)
        v = f.volunteer(s, branch_=b)
        m = f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=2)
        t = f.task(s, member_=m, status=TS.ASSIGNED, volunteer_=v)
        mid = m.id
        res = oc.record_outcome(s, task_id=t.id, outcome="no_answer", actor=actor(v),
                                today=TODAY)
        assert res.escalation_task_id is not None
    assert followup_jobs.mark_unreachable(eng, today=TODAY) == {"unreachable": 0, "escalations": 0}
    assert len(escalations(eng, mid)) == 1


def test_a_member_without_a_coordinator_gets_an_open_escalation(eng):
    with session_scope(eng) as s:
        m = f.member_in(s, MS.ACTIVE, failed_contacts=3).id
    assert followup_jobs.mark_unreachable(eng, today=TODAY)["escalations"] == 1
    [e] = escalations(eng, m)
    assert e.status == TS.OPEN and e.volunteer_id is None
    assert followup_jobs.mark_unreachable(eng, today=TODAY)["escalations"] == 0


def _reach_again_and_lose(eng, mid: int, coord_id: int, v_id: int, day: dt.date,
                          close_escalation: bool) -> None:
    """The member is reached (active again), then fails three contacts again."""
    with session_scope(eng) as s:
        coord, v = s.get(Volunteer, coord_id), s.get(Volunteer, v_id)
        if close_escalation:
            [e] = [e for e in escalations(eng, mid) if e.status == TS.ASSIGNED]
            oc.record_outcome(s, task_id=e.id, outcome="reached", actor=actor(coord), today=day)
        m = s.get(Member, mid)
        t = f.task(s, member_=m, status=TS.ASSIGNED, volunteer_=v, max_attempts=5)
        oc.record_outcome(s, task_id=t.id, outcome="reached", actor=actor(v), today=day)
        assert m.status == MS.ACTIVE and m.failed_contacts == 0
        m.failed_contacts = 3  # three failed contacts later, as a bulk import might leave it
        s.flush()


@pytest.mark.parametrize("close_escalation", [True, False])
def test_one_escalation_per_unreachable_spell(eng, close_escalation):
    with session_scope(eng) as s:
        b = f.branch(s)
        coord = f.coordinator(s, branch_=b)
        v = f.volunteer(s, branch_=b)
        mid = f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=3).id
        ids = (coord.id, v.id)
    assert followup_jobs.mark_unreachable(eng, today=TODAY)["escalations"] == 1
    with session_scope(eng) as s:  # that sweep ran on TODAY (timestamps are real time, and
        # an outcome may not be dated before its task was made)
        [e] = s.scalars(select(OutreachTask).where(OutreachTask.kind == K.ESCALATION))
        e.created_at = dt.datetime.combine(TODAY, dt.time())
    # recorded on the real day: a visit cannot be dated before its task was made
    _reach_again_and_lose(eng, mid, *ids, dt.date.today(), close_escalation)
    out = followup_jobs.mark_unreachable(eng, today=TODAY + 3 * DAY)
    assert out["unreachable"] == 1
    open_esc = [e for e in escalations(eng, mid) if e.status in (TS.OPEN, TS.ASSIGNED)]
    # a second spell: a new escalation when the first was closed, the open one otherwise
    assert len(open_esc) == 1
    assert out["escalations"] == (1 if close_escalation else 0)
    assert followup_jobs.mark_unreachable(eng, today=TODAY + 3 * DAY) == \
        {"unreachable": 0, "escalations": 0}
    assert followup_jobs.mark_unreachable(eng, today=TODAY + 4 * DAY)["escalations"] == 0


# --- inactive volunteers ------------------------------------------------------------------


def test_release_inactive_reopens_their_tasks_and_assign_open_hands_them_on(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        leaving = f.volunteer(s, branch_=b)
        staying = f.volunteer(s, branch_=b, capacity=5)
        run = plan.open_run(s, K.PHONE_VISIT, "2026-11")
        held = [f.task(s, member_=f.member(s, branch_=b), run=run, status=TS.ASSIGNED,
                       volunteer_=leaving).id for _ in range(2)]
        done = f.task_in(s, TS.DONE, member_=f.member(s, branch_=b), run=run,
                         volunteer_=leaving).id
        other = f.task(s, member_=f.member(s, branch_=b), run=run, status=TS.ASSIGNED,
                       volunteer_=staying).id
        leaving.active = False
        ids = (leaving.id, staying.id, run.id)
    assert followup_jobs.release_inactive(eng, today=TODAY) == 2
    assert statuses(eng, held + [done, other]) == ["open", "open", "done", "assigned"]
    h = history(eng, held[0])[-1]
    assert h[:3] == ("assigned", "open", None) and "volunteer inactive" in h[3]
    assert followup_jobs.release_inactive(eng, today=TODAY) == 0

    out = plan_jobs.assign_open(eng, ids[2])
    assert out["assigned"] == 2 and out["still_open"] == 0
    with session_scope(eng, write=False) as s:
        assert {s.get(OutreachTask, i).volunteer_id for i in held} == {ids[1]}
    assert history(eng, held[0])[-1][:3] == ("open", "assigned", ids[1])
    assert followup_jobs.release_inactive(eng, today=TODAY) == 0


def test_release_inactive_hands_escalations_to_another_coordinator(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        c1 = f.coordinator(s, branch_=b)
        m = f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=3)
        ids = (c1.id, m.id)
    followup_jobs.mark_unreachable(eng, today=TODAY)
    [e] = escalations(eng, ids[1])
    assert e.volunteer_id == ids[0]
    with session_scope(eng) as s:
        s.get(Volunteer, ids[0]).active = False
        c2 = f.coordinator(s, branch_=s.get(Branch, s.get(Member, ids[1]).branch_id)).id
    followup_jobs.release_inactive(eng, today=TODAY)
    [e] = escalations(eng, ids[1])
    # an escalation is a coordinator's work: planning's assign_open never hands it out
    assert (e.status, e.volunteer_id) == (TS.ASSIGNED, c2)
    assert followup_jobs.release_inactive(eng, today=TODAY) == 0


# --- reminders and retries ----------------------------------------------------------------


def test_reminders_and_retries_due_count_from_today(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        v1 = f.volunteer(s, branch_=b, name="Vera")
        v2 = f.volunteer(s, branch_=b, name="Walt")
        run = f.campaign_run(s)
        mk = lambda v, due, state=TS.ASSIGNED, **kw: f.task_in(  # noqa: E731
            s, state, member_=f.member(s, branch_=b, phone="555 0100",
                                       home_address="1 Secret Street"),
            run=run, volunteer_=v, due_on=due, **kw)
        mk(v1, TODAY - 5 * DAY, next_attempt_on=TODAY)
        mk(v1, TODAY - DAY, next_attempt_on=TODAY - 2 * DAY)
        mk(v1, TODAY, next_attempt_on=TODAY + DAY)     # due today: not overdue
        mk(v2, TODAY - 3 * DAY)
        mk(v2, TODAY - 9 * DAY, TS.DONE)                # closed: no reminder
        mk(v2, TODAY - 9 * DAY, TS.OPEN)                # nobody holds it
        mk(v2, TODAY - 9 * DAY, TS.DONE, next_attempt_on=TODAY)
        ids = (v1.id, v2.id)
    with session_scope(eng, write=False) as s:
        rem = followup.reminders(s, today=TODAY)
        assert followup.retries_due(s, today=TODAY) == 2
        assert followup.retries_due(s, today=TODAY + DAY) == 3
        assert followup.retries_due(s, today=TODAY - 3 * DAY) == 0
        assert followup.open_unassigned(s) == 1
        assert followup.reminders(s, today=TODAY - 10 * DAY) == []
    assert rem == [
        {"volunteer_id": ids[0], "volunteer": "Vera", "overdue": 2,
         "oldest_due": (TODAY - 5 * DAY).isoformat(), "days_late": 5},
        {"volunteer_id": ids[1], "volunteer": "Walt", "overdue": 1,
         "oldest_due": (TODAY - 3 * DAY).isoformat(), "days_late": 3},
    ]
    assert "555 0100" not in repr(rem) and "Secret" not in repr(rem)


def test_the_whole_sweep_twice_moves_nothing_the_second_time(eng):
    with session_scope(eng) as s:
        b = f.branch(s)
        f.coordinator(s, branch_=b)
        v = f.volunteer(s, branch_=b)
        gone = f.volunteer(s, branch_=b)
        run = f.campaign_run(s)
        f.task(s, member_=f.member(s, branch_=b), run=run, status=TS.ASSIGNED, volunteer_=v,
               due_on=TODAY - 30 * DAY, closes_on=TODAY - DAY)
        f.task(s, member_=f.member(s, branch_=b), run=run, status=TS.ASSIGNED, volunteer_=v,
               attempts=3, due_on=TODAY)
        f.task(s, member_=f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=3), run=run,
               status=TS.ASSIGNED, volunteer_=gone, due_on=TODAY + DAY)
        gone.active = False

    def sweep():
        return (followup_jobs.expire_closed(eng, today=TODAY),
                followup_jobs.fail_exhausted(eng, today=TODAY),
                followup_jobs.mark_unreachable(eng, today=TODAY),
                followup_jobs.release_inactive(eng, today=TODAY))

    def rows():
        with session_scope(eng, write=False) as s:
            return tuple(s.scalar(select(func.count()).select_from(t))
                         for t in (TaskStatusChange, MemberStatusChange, OutreachTask))

    assert sweep() == (1, 1, {"unreachable": 1, "escalations": 1}, 1)
    before = rows()
    assert sweep() == (0, 0, {"unreachable": 0, "escalations": 0}, 0)
    assert rows() == before
    with session_scope(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(Volunteer).where(
            Volunteer.role == Role.COORDINATOR)) == 1
