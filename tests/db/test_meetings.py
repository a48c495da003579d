"""Meetings and attendance (organisational life): both machines over every pair of states,
through `db.state` and around it (raw SQL, the ORM's plain attribute writes), answered as
the hand-written oracle in `tests.db.factories` says; the history each move writes (one
row, with actor and reason; a meeting's move to another date included), append-only
history, the CHECKs on dates, the meeting's status limiting attendance moves, and roles in
a branch. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from outreach.db.errors import Refused
from outreach.db.machines import NEW
from outreach.db.models import BranchRole, MemberChange
from outreach.db.state import ROLE_FIELD, move_attendance, move_meeting, set_branch_role
from tests.db import factories as f
from tests.db.test_guards import refused

MEETING_PAIRS, ATTENDANCE_PAIRS = f.MEETING_PAIRS, f.ATTENDANCE_PAIRS
HELD_LIKE = ("held", "closed")
ALL_HISTORY = ["meeting_status_changes", "attendance_status_changes", "member_status_changes",
               "task_status_changes", "member_changes"]
OTHER_DAY = dt.date(2026, 3, 19)


def _ids(pair):
    return f"{pair[0]}->{pair[1]}"


def meeting_history(session, meeting_id):
    return session.execute(text(
        "SELECT from_status, to_status, actor_id, reason, planned_on FROM "
        "meeting_status_changes WHERE meeting_id = :id ORDER BY id"), {"id": meeting_id}).all()


def attendance_history(session, attendance_id):
    return session.execute(text(
        "SELECT from_status, to_status, actor_id, reason FROM attendance_status_changes "
        "WHERE attendance_id = :id ORDER BY id"), {"id": attendance_id}).all()


def status_of(session, table, row_id):
    return session.execute(text(f"SELECT status FROM {table} WHERE id = :id"),
                           {"id": row_id}).scalar_one()


def plain(rows):
    """History rows with dates as dates (SQLite's raw SQL gives text)."""
    return [(*r[:4], r[4] if isinstance(r[4], dt.date) else dt.date.fromisoformat(r[4]))
            for r in rows]


# --- meetings: every pair through db.state ------------------------------------------------

@pytest.mark.parametrize("src,dst", MEETING_PAIRS, ids=map(_ids, MEETING_PAIRS))
def test_move_meeting_every_pair(session, src, dst):
    coord = f.coordinator(session)
    m = f.meeting_in(session, src, actor=coord)
    before = plain(meeting_history(session, m.id))
    assert before[-1][1] == src
    # planned -> planned is a move to another date; held needs the day it was held
    kw = {"planned_on": OTHER_DAY} if dst == "planned" else {}
    if dst == "held":
        kw["held_on"] = f.MEETING_DAY

    if not f.oracle_allows("meeting", src, dst):
        with pytest.raises(Refused) as err:
            move_meeting(session, m, dst, actor_id=coord.id, reason="try", **kw)
        assert f"meeting {m.id} is {src}; it cannot become {dst}" in str(err.value)
        assert status_of(session, "meetings", m.id) == src
        assert plain(meeting_history(session, m.id)) == before
        return

    move_meeting(session, m, dst, actor_id=coord.id, reason="because", **kw)
    assert status_of(session, "meetings", m.id) == dst
    assert plain(meeting_history(session, m.id)) == before + [
        (src, dst, coord.id, "because", kw.get("planned_on", f.MEETING_DAY))]


def test_moving_a_meeting_needs_another_date_and_held_needs_a_day(session):
    m = f.meeting_in(session, "planned")
    with pytest.raises(Refused, match="give another date"):
        move_meeting(session, m, "planned", actor_id=None, reason="same day")
    with pytest.raises(Refused, match="give the day it was held"):
        move_meeting(session, m, "held", actor_id=None, reason="no day")
    assert [r[1] for r in meeting_history(session, m.id)] == ["planned"]


def test_a_planned_meeting_moved_twice_keeps_every_date(session):
    v = f.coordinator(session)
    m = f.meeting_in(session, "planned", actor=v)
    move_meeting(session, m, "planned", planned_on=OTHER_DAY, actor_id=v.id, reason="hall taken")
    move_meeting(session, m, "planned", planned_on=dt.date(2026, 4, 2), actor_id=v.id,
                 reason="speaker ill")
    move_meeting(session, m, "held", held_on=dt.date(2026, 4, 2), actor_id=v.id, reason="held")
    assert plain(meeting_history(session, m.id)) == [
        (NEW, "planned", v.id, "created in a test", f.MEETING_DAY),
        ("planned", "planned", v.id, "hall taken", OTHER_DAY),
        ("planned", "planned", v.id, "speaker ill", dt.date(2026, 4, 2)),
        ("planned", "held", v.id, "held", dt.date(2026, 4, 2)),
    ]


@pytest.mark.parametrize("state", ["held", "closed", "cancelled"])
def test_only_a_planned_meeting_can_move_to_another_date(session, state):
    """The date of a held, closed or cancelled meeting is history: no pair allows it."""
    m = f.meeting_in(session, state)
    before = meeting_history(session, m.id)
    refused(session, lambda: session.execute(
        text("UPDATE meetings SET planned_on = :d WHERE id = :id"),
        {"d": OTHER_DAY, "id": m.id}), mark=None)
    assert meeting_history(session, m.id) == before
    with pytest.raises(Refused):
        move_meeting(session, m, state, planned_on=OTHER_DAY, actor_id=None, reason="x")


# --- meetings: every pair around db.state -------------------------------------------------

def sql_meeting_to(session, meeting_id, to, actor_id=None, reason=None, planned_on=None):
    """A raw UPDATE keeping the date CHECKs true, so that only the guard can refuse."""
    session.execute(text(
        "UPDATE meetings SET status = :s, held_on = CASE WHEN :held THEN "
        "COALESCE(held_on, planned_on) END, planned_on = COALESCE(:p, planned_on), "
        "status_by = :a, status_reason = :r WHERE id = :id"),
        {"s": to, "held": to in HELD_LIKE, "p": planned_on, "a": actor_id, "r": reason,
         "id": meeting_id})


@pytest.mark.parametrize("src,dst", MEETING_PAIRS, ids=map(_ids, MEETING_PAIRS))
def test_meeting_pair_by_sql(session, src, dst):
    actor = f.coordinator(session)
    m = f.meeting_in(session, src)
    before = plain(meeting_history(session, m.id))
    if src == dst and src != "planned":  # the same value: no transition, no history
        sql_meeting_to(session, m.id, dst, actor.id, "same")
        assert plain(meeting_history(session, m.id)) == before
    elif f.oracle_allows("meeting", src, dst):
        new_day = OTHER_DAY if dst == "planned" else None
        sql_meeting_to(session, m.id, dst, actor.id, "by sql", planned_on=new_day)
        assert status_of(session, "meetings", m.id) == dst
        assert plain(meeting_history(session, m.id)) == before + [
            (src, dst, actor.id, "by sql", new_day or f.MEETING_DAY)]
    else:
        refused(session, lambda: sql_meeting_to(session, m.id, dst, actor.id, "by sql"))
        assert status_of(session, "meetings", m.id) == src
        assert plain(meeting_history(session, m.id)) == before


MEETING_MOVES = [(a, b) for a, b in MEETING_PAIRS if a != b]


@pytest.mark.parametrize("src,dst", MEETING_MOVES, ids=map(_ids, MEETING_MOVES))
def test_meeting_pair_by_orm_attribute(session, src, dst):
    m = f.meeting_in(session, src)
    before = plain(meeting_history(session, m.id))

    def write():
        m.status = dst
        m.held_on = (m.held_on or m.planned_on) if dst in HELD_LIKE else None
        m.status_reason = "orm"
        session.flush()

    if f.oracle_allows("meeting", src, dst):
        write()
        assert plain(meeting_history(session, m.id)) == before + [
            (src, dst, None, "orm", f.MEETING_DAY)]
    else:
        refused(session, write)
        session.expire_all()
        assert status_of(session, "meetings", m.id) == src
        assert plain(meeting_history(session, m.id)) == before


def _raw_meeting_insert(session, branch_id, status):
    session.execute(text(
        "INSERT INTO meetings (branch_id, kind, status, planned_on, held_on, remote, version, "
        "created_at) VALUES (:b, 'lecture', :s, '2026-05-05', :h, 'video', 1, "
        "CURRENT_TIMESTAMP)"),
        {"b": branch_id, "s": status, "h": "2026-05-05" if status in HELD_LIKE else None})
    return session.execute(text("SELECT max(id) FROM meetings")).scalar_one()


@pytest.mark.parametrize("status", f.MEETING_STATES)
def test_meeting_insert_by_sql(session, status):
    b = f.branch(session)
    if status in f.oracle_initial("meeting"):
        mid = _raw_meeting_insert(session, b.id, status)
        assert plain(meeting_history(session, mid)) == [
            (NEW, status, None, None, dt.date(2026, 5, 5))]
    else:
        refused(session, lambda: _raw_meeting_insert(session, b.id, status))
        refused(session, lambda: f.meeting(session, branch_=b, status=status,
                                           held_on=f.MEETING_DAY if status in HELD_LIKE
                                           else None))


def test_meeting_dates_must_fit_the_status(session):
    b = f.branch(session)
    err = refused(session, lambda: session.execute(text(
        "INSERT INTO meetings (branch_id, kind, status, planned_on, remote, version, "
        "created_at) VALUES (:b, 'group', 'held', '2026-05-05', 'none', 1, CURRENT_TIMESTAMP)"),
        {"b": b.id}), mark=None)
    assert "held_has_date" in str(err)
    m = f.meeting_in(session, "planned")
    err = refused(session, lambda: session.execute(text(
        "UPDATE meetings SET held_on = planned_on WHERE id = :id"), {"id": m.id}), mark=None)
    assert "only_held_has_date" in str(err)
    err = refused(session, lambda: session.execute(text(
        "UPDATE meetings SET kind = 'party' WHERE id = :id"), {"id": m.id}), mark=None)
    assert "meeting_kind" in str(err)


# --- attendance: every pair through db.state ----------------------------------------------

@pytest.mark.parametrize("src,dst", ATTENDANCE_PAIRS, ids=map(_ids, ATTENDANCE_PAIRS))
def test_move_attendance_every_pair(session, src, dst):
    coord = f.coordinator(session)
    a = f.attendance_in(session, src, actor=coord)
    before = attendance_history(session, a.id)
    assert before[-1][1] == src
    kw = f.MADE_UP if dst == "made_up" else {}

    if not f.oracle_allows("attendance", src, dst):
        with pytest.raises(Refused) as err:
            move_attendance(session, a, dst, actor_id=coord.id, reason="try", **kw)
        assert f"attendance {a.id} is {src}; it cannot become {dst}" in str(err.value)
        assert status_of(session, "attendance", a.id) == src
        assert attendance_history(session, a.id) == before
        return

    move_attendance(session, a, dst, actor_id=coord.id, reason="because", note="why", **kw)
    assert status_of(session, "attendance", a.id) == dst
    assert attendance_history(session, a.id) == before + [(src, dst, coord.id, "because")]
    assert a.reason == "why"


def test_made_up_needs_when_and_how(session):
    a = f.attendance_in(session, "excused")
    with pytest.raises(Refused, match="needs when and how"):
        move_attendance(session, a, "made_up", actor_id=None, reason="x",
                        made_up_on=dt.date(2026, 4, 1))
    err = refused(session, lambda: session.execute(text(
        "UPDATE attendance SET status = 'made_up', made_up_on = '2026-04-01' WHERE id = :id"),
        {"id": a.id}), mark=None)
    assert "made_up_has_when_and_how" in str(err)
    err = refused(session, lambda: session.execute(text(
        "UPDATE attendance SET made_up_how = 'phone' WHERE id = :id"), {"id": a.id}), mark=None)
    assert "only_made_up_has_when" in str(err)
    move_attendance(session, a, "made_up", actor_id=None, reason="visited",
                    made_up_on=dt.date(2026, 4, 1), made_up_how="phone")
    assert (a.made_up_on, str(a.made_up_how)) == (dt.date(2026, 4, 1), "phone")


# --- attendance: the meeting's status limits the moves -------------------------------------

def test_a_closed_meeting_allows_only_the_make_up_study(session):
    m = f.meeting_in(session, "held")
    missed = f.attendance(session, meeting_=m, status="excused")
    there = f.attendance(session, meeting_=m, status="present")
    move_meeting(session, m, "closed", actor_id=None, reason="minutes done")
    with pytest.raises(Refused, match=f"meeting {m.id} is closed"):
        move_attendance(session, there, "absent", actor_id=None, reason="correction")
    with pytest.raises(Refused, match="is closed"):
        move_attendance(session, missed, "present", actor_id=None, reason="correction")
    move_attendance(session, missed, "made_up", actor_id=None, reason="visited", **f.MADE_UP)
    assert [r[1] for r in attendance_history(session, missed.id)] == ["excused", "made_up"]
    assert [r[1] for r in attendance_history(session, there.id)] == ["present"]


def test_a_cancelled_meeting_keeps_its_attendance(session):
    m = f.meeting_in(session, "planned")
    a = f.attendance(session, meeting_=m)
    move_meeting(session, m, "cancelled", actor_id=None, reason="hall flooded")
    with pytest.raises(Refused, match="was cancelled"):
        move_attendance(session, a, "excused", actor_id=None, reason="x")
    assert status_of(session, "attendance", a.id) == "invited"


def test_an_excuse_in_advance_for_a_planned_meeting(session):
    """A notice call takes an excuse (or a promise to join remotely) before the meeting."""
    m = f.meeting_in(session, "planned")
    a = f.attendance(session, meeting_=m)
    move_attendance(session, a, "excused", actor_id=None, reason="notice call",
                    note="in hospital", meeting=m)
    assert (status_of(session, "attendance", a.id), a.reason) == ("excused", "in hospital")


# --- attendance: every pair around db.state -----------------------------------------------

def sql_attendance_to(session, attendance_id, to, actor_id=None, reason=None):
    """A raw UPDATE keeping the make-up CHECKs true, so that only the guard can refuse."""
    made_up = to == "made_up"
    session.execute(text(
        "UPDATE attendance SET status = :s, made_up_on = :on, made_up_how = :how, "
        "status_by = :a, status_reason = :r WHERE id = :id"),
        {"s": to, "on": dt.date(2026, 4, 2) if made_up else None,
         "how": "materials" if made_up else None, "a": actor_id, "r": reason,
         "id": attendance_id})


@pytest.mark.parametrize("src,dst", ATTENDANCE_PAIRS, ids=map(_ids, ATTENDANCE_PAIRS))
def test_attendance_pair_by_sql(session, src, dst):
    actor = f.coordinator(session)
    a = f.attendance_in(session, src)
    before = attendance_history(session, a.id)
    if src == dst:
        if src != "made_up":
            sql_attendance_to(session, a.id, dst, actor.id, "same")
            assert attendance_history(session, a.id) == before
        return
    if f.oracle_allows("attendance", src, dst):
        sql_attendance_to(session, a.id, dst, actor.id, "by sql")
        assert status_of(session, "attendance", a.id) == dst
        assert attendance_history(session, a.id) == before + [(src, dst, actor.id, "by sql")]
    else:
        refused(session, lambda: sql_attendance_to(session, a.id, dst, actor.id, "by sql"))
        assert status_of(session, "attendance", a.id) == src
        assert attendance_history(session, a.id) == before


ATTENDANCE_MOVES = [(a, b) for a, b in ATTENDANCE_PAIRS if a != b]


@pytest.mark.parametrize("src,dst", ATTENDANCE_MOVES, ids=map(_ids, ATTENDANCE_MOVES))
def test_attendance_pair_by_orm_attribute(session, src, dst):
    a = f.attendance_in(session, src)
    before = attendance_history(session, a.id)

    def write():
        a.status = dst
        a.made_up_on, a.made_up_how = ((dt.date(2026, 4, 2), "visit") if dst == "made_up"
                                       else (None, None))
        a.status_reason = "orm"
        session.flush()

    if f.oracle_allows("attendance", src, dst):
        write()
        assert attendance_history(session, a.id) == before + [(src, dst, None, "orm")]
    else:
        refused(session, write)
        session.expire_all()
        assert status_of(session, "attendance", a.id) == src
        assert attendance_history(session, a.id) == before


def _raw_attendance_insert(session, meeting_id, member_id, status):
    made_up = status == "made_up"
    session.execute(text(
        "INSERT INTO attendance (meeting_id, member_id, status, made_up_on, made_up_how, "
        "version, created_at) VALUES (:g, :m, :s, :on, :how, 1, CURRENT_TIMESTAMP)"),
        {"g": meeting_id, "m": member_id, "s": status,
         "on": "2026-04-02" if made_up else None, "how": "phone" if made_up else None})
    return session.execute(text("SELECT max(id) FROM attendance")).scalar_one()


@pytest.mark.parametrize("status", f.ATTENDANCE_STATES)
def test_attendance_insert_by_sql(session, status):
    m, g = f.member(session), f.meeting(session, status="held")
    if status in f.oracle_initial("attendance"):
        aid = _raw_attendance_insert(session, g.id, m.id, status)
        assert attendance_history(session, aid) == [(NEW, status, None, None)]
    else:
        refused(session, lambda: _raw_attendance_insert(session, g.id, m.id, status))


def test_one_attendance_per_member_and_meeting(session):
    a = f.attendance(session)
    err = refused(session, lambda: f.attendance(
        session, meeting_=session.get(f.Meeting, a.meeting_id),
        member_=session.get(f.Member, a.member_id)), mark=None)
    assert "unique" in str(err).lower()


def test_inviting_a_whole_branch_writes_one_history_row_each(session):
    """Set-based, as `meeting plan` invites: one INSERT … SELECT, one history row per member
    (PostgreSQL's statement trigger writes them in one statement too)."""
    b = f.branch(session)
    members = [f.member(session, branch_=b).id for _ in range(5)]
    g = f.meeting(session, branch_=b)
    coord = f.coordinator(session)
    session.execute(text(
        "INSERT INTO attendance (meeting_id, member_id, status, status_by, status_reason, "
        "version, created_at) SELECT :g, id, 'invited', :a, 'invited', 1, CURRENT_TIMESTAMP "
        "FROM members WHERE branch_id = :b"), {"g": g.id, "a": coord.id, "b": b.id})
    rows = session.execute(text(
        "SELECT a.member_id, h.from_status, h.to_status, h.actor_id, h.reason "
        "FROM attendance_status_changes h JOIN attendance a ON a.id = h.attendance_id "
        "WHERE a.meeting_id = :g ORDER BY a.member_id"), {"g": g.id}).all()
    assert rows == [(m, NEW, "invited", coord.id, "invited") for m in sorted(members)]
    # and one UPDATE marking them all: all or nothing, one row each
    session.execute(text("UPDATE attendance SET status = 'absent', status_reason = 'bulk' "
                         "WHERE meeting_id = :g"), {"g": g.id})
    assert session.execute(text(
        "SELECT count(*) FROM attendance_status_changes h JOIN attendance a "
        "ON a.id = h.attendance_id WHERE a.meeting_id = :g AND h.to_status = 'absent'"),
        {"g": g.id}).scalar_one() == 5


# --- history: pairs by FK, append-only ----------------------------------------------------

@pytest.mark.parametrize("table,pair,legal", [
    ("meeting_status_changes", ("closed", "planned"), ("planned", "held")),
    ("meeting_status_changes", ("held", "held"), ("held", "closed")),
    ("attendance_status_changes", ("made_up", "present"), ("absent", "made_up")),
    ("attendance_status_changes", ("new", "made_up"), ("invited", "present")),
], ids=lambda p: p if isinstance(p, str) else _ids(p))
def test_history_row_with_an_illegal_pair_is_refused_by_fk(session, table, pair, legal):
    a = f.attendance(session)
    row_id, col = ((a.meeting_id, "meeting_id") if table.startswith("meeting")
                   else (a.id, "attendance_id"))
    extra = ", planned_on" if table.startswith("meeting") else ""
    extra_v = ", '2026-01-01'" if extra else ""

    def insert(x, y):
        session.execute(text(f"INSERT INTO {table} ({col}, from_status, to_status{extra}, at) "
                             f"VALUES (:id, :a, :b{extra_v}, CURRENT_TIMESTAMP)"),
                        {"id": row_id, "a": x, "b": y})

    err = refused(session, lambda: insert(*pair), mark=None)
    assert "foreign key" in str(err).lower()
    with session.begin_nested():  # control
        insert(*legal)


@pytest.mark.parametrize("table", ALL_HISTORY)
def test_history_refuses_truncate(session, table):
    """PostgreSQL: TRUNCATE skips row triggers; a statement trigger refuses it. (SQLite has
    no TRUNCATE: its ``DELETE FROM t`` without WHERE is refused just the same; UPDATE and
    DELETE of every history table: `tests.db.test_guards.test_history_is_append_only`.)"""
    a = f.attendance_in(session, "made_up")
    f.task(session)
    session.execute(text("INSERT INTO member_changes (member_id, field, new_value, at) "
                         "VALUES (:m, 'phone', 'x', CURRENT_TIMESTAMP)"), {"m": a.member_id})
    count = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert count >= 1
    if session.bind.dialect.name == "sqlite":
        refused(session, lambda: session.execute(text(f"DELETE FROM {table}")),
                mark="append-only")
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == count
        return
    with pytest.raises(IntegrityError, match="append-only"):
        with session.begin_nested():
            session.execute(text(f"TRUNCATE {table} CASCADE"))
    assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == count


def test_deleting_a_meeting_or_attendance_with_history_is_refused(session):
    a = f.attendance(session)
    refused(session, lambda: session.execute(text("DELETE FROM attendance WHERE id = :id"),
                                             {"id": a.id}), mark=None)
    refused(session, lambda: session.execute(text("DELETE FROM meetings WHERE id = :id"),
                                             {"id": a.meeting_id}), mark=None)


def test_sqlite_insert_or_replace_cannot_reset_a_row(session):
    """SQLite's INSERT OR REPLACE deletes without delete triggers and re-inserts the id:
    refused for an id with history. (PostgreSQL's MERGE goes through the update trigger.)"""
    a = f.attendance_in(session, "made_up")
    if session.bind.dialect.name == "sqlite":
        stmt = ("INSERT OR REPLACE INTO attendance (id, meeting_id, member_id, status, version, "
                "created_at) SELECT id, meeting_id, member_id, 'invited', version, created_at "
                "FROM attendance WHERE id = :id")
    else:
        stmt = ("MERGE INTO attendance t USING (SELECT CAST(:id AS integer) AS id) s "
                "ON t.id = s.id WHEN MATCHED THEN UPDATE SET status = 'invited', "
                "made_up_on = NULL, made_up_how = NULL")
    refused(session, lambda: session.execute(text(stmt), {"id": a.id}))
    assert status_of(session, "attendance", a.id) == "made_up"


# --- roles in a branch --------------------------------------------------------------------

def test_branch_role_changes_are_history(session):
    b = f.branch(session)
    m = f.member(session, branch_=b)
    coord = f.coordinator(session)
    today = dt.date(2026, 5, 1)

    def roles():
        return session.execute(select(BranchRole.branch_id, BranchRole.role, BranchRole.since)
                               .where(BranchRole.member_id == m.id)).all()

    assert set_branch_role(session, m, b.id, "secretary", actor_id=coord.id, reason="elected",
                           today=today)
    assert not set_branch_role(session, m, b.id, "secretary", actor_id=coord.id, reason="x",
                               today=today)
    assert set_branch_role(session, m, b.id, "deputy", actor_id=coord.id, reason="swap",
                           today=dt.date(2026, 6, 1))
    assert roles() == [(b.id, "deputy", dt.date(2026, 6, 1))]
    assert set_branch_role(session, m, b.id, None, actor_id=coord.id, reason="stepped down",
                           today=today)
    assert roles() == []
    assert not set_branch_role(session, m, b.id, None, actor_id=coord.id, reason="x",
                               today=today)
    changes = session.execute(select(MemberChange.old_value, MemberChange.new_value,
                                     MemberChange.actor_id, MemberChange.reason)
                              .where(MemberChange.member_id == m.id,
                                     MemberChange.field == ROLE_FIELD)
                              .order_by(MemberChange.id)).all()
    assert changes == [(None, f"{b.id}:secretary", coord.id, "elected"),
                       (f"{b.id}:secretary", f"{b.id}:deputy", coord.id, "swap"),
                       (f"{b.id}:deputy", None, coord.id, "stepped down")]


def test_one_role_per_member_and_branch(session):
    b = f.branch(session)
    m = f.member(session, branch_=b)
    session.add(BranchRole(member_id=m.id, branch_id=b.id, role="committee",
                           since=dt.date(2026, 1, 1)))
    session.flush()

    def second():
        session.add(BranchRole(member_id=m.id, branch_id=b.id, role="deputy",
                               since=dt.date(2026, 1, 1)))
        session.flush()

    refused(session, second, mark=None)
    err = refused(session, lambda: session.execute(text(
        "UPDATE branch_roles SET role = 'chief' WHERE member_id = :m"), {"m": m.id}), mark=None)
    assert "member_role" in str(err)

