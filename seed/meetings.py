"""A year of organisational life for a seeded ledger: roles, meetings, attendance.

Called by `seed.generate.seed_ledger` inside its transaction, after the members. For every
branch that got members in this seeding:

* **roles**: a secretary, a deputy and 2–5 committee members (local, active, not
  homebound where the branch has them), each also a ``member_changes`` row (field
  ``branch_role``) like `db.state.set_branch_role` writes;
* **meetings** over the 12 months before ``today``, on the default cadence: committee,
  group and theme day monthly, assembly and lecture quarterly — all held, then closed (the
  guards allow ``new → held`` but not ``new → closed``: one set-based UPDATE closes them,
  so each meeting's history reads ``new → held → closed``);
* **attendance**: committee meetings invite the branch's committee. The other meetings
  keep a *register per member*, not per meeting: every member is on the register of
  ``REGISTERS`` of their branch's meetings, half a year apart (the meetings of a branch
  take turns). A full register of every member at every meeting is 32 rows a member a
  year: measured, an attendance row with its history costs about a third of a seeded
  member on SQLite and over half of one on PostgreSQL (foreign-key checks of the row
  and of its history row), so a full year would be 10–20 times the ledger's own seeding.
  The seed keeps two registers, which is what the reports need: rates per branch and
  kind, and for every member one meeting in each half year (so "six months without
  organisational life" counts only those who missed it and did not catch up). New
  meetings (`outreach meeting plan`) invite everyone as the rules say.
  Marks: locals mostly present, away members mostly remote or excused, homebound members
  excused; most homebound (visit) and about two in five of the other excused/absent
  members (phone when away, materials when local) made it up, a few days to three weeks
  after the meeting and never after ``today``.

All of it is set-based: 44 meeting rows a branch from Python, attendance by one
``INSERT … SELECT`` over the new members (ids only, no Python per row) with each row's
final mark, its history by two more (`_bulk_load`: the attendance triggers and, on
PostgreSQL, the foreign-key checks set aside for the load, every guarantee kept), one
UPDATE for closing the meetings. Measured at 1M members (`bench.bench_meetings`, medians
of 3), the year of meetings adds 37% to the ledger's seeding on SQLite and 34% on
PostgreSQL (before `_bulk_load`: +61% and over +200%).
"""

from __future__ import annotations

import datetime as dt
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

from outreach.seed.common import REASON, Branch, SeedDb

#: Registers a member is on per year (meetings other than committee), evenly apart.
REGISTERS = 2
MONTHLY = ("committee", "group", "theme_day")
QUARTERLY = ("assembly", "lecture")
COMMITTEE_SIZE = (2, 5)

_TOPICS = {
    "assembly": [
        ("Annual work report and the year ahead", "Branch work report"),
        ("Electing the branch committee", "Election rules and candidate list"),
        ("Review of membership dues and accounts", "Dues and accounts summary"),
        ("Self-criticism and mutual evaluation", "Evaluation guidelines"),
        ("Mid-year review of the branch plan", "Branch plan, mid-year review"),
    ],
    "committee": [
        ("Planning next month's visits", "Visit roster"),
        ("Care for members in hospital", "List of care occasions"),
        ("Preparing the quarterly assembly", "Assembly agenda draft"),
        ("Members living away: keeping in touch", "Contact bridge checklist"),
        ("Dues collection and accounts", "Accounts sheet"),
        ("Assigning make-up study", "Make-up study plan"),
    ],
    "group": [
        ("Reading session: this month's study text", "Study text of the month"),
        ("Sharing experiences of volunteering", "Volunteer stories"),
        ("Neighbourhood safety and mutual help", "Mutual help leaflet"),
        ("Health in old age: a doctor answers", "Health advice booklet"),
        ("Discussing the community's proposals", "Community proposals"),
    ],
    "lecture": [
        ("History of the organisation", "Lecture notes: our history"),
        ("New rules on pensions and care", "Pension and care rules explained"),
        ("Law for everyday life", "Everyday law handbook"),
        ("Staying safe from fraud", "Fraud prevention guide"),
    ],
    "theme_day": [
        ("Study visit to the memorial hall", "Memorial hall guide"),
        ("Calligraphy contest", "Contest rules"),
        ("Remembrance day ceremony", "Remembrance programme"),
        ("Performance by the choir and dance groups", "Performance programme"),
        ("Tree planting in the park", "Green volunteers leaflet"),
        ("Visiting the homebound with the youth league", "Visit pairing list"),
    ],
}
_PLACES = ["Community centre, room 2", "Branch office", "Library hall", "Senior activity centre"]
_MINUTES = "Held as planned; attendance recorded; material handed out for make-up study."
_EXCUSES_LOCAL = ("unwell", "family matters", "in hospital", "travelling")
#: Why a member was excused: homebound, living away (as stored on attendance rows).
_WHY = {"unwell": "unwell", "homebound": "homebound", "away": "lives away"}

