"""The seed writes attendance in bulk (`seed.meetings._bulk_load`): SQLite's row triggers
and PostgreSQL's per-row foreign-key checks are set aside for the load and the indexes of
an empty table built after it. None of that may show: the same history a row trigger
writes, the schema exactly as before, every guard working afterwards, and on a failure
nothing written and nothing missing."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import outreach.seed.meetings as seed_meetings
from outreach.db.session import make_engine
from outreach.seed.generate import seed_ledger
from tests.db.test_migrate_roundtrip import _schema

TODAY = dt.date(2026, 11, 2)


@pytest.fixture
def eng(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


def _rows(e, sql: str) -> list[tuple]:
    with e.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _history_matches_rows(e) -> None:
    """Every attendance row has the history a row trigger would have written: one first
    row ``new → mark`` and, for a made-up one, ``mark → made_up``; nothing else."""
    hist: dict[int, list[tuple]] = {}
    for aid, f, t, reason in _rows(e, "SELECT attendance_id, from_status, to_status, reason "
                                      "FROM attendance_status_changes ORDER BY id"):
        hist.setdefault(aid, []).append((f, t, reason))
    rows = _rows(e, "SELECT id, status FROM attendance")
    assert rows and len(hist) == len(rows)
    for aid, status in rows:
        steps = hist[aid]
        assert steps[0][0] == "new" and all(r == "seeded" for *_x, r in steps)
        if status == "made_up":
            assert len(steps) == 2 and steps[0][1] in ("excused", "absent")
            assert steps[1][:2] == (steps[0][1], "made_up")
        else:
            assert steps == [("new", status, "seeded")]


def _refused(e, sql: str) -> None:
    with pytest.raises(DBAPIError), e.begin() as conn:
        conn.execute(text(sql))


def test_bulk_seed_keeps_schema_history_and_guards(eng):
    before = _schema(eng)
    res = seed_ledger(eng, members=2000, seed=5, today=TODAY)
    assert res.attendance > 2000 and res.made_up > 0
    assert _schema(eng) == before  # triggers, indexes, foreign keys: all back, unchanged
    _history_matches_rows(eng)
    n_hist = _rows(eng, "SELECT COUNT(*) FROM attendance_status_changes")[0][0]
    assert n_hist == res.attendance + res.made_up
    # A made-up row's first mark, drawn again from how it was made up, is the mark the
    # member's own facts draw (what the INSERT decided before making it up).
    drawn = seed_meetings._mark("m", seed_meetings._mark_draw("a"))
    wrong = _rows(eng, f"""SELECT COUNT(*) FROM attendance a
        JOIN members m ON m.id = a.member_id
        JOIN attendance_status_changes h ON h.attendance_id = a.id AND h.from_status = 'new'
        WHERE a.status = 'made_up' AND h.to_status <> {drawn}""")[0][0]
    assert wrong == 0

    # The guards hold again: an illegal pair, a first status that is not one, a member
    # or meeting that does not exist, history rewritten — each refused.
    present = _rows(eng, "SELECT id, meeting_id FROM attendance WHERE status = 'present' "
                         "LIMIT 1")[0]
    _refused(eng, f"UPDATE attendance SET status = 'invited' WHERE id = {present[0]}")
    member = _rows(eng, "SELECT MAX(id) FROM members")[0][0]
    stamp = "'2026-11-02 10:00:00'"
    _refused(eng, "INSERT INTO attendance (meeting_id, member_id, status, made_up_on, "
                  "made_up_how, version, created_at) VALUES "
                  f"({present[1]}, {member}, 'made_up', '2026-11-01', 'visit', 1, {stamp})")
    _refused(eng, "INSERT INTO attendance (meeting_id, member_id, status, version, "
                  f"created_at) VALUES ({present[1]}, {member + 10}, 'present', 1, {stamp})")
    _refused(eng, "INSERT INTO attendance (meeting_id, member_id, status, version, "
                  f"created_at) VALUES (999999, {member}, 'present', 1, {stamp})")
    _refused(eng, "UPDATE attendance_status_changes SET to_status = 'absent'")
    # A legal change still writes its history row through the trigger.
    with eng.begin() as conn:
        conn.execute(text(f"UPDATE attendance SET status = 'remote' WHERE id = {present[0]}"))
    last = _rows(eng, "SELECT attendance_id, from_status, to_status FROM "
                      "attendance_status_changes ORDER BY id DESC LIMIT 1")[0]
    assert last == (present[0], "present", "remote")


def test_additive_seed_keeps_indexes_and_history(eng):
    """A second seeding finds attendance there: its indexes stay, the rows still get their
    history."""
    seed_ledger(eng, members=600, seed=5, today=TODAY)
    before = _schema(eng)
    seed_ledger(eng, members=700, seed=6, today=TODAY)
    assert _schema(eng) == before
    _history_matches_rows(eng)


def test_failure_in_the_bulk_load_writes_nothing_and_keeps_the_guards(eng, monkeypatch):
    before = _schema(eng)
    real = seed_meetings._history

    def broken(db, cur, first):
        real(db, cur, first)
        raise RuntimeError("disk full")

    monkeypatch.setattr(seed_meetings, "_history", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        seed_ledger(eng, members=800, seed=5, today=TODAY)
    assert _schema(eng) == before
    counts = Counter({t: _rows(eng, f"SELECT COUNT(*) FROM {t}")[0][0]
                      for t in ("members", "meetings", "attendance",
                                "attendance_status_changes")})
    assert set(counts.values()) == {0}
    # And the next seeding works, with its history.
    monkeypatch.setattr(seed_meetings, "_history", real)
    seed_ledger(eng, members=800, seed=5, today=TODAY)
    assert _schema(eng) == before
    _history_matches_rows(eng)
