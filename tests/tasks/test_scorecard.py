"""The scorecard (`tasks.scorecard.scorecard`): on a small hand-built ledger, every indicator's figures
per branch are recomputed here in hand-written SQL (not through the module) and compared;
the green/amber/red boundaries; the change from the previous quarter; the members behind a
cell for coordinators only, without contact details. SQLite, and PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set (the ``session`` fixture)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Date, DateTime, bindparam, text

from outreach.db.codes import CampaignKind, ContributionKind, MeetingKind, Residence
from outreach.db.errors import BadInput, Refused
from outreach.db.models import Attempt, Contribution
from outreach.db.state import move_member
from outreach.tasks.kernel import rules
from outreach.tasks.scorecard import rules as score_rules
from outreach.tasks.scorecard import scorecard as sc
from outreach.tasks.access.permissions import SYSTEM
from tests.db import factories as f

#: The tests' quarter lies after the real today (history rows are written "now"), so the
#: members made here exist on its last day; the previous quarter is 2026-Q4.
PERIOD, PREVIOUS = "2027-Q1", "2026-Q4"
FIRST, LAST = dt.date(2027, 1, 1), dt.date(2027, 3, 31)
PHONE, ADDRESS = "555 0199", "12 Secret Lane"


def _attempt(session, task, outcome: str, on: dt.date) -> None:
    session.add(Attempt(task_id=task.id, outcome=outcome, recorded_on=on))
    session.flush()


@pytest.fixture
def ledger(session):
    """Branch P with a child A (P's lecture reaches A), and a root B (an assembly)."""
    p = f.branch(session, name="P-branch")
    a = f.branch(session, name="A-branch", parent=p)
    b = f.branch(session, name="B-branch")
    boss = f.coordinator(session, branch_=p)
    m = {}

    def member(key, branch, **kw):
        kw.setdefault("phone", PHONE)
        kw.setdefault("home_address", ADDRESS)
        m[key] = f.member(session, branch_=branch, name=f"name-{key}", ledger_no=f"L-{key}", **kw)
        return m[key]

    # A: a1 away, confirmed within the year, a contribution; a2 homebound, old address,
    # a delivery; a3 misses the theme day; a4 asked not to be contacted (not counted).
    member("a1", a, residence=Residence.AWAY, address_verified_on=dt.date(2026, 6, 1))
    member("a2", a, homebound=True, address_verified_on=dt.date(2025, 1, 1))
    member("a3", a, address_verified_on=dt.date(2026, 4, 1))
    member("a4", a, residence=Residence.AWAY, address_verified_on=dt.date(2027, 1, 5))
    move_member(session, m["a4"], "do_not_contact", actor_id=boss.id, reason="test",
                coordinator=True)
    member("a5", a, homebound=True)  # homebound, both meetings, no delivery
    # B: b1 present at the assembly, b2 notified (done notice), b3 absent; b2 away.
    member("b1", b, address_verified_on=dt.date(2026, 3, 31))  # one day too old
    member("b2", b, residence=Residence.AWAY)
    member("b3", b)

    lecture = f.meeting_in(session, "held", branch_=p, kind=MeetingKind.LECTURE,
                           planned_on=dt.date(2027, 2, 10))
    theme = f.meeting_in(session, "held", branch_=a, kind=MeetingKind.THEME_DAY,
                         planned_on=dt.date(2027, 3, 5))
    f.meeting_in(session, "cancelled", branch_=a, kind=MeetingKind.THEME_DAY,
                 planned_on=dt.date(2027, 1, 5))  # not held: asks nothing
    old = f.meeting_in(session, "held", branch_=a, kind=MeetingKind.LECTURE,
                       planned_on=dt.date(2026, 11, 5))  # the previous quarter
    assembly = f.meeting_in(session, "held", branch_=b, kind=MeetingKind.ASSEMBLY,
                            planned_on=dt.date(2027, 1, 20))
    marks = {("a1", lecture): "present", ("a1", theme): "made_up",
             ("a2", lecture): "remote", ("a2", theme): "present",
             ("a3", lecture): "present", ("a3", theme): "absent",
             ("a5", lecture): "present", ("a5", theme): "present",
             ("a1", old): "absent", ("a2", old): "present", ("a3", old): "present",
             ("b1", assembly): "present", ("b2", assembly): "absent",
             ("b3", assembly): "excused"}
    for (key, meeting), state in marks.items():
        f.attendance_in(session, state, meeting_=meeting, member_=m[key], actor=boss)

    notice_run = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.NOTICE),
                                meeting_id=assembly.id)
    f.task_in(session, "done", member_=m["b2"], run=notice_run)
    f.task_in(session, "done", member_=m["b3"],  # a notice of ANOTHER meeting: no help
              run=f.campaign_run(session, campaign_=f.campaign(
                  session, kind=CampaignKind.NOTICE), meeting_id=lecture.id))

    calls = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.PHONE_VISIT))
    t = f.task_in(session, "done", member_=m["a1"], run=calls)
    _attempt(session, t, "reached", dt.date(2027, 1, 20))
    t = f.task_in(session, "assigned", member_=m["b2"], run=calls)
    _attempt(session, t, "no_answer", dt.date(2027, 2, 1))
    _attempt(session, t, "reached", dt.date(2026, 12, 30))  # the previous quarter
    esc = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.ESCALATION))
    t = f.task_in(session, "done", member_=m["b2"], run=esc, kind=CampaignKind.ESCALATION)
    _attempt(session, t, "reached", dt.date(2027, 2, 2))  # the family: not the member
    t = f.task_in(session, "done", member_=m["a4"], run=calls)
    _attempt(session, t, "reached", dt.date(2027, 2, 3))  # not counted (do not contact)

    deliveries = f.campaign_run(session, campaign_=f.campaign(session,
                                                              kind=CampaignKind.DELIVERY))
    t = f.task_in(session, "done", member_=m["a2"], run=deliveries)
    _attempt(session, t, "delivered_to_family", dt.date(2027, 3, 1))
    t = f.task_in(session, "done", member_=m["a5"], run=deliveries)
    _attempt(session, t, "delivered", dt.date(2026, 12, 1))  # the previous quarter

    f.care_in(session, "visited", member_=m["a1"], occasion_on=dt.date(2027, 2, 1))
    f.care_in(session, "due", member_=m["a2"], occasion_on=dt.date(2027, 3, 28))
    f.care_in(session, "cancelled", member_=m["a3"], occasion_on=dt.date(2027, 1, 15))
    f.care_in(session, "missed", member_=m["b1"], occasion_on=dt.date(2027, 1, 9))
    f.care_in(session, "visited", member_=m["b1"], occasion_on=dt.date(2026, 12, 9))
    f.care_in(session, "visited", member_=m["a4"], occasion_on=dt.date(2027, 1, 9))

    for key, day in (("a1", dt.date(2026, 4, 1)), ("b3", dt.date(2026, 3, 31)),
                     ("a2", dt.date(2027, 1, 1))):  # a2 homebound: not in role
        session.add(Contribution(member_id=m[key].id, kind=ContributionKind.TEACHING,
                                 happened_on=day))
    session.flush()
    return {"p": p, "a": a, "b": b, "boss": boss, "m": m}


