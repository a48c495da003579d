"""Care (`tasks.care.care`, `tasks.care.care_jobs`): care occasions on the right days for the right
members (a Spring Festival, a Double Ninth, milestone birthdays), not before their window,
idempotent; care visits through the engine; visited / missed / cancelled; life events,
hardship, contributions, transfers. SQLite, and PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.db.codes import Residence
from outreach.db.errors import BadInput, Refused
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    CampaignRun,
    CareOccasion,
    CareOccasionStatusChange,
    Hardship,
    Member,
    MemberChange,
    OutreachTask,
)
from outreach.db.session import make_engine, session_scope
from outreach.tasks.care import care, care_jobs, rules as care_rules
from outreach.tasks.work.outcomes import record_outcome
from tests.db import factories as f

SPRING = dt.date(2027, 2, 6)  # lunar new year 2027 (lunardate)
NINTH = dt.date(2026, 10, 18)  # 9th day of the 9th lunar month 2026 (lunardate)
D = dt.timedelta(days=1)


def test_the_lunar_days_come_from_lunardate():
    from lunardate import LunarDate

    assert care_rules.spring_festival(2027) == SPRING == LunarDate(2027, 1, 1).to_solar_date()
    assert care_rules.double_ninth(2026) == NINTH == LunarDate(2026, 9, 9).to_solar_date()
    assert care_rules.spring_festival(2026) == dt.date(2026, 2, 17)


@pytest.fixture
def w(session):
    """A branch with a coordinator and a volunteer (room for 50); members of every case."""
    br = f.branch(session, name="East")
    coord = f.coordinator(session, branch_=br)
    vol = f.volunteer(session, branch_=br, capacity=50)
    m = dict(
        old=f.member(session, branch_=br, ledger_no="OLD", birth_date=dt.date(1940, 5, 1)),
        young=f.member(session, branch_=br, ledger_no="YOUNG", birth_date=dt.date(1960, 5, 1)),
        homebound=f.member(session, branch_=br, ledger_no="HB", homebound=True,
                           birth_date=dt.date(1962, 1, 1)),
        # 80 on the Spring Festival itself; and one turning 80 the day after
        exact80=f.member(session, branch_=br, ledger_no="E80", birth_date=dt.date(1947, 2, 6)),
        almost=f.member(session, branch_=br, ledger_no="A79", birth_date=dt.date(1947, 2, 7)),
        gone=f.member_in(session, "moved_out", ledger_no="GONE", branch_=br,
                         birth_date=dt.date(1930, 1, 1)),
    )
    return dict(s=session, br=br, coord=f.actor(session, coord), vol=f.actor(session, vol),
                vol_row=vol, m=m)


def occasions(s, kind=None) -> dict[str, tuple]:
    q = (select(Member.ledger_no, CareOccasion.occasion_on, CareOccasion.status,
                CareOccasion.task_id, CareOccasion.detail)
         .join(Member, Member.id == CareOccasion.member_id))
    if kind:
        q = q.where(CareOccasion.kind == kind)
    return {r[0]: tuple(r[1:]) for r in s.execute(q)}


def plan_day(s, today):
    """What the daily job does, in the test's transaction."""
    closed = care.close_occasions(s, today=today)
    made = {"birthday": care.plan_birthdays(s, today=today),
            **care.plan_festivals(s, today=today), "hardship": care.plan_hardship(s, today=today)}
    visits = {k: care.give_visits(s, kind=k, today=today) for k in care_jobs.KINDS}
    return made, visits, closed