#: The same in Chinese (``locale="zh_CN"``): topics and materials as branches write them.
_TOPICS_ZH = {
    "assembly": [
        ("支部年度工作报告和明年工作打算", "支部年度工作报告"),
        ("支部委员会换届选举", "选举办法和候选人名单"),
        ("党费收缴使用情况报告", "党费收缴使用情况汇总"),
        ("开展批评与自我批评，民主评议党员", "民主评议党员工作指引"),
        ("支部工作计划半年回顾", "支部工作计划半年小结"),
    ],
    "committee": [
        ("研究下月走访安排", "下月走访安排表"),
        ("关心住院党员", "关怀对象名单"),
        ("筹备季度支部党员大会", "支部党员大会议程（草案）"),
        ("外出党员联系工作", "外出党员联系清单"),
        ("党费收缴和账目", "党费账目表"),
        ("安排补学", "补学安排"),
    ],
    "group": [
        ("学习本月学习材料", "本月学习材料"),
        ("交流志愿服务体会", "志愿服务故事汇编"),
        ("邻里守望与互帮互助", "邻里互助宣传单"),
        ("老年健康知识：医生答疑", "老年健康知识手册"),
        ("讨论社区建议", "社区建议汇总"),
    ],
    "lecture": [
        ("党的光辉历程", "党课讲稿：党的光辉历程"),
        ("养老和医保新政策解读", "养老和医保政策解读"),
        ("身边的法律知识", "日常法律知识读本"),
        ("防范电信诈骗", "防诈骗指南"),
    ],
    "theme_day": [
        ("参观革命纪念馆", "纪念馆参观指南"),
        ("书画比赛", "书画比赛规则"),
        ("清明祭扫烈士墓", "祭扫活动安排"),
        ("合唱团、舞蹈队文艺汇演", "文艺汇演节目单"),
        ("公园义务植树", "绿色志愿者宣传单"),
        ("与团员青年一起走访行动不便党员", "结对走访名单"),
    ],
}
_PLACES_ZH = ["社区党群服务中心二楼会议室", "支部活动室", "社区图书室", "老年活动中心"]
_MINUTES_ZH = "会议按计划召开；已登记出席情况；补学材料已分发。"
_EXCUSES_LOCAL_ZH = ("身体不适", "家中有事", "住院", "外出旅行")
_WHY_ZH = {"unwell": "身体不适", "homebound": "行动不便", "away": "外出"}


def _texts(locale: str):
    """(topics, places, minutes, local excuses, why) in the seed's language."""
    if locale.startswith("zh"):
        return _TOPICS_ZH, _PLACES_ZH, _MINUTES_ZH, _EXCUSES_LOCAL_ZH, _WHY_ZH
    return _TOPICS, _PLACES, _MINUTES, _EXCUSES_LOCAL, _WHY
_MOD = 9973  # a prime: draws of neighbouring ids do not repeat in step


