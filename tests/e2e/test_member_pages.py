"""A member's own link (issue 26) in real Chromium as a phone (Playwright's "Pixel 5": its
viewport, touch), in Chinese and in English: the member's page, "these details are
right", a corrected address (living away now, with an error first), the answer to a
notice ("I ask to be excused" + why), the make-up study confirmed (the branch accepts
self-study: made up); a revoked and an expired link get "link not valid". Every page
checked by axe-core (no serious or critical violation) and photographed into
tests/e2e/screenshots/ (member-*.png). The ledger: a small world written here, served by
the ledger service in a thread of this process."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from outreach import i18n
from outreach.db.codes import RemoteOption
from outreach.db.machines import AttendanceStatus as AS
from outreach.db.machines import MeetingStatus as MS
from outreach.db.models import Attendance, Member, MemberLink
from outreach.db.session import engine, session_scope
from outreach.tasks.links import member_links as ml
from tests.db import factories as f
from tests.e2e.conftest import axe_violations

pytestmark = pytest.mark.e2e
LANGS = {"zh": "zh-CN", "en": "en"}


@pytest.fixture(scope="module", autouse=True)
def chinese():
    """The compiled catalog must speak the member's pages' Chinese (`make translations`)."""
    probe = "These details are right"
    if i18n.translations("zh_CN").gettext(probe) == probe:
        pytest.fail("the catalog has no Chinese for the member's pages: run make translations")


@dataclass
class World:
    url: str
    tokens: dict  # lang → the member's token
    members: dict  # lang → member id
    notice: dict  # lang → meeting id
    study: int
    expired: str
    revoked: str


@pytest.fixture
def world(db_url) -> World:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    today = dt.date.today()
    with session_scope(engine(db_url)) as s:
        root = f.branch(s, name="东城支部")
        root.self_study = True
        coord = f.coordinator(s, branch_=root)
        who = f.actor(s, coord)
        held = f.meeting(s, branch_=root, status=MS.HELD,
                         planned_on=today - dt.timedelta(days=6),
                         material="《党章》第一章 学习材料")
        coming = f.meeting(s, branch_=root, planned_on=today + dt.timedelta(days=12),
                           remote=RemoteOption.PHONE, topic="第四季度党员大会",
                           place="社区活动室")
        tokens, members = {}, {}
        for lang, (name, no) in {"zh": ("王芳", "Z1"), "en": ("Mary Wang", "E1")}.items():
            m = f.member(s, branch_=root, ledger_no=no, name=name, phone="138 1234 5678",
                         home_address="北京市东城区建国路88号3栋502室",
                         family_contact_name="李明", family_contact_phone="139 0000 1111")
            f.attendance(s, meeting_=held, member_=m, status=AS.ABSENT)
            f.attendance(s, meeting_=coming, member_=m)
            tokens[lang] = ml.make_link(s, ref=no, actor=who).token
            members[lang] = m.id
        expired = ml.make_link(s, ref="Z1", actor=who, now=now - dt.timedelta(days=40)).token
        revoked = ml.make_link(s, ref="E1", actor=who).token
        s.flush()
        s.query(MemberLink).filter(MemberLink.token_hash == ml.hash_token(revoked)).update(
            {"revoked_at": now})
        return World(db_url, tokens, members, {"zh": coming.id, "en": coming.id}, held.id,
                     expired, revoked)


@pytest.fixture
def svc(world):
    from tests.service.conftest import Running

    running = Running(world.url)
    yield running
    running.stop()


def words(lang: str):
    return i18n.translations("zh_CN" if lang == "zh" else "en").gettext


def accessible(page, what: str) -> None:
    found = axe_violations(page)
    assert found == [], f"{what}: {found}"


def fits(page) -> None:
    """Nothing wider than the phone (no sideways scrolling)."""
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_member_on_their_phone(world, svc, phone, shots, lang):
    T = words(lang)
    ctx = phone(LANGS[lang])
    page = ctx.new_page()
    base = f"{svc.url}/m/{world.tokens[lang]}"
    page.goto(base)
    assert page.locator("html").get_attribute("lang") == LANGS[lang]
    body = page.locator("main").inner_text()
    assert "138****5678" in body and "建国路" in body
    assert "1234 5678" not in body and "88号" not in body and "李明" not in body
    shots(page, f"member-{lang}-1-page")
    accessible(page, "the member's page")
    fits(page)

    # confirm: the details are right
    page.get_by_role("button", name=T("These details are right")).tap()
    page.wait_for_url("**saved=confirmed")
    page.locator(".banner").wait_for()
    shots(page, f"member-{lang}-2-confirmed")
    accessible(page, "confirmed")

    # correct the address: away now — an empty form first (the error next to the field)
    page.get_by_role("link", name=T("Change where I live")).tap()
    page.wait_for_url("**/address")
    shots(page, f"member-{lang}-3-address")
    accessible(page, "address form")
    page.get_by_role("button", name=T("Send"), exact=True).tap()
    page.locator(".summary").wait_for()
    shots(page, f"member-{lang}-4-address-error")
    accessible(page, "address form with an error")
    page.get_by_label(T("I live away (in another place)")).check()
    page.get_by_label(T("Your address now")).fill("上海市浦东新区世纪大道100号")
    page.get_by_role("button", name=T("Send"), exact=True).tap()
    page.wait_for_url("**saved=corrected")

    # answer the notice: excused, with the reason
    page.locator(f'a[href$="/notice/{world.notice[lang]}"]').tap()
    page.wait_for_url(f"**/notice/{world.notice[lang]}")
    shots(page, f"member-{lang}-5-notice")
    accessible(page, "notice")
    page.get_by_label(T("I ask to be excused")).check()
    page.get_by_label(T("If you ask to be excused: why?")).fill("住院治疗")
    page.get_by_role("button", name=T("Send my answer")).tap()
    page.wait_for_url("**saved=excused")

    # confirm the make-up study: the branch accepts self-study
    page.locator(f'a[href$="/study/{world.study}"]').tap()
    page.wait_for_url(f"**/study/{world.study}")
    assert "《党章》" in page.locator("main").inner_text()
    shots(page, f"member-{lang}-6-study")
    accessible(page, "study")
    page.get_by_role("button", name=T("I have studied it")).tap()
    page.wait_for_url("**saved=made_up")
    shots(page, f"member-{lang}-7-done")
    accessible(page, "after the study")
    assert ctx.refused == []

    with session_scope(engine(world.url), write=False) as s:
        m = s.get(Member, world.members[lang])
        assert str(m.residence) == "away" and m.current_address.startswith("上海市")
        assert m.address_verified_on is not None
        rows = {a.meeting_id: a for a in s.scalars(select(Attendance).where(
            Attendance.member_id == m.id))}
        assert str(rows[world.notice[lang]].member_answer) == "excused"
        assert str(rows[world.notice[lang]].status) == "invited"
        assert str(rows[world.study].status) == "made_up"
        assert str(rows[world.study].made_up_how) == "self_study"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_revoked_and_an_expired_link(world, svc, phone, shots, lang):
    T = words(lang)
    page = phone(LANGS[lang]).new_page()
    for which, token in (("revoked", world.revoked), ("expired", world.expired)):
        response = page.goto(f"{svc.url}/m/{token}")
        assert response.status == 404
        page.get_by_role("heading", name=T("Link not valid")).wait_for()
        text = page.locator("main").inner_text()
        assert "王芳" not in text and "Mary" not in text
        shots(page, f"member-{lang}-8-{which}")
        accessible(page, f"{which} link")