def test_spring_festival_visits_appear_on_the_right_day_for_the_right_members(w):
    s = w["s"]
    made, _, _ = plan_day(s, SPRING - 8 * D)  # the day before the window opens
    assert made["spring_festival"] == 0 and occasions(s, "spring_festival") == {}
    made, visits, _ = plan_day(s, SPRING - 7 * D)  # the window's first day
    got = occasions(s, "spring_festival")
    assert set(got) == {"OLD", "HB", "E80"}  # 80+ on the day, or homebound; contactable
    assert made["spring_festival"] == 3 and visits["spring_festival"]["created"] == 3
    for no, (on, status, task_id, detail) in got.items():
        assert (on, status, detail) == (SPRING, "due", "Spring Festival 2027")
        task = s.get(OutreachTask, task_id)
        assert (task.kind, task.status, task.volunteer_id, task.due_on, task.closes_on) == \
            ("care_visit", TS.ASSIGNED, w["vol_row"].id, SPRING, SPRING + 7 * D)
        assert s.get(Member, task.member_id).ledger_no == no
    run = s.get(CampaignRun, task.run_id)
    assert run.period == "sf-2027-01-30"
    # the next days and a rerun make nothing new
    for day in (SPRING - 7 * D, SPRING, SPRING + 7 * D):
        made, visits, _ = plan_day(s, day)
        assert made["spring_festival"] == 0 and visits["spring_festival"]["created"] == 0
    # besides: E80 and A79 turn 80 (their birthdays, 6 and 7 February, are occasions too)
    assert {k: v[3] for k, v in occasions(s, "birthday").items()} == {
        "E80": "80th birthday", "A79": "80th birthday"}
    assert s.scalar(select(func.count()).select_from(OutreachTask)) == 3 + 2


def test_a_double_ninth_nobody_visited_is_missed_after_its_window(w):
    s = w["s"]
    assert plan_day(s, NINTH - 8 * D)[0]["double_ninth"] == 0
    made, visits, _ = plan_day(s, NINTH + 7 * D)  # the window's last day still plans
    # E80 and A79 are 79 on this Double Ninth: not yet
    assert set(occasions(s, "double_ninth")) == {"OLD", "HB"}
    task_id = occasions(s, "double_ninth")["OLD"][2]
    # a visit within the window: visited (the outcome effect)
    record_outcome(s, task_id=task_id, outcome="gift_delivered", actor=w["vol"],
                   today=NINTH + 7 * D)
    assert occasions(s, "double_ninth")["OLD"][1] == "visited"
    _, _, closed = plan_day(s, NINTH + 8 * D)
    got = occasions(s, "double_ninth")
    assert closed["missed"] == 1
    assert {k: v[1] for k, v in got.items()} == {"OLD": "visited", "HB": "missed"}
    hist = s.execute(select(CareOccasionStatusChange.from_status,
                            CareOccasionStatusChange.to_status)
                     .where(CareOccasionStatusChange.care_occasion_id == s.scalar(
                         select(CareOccasion.id).where(CareOccasion.kind == "double_ninth",
                                                       CareOccasion.status == "missed")
                         .limit(1)))).all()
    assert [tuple(h) for h in hist] == [("new", "due"), ("due", "missed")]


def test_a_visit_after_the_window_does_not_make_it_visited(w):
    s = w["s"]
    plan_day(s, NINTH)
    task_id = occasions(s, "double_ninth")["OLD"][2]
    record_outcome(s, task_id=task_id, outcome="visited", actor=w["vol"], today=NINTH + 9 * D)
    assert occasions(s, "double_ninth")["OLD"][1] == "due"
    plan_day(s, NINTH + 9 * D)
    assert occasions(s, "double_ninth")["OLD"][1] == "missed"


def test_a_member_no_longer_contactable_has_the_occasion_cancelled(w):
    s = w["s"]
    plan_day(s, NINTH)
    f_member = w["m"]["old"]
    from outreach.db.state import move_member

    move_member(s, f_member, "do_not_contact", actor_id=None, reason="asked")
    _, _, closed = plan_day(s, NINTH + D)
    assert closed["cancelled"] == 1
    assert occasions(s, "double_ninth")["OLD"][1] == "cancelled"