# --- the oracle: each indicator in hand-written SQL ----------------------------------------------

#: Counted members: their status after the last history row written up to the last day
#: (a member with no such row did not exist yet).
POP = """
SELECT m.* FROM members m
WHERE (SELECT h.to_status FROM member_status_changes h
       WHERE h.member_id = m.id AND h.at < :after ORDER BY h.id DESC LIMIT 1)
      IN ('unverified', 'active', 'unreachable')
"""
#: Meetings of a kind held in the quarter by the member's branch or a branch above it
#: (the tests' tree is at most two deep).
ASKED = """
SELECT mt.id FROM meetings mt, branches own
WHERE own.id = p.branch_id AND mt.status IN ('held', 'closed')
  AND mt.held_on BETWEEN :first AND :last AND mt.kind IN ({kinds})
  AND (mt.branch_id = own.id OR mt.branch_id = own.parent_id)
"""
EDU_DONE = """
SELECT 1 FROM attendance x WHERE x.member_id = p.id AND x.meeting_id = q.id
  AND x.status IN ('present', 'remote', 'made_up')
"""
RIGHTS_DONE = """
SELECT 1 FROM attendance x WHERE x.member_id = p.id AND x.meeting_id = q.id
  AND x.status IN ('present', 'remote')
UNION ALL
SELECT 1 FROM outreach_tasks t JOIN campaign_runs r ON r.id = t.run_id
WHERE t.member_id = p.id AND r.meeting_id = q.id AND t.kind = 'notice' AND t.status = 'done'
"""
DELIVERY = """
EXISTS (SELECT 1 FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id
        WHERE t.member_id = p.id AND t.kind = 'delivery' AND t.status = 'done'
          AND a.outcome IN ('delivered', 'delivered_to_family')
          AND a.recorded_on BETWEEN :first AND :last)
"""
ORACLE = {
    "movements": ("1 = 1", "p.address_verified_on BETWEEN :year_from AND :last"),
    "contact": ("p.residence = 'away'", """EXISTS (
        SELECT 1 FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id
        WHERE t.member_id = p.id AND t.kind NOT IN ('escalation', 'transfer')
          AND a.outcome IN ('reached', 'delivered', 'delivered_to_family', 'visited',
                            'gift_delivered', 'help_arranged')
          AND a.recorded_on BETWEEN :first AND :last)"""),
    "education": ("EXISTS (" + ASKED.format(kinds="'lecture', 'theme_day'") + ")",
                  "NOT EXISTS (SELECT 1 FROM (" + ASKED.format(kinds="'lecture', 'theme_day'")
                  + ") q WHERE NOT EXISTS (" + EDU_DONE + ")) AND (NOT p.homebound OR "
                  + DELIVERY + ")"),
    "rights": ("EXISTS (" + ASKED.format(kinds="'assembly'") + ")",
               "NOT EXISTS (SELECT 1 FROM (" + ASKED.format(kinds="'assembly'")
               + ") q WHERE NOT EXISTS (" + RIGHTS_DONE + "))"),
    "role": ("NOT p.homebound", """EXISTS (SELECT 1 FROM contributions c
        WHERE c.member_id = p.id AND c.happened_on BETWEEN :year_from AND :last)"""),
}
CARE = """
SELECT b.name, SUM(CASE WHEN o.status = 'visited' THEN 1 ELSE 0 END), COUNT(*)
FROM care_occasions o JOIN ({pop}) p ON p.id = o.member_id JOIN branches b ON b.id = p.branch_id
WHERE o.occasion_on BETWEEN :first AND :last AND o.status <> 'cancelled'
GROUP BY b.name
"""


