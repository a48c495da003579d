"""`outreach seed --locale zh_CN`: a ledger that reads like a Chinese one — a 街道 with its
社区 branches and interest groups (书画协会 …), Chinese names, and a year of organisational
life with Chinese topics, study materials, places and reasons."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.db.models import Attendance, Branch, BranchKind, Meeting, Member, Volunteer
from outreach.db.session import make_engine
from outreach.seed.generate import seed_ledger

TODAY = dt.date(2026, 11, 2)
HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


def chinese(text: str | None) -> bool:
    """Chinese and not a word of English."""
    return bool(text) and bool(HAN.search(text)) and not LATIN.search(text)


@pytest.fixture
def eng(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


def test_branches_are_a_street_office_with_its_communities(eng):
    res = seed_ledger(eng, members=10_000, seed=4, locale="zh_CN", today=TODAY)
    with Session(eng) as s:
        branches = s.scalars(select(Branch)).all()
    by_id = {b.id: b for b in branches}
    committees = [b for b in branches if b.kind == BranchKind.COMMITTEE]
    communities = [b for b in branches if b.kind == BranchKind.GEOGRAPHIC]
    groups = {b.name for b in branches if b.kind == BranchKind.INTEREST}

    assert res.branches == len(branches) and all(chinese(b.name) for b in branches)
    # 10,000 members: two 街道 of one district, each over its 社区 branches.
    assert len(committees) == 2
    assert all(re.fullmatch(r".+区.+街道党工委", b.name) for b in committees)
    assert len({b.name.split("区")[0] for b in committees}) == 1
    assert len(communities) == 7 and len({b.name for b in communities}) == 7
    assert all(b.name.endswith("社区党支部") for b in communities)
    assert all(by_id[b.parent_id].kind == BranchKind.COMMITTEE for b in communities)
    assert {by_id[b.parent_id].name for b in communities} == {b.name for b in committees}
    assert {"书画协会", "老年体育协会", "太极拳队", "合唱团"} <= groups


def test_people_and_organisational_life_are_chinese(eng):
    res = seed_ledger(eng, members=1500, seed=8, locale="zh_CN", today=TODAY)
    with Session(eng) as s:
        members = s.scalars(select(Member)).all()
        volunteers = s.scalars(select(Volunteer.name)).all()
        meetings = s.execute(select(Meeting.topic, Meeting.material, Meeting.place,
                                    Meeting.minutes)).all()
        reasons = set(s.scalars(select(Attendance.reason).where(
            Attendance.reason.is_not(None))))
        places = {m.home_address.split("区")[0] for m in members}
    assert res.members == 1500 and res.meetings > 0
    assert all(chinese(m.name) and 2 <= len(m.name) <= 4 for m in members)
    assert all(chinese(n) for n in volunteers)
    # Faker zh_CN: family names from its list, many different ones.
    assert len({m.name[0] for m in members}) > 50
    assert all(chinese(m.home_address) for m in members)
    assert len(places) == 1  # one city district: the 街道's
    # Topics and study materials as branches write them; places and minutes too.
    for topic, material, place, minutes in meetings:
        assert chinese(topic) and chinese(material) and chinese(place) and chinese(minutes)
    topics = {m[0] for m in meetings}
    assert len(topics) >= 10
    assert reasons and all(chinese(r) for r in reasons)
    assert {"行动不便", "外出"} <= reasons


def test_same_seed_same_chinese_ledger(template_url, tmp_path):
    from tests.seed.test_seed import _fresh

    names = []
    for i in range(2):
        e = _fresh(template_url, tmp_path, f"zh{i}.db")
        try:
            seed_ledger(e, members=400, seed=13, locale="zh_CN", today=TODAY, meetings=False,
                        care=False)
            with Session(e) as s:
                names.append((s.scalars(select(Branch.name).order_by(Branch.id)).all(),
                              s.scalars(select(Member.name).order_by(Member.id)).all()))
        finally:
            e.dispose()
    assert names[0] == names[1]


def test_english_seed_unchanged(eng):
    seed_ledger(eng, members=600, seed=2, today=TODAY, meetings=True, care=False)
    with Session(eng) as s:
        branches = s.scalars(select(Branch)).all()
        topics = set(s.scalars(select(Meeting.topic)))
        n = s.scalar(select(func.count()).select_from(Member))
    assert n == 600
    geo = [b.name for b in branches if b.kind == BranchKind.GEOGRAPHIC]
    assert geo and all(name.endswith(" District") for name in geo)
    assert all(not HAN.search(b.name) for b in branches)
    assert topics and all(not HAN.search(t) for t in topics)
