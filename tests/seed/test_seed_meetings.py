"""The seed's year of organisational life: roles, closed meetings on cadence, attendance
with realistic marks, made up after the meeting, history written by the triggers."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import text

from outreach.db.session import make_engine
from outreach.seed.generate import seed_ledger
from outreach.seed.meetings import REGISTERS, schedule

TODAY = dt.date(2026, 11, 2)


@pytest.fixture
def seeded(db_url):
    e = make_engine(db_url)
    res = seed_ledger(e, members=3000, seed=7, today=TODAY)
    yield e, res
    e.dispose()


def _rows(e, sql: str, **params) -> list[tuple]:
    with e.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def test_schedule_is_a_year_on_cadence_before_today():
    import random

    plan = schedule(TODAY, random.Random(1))
    kinds = Counter(k for k, _ in plan)
    assert kinds == {"committee": 12, "group": 12, "theme_day": 12, "assembly": 4,
                     "lecture": 4}
    days = [d for _, d in plan]
    assert max(days) < TODAY and min(days) >= dt.date(2025, 11, 1)
    assert {(d.year, d.month) for k, d in plan if k == "group"} == \
        {((TODAY.year * 12 + TODAY.month - 1 - k) // 12, (TODAY.month - 1 - k) % 12 + 1)
         for k in range(1, 13)}


def test_meetings_closed_with_history(seeded):
    e, res = seeded
    assert res.meetings > 0
    statuses = _rows(e, "SELECT status, COUNT(*) FROM meetings GROUP BY status")
    assert statuses == [("closed", res.meetings)]
    # Each meeting's history: new -> held -> closed, nothing else.
    hist = Counter(_rows(e, "SELECT from_status, to_status FROM meeting_status_changes"))
    assert hist == {("new", "held"): res.meetings, ("held", "closed"): res.meetings}
    # Every branch with members has a full year on cadence.
    per_branch = _rows(e, "SELECT branch_id, kind, COUNT(*) FROM meetings "
                          "GROUP BY branch_id, kind")
    assert {(k, n) for _, k, n in per_branch} == {("committee", 12), ("group", 12),
                                                  ("theme_day", 12), ("assembly", 4),
                                                  ("lecture", 4)}
    with_members = _rows(e, "SELECT COUNT(DISTINCT branch_id) FROM members")[0][0]
    assert len({b for b, _, _ in per_branch}) == with_members


def test_roles_and_committee_meetings(seeded):
    e, res = seeded
    roles = _rows(e, "SELECT branch_id, role, COUNT(*) FROM branch_roles "
                     "GROUP BY branch_id, role")
    by_branch: dict[int, dict[str, int]] = {}
    for b, role, n in roles:
        by_branch.setdefault(b, {})[role] = n
    assert by_branch and all(r["secretary"] == 1 and r["deputy"] == 1
                             and 2 <= r["committee"] <= 5 for r in by_branch.values())
    assert res.roles == sum(n for _, _, n in roles)
    # Each role is a member_changes row like `outreach member role` writes.
    assert _rows(e, "SELECT COUNT(*) FROM member_changes WHERE field = 'branch_role'")[0][0] \
        == res.roles
    # Committee meetings invite exactly the branch's committee.
    bad = _rows(e, """SELECT COUNT(*) FROM attendance a JOIN meetings mt ON mt.id = a.meeting_id
        WHERE mt.kind = 'committee' AND NOT EXISTS (SELECT 1 FROM branch_roles r
          WHERE r.branch_id = mt.branch_id AND r.member_id = a.member_id)""")[0][0]
    assert bad == 0
    # The chair is the branch's secretary.
    chairs = _rows(e, """SELECT COUNT(*) FROM meetings mt JOIN branch_roles r
        ON r.branch_id = mt.branch_id AND r.role = 'secretary'
        JOIN members m ON m.id = r.member_id WHERE mt.chair <> m.name""")[0][0]
    assert chairs == 0


def test_attendance_marks_are_realistic(seeded):
    e, res = seeded
    total = _rows(e, "SELECT COUNT(*) FROM attendance")[0][0]
    assert total == res.attendance > 0
    # Registers: every contactable member on REGISTERS meetings other than committee.
    per_member = Counter(n for (n,) in _rows(e, """SELECT COUNT(*) FROM attendance a
        JOIN meetings mt ON mt.id = a.meeting_id WHERE mt.kind <> 'committee'
        GROUP BY a.member_id"""))
    assert set(per_member) == {REGISTERS}
    assert sum(per_member.values()) == 3000  # the seed makes only active/unverified members

    def shares(where: str) -> dict[str, float]:
        rows = _rows(e, f"""SELECT a.status, COUNT(*) FROM attendance a
            JOIN members m ON m.id = a.member_id JOIN meetings mt ON mt.id = a.meeting_id
            WHERE mt.kind <> 'committee' AND {where} GROUP BY a.status""")
        n = sum(c for _, c in rows)
        return {s: c / n for s, c in rows}

    local = shares("m.residence = 'local' AND NOT m.homebound")
    away = shares("m.residence = 'away' AND NOT m.homebound")
    home = shares("m.homebound")
    assert local["present"] > 0.75 and "remote" not in local
    assert away.get("remote", 0) + away.get("excused", 0) + away.get("made_up", 0) > 0.8
    assert "present" not in away
    assert set(home) <= {"excused", "made_up"} and home["made_up"] > 0.6
    # Made up after the meeting, never after today, with how; homebound: a visit.
    late = _rows(e, """SELECT COUNT(*) FROM attendance a JOIN meetings mt
        ON mt.id = a.meeting_id WHERE a.status = 'made_up'
        AND (a.made_up_on <= mt.held_on OR a.made_up_on > :today)""", today=TODAY)[0][0]
    assert late == 0 and res.made_up > 0
    hows = _rows(e, """SELECT DISTINCT a.made_up_how FROM attendance a JOIN members m
        ON m.id = a.member_id WHERE a.status = 'made_up' AND m.homebound""")
    assert hows == [("visit",)]
    excused_reasons = _rows(e, "SELECT COUNT(*) FROM attendance "
                               "WHERE status = 'excused' AND reason IS NULL")[0][0]
    assert excused_reasons == 0
    # History: one new -> mark row per attendance, one mark -> made_up per make-up.
    hist = Counter(t for (t,) in _rows(e, "SELECT to_status FROM attendance_status_changes"))
    assert hist["made_up"] == res.made_up
    assert sum(hist.values()) == res.attendance + res.made_up
    # Six months: nearly everyone had a register in the last half year (registers take
    # turns half a year apart).
    last_half = _rows(e, """SELECT COUNT(DISTINCT a.member_id) FROM attendance a
        JOIN meetings mt ON mt.id = a.meeting_id
        WHERE mt.kind <> 'committee' AND mt.held_on >= :since""",
                      since=TODAY - dt.timedelta(days=183))[0][0]
    assert last_half > 0.9 * 3000


def test_without_meetings_and_additive(db_url):
    e = make_engine(db_url)
    try:
        res = seed_ledger(e, members=500, seed=3, today=TODAY, meetings=False)
        assert res.meetings == 0
        assert _rows(e, "SELECT COUNT(*) FROM meetings")[0][0] == 0
        # A second seeding adds meetings for its own members only; roles are not doubled.
        res2 = seed_ledger(e, members=800, seed=4, today=TODAY)
        assert res2.meetings > 0 and res2.roles > 0
        members = _rows(e, "SELECT COUNT(DISTINCT member_id) FROM attendance")[0][0]
        assert members == 800
        # Same branches again (same seed): each already has its committee and its year.
        again = seed_ledger(e, members=800, seed=4, today=TODAY)
        assert again.roles == 0
        assert again.meetings == 0 and again.attendance == 0
    finally:
        e.dispose()


def test_draws_stay_in_range_for_large_ids(db_url):
    """The marks' draws in SQL overflowed PostgreSQL's integer from ~271,000 members on
    (member id × 7919); now the operands are reduced first, whatever the ids."""
    from outreach.seed.meetings import _hash

    e = make_engine(db_url)
    try:
        for member, meeting in ((1_000_000, 2_000), (2_000_000_000, 2_000_000_000)):
            got = _rows(e, f"SELECT {_hash(str(member), str(meeting), 7919, 131)}")[0][0]
            assert 0 <= got < 100
    finally:
        e.dispose()