def test_milestone_birthdays_in_their_window_only(session):
    s = session
    br = f.branch(s)
    f.volunteer(s, branch_=br, capacity=50)
    on = dt.date(2026, 12, 5)
    born = {"B90": dt.date(1936, 12, 5), "B89": dt.date(1937, 12, 5),
            "B100": dt.date(1926, 12, 1), "B101": dt.date(1925, 12, 12),
            "B80LEAP": dt.date(1946, 12, 13)}
    for no, b in born.items():
        f.member(s, branch_=br, ledger_no=no, birth_date=b)
    assert care.plan_birthdays(s, today=on - 8 * D) == 1  # 100th (12-01); not yet the 90th
    assert "B90" not in occasions(s, "birthday")
    assert care.plan_birthdays(s, today=on - 7 * D) == 1  # 90th: its window opens on 11-28
    got = occasions(s, "birthday")
    assert got["B90"][:2] == (on, "due") and got["B90"][3] == "90th birthday"
    assert got["B100"][3] == "100th birthday" and "B89" not in got
    assert care.plan_birthdays(s, today=on - 7 * D) == 0  # idempotent
    assert care.plan_birthdays(s, today=on) == 1  # 101st (12-12)
    assert care.plan_birthdays(s, today=on + D) == 1  # 80th (12-13)
    got = occasions(s, "birthday")
    assert got["B101"][3] == "101st birthday" and got["B80LEAP"][3] == "80th birthday"


def test_a_29_february_birthday_is_kept_on_the_28th(session):
    s = session
    br = f.branch(s)
    f.member(s, branch_=br, ledger_no="LEAP", birth_date=dt.date(1936, 2, 29))  # 90 in 2026
    assert care.plan_birthdays(s, today=dt.date(2026, 2, 21)) == 1
    assert occasions(s, "birthday")["LEAP"][0] == dt.date(2026, 2, 28)


def test_life_event_by_a_volunteer_needs_their_open_task(w):
    s, m = w["s"], w["m"]
    today = dt.date(2026, 11, 30)
    with pytest.raises(Refused, match="not in your open tasks"):
        care.record_event(s, member_ref="YOUNG", kind="hospitalised", actor=w["vol"],
                          today=today)
    f.task(s, member_=m["young"], status=TS.ASSIGNED, volunteer_=w["vol_row"])
    out = care.record_event(s, member_ref="YOUNG", kind="hospitalised", actor=w["vol"],
                            today=today, on=today - 2 * D, note="fell")
    occ = s.get(CareOccasion, out["occasion_id"])
    assert (occ.kind, occ.occasion_on, occ.window_from, occ.window_to) == \
        ("life_event", today - 2 * D, today - 2 * D, today + 7 * D)
    task = s.get(OutreachTask, out["task_id"])
    assert (task.kind, task.due_on, task.closes_on) == ("care_visit", today, today + 7 * D)
    with pytest.raises(BadInput, match="unknown life event"):
        care.record_event(s, member_ref="OLD", kind="party", actor=w["coord"], today=today)
    with pytest.raises(BadInput):
        care.record_event(s, member_ref="OLD", kind="bereaved", actor=w["coord"],
                          today=today, on=dt.date(2099, 1, 1))
    # a coordinator for anyone; a second event that day is the same occasion
    care.record_event(s, member_ref="OLD", kind="bereaved", actor=w["coord"], today=today)
    again = care.record_event(s, member_ref="OLD", kind="other", actor=w["coord"], today=today)
    assert again["created"] == 0
    assert len([o for o in occasions(s, "life_event")]) == 2


