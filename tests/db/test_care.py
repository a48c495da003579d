"""Care occasions, life events, hardship, contributions and movements (issue 13), the data
layer: the care machine over every pair of states, through `db.state` and around it (raw
SQL, the ORM's plain attribute writes), answered as the hand-written oracle in
`tests.db.factories` says; one history row per move with actor and reason; append-only
history and movements; one occasion per member, kind and day; the CHECKs (window, hardship
level, the new codes). On SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from outreach.db.errors import Refused
from outreach.db.machines import NEW
from outreach.db.models import (
    CareOccasion,
    Contribution,
    Hardship,
    LifeEvent,
    Member,
    Movement,
)
from outreach.db.state import first_or_add, move_care
from tests.db import factories as f
from tests.db.test_guards import refused

CARE_PAIRS = f.CARE_PAIRS
CARE_MOVES = [(a, b) for a, b in CARE_PAIRS if a != b]
DAY = f.CARE_DAY


def _ids(pair):
    return f"{pair[0]}->{pair[1]}"


def care_history(session, occasion_id):
    return session.execute(text(
        "SELECT from_status, to_status, actor_id, reason FROM care_occasion_status_changes "
        "WHERE care_occasion_id = :id ORDER BY id"), {"id": occasion_id}).all()


def status_of(session, occasion_id):
    return session.execute(text("SELECT status FROM care_occasions WHERE id = :id"),
                           {"id": occasion_id}).scalar_one()


# --- every pair through db.state ------------------------------------------------------------

@pytest.mark.parametrize("src,dst", CARE_PAIRS, ids=map(_ids, CARE_PAIRS))
def test_move_care_every_pair(session, src, dst):
    coord = f.coordinator(session)
    c = f.care_in(session, src, actor=coord)
    before = care_history(session, c.id)
    assert before[-1][1] == src

    if not f.oracle_allows("care", src, dst):
        with pytest.raises(Refused) as err:
            move_care(session, c, dst, actor_id=coord.id, reason="try")
        assert f"care occasion {c.id} is {src}; it cannot become {dst}" in str(err.value)
        assert status_of(session, c.id) == src
        assert care_history(session, c.id) == before
        return

    move_care(session, c, dst, actor_id=coord.id, reason="because")
    assert status_of(session, c.id) == dst
    assert care_history(session, c.id) == before + [(src, dst, coord.id, "because")]


def test_a_visit_records_its_task(session):
    v = f.volunteer(session)
    c = f.care_occasion(session, status_by=v.id)
    t = f.task(session, member_=session.get(Member, c.member_id))
    move_care(session, c, "visited", actor_id=v.id, reason="visit done", task_id=t.id)
    assert session.execute(select(CareOccasion.task_id, CareOccasion.status)
                           .where(CareOccasion.id == c.id)).one() == (t.id, "visited")
    assert care_history(session, c.id) == [(NEW, "due", v.id, "created in a test"),
                                           ("due", "visited", v.id, "visit done")]


# --- every pair around db.state -------------------------------------------------------------

def sql_care_to(session, occasion_id, to, actor_id=None, reason=None):
    session.execute(text("UPDATE care_occasions SET status = :s, status_by = :a, "
                         "status_reason = :r WHERE id = :id"),
                    {"s": to, "a": actor_id, "r": reason, "id": occasion_id})


@pytest.mark.parametrize("src,dst", CARE_PAIRS, ids=map(_ids, CARE_PAIRS))
def test_care_pair_by_sql(session, src, dst):
    actor = f.coordinator(session)
    c = f.care_in(session, src)
    before = care_history(session, c.id)
    if src == dst:  # the same value: no transition, no history
        sql_care_to(session, c.id, dst, actor.id, "same")
        assert status_of(session, c.id) == src
        assert care_history(session, c.id) == before
    elif f.oracle_allows("care", src, dst):
        sql_care_to(session, c.id, dst, actor.id, "by sql")
        assert status_of(session, c.id) == dst
        assert care_history(session, c.id) == before + [(src, dst, actor.id, "by sql")]
    else:
        refused(session, lambda: sql_care_to(session, c.id, dst, actor.id, "by sql"))
        assert status_of(session, c.id) == src
        assert care_history(session, c.id) == before


@pytest.mark.parametrize("src,dst", CARE_MOVES, ids=map(_ids, CARE_MOVES))
def test_care_pair_by_orm_attribute(session, src, dst):
    c = f.care_in(session, src)
    before = care_history(session, c.id)

    def write():
        c.status = dst
        c.status_reason = "orm"
        session.flush()

    if f.oracle_allows("care", src, dst):
        write()
        assert care_history(session, c.id) == before + [(src, dst, None, "orm")]
    else:
        refused(session, write)
        session.expire_all()
        assert status_of(session, c.id) == src
        assert care_history(session, c.id) == before


def _raw_insert(session, member_id, status, kind="double_ninth", day="2026-10-18"):
    session.execute(text(
        "INSERT INTO care_occasions (member_id, kind, occasion_on, window_from, window_to, "
        "status, version, created_at) VALUES (:m, :k, :d, :d, :d, :s, 1, CURRENT_TIMESTAMP)"),
        {"m": member_id, "k": kind, "d": day, "s": status})
    return session.execute(text("SELECT max(id) FROM care_occasions")).scalar_one()


@pytest.mark.parametrize("status", f.CARE_STATES)
def test_care_insert_by_sql(session, status):
    m = f.member(session)
    if status in f.oracle_initial("care"):
        cid = _raw_insert(session, m.id, status)
        assert care_history(session, cid) == [(NEW, status, None, None)]
    else:
        refused(session, lambda: _raw_insert(session, m.id, status))
        refused(session, lambda: f.care_occasion(session, member_=m, status=status))
        assert session.execute(text("SELECT count(*) FROM care_occasions WHERE member_id = :m"),
                               {"m": m.id}).scalar_one() == 0


def test_planning_many_at_once_writes_one_history_row_each(session):
    """Set-based, as the care planner makes them: one INSERT … SELECT, one history row per
    occasion (PostgreSQL's statement trigger writes them in one statement too)."""
    b = f.branch(session)
    members = sorted(f.member(session, branch_=b).id for _ in range(4))
    coord = f.coordinator(session)
    session.execute(text(
        "INSERT INTO care_occasions (member_id, kind, occasion_on, window_from, window_to, "
        "detail, status, status_by, status_reason, version, created_at) SELECT id, "
        "'spring_festival', '2027-02-06', '2027-01-30', '2027-02-13', 'Spring Festival', 'due', "
        ":a, 'care plan', 1, CURRENT_TIMESTAMP FROM members WHERE branch_id = :b"),
        {"a": coord.id, "b": b.id})
    rows = session.execute(text(
        "SELECT c.member_id, h.from_status, h.to_status, h.actor_id, h.reason FROM "
        "care_occasion_status_changes h JOIN care_occasions c ON c.id = h.care_occasion_id "
        "WHERE c.kind = 'spring_festival' ORDER BY c.member_id")).all()
    assert rows == [(m, NEW, "due", coord.id, "care plan") for m in members]
    session.execute(text("UPDATE care_occasions SET status = 'missed', status_reason = 'closed' "
                         "WHERE kind = 'spring_festival'"))
    assert session.execute(text(
        "SELECT count(*) FROM care_occasion_status_changes WHERE to_status = 'missed' "
        "AND reason = 'closed'")).scalar_one() == 4


# --- one occasion per member, kind and day; the window ---------------------------------------

def test_one_occasion_per_member_kind_and_day(session):
    c = f.care_occasion(session, kind="birthday")
    m = session.get(Member, c.member_id)
    err = refused(session, lambda: f.care_occasion(session, member_=m, kind="birthday"),
                  mark=None)
    assert "unique" in str(err).lower()
    # another kind on the same day, or the same kind on another day: other occasions
    f.care_occasion(session, member_=m, kind="double_ninth")
    f.care_occasion(session, member_=m, kind="birthday", occasion_on=DAY.replace(year=2027))


def test_planning_again_finds_the_same_occasion(session):
    """What the planner relies on: `first_or_add` on the unique key makes no second row."""
    m = f.member(session)

    def plan():
        return first_or_add(
            session,
            select(CareOccasion).where(CareOccasion.member_id == m.id,
                                       CareOccasion.kind == "hardship",
                                       CareOccasion.occasion_on == DAY),
            lambda: CareOccasion(member_id=m.id, kind="hardship", occasion_on=DAY,
                                 window_from=DAY, window_to=DAY + dt.timedelta(days=30),
                                 detail="hardship, level 2", status="due"))

    first = plan()
    session.flush()
    assert plan().id == first.id
    assert session.execute(text("SELECT count(*) FROM care_occasions WHERE member_id = :m"),
                           {"m": m.id}).scalar_one() == 1


@pytest.mark.parametrize("window", [(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=7)),
                                    (DAY - dt.timedelta(days=7), DAY - dt.timedelta(days=1))],
                         ids=["starts-after", "ends-before"])