def _oracle(session, period: str) -> dict[tuple[str, str], tuple[int, int]]:
    first, last = rules.quarter_bounds(period, dt.date(2000, 1, 1))
    params = {"first": first, "last": last, "year_from": last - dt.timedelta(days=364),
              "after": dt.datetime.combine(last + dt.timedelta(days=1), dt.time())}
    binds = [bindparam(k, type_=Date) for k in ("first", "last", "year_from")] + \
        [bindparam("after", type_=DateTime)]

    def run(sql: str):
        stmt = text(sql).bindparams(*[b for b in binds if f":{b.key}" in sql])
        return session.execute(stmt, {k: v for k, v in params.items() if f":{k}" in sql})

    out = {}
    for name, (den, num) in ORACLE.items():
        sql = (f"SELECT b.name, SUM(CASE WHEN ({den}) AND ({num}) THEN 1 ELSE 0 END), "
               f"SUM(CASE WHEN {den} THEN 1 ELSE 0 END) FROM ({POP}) p "
               f"JOIN branches b ON b.id = p.branch_id GROUP BY b.name")
        for branch, n, d in run(sql):
            out[(branch, name)] = (int(n or 0), int(d or 0))
    for branch, n, d in run(CARE.format(pop=POP)):
        out[(branch, "care")] = (int(n or 0), int(d))
    return out


def _cells(rows) -> dict[tuple[str, str], dict]:
    return {(r["branch"], r["indicator"]): r for r in rows}


def test_every_figure_matches_the_hand_written_sql(session, ledger):
    rows = sc.scorecard(session, actor=SYSTEM, period=PERIOD)
    cells = _cells(rows)
    assert [r["branch"] for r in rows[::6]] == ["A-branch", "B-branch", "TOTAL"]
    assert [r["indicator"] for r in rows[:6]] == list(sc.INDICATORS)
    expected = _oracle(session, PERIOD)
    for (branch, name), r in cells.items():
        if branch != "TOTAL":
            assert (r["numerator"], r["denominator"]) == expected.get((branch, name), (0, 0)), \
                (branch, name)
    for name in sc.INDICATORS:
        total = cells[("TOTAL", name)]
        assert (total["numerator"], total["denominator"]) == tuple(
            sum(v[i] for (b, n), v in expected.items() if n == name) for i in (0, 1))