def test_hardship_gives_a_monthly_visit_until_cleared(w):
    s = w["s"]
    nov = dt.date(2026, 11, 10)
    out = care.mark_hardship(s, member_ref="YOUNG", level=2, actor=w["coord"], today=nov)
    assert out["created"] == 1
    assert occasions(s, "hardship")["YOUNG"][:2] == (dt.date(2026, 11, 1), "due")
    assert care.mark_hardship(s, member_ref="YOUNG", level=2, actor=w["coord"],
                              today=nov)["changed"] is False
    plan_day(s, nov + D)
    assert len(occasions(s, "hardship")) == 1  # one a month
    made, visits, closed = plan_day(s, dt.date(2026, 12, 1))
    assert made["hardship"] == 1 and visits["hardship"]["created"] == 1
    assert closed["missed"] == 1  # November's was not visited
    out = care.clear_hardship(s, member_ref="YOUNG", actor=w["coord"], today=dt.date(2026, 12, 2))
    assert out["cancelled"] == 1
    assert plan_day(s, dt.date(2027, 1, 1))[0]["hardship"] == 0
    changes = s.execute(select(MemberChange.old_value, MemberChange.new_value)
                        .where(MemberChange.field == "hardship")
                        .order_by(MemberChange.id)).all()
    assert [tuple(c) for c in changes] == [(None, "level 2"), ("level 2", None)]
    assert s.get(Hardship, w["m"]["young"].id).cleared_on == dt.date(2026, 12, 2)
    with pytest.raises(Refused):
        care.clear_hardship(s, member_ref="YOUNG", actor=w["coord"], today=dt.date(2026, 12, 3))
    with pytest.raises(BadInput):
        care.mark_hardship(s, member_ref="YOUNG", level=4, actor=w["coord"], today=nov)


def test_contributions_are_recorded_and_counted_per_branch(w):
    s = w["s"]
    day = dt.date(2026, 11, 1)
    care.add_contribution(s, member_ref="OLD", kind="teaching", on=day, actor=w["coord"])
    care.add_contribution(s, member_ref="OLD", kind="mentoring", on=day, actor=w["coord"],
                          note="two new members")
    care.add_contribution(s, member_ref="YOUNG", kind="mediation", on=day - 400 * D,
                          actor=w["coord"])
    with pytest.raises(BadInput):
        care.add_contribution(s, member_ref="OLD", kind="teaching", on=dt.date(2099, 1, 1),
                              actor=w["coord"])
    with pytest.raises(BadInput, match="unknown kind of contribution"):
        care.add_contribution(s, member_ref="OLD", kind="singing", on=day, actor=w["coord"])
    counts = care.contributions_by_branch(s, actor=w["coord"], first=day - 365 * D, last=day)
    assert counts == {w["br"].id: {"members": 1, "contributions": 2}}
    from outreach.tasks.ledger.reports import member_card

    card = member_card(s, ref="OLD", actor=w["coord"])
    assert "contributions" in card and "mentoring  two new members" in card


def test_six_months_away_gives_one_transfer_task_to_a_coordinator(w):
    s, m = w["s"], w["m"]
    today = dt.date(2026, 11, 30)
    m["old"].residence, m["old"].away_since = Residence.AWAY, dt.date(2026, 5, 30)
    m["young"].residence, m["young"].away_since = Residence.AWAY, dt.date(2026, 6, 1)
    s.flush()
    assert care.plan_transfers(s, today=today) == 1
    task = s.scalars(select(OutreachTask).where(OutreachTask.kind == "transfer")).one()
    assert (task.member_id, task.status, task.volunteer_id) == \
        (m["old"].id, TS.ASSIGNED, w["coord"].id)
    s.refresh(m["old"])
    assert m["old"].transfer_considered_on == today
    assert care.plan_transfers(s, today=today + 40 * D) == 1  # YOUNG now; OLD never again


def test_the_daily_job_twice_makes_nothing_the_second_time(db_url):
    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            br = f.branch(s)
            f.coordinator(s, branch_=br)
            f.volunteer(s, branch_=br, capacity=50)
            f.member(s, branch_=br, birth_date=dt.date(1940, 1, 1))
            f.member(s, branch_=br, homebound=True)
            f.member(s, branch_=br, birth_date=dt.date(1946, 2, 2))  # 81 on the day
        first = care_jobs.plan_care(eng, today=SPRING)
        assert first["occasions"]["spring_festival"] == 3 and first["created"] == 3
        second = care_jobs.plan_care(eng, today=SPRING)
        assert second["occasions"]["spring_festival"] == 0 and second["created"] == 0
        with pytest.raises(BadInput):
            care_jobs.plan_care(eng, today=dt.date(2099, 1, 1))
    finally:
        eng.dispose()