def test_the_window_holds_the_day(session, window):
    err = refused(session, lambda: f.care_occasion(session, window_from=window[0],
                                                   window_to=window[1]), mark=None)
    assert "window_holds_the_day" in str(err)


def test_the_codes_are_checked(session):
    c = f.care_occasion(session)
    err = refused(session, lambda: session.execute(text(
        "UPDATE care_occasions SET kind = 'party' WHERE id = :id"), {"id": c.id}), mark=None)
    assert "care_kind" in str(err)


def test_deleting_an_occasion_with_history_is_refused(session):
    c = f.care_occasion(session)
    refused(session, lambda: session.execute(text("DELETE FROM care_occasions WHERE id = :id"),
                                             {"id": c.id}), mark=None)


# --- history and movements: the pairs by FK, append-only --------------------------------------

@pytest.mark.parametrize("pair", [("visited", "due"), ("new", "visited"), ("missed", "visited")],
                         ids=_ids)
def test_history_row_with_an_illegal_pair_is_refused_by_fk(session, pair):
    c = f.care_occasion(session)

    def insert(a, b):
        session.execute(text("INSERT INTO care_occasion_status_changes (care_occasion_id, "
                             "from_status, to_status, at) VALUES (:id, :a, :b, "
                             "CURRENT_TIMESTAMP)"), {"id": c.id, "a": a, "b": b})

    err = refused(session, lambda: insert(*pair), mark=None)
    assert "foreign key" in str(err).lower()
    with session.begin_nested():  # control
        insert("due", "missed")


