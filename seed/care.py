"""Care, contributions and movements for a seeded ledger (issue 13), so that the
scorecard has something to count.

Called by `seed.generate.seed_ledger` inside its transaction, after the members (and their
organisational life). Every statement is one set-based ``INSERT … SELECT`` (or UPDATE)
over the new members' id range — no Python per row; which members get what follows from
their id (a fixed spread, the same on SQLite and PostgreSQL):

* **contributions**: about a third of the members not homebound (``CONTRIBUTION_SHARE``),
  one each, on a day within the last two years, of each kind in turn;
* **movements**: every member living away gets the movement that took them away
  (local → away, source ``import``) on a day up to 2½ years back, and ``away_since`` that
  day — so some have been away over six months (the care job's transfer tasks);
* **hardship**: one member in ~150 (level 1–3, since two months), each also a
  ``member_changes`` row as `tasks.care.care.mark_hardship` writes;
* **life events**: one member in ~200, within the last month.

Care occasions themselves are planned by `outreach care plan` / the daily ``care`` flow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from outreach.seed.common import REASON, SeedDb

#: Percent of members not homebound with a contribution in the last two years.
CONTRIBUTION_SHARE = 35
KINDS = ("teaching", "volunteering", "mediation", "mentoring", "other")
EVENTS = ("hospitalised", "bereaved", "hardship", "other")


@dataclass
class CareSeed:
    contributions: int = 0
    movements: int = 0
    hardships: int = 0
    life_events: int = 0


def _back(db: "SeedDb", days_sql: str) -> str:
    """SQL for the seed's today minus ``days_sql`` days (one placeholder: today)."""
    if db.pg:
        return f"(%s::date - ({days_sql})::int)"
    return f"date(?, '-' || ({days_sql}) || ' days')"


def _ts(db: "SeedDb") -> str:
    return "%s::timestamp" if db.pg else "?"


def _case(expr: str, values: tuple[str, ...]) -> str:
    return "CASE " + " ".join(f"WHEN {expr} = {i} THEN '{v}'" for i, v in enumerate(values)) \
        + f" ELSE '{values[0]}' END"


def _run(db: "SeedDb", sql: str, params: tuple) -> int:
    """Execute one statement (``%`` is the modulo operator: doubled for psycopg)."""
    if db.pg:
        sql = sql.replace("%", "%%").replace("%%s", "%s")
    cur = db.conn.cursor()
    try:
        cur.execute(sql, params)
        return max(cur.rowcount or 0, 0)
    finally:
        cur.close()


def seed_care(db: "SeedDb", *, first_member: int, last_member: int, today: dt.date,
              created_at: str) -> CareSeed:
    """The rows above for members ``first_member`` … ``last_member``."""
    out = CareSeed()
    if last_member < first_member:
        return out
    day, rng = today.isoformat(), (first_member, last_member)
    ph = db.ph
    within = f"id BETWEEN {ph} AND {ph}"
    no = False
    out.contributions = _run(db, f"""
        INSERT INTO contributions (member_id, kind, happened_on, note, recorded_by, recorded_at)
        SELECT id, {_case('(id / 7) % 5', KINDS)}, {_back(db, '((id % 730) * 37) % 730')}, NULL, NULL,
               {_ts(db)}
        FROM members WHERE {within} AND homebound = {ph} AND ((id % 100) * 7919) % 100 < {ph}""",
        (day, created_at, *rng, no, CONTRIBUTION_SHARE))
    away_day = _back(db, "((id % 900) * 53) % 900")
    out.movements = _run(db, f"""
        INSERT INTO movements (member_id, kind, happened_on, at, from_place, to_place, source,
                               recorded_by)
        SELECT id, 'away', {away_day}, {_ts(db)}, 'local', 'away', 'import', NULL
        FROM members WHERE {within} AND residence = 'away'""", (day, created_at, *rng))
    _run(db, f"UPDATE members SET away_since = {away_day} WHERE {within} AND residence = 'away'",
         (day, *rng))
    contactable = "status IN ('unverified', 'active', 'unreachable')"
    out.hardships = _run(db, f"""
        INSERT INTO hardships (member_id, level, since, marked_by, cleared_on, cleared_by)
        SELECT id, 1 + id % 3, {_back(db, '60')}, NULL, NULL, NULL
        FROM members WHERE {within} AND {contactable} AND ((id % 150) * 31) % 150 = 0""",
        (day, *rng))
    _run(db, f"""
        INSERT INTO member_changes (member_id, field, old_value, new_value, actor_id, reason, at)
        SELECT member_id, 'hardship', NULL, 'level ' || level, NULL, '{REASON}', {_ts(db)}
        FROM hardships WHERE member_id BETWEEN {ph} AND {ph}""", (created_at, *rng))
    out.life_events = _run(db, f"""
        INSERT INTO life_events (member_id, kind, happened_on, note, recorded_by, recorded_at)
        SELECT id, {_case('(id / 3) % 4', EVENTS)}, {_back(db, '((id % 30) * 13) % 30')}, NULL, NULL,
               {_ts(db)}
        FROM members WHERE {within} AND {contactable} AND ((id % 200) * 17) % 200 = 0""",
        (day, created_at, *rng))
    return out
