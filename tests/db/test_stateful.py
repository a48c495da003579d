"""Hypothesis stateful tests of the machines (member, task, attendance, meeting): random
moves (legal or not) through `db.state`, now and then a raw SQL UPDATE; a model tracks the
expected state and history.

Invariant after every step: replaying each row's history (ordered by id) from ``new`` gives
its current status, every row's ``from`` is the previous row's ``to``, every pair is an
allowed one, and the history equals the model's.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.db.errors import Refused
from outreach.db.machines import NEW, TaskStatus
from outreach.db.state import move_attendance, move_meeting, move_member, move_task
from tests.db import factories as f

# The expected answers come from the hand-written oracle, never from the tables under test.
allowed = f.oracle_allows
MEMBER_COORDINATOR_ONLY = f.MEMBER_COORDINATOR_ONLY

SETTINGS = settings(max_examples=30, stateful_step_count=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
MEMBER_STATES, TASK_STATES = f.MEMBER_STATES, f.TASK_STATES
MEETING_STATES, ATTENDANCE_STATES = f.MEETING_STATES, f.ATTENDANCE_STATES
MAX_ROWS = 4


class _DbMachine(RuleBasedStateMachine):
    """One connection and an outer transaction per example, rolled back at teardown."""

    engine = None  # set by the test function
    machine = ""
    table = ""
    hist = ""
    idcol = ""

    def __init__(self):
        super().__init__()
        self.conn = self.engine.connect()
        self.trans = self.conn.begin()
        self.session = Session(bind=self.conn, join_transaction_mode="create_savepoint",
                               expire_on_commit=False)
        self.rows = {}      # id -> ORM object
        self.model = {}     # id -> expected history [(from, to, ...)]

    def teardown(self):
        self.session.close()
        if self.trans.is_active:
            self.trans.rollback()
        self.conn.close()

    def current(self, row_id):
        return self.model[row_id][-1][1]

    def db_history(self, row_id):
        extra = ", volunteer_id" if self.machine == "task" else ""
        return [tuple(r) for r in self.session.execute(text(
            f"SELECT from_status, to_status, actor_id, reason{extra} FROM {self.hist} "
            f"WHERE {self.idcol} = :id ORDER BY id"), {"id": row_id})]

    def db_row(self, row_id):
        extra = ", volunteer_id" if self.machine == "task" else ""
        return self.session.execute(text(f"SELECT status{extra} FROM {self.table} "
                                         "WHERE id = :id"), {"id": row_id}).one()

    @invariant()
    def history_replays_to_current_state(self):
        for row_id, expected in self.model.items():
            rows = self.db_history(row_id)
            assert rows == expected
            state = NEW
            for row in rows:
                assert row[0] == state, f"history of {row_id} jumps: {rows}"
                assert allowed(self.machine, row[0], row[1])
                state = row[1]
            current = self.db_row(row_id)
            assert current[0] == state
            assert str(self.rows[row_id].status) == state
            if self.machine == "task":
                assert current[1] == rows[-1][4]  # the last row names the holder

    def sql_update(self, row_id, to, extra_set="", params=None):
        """A raw UPDATE in a savepoint; True when the database accepted it."""
        try:
            with self.session.begin_nested():
                self.session.execute(text(
                    f"UPDATE {self.table} SET status = :s, status_by = NULL, "
                    f"status_reason = 'sql'{extra_set} WHERE id = :id"),
                    {"s": to, "id": row_id, **(params or {})})
            ok = True
        except IntegrityError as exc:
            assert "illegal" in str(exc).lower()
            ok = False
        self.session.expire(self.rows[row_id])  # the ORM copy is stale after raw SQL
        return ok


class MemberMachine(_DbMachine):
    machine, table, hist, idcol = "member", "members", "member_status_changes", "member_id"
    members = Bundle("members")

    def __init__(self):
        super().__init__()
        self.branch = f.branch(self.session)
        self.actors = [None, f.volunteer(self.session).id, f.coordinator(self.session).id]

    @precondition(lambda self: len(self.rows) < MAX_ROWS)
    @rule(target=members, initial=st.sampled_from(MEMBER_STATES))
    def create(self, initial):
        if not allowed("member", NEW, initial):
            with pytest.raises(IntegrityError):
                with self.session.begin_nested():
                    f.member(self.session, branch_=self.branch, status=initial)
            initial = "unverified"
        m = f.member(self.session, branch_=self.branch, status=initial, status_reason="new")
        self.rows[m.id] = m
        self.model[m.id] = [(NEW, initial, None, "new")]
        return m.id

    @rule(member_id=members, to=st.sampled_from(MEMBER_STATES), coordinator=st.booleans(),
          actor=st.integers(0, 2))
    def move(self, member_id, to, coordinator, actor):
        m, cur, actor_id = self.rows[member_id], self.current(member_id), self.actors[actor]
        ok = allowed("member", cur, to) and (
            coordinator or (cur, to) not in MEMBER_COORDINATOR_ONLY)
        if ok:
            reason = f"step {len(self.model[member_id])}"
            move_member(self.session, m, to, actor_id=actor_id, reason=reason,
                        coordinator=coordinator)
            self.model[member_id].append((cur, to, actor_id, reason))
        else:
            with pytest.raises(Refused):
                move_member(self.session, m, to, actor_id=actor_id, reason="no",
                            coordinator=coordinator)

    @rule(member_id=members, to=st.sampled_from(MEMBER_STATES))
    def move_by_sql(self, member_id, to):
        cur = self.current(member_id)
        ok = self.sql_update(member_id, to)
        assert ok == (cur == to or allowed("member", cur, to))
        if ok and cur != to:
            self.model[member_id].append((cur, to, None, "sql"))


class TaskMachine(_DbMachine):
    machine, table, hist, idcol = "task", "outreach_tasks", "task_status_changes", "task_id"
    tasks = Bundle("tasks")

    def __init__(self):
        super().__init__()
        self.run = f.campaign_run(self.session)
        self.branch = f.branch(self.session)
        self.volunteers = [f.volunteer(self.session, branch_=self.branch).id for _ in range(2)]

    def holder(self, row_id):
        return self.model[row_id][-1][4]

    def after(self, row_id, to, vol):
        """(status, holder) after a legal move to ``to`` offering volunteer ``vol``."""
        return to, {TaskStatus.ASSIGNED: vol, TaskStatus.OPEN: None}.get(to, self.holder(row_id))

    @precondition(lambda self: len(self.rows) < MAX_ROWS)
    @rule(target=tasks, initial=st.sampled_from(TASK_STATES), vol=st.integers(0, 1))
    def create(self, initial, vol):
        m = f.member(self.session, branch_=self.branch)
        vid = self.volunteers[vol] if initial != TaskStatus.OPEN else None
        if not allowed("task", NEW, initial):
            with pytest.raises(IntegrityError):
                with self.session.begin_nested():
                    f.task(self.session, run=self.run, member_=m, status=initial,
                           volunteer_=self.session.get(f.Volunteer, vid))
            initial, vid = "open", None
        t = f.task(self.session, run=self.run, member_=m, status=initial, status_reason="new",
                   volunteer_=self.session.get(f.Volunteer, vid) if vid else None)
        self.rows[t.id] = t
        self.model[t.id] = [(NEW, initial, None, "new", vid)]
        return t.id

    @rule(task_id=tasks, to=st.sampled_from(TASK_STATES), vol=st.integers(0, 1),
          actor=st.sampled_from([None, 0, 1]))
    def move(self, task_id, to, vol, actor):
        t, cur = self.rows[task_id], self.current(task_id)
        vid, actor_id = self.volunteers[vol], None if actor is None else self.volunteers[actor]
        if not allowed("task", cur, to):
            with pytest.raises(Refused):
                move_task(self.session, t, to, actor_id=actor_id, reason="no",
                          volunteer_id=f.task_volunteer(to, vid))
            return
        move_task(self.session, t, to, actor_id=actor_id, reason="yes",
                  volunteer_id=f.task_volunteer(to, vid))
        status, holder = self.after(task_id, to, vid)
        if (status, holder) != (cur, self.holder(task_id)):  # same holder again: no change
            self.model[task_id].append((cur, status, actor_id, "yes", holder))

    @rule(task_id=tasks)
    def assign_to_nobody(self, task_id):
        """A legal pair that breaks a CHECK: the database refuses, the savepoint rolls back."""
        with pytest.raises(Refused):
            with self.session.begin_nested():
                move_task(self.session, self.rows[task_id], "assigned", actor_id=None,
                          reason="nobody", volunteer_id=None)

    @rule(task_id=tasks, to=st.sampled_from(TASK_STATES), vol=st.integers(0, 1))
    def move_by_sql(self, task_id, to, vol):
        cur = self.current(task_id)
        vid = f.task_volunteer(to, self.volunteers[vol])
        if vid is ...:
            ok = self.sql_update(task_id, to)
        else:
            ok = self.sql_update(task_id, to, ", volunteer_id = :v", {"v": vid})
        legal = allowed("task", cur, to)
        status, holder = self.after(task_id, to, self.volunteers[vol])
        changed = (status, holder) != (cur, self.holder(task_id))
        assert ok == (legal or not changed)
        if ok and changed:
            self.model[task_id].append((cur, status, None, "sql", holder))


class AttendanceMachine(_DbMachine):
    """Marks, corrections and make-up studies at one held meeting, through `db.state` and
    by raw SQL (keeping the make-up CHECKs true, so that only the guard decides)."""

    machine, table, hist, idcol = ("attendance", "attendance", "attendance_status_changes",
                                   "attendance_id")
    rows_ = Bundle("attendance")

    def __init__(self):
        super().__init__()
        self.branch = f.branch(self.session)
        self.meeting = f.meeting(self.session, branch_=self.branch, status="held")
        self.actors = [None, f.coordinator(self.session).id]

    @precondition(lambda self: len(self.rows) < MAX_ROWS)
    @rule(target=rows_, initial=st.sampled_from(ATTENDANCE_STATES))
    def create(self, initial):
        m = f.member(self.session, branch_=self.branch)
        if not allowed("attendance", NEW, initial):
            with pytest.raises(IntegrityError):
                with self.session.begin_nested():
                    f.attendance(self.session, meeting_=self.meeting, member_=m,
                                 status=initial, **f.MADE_UP)
            initial = "invited"
        a = f.attendance(self.session, meeting_=self.meeting, member_=m, status=initial,
                         status_reason="new")
        self.rows[a.id] = a
        self.model[a.id] = [(NEW, initial, None, "new")]
        return a.id

    @rule(row_id=rows_, to=st.sampled_from(ATTENDANCE_STATES), actor=st.integers(0, 1))
    def move(self, row_id, to, actor):
        a, cur, actor_id = self.rows[row_id], self.current(row_id), self.actors[actor]
        made_up = f.MADE_UP if to == "made_up" else {}
        if allowed("attendance", cur, to):
            move_attendance(self.session, a, to, actor_id=actor_id, reason="yes",
                            meeting=self.meeting, **made_up)
            self.model[row_id].append((cur, to, actor_id, "yes"))
        else:
            with pytest.raises(Refused):
                move_attendance(self.session, a, to, actor_id=actor_id, reason="no",
                                meeting=self.meeting, **made_up)

    @rule(row_id=rows_, to=st.sampled_from(ATTENDANCE_STATES))
    def move_by_sql(self, row_id, to):
        cur = self.current(row_id)
        made_up = to == "made_up"
        ok = self.sql_update(row_id, to, ", made_up_on = :on, made_up_how = :how",
                             {"on": f.MADE_UP["made_up_on"] if made_up else None,
                              "how": "visit" if made_up else None})
        assert ok == (cur == to or allowed("attendance", cur, to))
        if ok and cur != to:
            self.model[row_id].append((cur, to, None, "sql"))


class MeetingMachine(_DbMachine):
    """Meetings planned, moved to other dates, held, closed or cancelled; the history's
    last row always names the date the meeting is planned for."""

    machine, table, hist, idcol = "meeting", "meetings", "meeting_status_changes", "meeting_id"
    rows_ = Bundle("meetings")
    DAYS = [dt.date(2026, 3, d) for d in (5, 12, 19)]

    def __init__(self):
        super().__init__()
        self.branch = f.branch(self.session)

    def db_history(self, row_id):
        return [(a, b, actor, reason, _day(on)) for a, b, actor, reason, on in
                self.session.execute(text(
                    "SELECT from_status, to_status, actor_id, reason, planned_on FROM "
                    "meeting_status_changes WHERE meeting_id = :id ORDER BY id"), {"id": row_id})]

    def db_row(self, row_id):
        return self.session.execute(text("SELECT status, planned_on FROM meetings "
                                         "WHERE id = :id"), {"id": row_id}).one()

    @invariant()
    def planned_date_is_the_last_rows(self):
        for row_id in self.model:
            assert _day(self.db_row(row_id)[1]) == self.model[row_id][-1][4]

    @precondition(lambda self: len(self.rows) < MAX_ROWS)
    @rule(target=rows_, initial=st.sampled_from(MEETING_STATES), d=st.integers(0, 2))
    def create(self, initial, d):
        if not allowed("meeting", NEW, initial):
            with pytest.raises(IntegrityError):
                with self.session.begin_nested():
                    f.meeting(self.session, branch_=self.branch, status=initial,
                              planned_on=self.DAYS[d], held_on=self.DAYS[d])
            initial = "planned"
        m = f.meeting(self.session, branch_=self.branch, status=initial,
                      planned_on=self.DAYS[d], status_reason="new")
        self.rows[m.id] = m
        self.model[m.id] = [(NEW, initial, None, "new", self.DAYS[d])]
        return m.id

    @rule(row_id=rows_, to=st.sampled_from(MEETING_STATES), d=st.integers(0, 2))
    def move(self, row_id, to, d):
        m, cur = self.rows[row_id], self.current(row_id)
        day = self.model[row_id][-1][4]
        other = self.DAYS[d]
        planned_on = other if to == "planned" else None
        ok = allowed("meeting", cur, to) and not (to == "planned" and other == day)
        if ok:
            move_meeting(self.session, m, to, actor_id=None, reason="yes",
                         planned_on=planned_on, held_on=day if to == "held" else None)
            self.model[row_id].append((cur, to, None, "yes", planned_on or day))
        else:
            with pytest.raises(Refused):
                move_meeting(self.session, m, to, actor_id=None, reason="no",
                             planned_on=planned_on, held_on=day if to == "held" else None)

    @rule(row_id=rows_, d=st.integers(0, 2))
    def move_date_by_sql(self, row_id, d):
        """Only a planned meeting moves to another date; the same date is no change."""
        cur, day, other = self.current(row_id), self.model[row_id][-1][4], self.DAYS[d]
        try:
            with self.session.begin_nested():
                self.session.execute(text("UPDATE meetings SET planned_on = :d, "
                                          "status_reason = 'sql' WHERE id = :id"),
                                     {"d": other, "id": row_id})
            ok = True
        except IntegrityError as exc:
            assert "foreign key" in str(exc).lower()
            ok = False
        self.session.expire(self.rows[row_id])
        assert ok == (other == day or cur == "planned")
        if ok and other != day:
            self.model[row_id].append((cur, cur, None, "sql", other))


def _day(value):
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


@pytest.mark.parametrize("machine", [MemberMachine, TaskMachine, AttendanceMachine,
                                     MeetingMachine],
                         ids=["member", "task", "attendance", "meeting"])
def test_machine(engine, machine):
    bound = type(machine.__name__, (machine,), {"engine": engine})
    run_state_machine_as_test(bound, settings=SETTINGS)
