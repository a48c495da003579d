"""A member's own link over HTTP (``/m/{token}``, issue 26): a link page shows one member
only, masked; a wrong, expired or revoked link gets the same "link not valid" (and is
slowed and counted per client address like a wrong code); a volunteer's session cookie
does not open /m/ and a token does not open /app/; forms need their own origin and an
Idempotency-Key (sent twice, done once); the member's page is no volunteer's showing (no
access-log row). Each page is under 60 KB. SQLite, and PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from outreach.db.codes import RemoteOption, Residence
from outreach.db.machines import AttendanceStatus as AS
from outreach.db.machines import MeetingStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    AccessEvent,
    Attendance,
    LoginFailure,
    Member,
    MemberChange,
    MemberLink,
)
from outreach.db.session import engine, session_scope
from outreach.tasks.access import permissions as access
from outreach.tasks.links import member_links as ml
from outreach.tasks.access.permissions import format_code
from tests.db import factories as f

BASE = "http://testserver"
SAME = {"Origin": BASE}
PAGE_LIMIT = 60 * 1024
PHONE_A, PHONE_B = "138 1234 5678", "139 8765 4321"


@dataclass
class World:
    url: str
    a: str  # member A's token
    b: str  # member B's token
    expired: str
    revoked: str
    code: str  # the volunteer's access code
    a_id: int
    notice: int
    study: int


@pytest.fixture
def world(db_url) -> World:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    today = dt.date.today()
    with session_scope(engine(db_url)) as s:
        root = f.branch(s, name="Root")
        coord = f.coordinator(s, branch_=root)
        vol, secret = f.volunteer(s, branch_=root, with_secret=True)
        a = f.member(s, branch_=root, ledger_no="A1", name="Wang Fang", phone=PHONE_A,
                     home_address="12 Elm Street Apt. 4, Springfield",
                     family_contact_name="Li Ming", family_contact_phone="137 0000 1111")
        b = f.member(s, branch_=root, ledger_no="B1", name="Zhao Lei", phone=PHONE_B,
                     residence=Residence.AWAY, current_address="8 Oak Road, Far City")
        f.task(s, member_=a, status=TS.ASSIGNED, volunteer_=vol)
        who = f.actor(s, coord)
        mt = f.meeting(s, branch_=root, planned_on=today + dt.timedelta(days=9),
                       remote=RemoteOption.PHONE, topic="Spring assembly")
        f.attendance(s, meeting_=mt, member_=a)
        f.attendance(s, meeting_=mt, member_=b)
        held = f.meeting(s, branch_=root, status=MS.HELD,
                         planned_on=today - dt.timedelta(days=5), material="Notes on the rules")
        f.attendance(s, meeting_=held, member_=a, status=AS.ABSENT)
        tok = {n: ml.make_link(s, ref=ref, actor=who).token
               for n, ref in (("a", "A1"), ("b", "B1"))}
        expired = ml.make_link(s, ref="A1", actor=who, now=now - dt.timedelta(days=31)).token
        revoked = ml.make_link(s, ref="B1", actor=who).token
        s.flush()
        s.query(MemberLink).filter(MemberLink.token_hash == ml.hash_token(revoked)).update(
            {"revoked_at": now})
        return World(db_url, tok["a"], tok["b"], expired, revoked,
                     format_code(vol.id, secret), a.id, mt.id, held.id)


@pytest.fixture
def app(world):
    from outreach.service.app import create_app

    application = create_app(world.url)
    yield application
    application.state.ledger.engine.dispose()


def client(app) -> TestClient:
    return TestClient(app, base_url=BASE, follow_redirects=False)


def key_of(html: str) -> str:
    m = re.search(r'name="key" value="([^"]+)"', html)
    assert m
    return m.group(1)


def count(url, model, *where) -> int:
    with session_scope(engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_a_link_page_shows_one_member_only_and_masked(world, app):
    c = client(app)
    r = c.get(f"/m/{world.a}")
    assert r.status_code == 200 and len(r.content) < PAGE_LIMIT
    assert "Wang Fang" in r.text and "Root" in r.text
    assert "138****5678" in r.text and "Elm Street" in r.text
    for secret in ("1234 5678", "12 Elm", "Apt", "Li Ming", "137 0000 1111",
                   "Zhao Lei", PHONE_B, "Oak Road"):
        assert secret not in r.text
    assert "Spring assembly" in r.text and "Notes on the rules" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert count(world.url, AccessEvent) == 0  # the member's own page: no showing logged
    for path in ("address", "phone", "family", f"notice/{world.notice}",
                 f"study/{world.study}"):
        page = c.get(f"/m/{world.a}/{path}")
        assert page.status_code == 200 and len(page.content) < PAGE_LIMIT, path
        assert PHONE_A not in page.text and "Zhao Lei" not in page.text


@pytest.mark.parametrize("which", ["wrong", "expired", "revoked", "malformed", "root"])
def test_wrong_expired_and_revoked_links_get_the_same_answer(world, app, which):
    c = client(app)
    path = {"wrong": "/m/" + "A" * 32, "expired": f"/m/{world.expired}",
            "revoked": f"/m/{world.revoked}", "malformed": "/m/x",
            "root": "/m/"}[which]
    r = c.get(path)
    assert r.status_code == 404
    assert "Link not valid" in r.text and "not valid" in r.text
    for name in ("Wang Fang", "Zhao Lei"):
        assert name not in r.text
    # a form sent to it does nothing, whatever it carries
    p = c.post(path + "/confirm", data={"key": "k1"}, headers=SAME)
    assert p.status_code == 404 and "Link not valid" in p.text
    assert count(world.url, MemberChange) == 0


def test_a_wrong_link_is_slowed_and_counted_like_a_wrong_code(world, app, monkeypatch):
    waited = []

    async def pause(seconds):
        waited.append(seconds)

    monkeypatch.setattr(access, "BASE_DELAY", 1.0)
    monkeypatch.setattr("outreach.service.common.pause", pause)
    c = client(app)
    for __ in range(3):
        assert c.get("/m/" + "B" * 32).status_code == 404
    assert waited == [1.0, 2.0, 4.0]  # `login_delay`, per client address
    assert count(world.url, LoginFailure) == 1
    assert c.get(f"/m/{world.a}").status_code == 200  # a valid link is not slowed


def test_confirm_correct_answer_and_study_over_http(world, app):
    c = client(app)
    home = c.get(f"/m/{world.a}")
    r = c.post(f"/m/{world.a}/confirm", data={"key": key_of(home.text)}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == f"/m/{world.a}?saved=confirmed"
    again = c.post(f"/m/{world.a}/confirm", data={"key": key_of(home.text)}, headers=SAME)
    assert again.status_code == 303  # sent twice: done once
    assert count(world.url, MemberChange, MemberChange.field == "self_report") == 1
    # a wrong phone: the error next to the field, nothing written
    form = c.get(f"/m/{world.a}/phone")
    bad = c.post(f"/m/{world.a}/phone", data={"key": key_of(form.text), "phone": "soon"},
                 headers=SAME)
    assert bad.status_code == 400 and "There is a problem" in bad.text
    assert 'href="#f_phone"' in bad.text
    ok = c.post(f"/m/{world.a}/phone", data={"key": key_of(bad.text),
                                             "phone": "135 0000 2222"}, headers=SAME)
    assert ok.status_code == 303
    # the address: living away now
    form = c.get(f"/m/{world.a}/address")
    ok = c.post(f"/m/{world.a}/address", data={"key": key_of(form.text), "residence": "away",
                                               "address": "3 River Lane, Hill"}, headers=SAME)
    assert ok.status_code == 303
    with session_scope(engine(world.url), write=False) as s:
        m = s.get(Member, world.a_id)
        assert m.phone == "135 0000 2222" and m.current_address == "3 River Lane, Hill"
        assert str(m.residence) == "away"
        reasons = set(s.scalars(select(MemberChange.reason)
                                .where(MemberChange.member_id == m.id)))
        assert reasons and all(r.startswith("member link ") for r in reasons)
    # the notice: excused needs a reason
    form = c.get(f"/m/{world.a}/notice/{world.notice}")
    bad = c.post(f"/m/{world.a}/notice/{world.notice}",
                 data={"key": key_of(form.text), "answer": "excused"}, headers=SAME)
    assert bad.status_code == 400 and 'href="#f_reason"' in bad.text
    ok = c.post(f"/m/{world.a}/notice/{world.notice}",
                data={"key": key_of(bad.text), "answer": "excused", "reason": "in hospital"},
                headers=SAME)
    assert ok.status_code == 303 and ok.headers["location"].endswith("saved=excused")
    # the study (the branch does not accept self-study: noted for the volunteer)
    form = c.get(f"/m/{world.a}/study/{world.study}")
    ok = c.post(f"/m/{world.a}/study/{world.study}", data={"key": key_of(form.text)},
                headers=SAME)
    assert ok.status_code == 303 and ok.headers["location"].endswith("saved=noted")
    with session_scope(engine(world.url), write=False) as s:
        rows = {r.meeting_id: r for r in s.scalars(select(Attendance).where(
            Attendance.member_id == world.a_id))}
        assert str(rows[world.notice].member_answer) == "excused"
        assert str(rows[world.notice].status) == "invited"
        assert rows[world.study].studied_at is not None


def test_forms_need_their_origin_and_a_key(world, app):
    c = client(app)
    page = c.get(f"/m/{world.a}")
    for headers in ({"Origin": "https://evil.example"}, {}):
        r = c.post(f"/m/{world.a}/confirm", data={"key": key_of(page.text)}, headers=headers)
        assert r.status_code == 403
    r = c.post(f"/m/{world.a}/confirm", data={}, headers=SAME)
    assert r.status_code == 400
    assert count(world.url, MemberChange) == 0


def test_one_member_cannot_reach_another_members_meeting(world, app):
    c = client(app)
    # B is invited to the same notice, but A's study meeting is A's only
    assert c.get(f"/m/{world.b}/study/{world.study}").status_code == 404
    r = c.post(f"/m/{world.b}/study/{world.study}", data={"key": "k9"}, headers=SAME)
    assert r.status_code == 400
    assert count(world.url, MemberChange) == 0


def test_a_volunteer_session_does_not_open_m_and_a_token_does_not_open_app(world, app):
    c = client(app)
    r = c.post("/app/login", data={"code": world.code}, headers=SAME)
    assert r.status_code == 303
    # the volunteer's cookie (path /app) is no member link
    for path in ("/m/", "/m/" + "C" * 32):
        assert c.get(path).status_code == 404
    # a token opens nothing under /app/ (no session: the login), nor the JSON API
    m = client(app)
    for path in (f"/app/?token={world.a}", f"/app/{world.a}", f"/app/tasks/1?t={world.a}"):
        r = m.get(path)
        assert r.status_code in (303, 404) and "Wang Fang" not in r.text
        if r.status_code == 303:
            assert r.headers["location"] == "/app/login"
    api = m.get("/tasks", headers={"Authorization": f"Bearer {world.a}"})
    assert api.status_code == 401


def test_chinese_pages(world, app):
    c = client(app)
    r = c.get(f"/m/{world.a}", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 200 and 'lang="zh-CN"' in r.text
