"""The seed's care data (`seed.care`): contributions for about a third of the members not
homebound over two years, one movement per member living away with ``away_since`` that
day, a few hardships (with their ``member_changes`` row) and life events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from outreach.db.session import make_engine
from outreach.seed.generate import seed_ledger

TODAY = dt.date(2026, 11, 30)


def _one(e, sql: str):
    with e.connect() as conn:
        return conn.execute(text(sql)).one()


def test_the_seed_gives_the_scorecard_contributions_and_movements(db_url):
    e = make_engine(db_url)
    try:
        res = seed_ledger(e, members=2000, seed=3, today=TODAY, meetings=False)
        eligible, with_one = _one(e, """
            SELECT COUNT(*), COUNT(DISTINCT c.member_id) FROM members m
            LEFT JOIN contributions c ON c.member_id = m.id WHERE m.homebound = false""")
        assert 0.25 < with_one / eligible < 0.45 and res.contributions == with_one
        assert _one(e, "SELECT COUNT(*) FROM contributions c JOIN members m "
                       "ON m.id = c.member_id WHERE m.homebound = true")[0] == 0
        first, last = _one(e, "SELECT MIN(happened_on), MAX(happened_on) FROM contributions")
        assert str(first) >= str(TODAY - dt.timedelta(days=730)) and str(last) <= str(TODAY)
        away, moved, matching = _one(e, """
            SELECT (SELECT COUNT(*) FROM members WHERE residence = 'away'),
                   (SELECT COUNT(*) FROM movements),
                   (SELECT COUNT(*) FROM movements v JOIN members m ON m.id = v.member_id
                    WHERE m.residence = 'away' AND v.kind = 'away'
                      AND v.happened_on = m.away_since AND v.to_place = 'away')""")
        assert away == moved == matching == res.movements > 0
        hardships, changes = _one(e, """
            SELECT (SELECT COUNT(*) FROM hardships),
                   (SELECT COUNT(*) FROM member_changes WHERE field = 'hardship')""")
        assert 0 < hardships == changes
        assert _one(e, "SELECT COUNT(*) FROM life_events")[0] > 0
    finally:
        e.dispose()
