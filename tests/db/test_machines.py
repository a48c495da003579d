"""The state machines against an independent oracle (`tests.db.factories`: every allowed
pair and every coordinator-only pair written out by hand, not computed from `db.machines`):
the code's tables equal it, the tables a migrated database holds equal it, and every
(from, to) pair through `db.state` moves exactly when the oracle allows it — writing one
history row — and is refused with a clear message otherwise."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from outreach.db import machines
from outreach.db.errors import Refused
from outreach.db.machines import (
    NEW,
    AttendanceStatus,
    CareStatus,
    MeetingStatus,
    MemberStatus,
    TaskStatus,
)
from outreach.db.models import MemberStatusChange, TaskStatusChange
from outreach.db.state import move_member, move_task
from tests.db import factories as f

MEMBER_STATES, TASK_STATES = f.MEMBER_STATES, f.TASK_STATES
MEMBER_PAIRS, TASK_PAIRS = f.MEMBER_PAIRS, f.TASK_PAIRS
COORDINATOR_ONLY = sorted(f.MEMBER_COORDINATOR_ONLY)


def _ids(pair):
    return f"{pair[0]}->{pair[1]}"


def member_history(session, member_id):
    return session.scalars(select(MemberStatusChange)
                           .where(MemberStatusChange.member_id == member_id)
                           .order_by(MemberStatusChange.id)).all()


def task_history(session, task_id):
    return session.scalars(select(TaskStatusChange)
                           .where(TaskStatusChange.task_id == task_id)
                           .order_by(TaskStatusChange.id)).all()


def db_status(session, table, row_id):
    return session.execute(text(f"SELECT status FROM {table} WHERE id = :id"),
                           {"id": row_id}).scalar_one()


# --- the tables themselves against the oracle ----------------------------------------------

MACHINES = ["member", "task", "meeting", "attendance", "care"]


def test_the_states_are_the_oracles():
    assert [str(x) for x in MemberStatus] == f.MEMBER_STATES
    assert [str(x) for x in TaskStatus] == f.TASK_STATES
    assert [str(x) for x in MeetingStatus] == f.MEETING_STATES
    assert [str(x) for x in AttendanceStatus] == f.ATTENDANCE_STATES
    assert [str(x) for x in CareStatus] == f.CARE_STATES
    assert set(machines.MACHINES) == set(f.ORACLE) == set(MACHINES)


@pytest.mark.parametrize("machine", MACHINES)
def test_code_table_equals_the_oracle(machine):
    """Exactly the hand-written pairs: a pair added to or dropped from `db.machines` fails."""
    assert set(machines.pairs(machine)) == f.ORACLE[machine]
    table = machines.MACHINES[machine]
    assert {(str(a), str(b)) for a, targets in table.items() for b in targets} == f.ORACLE[machine]
    assert set(table) == {NEW, *f.STATES[machine]}


@pytest.mark.parametrize("machine", MACHINES)
def test_allowed_answers_as_the_oracle_for_every_pair(machine):
    states = [NEW] + f.STATES[machine]
    for a in states:
        for b in states:
            assert machines.allowed(machine, a, b) == ((a, b) in f.ORACLE[machine]), (a, b)


def test_coordinator_only_pairs_equal_the_oracle():
    """Dropping "only a coordinator undoes do-not-contact" (or a death) from the code fails."""
    assert {(str(a), str(b)) for a, b in machines.MEMBER_COORDINATOR_ONLY} == \
        f.MEMBER_COORDINATOR_ONLY
    assert f.MEMBER_COORDINATOR_ONLY <= f.MEMBER_ALLOWED  # the oracle is consistent


def test_database_transition_tables_equal_the_oracle(session):
    """What a migrated database holds (the frozen migrations' rows) is the oracle too."""
    member = session.execute(text("SELECT from_status, to_status, coordinator_only "
                                  "FROM member_transition")).all()
    task = session.execute(text("SELECT from_status, to_status FROM task_transition")).all()
    assert {(a, b) for a, b, _ in member} == f.MEMBER_ALLOWED
    assert {(a, b) for a, b, c in member if c} == f.MEMBER_COORDINATOR_ONLY
    assert {(a, b) for a, b in task} == f.TASK_ALLOWED
    assert len(member) == len(f.MEMBER_ALLOWED) and len(task) == len(f.TASK_ALLOWED)
    for machine in ("meeting", "attendance", "care"):
        rows = session.execute(text(f"SELECT from_status, to_status FROM {machine}_transition"
                                    )).all()
        assert len(rows) == len(f.ORACLE[machine])
        assert set(map(tuple, rows)) == f.ORACLE[machine]


@pytest.mark.parametrize("machine", MACHINES)
def test_every_state_is_reachable_from_new(machine):
    for s in f.STATES[machine]:
        assert f.path_to(machine, s)[-1] == s


def test_final_states_have_no_way_out():
    assert not machines.MEMBER_TRANSITIONS[MemberStatus.DECEASED]
    assert {str(x) for x in machines.FINAL_TASK} == {"done", "failed", "cancelled", "expired"}
    for final in machines.FINAL_TASK:
        assert not machines.TASK_TRANSITIONS[final]


def test_path_to():
    assert f.path_to("member", "unverified") == ["unverified"]
    assert f.path_to("task", "done") == ["assigned", "done"]
    with pytest.raises(ValueError):
        f.path_to("task", "nowhere")


# --- creation: the first row of history ---------------------------------------------------

@pytest.mark.parametrize("initial", f.oracle_initial("member"))
def test_new_member_writes_first_history_row(session, initial):
    actor = f.volunteer(session)
    m = f.member(session, status=initial, status_by=actor.id, status_reason="imported")
    [row] = member_history(session, m.id)
    assert (row.from_status, row.to_status, row.actor_id, row.reason) == (
        NEW, initial, actor.id, "imported")


@pytest.mark.parametrize("initial", f.oracle_initial("task"))
def test_new_task_writes_first_history_row(session, initial):
    v = f.volunteer(session)
    t = f.task(session, status=initial,
               volunteer_=v if initial == TaskStatus.ASSIGNED else None)
    [row] = task_history(session, t.id)
    assert (row.from_status, row.to_status, row.volunteer_id) == (NEW, initial, t.volunteer_id)


# --- every member pair --------------------------------------------------------------------

@pytest.mark.parametrize("src,dst", MEMBER_PAIRS, ids=map(_ids, MEMBER_PAIRS))
def test_move_member_every_pair(session, src, dst):
    coord = f.coordinator(session)
    m = f.member_in(session, src, actor=coord)
    assert db_status(session, "members", m.id) == src
    before = member_history(session, m.id)
    assert before[-1].to_status == src

    if not f.oracle_allows("member", src, dst):
        with pytest.raises(Refused) as err:
            move_member(session, m, dst, actor_id=coord.id, reason="try", coordinator=True)
        msg = str(err.value)
        assert f"member {m.id} is {src}; it cannot become {dst}" in msg
        assert db_status(session, "members", m.id) == src
        assert member_history(session, m.id) == before
        return

    needs_coordinator = (src, dst) in f.MEMBER_COORDINATOR_ONLY
    move_member(session, m, dst, actor_id=coord.id, reason="because",
                coordinator=needs_coordinator)
    assert db_status(session, "members", m.id) == dst
    after = member_history(session, m.id)
    assert len(after) == len(before) + 1
    row = after[-1]
    assert (row.member_id, row.from_status, row.to_status, row.actor_id, row.reason) == (
        m.id, src, dst, coord.id, "because")


@pytest.mark.parametrize("src,dst", COORDINATOR_ONLY, ids=map(_ids, COORDINATOR_ONLY))
def test_coordinator_only_member_moves(session, src, dst):
    v = f.volunteer(session)
    m = f.member_in(session, src, actor=v)
    before = member_history(session, m.id)
    with pytest.raises(Refused, match="needs a coordinator"):
        move_member(session, m, dst, actor_id=v.id, reason="try")
    assert db_status(session, "members", m.id) == src
    assert str(m.status) == src
    assert member_history(session, m.id) == before


# --- every task pair ----------------------------------------------------------------------

@pytest.mark.parametrize("src,dst", TASK_PAIRS, ids=map(_ids, TASK_PAIRS))
def test_move_task_every_pair(session, src, dst):
    actor = f.coordinator(session)
    v1, v2 = f.volunteer(session), f.volunteer(session)
    t = f.task_in(session, src, volunteer_=v1, actor=actor)
    assert db_status(session, "outreach_tasks", t.id) == src
    before = task_history(session, t.id)
    assert before[-1].to_status == src

    if not f.oracle_allows("task", src, dst):
        with pytest.raises(Refused) as err:
            move_task(session, t, dst, actor_id=actor.id, reason="try",
                      volunteer_id=f.task_volunteer(dst, v2.id))
        assert f"task {t.id} is {src}; it cannot become {dst}" in str(err.value)
        assert db_status(session, "outreach_tasks", t.id) == src
        assert task_history(session, t.id) == before
        return

    # to assigned: to v2, so that assigned -> assigned is a real reassignment
    move_task(session, t, dst, actor_id=actor.id, reason="because",
              volunteer_id=f.task_volunteer(dst, v2.id))
    assert db_status(session, "outreach_tasks", t.id) == dst
    after = task_history(session, t.id)
    assert len(after) == len(before) + 1
    row = after[-1]
    assert (row.task_id, row.from_status, row.to_status, row.actor_id, row.reason) == (
        t.id, src, dst, actor.id, "because")
    assert row.volunteer_id == t.volunteer_id
    expected_volunteer = {TaskStatus.ASSIGNED: v2.id, TaskStatus.OPEN: None}.get(
        dst, before[-1].volunteer_id)
    assert row.volunteer_id == expected_volunteer


def test_refusal_names_the_allowed_next_states(session):
    m = f.member_in(session, "deceased")
    with pytest.raises(Refused, match=r"from deceased: \(final\)"):
        move_member(session, m, "active", actor_id=None, reason="x", coordinator=True)
    t = f.task_in(session, "open")
    with pytest.raises(Refused, match=r"from open: assigned, cancelled, expired"):
        move_task(session, t, "done", actor_id=None, reason="x")
    with pytest.raises(Refused, match="cannot become nonsense"):
        move_task(session, t, "nonsense", actor_id=None, reason="x")


def test_database_refusal_becomes_refused(session):
    """A legal pair that breaks a task CHECK (assigned without a volunteer): the database
    refuses, `db.state.flush` turns it into Refused; the savepoint's owner rolls back."""
    t = f.task_in(session, "open")
    with pytest.raises(Refused, match="database refused"):
        with session.begin_nested():
            move_task(session, t, "assigned", actor_id=None, reason="nobody")
    assert db_status(session, "outreach_tasks", t.id) == "open"
    assert [r.to_status for r in task_history(session, t.id)] == ["open"]
    session.refresh(t)
    move_task(session, t, "cancelled", actor_id=None, reason="the session goes on")
    assert db_status(session, "outreach_tasks", t.id) == "cancelled"