def test_the_figures_worked_out_by_hand(session, ledger):
    """The same ledger, the answers written out (so the oracle itself is checked)."""
    cells = _cells(sc.scorecard(session, actor=SYSTEM, period=PERIOD))
    figures = {k: (r["numerator"], r["denominator"]) for k, r in cells.items()}
    assert figures[("A-branch", "movements")] == (2, 4)  # a1, a3 of a1 a2 a3 a5
    assert figures[("B-branch", "movements")] == (0, 3)  # b1 confirmed a year and a day ago
    assert figures[("A-branch", "contact")] == (1, 1)
    assert figures[("B-branch", "contact")] == (0, 1)  # Q4 reach, family's escalation
    assert figures[("A-branch", "education")] == (2, 4)  # a1, a2; a3 absent; a5 no delivery
    assert figures[("B-branch", "education")] == (0, 0)
    assert cells[("B-branch", "education")]["status"] == "n/a"
    assert figures[("A-branch", "rights")] == (0, 0)
    assert figures[("B-branch", "rights")] == (2, 3)  # b1 present, b2 notified
    assert figures[("A-branch", "care")] == (1, 2)  # cancelled out; a4 not counted
    assert figures[("B-branch", "care")] == (0, 1)
    assert figures[("A-branch", "role")] == (1, 2)  # a1 (a2 homebound)
    assert figures[("B-branch", "role")] == (0, 3)  # b3's is a year and a day old
    assert figures[("TOTAL", "movements")] == (2, 7)
    assert cells[("B-branch", "rights")]["percent"] == 66.7
    assert cells[("B-branch", "rights")]["status"] == "red"
    assert cells[("A-branch", "contact")]["status"] == "green"


def test_change_from_the_previous_quarter(session, ledger):
    cells = _cells(sc.scorecard(session, actor=SYSTEM, period=PERIOD))
    before = _cells(sc.scorecard(session, actor=SYSTEM, period=PREVIOUS))
    assert (before[("B-branch", "contact")]["numerator"],
            before[("B-branch", "contact")]["denominator"]) == (1, 1)
    assert cells[("B-branch", "contact")]["change"] == -100.0
    assert cells[("A-branch", "contact")]["change"] == 100.0 - before[
        ("A-branch", "contact")]["percent"]
    assert before[("B-branch", "care")]["percent"] == 100.0
    assert cells[("B-branch", "care")]["change"] == -100.0
    # Education in Q4: A's own lecture; a3 only (a1 absent, a2's delivery is in Q1, a5
    # not marked) → 1 of 4, then 2 of 4: +25 points.
    assert (before[("A-branch", "education")]["numerator"],
            before[("A-branch", "education")]["denominator"]) == (1, 4)
    assert cells[("A-branch", "education")]["change"] == 25.0
    assert cells[("B-branch", "rights")]["change"] is None  # no assembly in Q4
    expected = _oracle(session, PREVIOUS)
    for (branch, name), r in before.items():
        if branch != "TOTAL":
            assert (r["numerator"], r["denominator"]) == expected.get((branch, name), (0, 0))


def test_status_on_the_last_day_comes_from_the_history(session, ledger):
    """Members made today were not in the ledger on the last day of a past quarter."""
    rows = sc.scorecard(session, actor=SYSTEM, period="2026-Q3")
    assert [r["branch"] for r in rows] == ["TOTAL"] * 6
    assert all(r["denominator"] == 0 and r["status"] == "n/a" for r in rows)
    # a4 (do not contact since today) is left out of 2027-Q1 …
    cells = _cells(sc.scorecard(session, actor=SYSTEM, period=PERIOD))
    assert cells[("A-branch", "movements")]["denominator"] == 4


def test_branch_limits_the_rows_to_its_subtree(session, ledger):
    rows = sc.scorecard(session, actor=SYSTEM, period=PERIOD, branch_id=ledger["p"].id)
    assert {r["branch"] for r in rows} == {"A-branch", "TOTAL"}
    with pytest.raises(BadInput):
        sc.scorecard(session, actor=SYSTEM, period="2027-13")


@pytest.mark.parametrize("num, den, goal, status", [
    (9, 10, 90, "green"), (899, 1000, 90, "amber"), (8, 10, 90, "amber"),
    (799, 1000, 90, "red"), (0, 10, 0, "green"), (0, 10, 5, "amber"), (1, 3, 30, "green"),
    (0, 0, 90, "n/a")])
def test_status_thresholds(num, den, goal, status):
    assert score_rules.mark(num, den, goal) == status


