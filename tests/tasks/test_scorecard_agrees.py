"""The scorecard is judged twice — over groups of members in Python (`tasks.scorecard.judge.judge`,
what the figures are counted with) and over each member in SQL (`indicator_cells`, what
`scorecard_members` lists with). On ledgers Hypothesis makes up, every cell agrees with its
list: the members a coordinator is shown behind a cell are exactly as many as the cell's
denominator minus its numerator — for the TOTAL row (every branch) and for the branches
with nothing nested in them. SQLite, and PostgreSQL when ``OUTREACH_TEST_DATABASE_URL`` is
set."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from outreach.db.codes import CampaignKind, ContributionKind, MeetingKind, Residence
from outreach.db.models import Attempt, Contribution
from outreach.db.state import move_member
from outreach.tasks.access.permissions import SYSTEM
from outreach.tasks.scorecard import scorecard as sc
from tests.db import factories as f

#: A quarter after the real today (history rows are written "now"), as in test_scorecard.
PERIOD = "2027-Q1"
IN_QUARTER, BEFORE = dt.date(2027, 2, 10), dt.date(2026, 11, 10)
MARKS = (None, "present", "remote", "excused", "absent", "made_up")

member_facts = st.fixed_dictionaries({
    "branch": st.sampled_from(["p", "a", "b"]),
    "away": st.booleans(),
    "homebound": st.booleans(),
    "gone": st.booleans(),  # do_not_contact: not counted at all
    "verified": st.sampled_from([None, dt.date(2026, 6, 1), dt.date(2025, 1, 1)]),
    "contact": st.sampled_from([None, IN_QUARTER, BEFORE]),
    "delivery": st.sampled_from([None, IN_QUARTER, BEFORE]),
    "contribution": st.sampled_from([None, dt.date(2026, 9, 1), dt.date(2025, 1, 1)]),
    "lecture": st.sampled_from(MARKS),
    "theme": st.sampled_from(MARKS),
    "assembly": st.sampled_from(MARKS),
    "notice": st.booleans(),
    # at most one occasion each: the list names a member once, the cell counts occasions
    "care": st.sampled_from([None, "due", "visited", "missed", "cancelled"]),
})


def _ledger(s: Session, facts: list[dict], meetings: dict[str, bool]) -> dict:
    p = f.branch(s, name="P")
    branches = {"p": p, "a": f.branch(s, name="A", parent=p), "b": f.branch(s, name="B")}
    boss = f.coordinator(s, branch_=p)
    held = {}
    for key, (kind, where) in {"lecture": (MeetingKind.LECTURE, "p"),
                               "theme": (MeetingKind.THEME_DAY, "a"),
                               "assembly": (MeetingKind.ASSEMBLY, "b")}.items():
        if meetings[key]:
            held[key] = f.meeting_in(s, "held", branch_=branches[where], kind=kind,
                                     planned_on=IN_QUARTER)
    calls = f.campaign_run(s, campaign_=f.campaign(s, kind=CampaignKind.PHONE_VISIT))
    drops = f.campaign_run(s, campaign_=f.campaign(s, kind=CampaignKind.DELIVERY))
    notices = (f.campaign_run(s, campaign_=f.campaign(s, kind=CampaignKind.NOTICE),
                              meeting_id=held["assembly"].id) if "assembly" in held else None)
    for i, x in enumerate(facts):
        m = f.member(s, branch_=branches[x["branch"]], name=f"m{i}", ledger_no=f"L{i}",
                     residence=Residence.AWAY if x["away"] else Residence.LOCAL,
                     homebound=x["homebound"], address_verified_on=x["verified"])
        for key, meeting in held.items():
            if x[key] is not None:
                f.attendance_in(s, x[key], meeting_=meeting, member_=m, actor=boss)
        if x["contact"]:
            t = f.task_in(s, "done", member_=m, run=calls)
            s.add(Attempt(task_id=t.id, outcome="reached", recorded_on=x["contact"]))
        if x["delivery"]:
            t = f.task_in(s, "done", member_=m, run=drops)
            s.add(Attempt(task_id=t.id, outcome="delivered", recorded_on=x["delivery"]))
        if x["notice"] and notices is not None:
            f.task_in(s, "done", member_=m, run=notices)
        if x["contribution"]:
            s.add(Contribution(member_id=m.id, kind=ContributionKind.TEACHING,
                               happened_on=x["contribution"]))
        if x["care"]:
            f.care_in(s, x["care"], member_=m, occasion_on=IN_QUARTER)
        if x["gone"]:
            move_member(s, m, "do_not_contact", actor_id=boss.id, reason="test",
                        coordinator=True)
        s.flush()
    return {"branches": branches, "boss": boss}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(facts=st.lists(member_facts, min_size=1, max_size=6),
       meetings=st.fixed_dictionaries({k: st.booleans()
                                       for k in ("lecture", "theme", "assembly")}))
def test_every_cell_counts_the_members_its_list_shows(engine, facts, meetings):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            with Session(bind=conn, join_transaction_mode="create_savepoint",
                         expire_on_commit=False) as s:
                made = _ledger(s, facts, meetings)
                rows = sc.scorecard(s, actor=SYSTEM, period=PERIOD)
                cells = {(r["branch"], r["indicator"]): r for r in rows}
                a, b = made["branches"]["a"], made["branches"]["b"]
                for name, branch_id in (("TOTAL", None), ("A", a.id), ("B", b.id)):
                    for indicator in sc.INDICATORS:
                        cell = cells.get((name, indicator))
                        shown = sc.scorecard_members(s, actor=f.actor(s, made["boss"]),
                                                     period=PERIOD,
                                                     branch_id=branch_id,
                                                     indicator=indicator)
                        behind = 0 if cell is None else cell["denominator"] - cell["numerator"]
                        assert len(shown) == behind, (name, indicator, cell, shown)
        finally:
            trans.rollback()
