"""The database's own guards: every pair by raw SQL and by the ORM's plain attribute writes
(bypassing `db.state`), allowed or refused exactly as the hand-written oracle in
`tests.db.factories` says (not as `db.machines` does); CHECK constraints, the history FK,
append-only history, task assignment rules and optimistic locking. On SQLite and
PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outreach.db.errors import Conflict
from outreach.db.machines import NEW, TaskStatus
from outreach.db.models import Member, MemberStatusChange, OutreachTask
from outreach.db.session import make_engine, session_scope, writer
from outreach.db.state import move_member
from tests.db import factories as f

MEMBER_STATES, TASK_STATES = f.MEMBER_STATES, f.TASK_STATES
MEMBER_PAIRS, TASK_PAIRS = f.MEMBER_PAIRS, f.TASK_PAIRS
# Pairs that change something (a same-value write is no transition; assigned -> assigned
# with another volunteer is a reassignment).
MEMBER_MOVES = [(a, b) for a, b in MEMBER_PAIRS if a != b]
TASK_MOVES = [(a, b) for a, b in TASK_PAIRS if a != b or a == TaskStatus.ASSIGNED]


def _ids(pair):
    return f"{pair[0]}->{pair[1]}"


def history(session, machine, row_id):
    table, col = (("member_status_changes", "member_id") if machine == "member"
                  else ("task_status_changes", "task_id"))
    extra = ", volunteer_id" if machine == "task" else ""
    return session.execute(text(
        f"SELECT from_status, to_status, actor_id, reason{extra} FROM {table} "
        f"WHERE {col} = :id ORDER BY id"), {"id": row_id}).all()


def status_of(session, table, row_id):
    return session.execute(text(f"SELECT status FROM {table} WHERE id = :id"),
                           {"id": row_id}).scalar_one()


def sql_member_to(session, member_id, to, actor_id=None, reason=None):
    session.execute(text("UPDATE members SET status = :s, status_by = :a, status_reason = :r "
                         "WHERE id = :id"), {"s": to, "a": actor_id, "r": reason, "id": member_id})


def sql_task_to(session, task_id, to, volunteer_id, actor_id=None, reason=None):
    """Raw UPDATE; the volunteer follows the task CHECKs so only the guard can refuse."""
    if volunteer_id is ...:
        session.execute(text("UPDATE outreach_tasks SET status = :s, status_by = :a, "
                             "status_reason = :r WHERE id = :id"),
                        {"s": to, "a": actor_id, "r": reason, "id": task_id})
    else:
        session.execute(text("UPDATE outreach_tasks SET status = :s, volunteer_id = :v, "
                             "status_by = :a, status_reason = :r WHERE id = :id"),
                        {"s": to, "v": volunteer_id, "a": actor_id, "r": reason, "id": task_id})


def member_by_sql(session, state, actor_id=None) -> int:
    """A member brought to ``state`` by raw UPDATEs along a legal path."""
    path = f.path_to("member", state)
    mid = f.member(session, status=path[0]).id
    for s in path[1:]:
        sql_member_to(session, mid, s, actor_id, f"to {s}")
    return mid


def task_by_sql(session, state, volunteer_id) -> int:
    path = f.path_to("task", state)
    holder = session.get(f.Volunteer, volunteer_id) if path[0] == TaskStatus.ASSIGNED else None
    t = f.task(session, status=path[0], volunteer_=holder)
    for s in path[1:]:
        sql_task_to(session, t.id, s, f.task_volunteer(s, volunteer_id))
    return t.id


def refused(session, fn, mark="illegal"):
    """Run ``fn`` in a savepoint and assert the database refuses it (IntegrityError)."""
    with pytest.raises(IntegrityError) as err:
        with session.begin_nested():
            fn()
    if mark:
        assert mark in str(err.value).lower()
    return err.value


# --- every member pair by raw SQL ---------------------------------------------------------

@pytest.mark.parametrize("src,dst", MEMBER_PAIRS, ids=map(_ids, MEMBER_PAIRS))
def test_member_pair_by_sql(session, src, dst):
    actor = f.volunteer(session)
    mid = member_by_sql(session, src)
    before = history(session, "member", mid)
    assert before[-1].to_status == src

    if src == dst:  # an UPDATE that keeps the value is not a transition: a no-op
        sql_member_to(session, mid, dst, actor.id, "same")
        assert status_of(session, "members", mid) == src
        assert history(session, "member", mid) == before
    elif f.oracle_allows("member", src, dst):
        sql_member_to(session, mid, dst, actor.id, "by sql")
        assert status_of(session, "members", mid) == dst
        after = history(session, "member", mid)
        assert after == before + [(src, dst, actor.id, "by sql")]
    else:
        refused(session, lambda: sql_member_to(session, mid, dst, actor.id, "by sql"))
        assert status_of(session, "members", mid) == src
        assert history(session, "member", mid) == before


@pytest.mark.parametrize("src,dst", MEMBER_MOVES, ids=map(_ids, MEMBER_MOVES))
def test_member_pair_by_orm_attribute(session, src, dst):
    """Setting ``member.status`` directly (not through db.state) is guarded just the same."""
    m = f.member_in(session, src)
    before = history(session, "member", m.id)

    def write():
        m.status = dst
        m.status_reason = "orm"
        session.flush()

    if f.oracle_allows("member", src, dst):
        write()
        assert history(session, "member", m.id) == before + [(src, dst, None, "orm")]
    else:
        refused(session, write)
        session.expire_all()
        assert status_of(session, "members", m.id) == src
        assert history(session, "member", m.id) == before


# --- every task pair by raw SQL -----------------------------------------------------------

@pytest.mark.parametrize("src,dst", TASK_PAIRS, ids=map(_ids, TASK_PAIRS))
def test_task_pair_by_sql(session, src, dst):
    actor = f.coordinator(session)
    v1, v2 = f.volunteer(session), f.volunteer(session)
    tid = task_by_sql(session, src, v1.id)
    before = history(session, "task", tid)
    assert before[-1].to_status == src
    vol = f.task_volunteer(dst, v2.id)  # to assigned: v2, a real reassignment from v1
    vol_after = before[-1].volunteer_id if vol is ... else vol

    if src == dst and src != TaskStatus.ASSIGNED:  # same value: not a transition
        sql_task_to(session, tid, dst, ..., actor.id, "same")
        assert history(session, "task", tid) == before
    elif f.oracle_allows("task", src, dst):
        sql_task_to(session, tid, dst, vol, actor.id, "by sql")
        assert status_of(session, "outreach_tasks", tid) == dst
        assert history(session, "task", tid) == before + [
            (src, dst, actor.id, "by sql", vol_after)]
    else:
        refused(session, lambda: sql_task_to(session, tid, dst, vol, actor.id, "by sql"))
        assert status_of(session, "outreach_tasks", tid) == src
        assert history(session, "task", tid) == before


@pytest.mark.parametrize("src,dst", TASK_MOVES, ids=map(_ids, TASK_MOVES))
def test_task_pair_by_orm_attribute(session, src, dst):
    v1, v2 = f.volunteer(session), f.volunteer(session)
    t = f.task_in(session, src, volunteer_=v1)
    before = history(session, "task", t.id)
    vol = f.task_volunteer(dst, v2.id)

    def write():
        t.status = dst
        if vol is not ...:
            t.volunteer_id = vol
        t.status_reason = "orm"
        session.flush()

    if f.oracle_allows("task", src, dst):
        write()
        assert history(session, "task", t.id)[:-1] == before
        assert history(session, "task", t.id)[-1][:2] == (src, dst)
    else:
        refused(session, write)
        session.expire_all()
        assert status_of(session, "outreach_tasks", t.id) == src
        assert history(session, "task", t.id) == before


# --- INSERT: only initial states ----------------------------------------------------------

def _raw_member_insert(session, branch_id, status):
    session.execute(text(
        "INSERT INTO members (ledger_no, name, residence, homebound, branch_id, status, "
        "failed_contacts, version, created_at) VALUES (:l, 'x', 'local', :hb, :b, :s, 0, 1, "
        "CURRENT_TIMESTAMP)"), {"l": f._unique("L"), "hb": False, "b": branch_id, "s": status})
    return session.execute(text("SELECT max(id) FROM members")).scalar_one()


def _raw_task_insert(session, run_id, member_id, status, volunteer_id=None):
    session.execute(text(
        "INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id, attempts, "
        "max_attempts, due_on, closes_on, pending_confirmation, version, created_at) VALUES "
        "(:r, :m, 'survey', :s, :v, 0, 3, '2026-01-01', '2026-01-15', :pc, 1, CURRENT_TIMESTAMP)"),
        {"r": run_id, "m": member_id, "s": status, "v": volunteer_id, "pc": False})
    return session.execute(text("SELECT max(id) FROM outreach_tasks")).scalar_one()


@pytest.mark.parametrize("status", MEMBER_STATES)
def test_member_insert_by_sql(session, status):
    b = f.branch(session)
    if status in f.oracle_initial("member"):
        mid = _raw_member_insert(session, b.id, status)
        assert history(session, "member", mid) == [(NEW, status, None, None)]
    else:
        refused(session, lambda: _raw_member_insert(session, b.id, status))
        refused(session, lambda: f.member(session, branch_=b, status=status))


@pytest.mark.parametrize("status", TASK_STATES)
def test_task_insert_by_sql(session, status):
    run, m, v = f.campaign_run(session), f.member(session), f.volunteer(session)
    vid = None if status == TaskStatus.OPEN else v.id
    if status in f.oracle_initial("task"):
        tid = _raw_task_insert(session, run.id, m.id, status, vid)
        assert history(session, "task", tid) == [(NEW, status, None, None, vid)]
    else:
        refused(session, lambda: _raw_task_insert(session, run.id, m.id, status, vid))
        refused(session, lambda: f.task(session, run=run, member_=m, status=status, volunteer_=v))


# --- the value itself: CHECK constraint ---------------------------------------------------

def test_status_outside_the_enum_is_refused(session):
    mid = f.member(session).id
    refused(session, lambda: sql_member_to(session, mid, "zombie"), mark=None)
    b = f.branch(session)
    refused(session, lambda: _raw_member_insert(session, b.id, "zombie"), mark=None)
    t = f.task(session)
    refused(session, lambda: sql_task_to(session, t.id, "zombie", ...), mark=None)


@pytest.mark.parametrize("how", ["insert", "update"])
def test_check_constraint_refuses_unknown_status_even_if_a_pair_allowed_it(session, how):
    """Make the transition tables allow 'zombie': the CHECK constraint still refuses it."""
    b = f.branch(session)
    mid = f.member(session, branch_=b).id

    def attempt():
        session.execute(text("INSERT INTO member_transition (from_status, to_status, "
                             "coordinator_only) VALUES ('new', 'zombie', :f), "
                             "('unverified', 'zombie', :f)"), {"f": False})
        if how == "insert":
            _raw_member_insert(session, b.id, "zombie")
        else:
            sql_member_to(session, mid, "zombie")

    err = refused(session, attempt, mark=None)
    assert "ck_members_member_status" in str(err)
    assert status_of(session, "members", mid) == "unverified"


def test_orm_refuses_unknown_status_before_sql(session):
    m = f.member(session)
    with pytest.raises((StatementError, LookupError)):
        with session.begin_nested():
            m.status = "zombie"
            session.flush()


# --- history: pairs by FK, append-only ----------------------------------------------------

@pytest.mark.parametrize("pair", [("deceased", "active"), ("new", "deceased"),
                                  ("active", "active"), ("active", "zombie")], ids=_ids)
def test_member_history_row_with_illegal_pair_refused_by_fk(session, pair):
    mid = f.member(session).id

    def insert(a, b):
        session.execute(text("INSERT INTO member_status_changes (member_id, from_status, "
                             "to_status, at) VALUES (:m, :a, :b, CURRENT_TIMESTAMP)"),
                        {"m": mid, "a": a, "b": b})

    err = refused(session, lambda: insert(*pair), mark=None)
    assert "foreign key" in str(err).lower()
    with session.begin_nested():  # control: the same row with a legal pair goes in
        insert("unverified", "active")


@pytest.mark.parametrize("pair", [("done", "open"), ("new", "done"), ("open", "open")],
                         ids=_ids)
def test_task_history_row_with_illegal_pair_refused_by_fk(session, pair):
    tid = f.task(session).id

    def insert(a, b):
        session.execute(text("INSERT INTO task_status_changes (task_id, from_status, "
                             "to_status, at) VALUES (:t, :a, :b, CURRENT_TIMESTAMP)"),
                        {"t": tid, "a": a, "b": b})

    err = refused(session, lambda: insert(*pair), mark=None)
    assert "foreign key" in str(err).lower()
    with session.begin_nested():
        insert("open", "cancelled")


@pytest.mark.parametrize("table", ["member_status_changes", "task_status_changes",
                                   "member_changes", "meeting_status_changes",
                                   "attendance_status_changes"])
@pytest.mark.parametrize("op", ["UPDATE", "DELETE"])
def test_history_is_append_only(session, table, op):
    t = f.task(session)
    f.attendance_in(session, "made_up")
    session.execute(text("INSERT INTO member_changes (member_id, field, old_value, new_value, "
                         "at) VALUES (:m, 'phone', '1', '2', CURRENT_TIMESTAMP)"),
                    {"m": t.member_id})
    count = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert count >= 1
    stmt = (f"UPDATE {table} SET reason = 'rewritten'" if op == "UPDATE"
            else f"DELETE FROM {table}")
    refused(session, lambda: session.execute(text(stmt)), mark="append-only")
    assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == count


def test_deleting_a_member_with_history_is_refused(session):
    mid = f.member(session).id
    refused(session, lambda: session.execute(text("DELETE FROM members WHERE id = :id"),
                                             {"id": mid}), mark=None)


# --- tasks: who holds it ------------------------------------------------------------------

def test_assigned_needs_a_volunteer(session):
    t = f.task(session)
    err = refused(session, lambda: sql_task_to(session, t.id, "assigned", None), mark=None)
    assert "assigned_has_volunteer" in str(err)
    run, m = f.campaign_run(session), f.member(session)
    err = refused(session, lambda: _raw_task_insert(session, run.id, m.id, "assigned"),
                  mark=None)
    assert "assigned_has_volunteer" in str(err)


def test_open_has_no_volunteer(session):
    v = f.volunteer(session)
    run, m = f.campaign_run(session), f.member(session)
    err = refused(session, lambda: _raw_task_insert(session, run.id, m.id, "open", v.id),
                  mark=None)
    assert "open_has_no_volunteer" in str(err)
    t = f.task_in(session, "assigned", volunteer_=v)
    err = refused(session, lambda: sql_task_to(session, t.id, "open", ...), mark=None)
    assert "open_has_no_volunteer" in str(err)
    sql_task_to(session, t.id, "open", None)  # control: released properly
    assert history(session, "task", t.id)[-1][:2] == ("assigned", "open")


def test_reassignment_writes_assigned_to_assigned(session):
    v1, v2, v3 = f.volunteer(session), f.volunteer(session), f.volunteer(session)
    t = f.task_in(session, "assigned", volunteer_=v1)
    session.execute(text("UPDATE outreach_tasks SET volunteer_id = :v, status_by = :a, "
                         "status_reason = 'swap' WHERE id = :id"),
                    {"v": v2.id, "a": v3.id, "id": t.id})
    assert history(session, "task", t.id) == [
        (NEW, "assigned", None, "created in a test", v1.id),
        ("assigned", "assigned", v3.id, "swap", v2.id),
    ]
    # the ORM's attribute write, too
    session.expire_all()
    t = session.get(OutreachTask, t.id)
    t.volunteer_id = v3.id
    t.status_reason = "orm swap"
    session.flush()
    assert history(session, "task", t.id)[-1] == ("assigned", "assigned", v3.id, "orm swap",
                                                  v3.id)


def test_reassigning_a_finished_task_is_refused(session):
    """A finished task keeps its volunteer: done -> done is no pair, the history FK refuses."""
    v1, v2 = f.volunteer(session), f.volunteer(session)
    t = f.task_in(session, "done", volunteer_=v1)
    refused(session, lambda: session.execute(
        text("UPDATE outreach_tasks SET volunteer_id = :v WHERE id = :id"),
        {"v": v2.id, "id": t.id}), mark=None)


def test_set_based_update_is_all_or_nothing(session):
    """One UPDATE over many rows (as flows do): one illegal row refuses the statement."""
    b = f.branch(session)
    ok = f.member_in(session, "active", branch_=b)
    dead = f.member_in(session, "deceased", branch_=b)
    refused(session, lambda: session.execute(
        text("UPDATE members SET status = 'unreachable' WHERE branch_id = :b"), {"b": b.id}))
    assert status_of(session, "members", ok.id) == "active"
    session.execute(text("UPDATE members SET status = 'unreachable' WHERE branch_id = :b "
                         "AND status = 'active'"), {"b": b.id})
    assert history(session, "member", ok.id)[-1][:2] == ("active", "unreachable")
    assert history(session, "member", dead.id)[-1][:2] == ("active", "deceased")


# --- optimistic locking -------------------------------------------------------------------

@pytest.fixture
def two_sessions(db_url):
    """A committed member and two sessions that each loaded it (and ended their reads)."""
    eng = make_engine(db_url)
    with session_scope(eng) as s:
        mid = f.member(s, status="active").id
    sessions = [Session(writer(eng), expire_on_commit=False) for _ in range(2)]
    members = []
    for s in sessions:
        members.append(s.get(Member, mid))
        s.commit()  # a person looks, then acts later in a new transaction
    yield eng, mid, sessions, members
    for s in sessions:
        s.close()
    eng.dispose()


def _committed(eng, mid):
    with eng.connect() as conn:
        status = conn.execute(text("SELECT status FROM members WHERE id = :id"),
                              {"id": mid}).scalar_one()
        rows = conn.execute(text("SELECT count(*) FROM member_status_changes "
                                 "WHERE member_id = :id"), {"id": mid}).scalar_one()
    return status, rows


def test_second_writer_gets_stale_data(two_sessions):
    eng, mid, (a, b), (ma, mb) = two_sessions
    ma.name = "first"
    a.commit()
    mb.name = "second"
    with pytest.raises(StaleDataError):
        b.commit()
    b.rollback()
    with eng.connect() as conn:
        assert conn.execute(text("SELECT name, version FROM members WHERE id = :id"),
                            {"id": mid}).one() == ("first", 2)


def test_lost_race_on_a_move_is_a_conflict(two_sessions):
    eng, mid, (a, b), (ma, mb) = two_sessions
    move_member(a, ma, "unreachable", actor_id=None, reason="first")
    a.commit()
    assert _committed(eng, mid) == ("unreachable", 2)
    with pytest.raises(Conflict, match="changed by someone else"):
        move_member(b, mb, "moved_out", actor_id=None, reason="second")
    b.rollback()  # the transaction's owner rolls back (session_scope does it on the way out)
    assert _committed(eng, mid) == ("unreachable", 2)
    rows = b.query(MemberStatusChange).filter_by(member_id=mid).order_by(
        MemberStatusChange.id).all()
    assert [(r.from_status, r.to_status, r.reason) for r in rows] == [
        (NEW, "active", "created in a test"), ("active", "unreachable", "first")]


# --- other roads to the same row ----------------------------------------------------------

def _copy_member_with_status(session, mid, status, verb="INSERT"):
    session.execute(text(
        f"{verb} INTO members (id, ledger_no, name, residence, homebound, branch_id, status, "
        "failed_contacts, version, created_at) SELECT id, ledger_no, name, residence, homebound, "
        "branch_id, :s, failed_contacts, version, created_at FROM members WHERE id = :id "
        + ("ON CONFLICT (id) DO UPDATE SET status = excluded.status" if verb == "INSERT" else "")),
        {"s": status, "id": mid})


def test_upsert_is_guarded(session):
    """INSERT … ON CONFLICT DO UPDATE: an illegal pair is refused; a legal one is logged
    (PostgreSQL) or refused outright (SQLite's insert guard sees a non-initial status)."""
    dead = f.member_in(session, "deceased").id
    refused(session, lambda: _copy_member_with_status(session, dead, "active"))
    assert status_of(session, "members", dead) == "deceased"
    alive = f.member_in(session, "active").id
    before = history(session, "member", alive)
    try:
        with session.begin_nested():
            _copy_member_with_status(session, alive, "unreachable")
    except IntegrityError as exc:
        assert session.bind.dialect.name == "sqlite" and "illegal" in str(exc)
        assert history(session, "member", alive) == before
    else:
        assert history(session, "member", alive)[-1][:2] == ("active", "unreachable")


def test_dialect_upserts_cannot_reset_a_row(session):
    """Each database's own way of rewriting a row in place is guarded too.

    PostgreSQL: MERGE … UPDATE goes through the update trigger. SQLite: INSERT OR REPLACE
    deletes (no delete triggers, no FK error: the same id comes back) and re-inserts in an
    initial state; the guard refuses re-inserting an id that has history.
    """
    dead = f.member_in(session, "deceased").id
    done = f.task_in(session, "done").id
    if session.bind.dialect.name == "postgresql":
        refused(session, lambda: session.execute(text(
            "MERGE INTO members m USING (SELECT CAST(:id AS integer) AS id) s ON m.id = s.id "
            "WHEN MATCHED THEN UPDATE SET status = 'active'"), {"id": dead}))
        refused(session, lambda: session.execute(text(
            "MERGE INTO outreach_tasks t USING (SELECT CAST(:id AS integer) AS id) s "
            "ON t.id = s.id WHEN MATCHED THEN UPDATE SET status = 'open', volunteer_id = NULL"),
            {"id": done}))
    else:
        refused(session, lambda: _copy_member_with_status(session, dead, "active",
                                                          verb="INSERT OR REPLACE"))
        refused(session, lambda: session.execute(text(
            "INSERT OR REPLACE INTO outreach_tasks (id, run_id, member_id, kind, status, "
            "volunteer_id, attempts, max_attempts, due_on, closes_on, pending_confirmation, "
            "version, created_at) SELECT id, run_id, member_id, kind, 'open', NULL, 0, "
            "max_attempts, due_on, closes_on, pending_confirmation, version, created_at "
            "FROM outreach_tasks WHERE id = :id"), {"id": done}))
    assert status_of(session, "members", dead) == "deceased"
    assert status_of(session, "outreach_tasks", done) == "done"


# --- bulk INSERT … SELECT (planning, the meeting engine, the seed) --------------------------

def _bulk_tasks(session, run_id, member_ids, status_sql, volunteer_sql="NULL"):
    """One INSERT … SELECT of a task per member, as `tasks.campaigns.plan_jobs` writes them."""
    ids = ", ".join(str(int(m)) for m in member_ids)
    return session.execute(text(
        f"INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id, "
        f"status_by, status_reason, attempts, max_attempts, due_on, closes_on, "
        f"pending_confirmation, version, created_at) "
        f"SELECT :r, m.id, 'survey', {status_sql}, {volunteer_sql}, NULL, 'bulk', 0, 3, "
        f"'2026-01-01', '2026-01-15', :pc, 1, CURRENT_TIMESTAMP FROM members m "
        f"WHERE m.id IN ({ids}) ORDER BY m.id"), {"r": run_id, "pc": False}).rowcount


def _bulk_history(session, run_id):
    return session.execute(text(
        "SELECT t.member_id, h.from_status, h.to_status, h.volunteer_id, h.reason "
        "FROM task_status_changes h JOIN outreach_tasks t ON t.id = h.task_id "
        "WHERE t.run_id = :r ORDER BY t.member_id, h.id"), {"r": run_id}).all()


def test_bulk_insert_writes_one_history_row_a_row(session):
    """A set-based INSERT … SELECT (open and assigned rows mixed) writes exactly one
    ``new → status`` row per task, with the task's volunteer and reason."""
    run, v = f.campaign_run(session), f.volunteer(session)
    members = [f.member(session).id for _ in range(6)]
    n = _bulk_tasks(session, run.id, members,
                    "CASE WHEN m.id % 2 = 0 THEN 'open' ELSE 'assigned' END",
                    f"CASE WHEN m.id % 2 = 0 THEN NULL ELSE {v.id} END")
    assert n == 6
    assert _bulk_history(session, run.id) == [
        (m, NEW, "open" if m % 2 == 0 else "assigned", None if m % 2 == 0 else v.id, "bulk")
        for m in members]


def test_bulk_insert_with_one_illegal_row_is_refused_whole(session):
    """One row in a status that is not initial refuses the whole statement: no task and
    no history row of it remain."""
    run, v = f.campaign_run(session), f.volunteer(session)
    members = [f.member(session).id for _ in range(5)]
    last = members[-1]
    refused(session, lambda: _bulk_tasks(
        session, run.id, members, f"CASE WHEN m.id = {last} THEN 'done' ELSE 'assigned' END",
        str(v.id)))
    assert session.execute(text("SELECT count(*) FROM outreach_tasks WHERE run_id = :r"),
                           {"r": run.id}).scalar_one() == 0
    assert _bulk_history(session, run.id) == []


def test_bulk_insert_of_ids_that_have_history_is_refused(session):
    """Bringing back ids that already have history (a bulk re-insert of deleted-and-replaced
    rows, SQLite's INSERT OR REPLACE; PostgreSQL refuses the duplicate key) is refused."""
    done = f.task_in(session, "done")
    before = history(session, "task", done.id)
    verb = "INSERT OR REPLACE" if session.bind.dialect.name == "sqlite" else "INSERT"
    refused(session, lambda: session.execute(text(
        f"{verb} INTO outreach_tasks (id, run_id, member_id, kind, status, volunteer_id, "
        "attempts, max_attempts, due_on, closes_on, pending_confirmation, version, created_at) "
        "SELECT id, run_id, member_id, kind, 'open', NULL, 0, max_attempts, due_on, closes_on, "
        "pending_confirmation, version, created_at FROM outreach_tasks WHERE id = :id"),
        {"id": done.id}), mark=None)
    assert status_of(session, "outreach_tasks", done.id) == "done"
    assert history(session, "task", done.id) == before


def test_bulk_attendance_insert_writes_history_and_refuses_illegal_rows(session):
    """The seed's road: attendance rows by one INSERT … SELECT, marks that are initial
    (present, excused …) each with its history row; a made_up row refused."""
    m = f.meeting(session, status="held")
    members = [f.member(session).id for _ in range(4)]
    ids = ", ".join(map(str, members))

    def insert(mark_sql, first_made_up=False):
        made = f"m.id = {members[0]}" if first_made_up else "1 = 0"
        session.execute(text(
            f"INSERT INTO attendance (meeting_id, member_id, status, made_up_on, made_up_how, "
            f"status_reason, version, created_at) SELECT :mt, m.id, "
            f"CASE WHEN {made} THEN 'made_up' ELSE {mark_sql} END, "
            f"CASE WHEN {made} THEN CAST('2026-03-20' AS DATE) END, CASE WHEN {made} THEN 'visit' END, "
            f"'seeded', 1, CURRENT_TIMESTAMP FROM members m WHERE m.id IN ({ids})"),
            {"mt": m.id})

    refused(session, lambda: insert("'absent'", first_made_up=True))
    insert("CASE WHEN m.id % 2 = 0 THEN 'present' ELSE 'excused' END")
    rows = session.execute(text(
        "SELECT a.member_id, h.from_status, h.to_status, h.reason FROM attendance a "
        "JOIN attendance_status_changes h ON h.attendance_id = a.id WHERE a.meeting_id = :mt "
        "ORDER BY a.member_id, h.id"), {"mt": m.id}).all()
    assert rows == [(x, NEW, "present" if x % 2 == 0 else "excused", "seeded")
                    for x in members]


# --- a guard's plan is made for its own statement (0010) --------------------------------------

def test_a_bulk_update_after_a_one_row_update_on_one_connection(db_url):
    """A pooled connection updates one member, then 300 at once (as the ledger service and
    a flow run's batches do): every row gets its history row. On PostgreSQL the update
    guard's queries are planned for the statement's own rows: auto_explain's plan of the
    trigger's history INSERT (sent back as a notice) reads both transition tables as 300
    rows. Before revision 0010 PL/pgSQL kept the plan made for the one row (a nested loop:
    15,000 members took 143 s instead of about 1 s) and this plan read them as 1 row."""
    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            b = f.branch(s)
            ids = [f.member(s, status="active", branch_=b).id for _ in range(301)]
        pg = eng.dialect.name == "postgresql"
        with eng.connect() as conn:
            notes: list[str] = []
            if pg:
                conn.connection.driver_connection.add_notice_handler(
                    lambda d: notes.append(d.message_primary or ""))
                for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                                "SET auto_explain.log_nested_statements = on",
                                "SET auto_explain.log_level = 'notice'"):
                    conn.execute(text(setting))
            conn.execute(text("UPDATE members SET status = 'unreachable' WHERE id = :id"),
                         {"id": ids[0]})
            conn.commit()
            notes.clear()
            conn.execute(text("UPDATE members SET status = 'unreachable' WHERE branch_id = :b "
                              "AND status = 'active'"), {"b": b.id})
            conn.commit()
        with eng.connect() as conn:
            moved = conn.execute(text(
                "SELECT count(DISTINCT member_id) FROM member_status_changes "
                "WHERE to_status = 'unreachable' AND member_id IN (SELECT id FROM members "
                "WHERE branch_id = :b)"), {"b": b.id}).scalar_one()
        assert moved == 301
        if pg:
            [plan] = [n for n in notes if "INSERT INTO member_status_changes" in n]
            scans = [line for line in plan.splitlines() if "Named Tuplestore Scan" in line]
            assert len(scans) == 2 and all("rows=300 " in line for line in scans), plan
    finally:
        eng.dispose()