def test_goals_come_from_the_home_file(session, ledger, tmp_path, monkeypatch):
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    (tmp_path / score_rules.GOALS_FILE).write_text(json.dumps({"rights": 60}))
    cells = _cells(sc.scorecard(session, actor=SYSTEM, period=PERIOD))
    assert cells[("B-branch", "rights")]["goal"] == 60
    assert cells[("B-branch", "rights")]["status"] == "green"
    for bad in ({"fun": 3}, {"role": 101}, {"role": True}, [1]):
        (tmp_path / score_rules.GOALS_FILE).write_text(json.dumps(bad))
        with pytest.raises(BadInput):
            score_rules.goals()


def test_members_behind_a_cell_for_coordinators_only(session, ledger):
    boss = f.actor(session, ledger["boss"])
    a = ledger["a"].id
    names = lambda ind, b=a: [r["ledger_no"] for r in sc.scorecard_members(  # noqa: E731
        session, actor=boss, period=PERIOD, branch_id=b, indicator=ind)]
    assert names("education") == ["L-a3", "L-a5"]
    assert names("movements") == ["L-a2", "L-a5"]
    assert names("care") == ["L-a2"]
    assert names("rights", ledger["b"].id) == ["L-b3"]
    assert names("role", None) == ["L-a3", "L-b1", "L-b2", "L-b3"]
    rows = sc.scorecard_members(session, actor=boss, period=PERIOD, branch_id=None,
                                indicator="contact")
    assert rows == [{"ledger_no": "L-b2", "name": "name-b2", "branch": "B-branch"}]
    assert PHONE not in repr(rows) and ADDRESS not in repr(rows)
    with pytest.raises(Refused):
        sc.scorecard_members(session, actor=SYSTEM, period=PERIOD, indicator="role")
    volunteer = f.actor(session, f.volunteer(session, branch_=ledger["a"]))
    with pytest.raises(Refused):
        sc.scorecard_members(session, actor=volunteer, period=PERIOD, indicator="role")
    with pytest.raises(Refused):
        sc.scorecard(session, actor=volunteer, period=PERIOD)
    with pytest.raises(BadInput):
        sc.scorecard_members(session, actor=boss, period=PERIOD, indicator="fun")


def test_markdown_shows_marks_names_and_figures_only(session, ledger):
    md = sc.scorecard_markdown(sc.scorecard(session, actor=SYSTEM, period=PERIOD), PERIOD)
    assert "🔴 66.7% 2/3" in md and "🟢 100.0% 1/1" in md and "**TOTAL**" in md
    assert "L-a1" not in md and "name-a1" not in md and PHONE not in md


def test_the_command_json_matches_the_hand_written_sql_on_a_seeded_ledger(db_url,
                                                                          monkeypatch):
    """`outreach seed`, then `report scorecard --format json`: six indicators per branch,
    each figure as the oracle's (the seed's year of meetings, roles and addresses). And
    the same rows when the members are split in two halves on two connections (SQLite
    and PostgreSQL alike)."""
    from sqlalchemy.orm import Session

    from outreach.db.session import make_engine
    from tests.cli.helpers import bootstrap, outreach

    coord, vol = bootstrap()
    assert outreach("seed", "--members", "300", "--seed", "5", code=coord).exit_code == 0
    period = rules.quarter_of(dt.date.today())
    r = outreach("report", "scorecard", "--period", period, "--format", "json", code=coord)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    branches = {row["branch"] for row in rows} - {"TOTAL"}
    assert len(branches) > 3 and len(rows) == 6 * (len(branches) + 1)
    eng = make_engine(db_url)
    try:
        with Session(eng) as s:
            expected = _oracle(s, period)
        from outreach.tasks.campaigns import coverage

        monkeypatch.setattr(coverage, "PARALLEL_FROM", 2)
        with Session(eng) as s:
            assert sc.scorecard(s, actor=SYSTEM, period=period) == rows
    finally:
        eng.dispose()
    assert sum(v[1] for (b, n), v in expected.items() if n == "education") > 0
    for row in rows:
        if row["branch"] != "TOTAL":
            assert (row["numerator"], row["denominator"]) == expected.get(
                (row["branch"], row["indicator"]), (0, 0)), row
    md = outreach("report", "scorecard", "--period", period, "--format", "markdown",
                  code=coord)
    assert md.exit_code == 0 and "**TOTAL**" in md.stdout
    volunteer = outreach("report", "scorecard", "--indicator", "role", "--members",
                         code=vol)
    assert volunteer.exit_code != 0 and "coordinator" in volunteer.output