def _hash(member: str, meeting: str, a: int, b: int) -> str:
    """A deterministic draw 0..99 per (member, meeting) in SQL; the operands stay below
    2**31 (PostgreSQL's integer) whatever the ids."""
    return f"((({member}) % {_MOD}) * {a} + (({meeting}) % {_MOD}) * {b}) % 100"


#: The attendance triggers that `_bulk_load` sets aside for `_history` (SQLite's per row,
#: PostgreSQL's per statement).
_TRIGGERS = {"sqlite": ("attendance_insert", "attendance_update"),
             "postgresql": ("attendance_after_insert", "attendance_after_update")}
#: The secondary indexes built after the rows when attendance was empty.
_INDEXES = ("ix_attendance_member_status", "ix_attendance_meeting_status",
            "ix_attendance_status_changes_attendance_id")
#: PostgreSQL: the tables whose foreign keys `_bulk_load` validates once, set-based.
_TABLES = ("attendance", "attendance_status_changes")


@contextmanager
def _bulk_load(db: "SeedDb", cur, *, empty: bool):
    """Write millions of attendance rows the way a database is best loaded in bulk, every
    guarantee of the table kept, in the seed's one transaction.

    Measured at 1M members (2M rows), the guards made the year of meetings cost more than
    the ledger itself: SQLite's row triggers (legal first status, a history row each),
    the rows written as excused and then made up by an UPDATE with its own history, and
    on PostgreSQL the per-row foreign-key checks of both tables. So, for the load:

    * the attendance triggers are dropped and `_history` writes the very rows they would
      write, set-based; each row is inserted with its final mark (no UPDATE);
    * PostgreSQL: both tables' foreign keys are dropped and added again after the load,
      which checks every row in one join (PostgreSQL's advice for populating a database);
      the history's foreign key to the transition table is what refuses an illegal pair;
    * when attendance was empty, its and its history's indexes are built after the rows
      (on PostgreSQL the primary and unique keys too: adding them back checks them).

    Everything is put back from the database's own definitions (``sqlite_master``,
    ``pg_get_triggerdef``, ``pg_get_constraintdef``, ``pg_get_indexdef``): the schema is
    exactly what it was. Nobody else writes meanwhile (the seed holds SQLite's write lock;
    on PostgreSQL the ALTERs lock both tables until the seed commits), and a failure rolls
    all of it back (DDL is transactional in both)."""
    restore: list[str] = []
    wanted = _TRIGGERS["postgresql" if db.pg else "sqlite"]
    names = ", ".join(f"'{t}'" for t in wanted)
    if db.pg:
        tables = ", ".join(f"'{t}'::regclass" for t in _TABLES)
        triggers = db.rows(f"SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                           f"WHERE tgrelid = 'attendance'::regclass AND tgname IN ({names})")
        drop = "DROP TRIGGER {} ON attendance"
        keys = db.rows(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            f"FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid IN ({tables}) "
            "ORDER BY c.conname")
        indexes = (f"SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                   f"FROM pg_index i WHERE i.indrelid IN ({tables})")
    else:
        triggers = db.rows(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                           f"AND name IN ({names})")
        drop, keys = "DROP TRIGGER {}", []
        indexes = ("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                   f"AND tbl_name IN ({', '.join(repr(t) for t in _TABLES)})")
    if len(triggers) != len(wanted):
        raise RuntimeError("the attendance triggers are missing: run `outreach db upgrade`")
    for name, sql in triggers:
        cur.execute(drop.format(name))
        restore.append(sql)
    for table, name, definition in keys:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    if empty:
        built = [(n, sql) for n, sql in db.rows(indexes) if n in _INDEXES]
        for name, _sql in built:
            cur.execute(f"DROP INDEX {name}")
        restore[:0] = [sql for _n, sql in built]
        if db.pg:  # and the primary and unique keys' indexes, each built by one sort
            unique = db.rows(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
                f"FROM pg_constraint c WHERE c.contype IN ('p', 'u') "
                f"AND c.conrelid IN ({tables}) ORDER BY c.contype, c.conname")
            for table, name, _definition in unique:
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore[:0] = [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
                           for table, name, definition in unique]
    yield
    for sql in restore:
        cur.execute(sql)


#: The draw's thresholds of the marks: away members remote below 55, excused below 88,
#: else absent; locals present below 84, excused below 92, else absent.
_AWAY = (55, 88)
_LOCAL = (84, 92)


def _mark_draw(x: str) -> str:
    """SQL: the draw 0..99 a member's mark comes from (`_mark`), of row ``x``'s
    ``member_id`` and ``meeting_id``: the INSERT and the history draw it alike."""
    return _hash(f"{x}.member_id", f"{x}.meeting_id", 7919, 131)


def _mark(x: str, h: str) -> str:
    """SQL: the mark a member got at a meeting (before any make-up), drawn from the ids
    (``h``: the draw, `_mark_draw`): locals mostly present, away members mostly remote or
    excused, homebound members excused. ``x`` has the member's ``homebound`` and
    ``residence``."""
    return f"""(CASE WHEN {x}.homebound THEN 'excused'
           WHEN {x}.residence = 'away' THEN
             CASE WHEN {h} < {_AWAY[0]} THEN 'remote' WHEN {h} < {_AWAY[1]} THEN 'excused'
                  ELSE 'absent' END
           ELSE CASE WHEN {h} < {_LOCAL[0]} THEN 'present' WHEN {h} < {_LOCAL[1]} THEN 'excused'
                     ELSE 'absent' END END)"""


def _mark_made_up(a: str) -> str:
    """SQL: the mark a made-up attendance row ``a`` had before: excused or absent, drawn
    again from its ids. How it was made up says who the member was (a visit: homebound, a
    call: away, materials: local), so the members need not be read again."""
    h = _mark_draw(a)
    return f"""(CASE {a}.made_up_how WHEN 'visit' THEN 'excused'
           WHEN 'phone' THEN CASE WHEN {h} < {_AWAY[1]} THEN 'excused' ELSE 'absent' END
           ELSE CASE WHEN {h} < {_LOCAL[1]} THEN 'excused' ELSE 'absent' END END)"""


def _history(db: "SeedDb", cur, first: int) -> None:
    """The history rows of the attendance from id ``first`` on, exactly as the row
    triggers write them, in two ``INSERT … SELECT``: ``new → mark`` for every row (a
    made-up row's mark drawn again, `_mark_made_up`), then ``mark → made_up`` for the
    made-up ones — the later step with the later id, as when an UPDATE made them up."""
    now = "(now() AT TIME ZONE 'utc')" if db.pg else "CURRENT_TIMESTAMP"
    if db.scalar(f"SELECT 1 FROM attendance_status_changes WHERE attendance_id >= {int(first)} "
                 "LIMIT 1"):
        raise RuntimeError("illegal attendance transition: this id already has history")
    cols = "attendance_id, from_status, to_status, actor_id, reason, at"
    cur.execute(f"""
    INSERT INTO attendance_status_changes ({cols})
    SELECT a.id, 'new',
      CASE WHEN a.status = 'made_up' THEN {_mark_made_up("a")} ELSE a.status END,
      a.status_by, a.status_reason, {now}
    FROM attendance a WHERE a.id >= {int(first)}""")
    cur.execute(f"""
    INSERT INTO attendance_status_changes ({cols})
    SELECT a.id, {_mark_made_up("a")}, 'made_up', a.status_by, a.status_reason, {now}
    FROM attendance a WHERE a.id >= {int(first)} AND a.status = 'made_up'""")


@dataclass
class MeetingsResult:
    meetings: int = 0
    attendance: int = 0
    made_up: int = 0
    roles: int = 0


def _months_back(today: dt.date, k: int) -> tuple[int, int]:
    y, m = divmod(today.year * 12 + today.month - 1 - k, 12)
    return y, m + 1


def _day_in(y: int, m: int, rng: random.Random, before: dt.date) -> dt.date | None:
    """A weekday in month (y, m) strictly before ``before``; None when there is none."""
    first = dt.date(y, m, 1)
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1))
    last = min(last, before - dt.timedelta(days=1))
    if last < first:
        return None
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    week = [d for d in days if d.weekday() < 5] or days
    return rng.choice(week)


def schedule(today: dt.date, rng: random.Random) -> list[tuple[str, dt.date]]:
    """(kind, date) of one branch's meetings over the 12 months before ``today``, by date:
    monthly kinds once in each of the 12 months before today's, quarterly kinds once in each
    of the last four ended quarters (within those months): the current month and quarter
    are still to come."""
    out: list[tuple[str, dt.date]] = []
    for k in range(1, 13):
        y, m = _months_back(today, k)
        for kind in MONTHLY:
            d = _day_in(y, m, rng, today)
            if d:
                out.append((kind, d))
    now = today.year * 12 + today.month - 1
    q_now = now // 3
    for q in range(q_now - 4, q_now):
        months = [mm for mm in range(q * 3, q * 3 + 3) if mm >= now - 12]
        for kind in QUARTERLY:
            y, m = divmod(rng.choice(months), 12)
            d = _day_in(y, m + 1, rng, today)
            if d:
                out.append((kind, d))
    out.sort(key=lambda kd: (kd[1], kd[0]))
    return out


def _pick_roles(db: "SeedDb", branches: Sequence["Branch"], lo: int, hi: int,
                rng: random.Random, today: dt.date):
    """Branch roles: [(member_id, branch_id, role)] and per branch the committee's ids and
    the names of its secretary and deputy (chair and recorder)."""
    ph = db.ph
    # A branch that already has a committee or meetings keeps its own (an additive seed).
    taken = {r[0] for r in db.rows("SELECT DISTINCT branch_id FROM branch_roles UNION "
                                   "SELECT DISTINCT branch_id FROM meetings")}
    roles, committees, heads = [], {}, {}
    locals_ = ("status = 'active' AND residence = 'local' AND NOT homebound "
               f"AND id BETWEEN {int(lo)} AND {int(hi)}")
    pools: dict[int, list] = {}
    if db.pg:
        # One pass over the members just copied in (and reading them sets their hint bits
        # once): a query per branch read their fresh pages at random, 0.1 s a branch.
        for bid, mid, name in db.rows(
                "SELECT branch_id, id, name FROM (SELECT branch_id, id, name, row_number() "
                "OVER (PARTITION BY branch_id ORDER BY id) AS n FROM members "
                f"WHERE {locals_}) q WHERE n <= 60 ORDER BY branch_id, id"):
            pools.setdefault(bid, []).append((mid, name))
    for b in branches:
        if b.id in taken:
            continue
        pool = pools.get(b.id, []) if db.pg else db.rows(
            f"SELECT id, name FROM members WHERE branch_id = {ph} AND {locals_} "
            f"ORDER BY id LIMIT 60", (b.id,))
        if len(pool) < 4:  # a small branch: whoever is there and contactable
            pool = db.rows(
                f"SELECT id, name FROM members WHERE branch_id = {ph} "
                f"AND id BETWEEN {ph} AND {ph} AND status IN ('active', 'unverified') "
                f"ORDER BY id LIMIT 60", (b.id, lo, hi))
        if not pool:
            continue
        size = min(len(pool), 2 + rng.randint(*COMMITTEE_SIZE))
        chosen = rng.sample(pool, size)
        for i, (mid, _name) in enumerate(chosen):
            role = "secretary" if i == 0 else "deputy" if i == 1 else "committee"
            roles.append((mid, b.id, role, today.isoformat()))
        committees[b.id] = [mid for mid, _ in chosen]
        heads[b.id] = (chosen[0][1], chosen[min(1, len(chosen) - 1)][1])
    return roles, committees, heads


def seed_meetings(db: "SeedDb", *, branches: Sequence["Branch"], first_member: int,
                  last_member: int, today: dt.date, rng: random.Random,
                  created_at: str, locale: str = "en_US") -> MeetingsResult:
    """Roles, a year of closed meetings and their attendance for the members with ids
    ``first_member..last_member`` (this seeding's), in the caller's transaction; topics,
    materials, places and reasons in the language of ``locale``."""
    res = MeetingsResult()
    topics, places, minutes, excuses, why_text = _texts(locale)
    if last_member < first_member or not branches:
        return res
    lo, hi = first_member, last_member
    if db.pg:  # statistics of the members just copied in: each query below plans on them
        analyze = db.conn.cursor()
        analyze.execute("ANALYZE members")
        analyze.close()
    roles, committees, heads = _pick_roles(db, branches, lo, hi, rng, today)
    if roles:
        db.bulk("branch_roles", ("member_id", "branch_id", "role", "since"), iter([roles]))
        db.bulk("member_changes", ("member_id", "field", "new_value", "reason", "at"),
                iter([[(mid, "branch_role", f"{bid}:{role}", REASON, created_at)
                       for mid, bid, role, _ in roles]]))
        res.roles = len(roles)

    # Meetings: per branch, the committee meetings first, then the others with consecutive
    # ids by date (the registers below take turns over exactly those ids).
    next_id = db.next_id("meetings")
    first_meeting = next_id
    mrows, turns, committee_meetings = [], [], []
    for b in branches:
        if b.id not in heads:
            continue
        chair, recorder = heads[b.id]
        plan = schedule(today, rng)
        ordered = [kd for kd in plan if kd[0] == "committee"] + \
                  [kd for kd in plan if kd[0] != "committee"]
        start_other = None
        for kind, day in ordered:
            topic, material = rng.choice(topics[kind])
            remote = "phone" if kind in ("committee", "group") else "video"
            mrows.append((next_id, b.id, kind, "held", day.isoformat(), day.isoformat(), topic,
                          material, rng.choice(places), remote, chair, recorder, minutes,
                          REASON, 1, created_at))
            if kind == "committee":
                committee_meetings.append((next_id, b.id))
            elif start_other is None:
                start_other = next_id
            next_id += 1
        n_other = next_id - start_other if start_other is not None else 0
        if n_other:
            turns.append((b.id, start_other, n_other))
    if not mrows:
        return res
    db.bulk("meetings", ("id", "branch_id", "kind", "status", "planned_on", "held_on", "topic",
                         "material", "place", "remote", "chair", "recorder", "minutes",
                         "status_reason", "version", "created_at"), iter([mrows]))
    last_meeting = next_id - 1
    res.meetings = len(mrows)
    first_att = db.next_id("attendance")

    # Committee meetings: the committee, nearly always there.
    crows = []
    for mid, bid in committee_meetings:
        for member in committees[bid]:
            h = ((member % _MOD) * 7919 + (mid % _MOD) * 131) % 100
            mark, why = ("present", None) if h < 90 else ("excused", why_text["unwell"])
            crows.append((mid, member, mark, why, REASON, 1, created_at))

    # Every other meeting: registers, set-based. Values are inlined (ints, dates and a
    # timestamp this module made): no placeholders, so psycopg leaves `%` alone.
    created = f"CAST('{created_at}' AS TIMESTAMP)" if db.pg else f"'{created_at}'"
    turn_values = ", ".join(f"({int(b)}, {int(f)}, {int(n)})" for b, f, n in turns)
    k_values = ", ".join(f"({k})" for k in range(REGISTERS))
    excuse = " ".join(f"WHEN {i} THEN '{e}'" for i, e in enumerate(excuses))
    # The meetings' days, and how many days after each a make-up can be and still be
    # before today: no date arithmetic per row in SQL (SQLite's date() is slow).
    as_date = "DATE '{}'" if db.pg else "'{}'"
    slack = ", ".join(f"({int(r[0])}, {as_date.format(dt.date.fromisoformat(r[5]))}, "
                      f"{(today - dt.date.fromisoformat(r[5])).days})"
                      for r in mrows if r[2] != "committee")
    made_on = "y.held + y.gap" if db.pg else "date(y.held, '+' || y.gap || ' days')"
    # Whether an excused or absent member made it up: most homebound members (a visit),
    # two in five of the others, a few days to three weeks later, never after today.
    made_up = """y.mark IN ('excused', 'absent') AND y.gap <= y.slack
      AND y.h2 < CASE WHEN y.homebound THEN 85 WHEN y.residence = 'away' THEN 45
                      ELSE 35 END"""
    # Each draw computed once a row: the subqueries are fenced (SQLite `LIMIT -1`,
    # PostgreSQL `OFFSET 0`) so that neither copies their expressions into every use.
    fence = "OFFSET 0" if db.pg else "LIMIT -1"
    insert = f"""
    WITH t(branch_id, first_id, n) AS (VALUES {turn_values}),
         k(k) AS (VALUES {k_values}),
         d(meeting_id, held, slack) AS (VALUES {slack})
    INSERT INTO attendance (meeting_id, member_id, status, reason, made_up_on, made_up_how,
                            status_reason, version, created_at)
    SELECT y.meeting_id, y.member_id,
      CASE WHEN {made_up} THEN 'made_up' ELSE y.mark END,
      CASE WHEN y.homebound THEN '{why_text["homebound"]}'
           WHEN y.residence = 'away' THEN
             CASE WHEN y.h BETWEEN {_AWAY[0]} AND {_AWAY[1] - 1} THEN '{why_text["away"]}' END
           WHEN y.h BETWEEN {_LOCAL[0]} AND {_LOCAL[1] - 1}
             THEN CASE (y.member_id + y.meeting_id) % {len(excuses)} {excuse} END
      END,
      CASE WHEN {made_up} THEN {made_on} END,
      CASE WHEN {made_up} THEN
        CASE WHEN y.homebound THEN 'visit' WHEN y.residence = 'away' THEN 'phone'
             ELSE 'materials' END END,
      '{REASON}', 1, {created}
    FROM (
      SELECT z.*, {_mark("z", "z.h")} AS mark FROM (
        SELECT x.*, {_mark_draw("x")} AS h,
               {_hash("x.member_id", "x.meeting_id", 31, 17)} AS h2,
               (3 + (x.member_id + x.meeting_id) % 19) AS gap, d.held, d.slack
        FROM (
          SELECT t.first_id + (m.id + k.k * (t.n / {REGISTERS})) % t.n AS meeting_id,
                 m.id AS member_id, m.residence AS residence, m.homebound AS homebound
          FROM members m JOIN t ON t.branch_id = m.branch_id CROSS JOIN k
          WHERE m.id BETWEEN {int(lo)} AND {int(hi)}
            AND m.status IN ('unverified', 'active', 'unreachable')) x
        JOIN d ON d.meeting_id = x.meeting_id {fence}) z {fence}) y"""
    cur = db.conn.cursor()
    try:
        with _bulk_load(db, cur, empty=first_att == 1):
            db.bulk("attendance", ("meeting_id", "member_id", "status", "reason",
                                   "status_reason", "version", "created_at"), iter([crows]))
            cur.execute(insert)
            _history(db, cur, first_att)
            # (SQLite reports no rowcount for an INSERT … SELECT with a subquery.)
            res.attendance, res.made_up = (int(v or 0) for v in db.rows(
                f"SELECT COUNT(*), SUM(CASE WHEN status = 'made_up' THEN 1 ELSE 0 END) "
                f"FROM attendance WHERE id >= {int(first_att)}")[0])

        cur.execute(f"UPDATE meetings SET status = 'closed' "
                    f"WHERE id BETWEEN {int(first_meeting)} AND {int(last_meeting)}")
        if db.pg:  # explicit ids do not move the sequence
            cur.execute("SELECT setval(pg_get_serial_sequence('meetings', 'id'), "
                        "GREATEST((SELECT COALESCE(MAX(id), 0) FROM meetings), 1))")
    finally:
        cur.close()
    return res


__all__ = ["MeetingsResult", "REGISTERS", "schedule", "seed_meetings"]