def movement(session, member_id=None, **kw) -> Movement:
    kw.setdefault("kind", "away")
    kw.setdefault("happened_on", dt.date(2026, 2, 5))
    kw.setdefault("source", "cli")
    row = Movement(member_id=member_id or f.member(session).id, from_place="Hangzhou",
                   to_place="Shenzhen", **kw)
    session.add(row)
    session.flush()
    return row


APPEND_ONLY = ["care_occasion_status_changes", "movements"]


def _fill(session):
    f.care_in(session, "visited")
    movement(session)


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("op", ["UPDATE", "DELETE"])
def test_history_and_movements_are_append_only(session, table, op):
    _fill(session)
    count = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert count >= 1
    column = "reason" if table != "movements" else "to_place"
    stmt = (f"UPDATE {table} SET {column} = 'rewritten'" if op == "UPDATE"
            else f"DELETE FROM {table}")
    refused(session, lambda: session.execute(text(stmt)), mark="append-only")
    assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == count


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_history_and_movements_refuse_truncate(session, table):
    """PostgreSQL: TRUNCATE skips row triggers; a statement trigger refuses it. (SQLite has
    no TRUNCATE; its ``DELETE FROM t`` is refused above.)"""
    _fill(session)
    count = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    if session.bind.dialect.name == "sqlite":
        refused(session, lambda: session.execute(text(f"DELETE FROM {table}")),
                mark="append-only")
    else:
        with pytest.raises(IntegrityError, match="append-only"):
            with session.begin_nested():
                session.execute(text(f"TRUNCATE {table} CASCADE"))
    assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == count


def test_a_movement_through_the_orm_cannot_be_changed(session):
    m = movement(session, kind="moved_out", source="outcome")
    m.to_place = "Beijing"
    with pytest.raises(IntegrityError, match="append-only"):
        with session.begin_nested():
            session.flush()


def test_movement_codes_are_checked(session):
    m = f.member(session)
    for column, bad, name in (("kind", "holiday", "movement_kind"),
                              ("source", "rumour", "movement_source")):
        values = {"kind": "away", "source": "cli", column: bad}
        err = refused(session, lambda: session.execute(text(
            "INSERT INTO movements (member_id, kind, happened_on, at, source) VALUES "
            "(:m, :k, '2026-01-01', CURRENT_TIMESTAMP, :s)"),
            {"m": m.id, "k": values["kind"], "s": values["source"]}), mark=None)
        assert name in str(err)


