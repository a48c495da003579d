"""Every (from, to) pair of both machines through `db.state`: allowed pairs move and write
exactly one history row, every other pair is refused with a clear message."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from db import machines
from db.errors import Refused
from db.machines import (
    MEMBER_COORDINATOR_ONLY,
    MEMBER_TRANSITIONS,
    NEW,
    TASK_TRANSITIONS,
    MemberStatus,
    TaskStatus,
    allowed,
)
from db.models import MemberStatusChange, TaskStatusChange
from db.state import move_member, move_task
from tests.db import factories as f

MEMBER_STATES, TASK_STATES = f.MEMBER_STATES, f.TASK_STATES
MEMBER_PAIRS, TASK_PAIRS = f.MEMBER_PAIRS, f.TASK_PAIRS


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


# --- the tables themselves ----------------------------------------------------------------

@pytest.mark.parametrize("machine,states", [("member", MEMBER_STATES), ("task", TASK_STATES)])
def test_table_covers_every_state(machine, states):
    table = machines.MACHINES[machine]
    assert set(table) == {NEW, *states}
    for targets in table.values():
        assert set(targets) <= set(states)
    for s in states:  # every state is reachable from new
        assert f.path_to(machine, s)[-1] == s


def test_coordinator_only_pairs_are_allowed_pairs():
    assert MEMBER_COORDINATOR_ONLY
    for a, b in MEMBER_COORDINATOR_ONLY:
        assert allowed("member", a, b)
    assert not MEMBER_TRANSITIONS[MemberStatus.DECEASED]
    for final in machines.FINAL_TASK:
        assert not TASK_TRANSITIONS[final]


def test_path_to():
    assert f.path_to("member", "unverified") == ["unverified"]
    assert f.path_to("task", "done") == ["assigned", "done"]
    with pytest.raises(ValueError):
        f.path_to("task", "nowhere")


# --- creation: the first row of history ---------------------------------------------------

@pytest.mark.parametrize("initial", sorted(MEMBER_TRANSITIONS[NEW]))
def test_new_member_writes_first_history_row(session, initial):
    actor = f.volunteer(session)
    m = f.member(session, status=initial, status_by=actor.id, status_reason="imported")
    [row] = member_history(session, m.id)
    assert (row.from_status, row.to_status, row.actor_id, row.reason) == (
        NEW, initial, actor.id, "imported")


@pytest.mark.parametrize("initial", sorted(TASK_TRANSITIONS[NEW]))
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

    if not allowed("member", src, dst):
        with pytest.raises(Refused) as err:
            move_member(session, m, dst, actor_id=coord.id, reason="try", coordinator=True)
        msg = str(err.value)
        assert f"member {m.id} is {src}; it cannot become {dst}" in msg
        assert db_status(session, "members", m.id) == src
        assert member_history(session, m.id) == before
        return

    needs_coordinator = (src, dst) in MEMBER_COORDINATOR_ONLY
    move_member(session, m, dst, actor_id=coord.id, reason="because",
                coordinator=needs_coordinator)
    assert db_status(session, "members", m.id) == dst
    after = member_history(session, m.id)
    assert len(after) == len(before) + 1
    row = after[-1]
    assert (row.member_id, row.from_status, row.to_status, row.actor_id, row.reason) == (
        m.id, src, dst, coord.id, "because")


@pytest.mark.parametrize("src,dst", sorted(MEMBER_COORDINATOR_ONLY), ids=map(_ids, sorted(MEMBER_COORDINATOR_ONLY)))
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

    if not allowed("task", src, dst):
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
