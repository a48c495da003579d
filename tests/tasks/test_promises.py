"""The promises of README and PRODUCT.md, with their figures written out (issue 24, "Tests
that would have caught it"): each expected value here is a literal from the promise, never
the constant under test, so that changing a rule's constant fails a test.

- care: "milestone birthdays: 80, 85, 90, 95 and every year from 100";
- the scorecard: `rights` counts members "present or remote at every assembly … or told
  of it (a done notice task)" — a made-up study does not count; `education` counts
  "present, joined remotely or made up every lecture and theme day";
- notices: "a meeting planned 7 days ahead or more gives every member living away and every
  homebound member a notice task";
- the Chinese 台账: 家庭住址 is the home address, 现居住地址 where the member lives now.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest

from outreach.db.codes import CampaignKind, MeetingKind, Residence
from outreach.tasks.care import rules as care_rules
from outreach.tasks.meetings import meetings as mt
from outreach.tasks.access.permissions import SYSTEM
from tests.db import factories as f


# --- care: milestone birthdays -----------------------------------------------------------------


@pytest.mark.parametrize("age", [80, 85, 90, 95, 100, 101, 102, 110, 125])
def test_a_milestone_birthday_gives_a_care_occasion(age):
    assert care_rules.is_milestone(age)
    assert age in care_rules.milestone_ages()


@pytest.mark.parametrize("age", [79, 81, 84, 86, 89, 91, 94, 96, 99])
def test_other_birthdays_give_none(age):
    assert not care_rules.is_milestone(age)
    assert age not in care_rules.milestone_ages()


# --- the scorecard: made-up study counts for education, not for rights -------------------------

#: A fixed quarter (never "the current one"), after the day the fixture's members are
#: written (their status history starts then, and a member added later does not count).
QUARTER = "2090-Q2"


def _cell(rows, branch: str, indicator: str) -> tuple[int, int]:
    row = next(r for r in rows if r["branch"] == branch and r["indicator"] == indicator)
    return row["numerator"], row["denominator"]


def test_made_up_attendance_counts_for_education_but_not_for_rights(session):
    from outreach.tasks.scorecard import scorecard as sc

    br = f.branch(session, name="Promise-branch")
    boss = f.coordinator(session, branch_=br)
    made_up = f.member(session, branch_=br, ledger_no="P-1")
    present = f.member(session, branch_=br, ledger_no="P-2")
    assembly = f.meeting_in(session, "held", branch_=br, kind=MeetingKind.ASSEMBLY,
                            planned_on=dt.date(2090, 5, 12))
    lecture = f.meeting_in(session, "held", branch_=br, kind=MeetingKind.LECTURE,
                           planned_on=dt.date(2090, 5, 20))
    for meeting in (assembly, lecture):
        f.attendance_in(session, "made_up", meeting_=meeting, member_=made_up, actor=boss)
        f.attendance_in(session, "present", meeting_=meeting, member_=present, actor=boss)
    rows = sc.scorecard(session, actor=SYSTEM, period=QUARTER)
    assert _cell(rows, "Promise-branch", "rights") == (1, 2)      # made-up: not assured
    assert _cell(rows, "Promise-branch", "education") == (2, 2)   # made-up: educated


def test_a_done_notice_assures_the_rights_of_a_member_who_missed_the_assembly(session):
    from outreach.tasks.scorecard import scorecard as sc

    br = f.branch(session, name="Notice-branch")
    boss = f.coordinator(session, branch_=br)
    told = f.member(session, branch_=br, ledger_no="N-1", residence=Residence.AWAY)
    assembly = f.meeting_in(session, "held", branch_=br, kind=MeetingKind.ASSEMBLY,
                            planned_on=dt.date(2090, 5, 12))
    f.attendance_in(session, "made_up", meeting_=assembly, member_=told, actor=boss)
    assert _cell(sc.scorecard(session, actor=SYSTEM, period=QUARTER),
                 "Notice-branch", "rights") == (0, 1)
    run = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.NOTICE),
                         meeting_id=assembly.id)
    f.task_in(session, "done", member_=told, run=run)
    assert _cell(sc.scorecard(session, actor=SYSTEM, period=QUARTER),
                 "Notice-branch", "rights") == (1, 1)


# --- notices: 7 days ahead ---------------------------------------------------------------------

TODAY = dt.date(2026, 3, 2)


@pytest.fixture
def branch_with_away(session):
    root = f.branch(session, name="Notice-root")
    coord = f.coordinator(session, branch_=root)
    f.volunteer(session, branch_=root, capacity=50)
    f.member(session, branch_=root, ledger_no="NA-1", residence=Residence.AWAY)
    f.member(session, branch_=root, ledger_no="NH-1", homebound=True)
    f.member(session, branch_=root, ledger_no="NL-1")
    return session, f.actor(session, coord)


@pytest.mark.parametrize("days_ahead, notices", [(6, 0), (7, 2), (8, 2), (30, 2)])
def test_a_meeting_seven_days_ahead_or_more_sends_notices(branch_with_away, days_ahead,
                                                          notices):
    session, coord = branch_with_away
    out = mt.plan_meeting(session, branch="Notice-root", kind="assembly",
                          on=TODAY + dt.timedelta(days=days_ahead), actor=coord, today=TODAY)
    assert out["notices"]["created"] == notices


# --- the Chinese 台账: which header is which field --------------------------------------------

#: A real 台账's header row, written out (not built from the import's table).
ZH_HEADER = "台账编号,姓名,出生日期,联系电话,所在支部,居住情况,家庭住址,现居住地址,行动不便,家属联系人,家属联系电话"


def test_the_chinese_headers_put_each_value_in_its_field(session):
    from outreach.db.models import Member
    from outreach.tasks.ledger.book import import_ledger, read_ledger

    data = (ZH_HEADER + "\n"
            "Z-001,张三,1940-02-03,013800138000,北区-台账,外出,北京市东城区老家胡同1号,"
            "上海市浦东新区暂住路2号,否,张小三,0086 13900139000\n").encode("utf-8")
    rows = read_ledger(io.BytesIO(data))
    assert rows[0]["home_address"] == "北京市东城区老家胡同1号"
    assert rows[0]["current_address"] == "上海市浦东新区暂住路2号"
    boss = f.actor(session, f.coordinator(session))
    import_ledger(session, rows, actor=boss)
    m = session.query(Member).filter_by(ledger_no="Z-001").one()
    assert (m.name, m.birth_date, m.phone) == ("张三", dt.date(1940, 2, 3), "013800138000")
    assert m.home_address == "北京市东城区老家胡同1号"          # 家庭住址
    assert m.current_address == "上海市浦东新区暂住路2号"       # 现居住地址
    assert str(m.residence) == "away" and m.homebound is False
    assert (m.family_contact_name, m.family_contact_phone) == ("张小三", "0086 13900139000")