# --- hardship, life events, contributions ----------------------------------------------------

@pytest.mark.parametrize("level,ok", [(0, False), (1, True), (2, True), (3, True), (4, False),
                                      (-1, False)])
def test_hardship_level_is_1_to_3(session, level, ok):
    m, coord = f.member(session), f.coordinator(session)

    def mark():
        session.add(Hardship(member_id=m.id, level=level, since=DAY, marked_by=coord.id))
        session.flush()

    if ok:
        mark()
        assert session.get(Hardship, m.id).level == level
    else:
        err = refused(session, mark, mark=None)
        assert "level_1_to_3" in str(err)


def test_hardship_one_per_member_and_cleared_after_it_began(session):
    m, coord = f.member(session), f.coordinator(session)
    session.add(Hardship(member_id=m.id, level=2, since=DAY, marked_by=coord.id))
    session.flush()
    session.expunge_all()

    def second():
        session.add(Hardship(member_id=m.id, level=3, since=DAY, marked_by=coord.id))
        session.flush()

    refused(session, second, mark=None)
    session.expunge_all()
    err = refused(session, lambda: session.execute(text(
        "UPDATE hardships SET cleared_on = :d, cleared_by = :c WHERE member_id = :m"),
        {"d": DAY - dt.timedelta(days=1), "c": coord.id, "m": m.id}), mark=None)
    assert "cleared_after_since" in str(err)
    session.execute(text("UPDATE hardships SET cleared_on = :d, cleared_by = :c "
                         "WHERE member_id = :m"), {"d": DAY, "c": coord.id, "m": m.id})


def test_life_events_and_contributions(session):
    m, v = f.member(session), f.volunteer(session)
    session.add_all([
        LifeEvent(member_id=m.id, kind="hospitalised", happened_on=DAY, note="hip",
                  recorded_by=v.id),
        Contribution(member_id=m.id, kind="teaching", happened_on=DAY,
                     note="calligraphy class", recorded_by=v.id),
    ])
    session.flush()
    assert session.scalars(select(LifeEvent.kind).where(LifeEvent.member_id == m.id)
                           ).all() == ["hospitalised"]
    assert session.scalars(select(Contribution.kind).where(Contribution.member_id == m.id)
                           ).all() == ["teaching"]
    for table, name in (("life_events", "life_event_kind"),
                        ("contributions", "contribution_kind")):
        err = refused(session, lambda: session.execute(text(
            f"UPDATE {table} SET kind = 'party' WHERE member_id = :m"), {"m": m.id}), mark=None)
        assert name in str(err)


# --- the new codes on tasks and members ----------------------------------------------------

@pytest.mark.parametrize("kind", ["care_visit", "transfer"])
def test_the_new_task_kinds_are_stored(session, kind):
    t = f.task(session, run=f.campaign_run(session, campaign_=f.campaign(session, kind=kind)))
    assert session.execute(text("SELECT kind FROM outreach_tasks WHERE id = :id"),
                           {"id": t.id}).scalar_one() == kind


@pytest.mark.parametrize("outcome", ["visited", "gift_delivered", "help_arranged"])
def test_the_care_outcomes_are_stored(session, outcome):
    t = f.task(session)
    session.execute(text("UPDATE outreach_tasks SET outcome = :o WHERE id = :id"),
                    {"o": outcome, "id": t.id})
    session.execute(text("INSERT INTO attempts (task_id, outcome, recorded_on, recorded_at) "
                         "VALUES (:t, :o, '2026-06-01', CURRENT_TIMESTAMP)"),
                    {"t": t.id, "o": outcome})
    err = refused(session, lambda: session.execute(text(
        "UPDATE outreach_tasks SET outcome = 'cake_eaten' WHERE id = :id"), {"id": t.id}),
        mark=None)
    assert "task_outcome" in str(err)


def test_member_away_since_and_transfer_marker(session):
    m = f.member(session, residence="away", away_since=dt.date(2025, 11, 1))
    assert (m.away_since, m.transfer_considered_on) == (dt.date(2025, 11, 1), None)
    m.transfer_considered_on = dt.date(2026, 5, 2)
    session.flush()
    assert session.execute(text("SELECT transfer_considered_on FROM members WHERE id = :id"),
                           {"id": m.id}).scalar_one() in (dt.date(2026, 5, 2), "2026-05-02")
