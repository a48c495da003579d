"""The volunteer's pages (``/app/``, issue 26) over HTTP: every route refuses a missing,
wrong, stale or foreign session and a member's link; forms from other sites are refused;
the cookie is HttpOnly, SameSite=Strict and Secure over https; a volunteer sees and records
only on their own open tasks, through the same rules (and the same Idempotency-Key) as the
JSON API; each page is under 60 KB.

Contact details are counted in pages, never printed (`none_shown`)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

import outreach.service.common
import outreach.service.pages
from outreach import service
from outreach.db.models import (
    AccessEvent,
    AppSession,
    Attempt,
    LoginFailure,
    MemberLink,
    OutreachTask,
)
from outreach.db.session import engine, session_scope
from outreach.service.pages import COOKIE, ROUTES
from tests.reliability.test_access import contacts_of, none_shown, snapshot, unchanged

BASE = "http://testserver"
SAME = {"Origin": BASE}
#: What every page must stay under, transferred (issue 26).
PAGE_LIMIT = 60 * 1024


@pytest.fixture
def app(world):
    from outreach.service.app import create_app

    application = create_app(world.url)
    yield application
    application.state.ledger.engine.dispose()


def client(app, base: str = BASE, **kw) -> TestClient:
    return TestClient(app, base_url=base, follow_redirects=False, **kw)


def log_in(c: TestClient, code: str) -> httpx.Response:
    r = c.post("/app/login", data={"code": code}, headers={"Origin": str(c.base_url)})
    assert r.status_code == 303 and r.headers["location"] == "/app/", r.status_code
    return r


def token_of(c: TestClient) -> str:
    return c.cookies.get(COOKIE)


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def form_of(c: TestClient, task: int) -> dict[str, str]:
    """The record form's hidden fields as the card rendered them."""
    page = c.get(f"/app/tasks/{task}")
    assert page.status_code == 200
    return {n: hidden(page.text, n) for n in ("key", "csrf", "seen_attempts")}


def attempts(url: str, task: int) -> int:
    with session_scope(engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(Attempt).where(Attempt.task_id == task))


def app_events(url: str) -> int:
    with session_scope(engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(AccessEvent)
                        .where(AccessEvent.door == "app"))


def routes(task: int) -> list[tuple[str, str]]:
    return [(m, p.format(task_id=task)) for m, p, __ in ROUTES if p != "/app/login"]


SURVEY = {"a_phone": "555-7777", "a_address": "9 New Street", "a_residence": "local",
          "a_homebound": "no"}


# --- who may ask ------------------------------------------------------------------------------


def test_the_route_list_is_the_one_walked_here():
    assert sorted((m, p) for m, p, __ in ROUTES) == [
        ("GET", "/app/"), ("GET", "/app/login"), ("GET", "/app/logout"),
        ("GET", "/app/tasks/{task_id}"), ("GET", "/app/tasks/{task_id}/release"),
        ("POST", "/app/check"), ("POST", "/app/login"), ("POST", "/app/logout"),
        ("POST", "/app/tasks/{task_id}/link"), ("POST", "/app/tasks/{task_id}/record"),
        ("POST", "/app/tasks/{task_id}/release")], \
        "a new page joins the walk below"


def _stale(url: str, token: str) -> None:
    """Make the session of ``token`` idle for 31 days."""
    with session_scope(engine(url)) as s:
        s.execute(update(AppSession).values(
            last_seen_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=31)))


def test_every_route_refuses_no_session_a_wrong_stale_or_ended_one_and_a_member_link(
        world, app):
    """Each page and form, asked with no cookie, a made-up one, one idle 31 days, one
    logged out, and a member's own link in its place: sent to the login (a form's JSON
    check: 401), nothing shown, nothing written."""
    from outreach.tasks.access.permissions import authenticate
    from outreach.tasks.links.member_links import make_link

    task = world.of(world.bob)[0]
    with session_scope(engine(world.url)) as s:
        coord = authenticate(s, world.coord)
        member_no = s.get(OutreachTask, task).member_id
        link = make_link(s, ref=str(member_no), actor=coord).token
    c = client(app)
    log_in(c, world.bob)
    good = token_of(c)
    form = form_of(c, task)
    c.post("/app/logout", data={"csrf": form["csrf"]}, headers=SAME)
    ended = good
    c2 = client(app)
    log_in(c2, world.bob)
    stale = token_of(c2)
    _stale(world.url, stale)
    vid = world.vid(world.bob)
    cookies = {"none": None, "made-up": f"s-{vid}-" + "0" * 64, "ended": ended,
               "stale": stale, "member link": link, "garbage": "x" * 300}
    secrets = contacts_of(world, [world.tasks[t][1] for t in world.of(world.bob)])
    before = snapshot(world.url, logins=False)
    events = app_events(world.url)
    for what, cookie in cookies.items():
        c = client(app)
        if cookie is not None:
            c.cookies.set(COOKIE, cookie, domain="testserver.local", path="/app")
        for method, path in routes(task):
            data = {**form, **SURVEY, "outcome": "reached", "answers_for": "reached",
                    "key": f"k-{what.replace(' ', '-')}"} if method == "POST" else None
            r = c.request(method, path, data=data, headers=SAME)
            if path == "/app/check":
                assert r.status_code == 401, (what, method, path, r.status_code)
            else:
                assert (r.status_code, r.headers.get("location")) == (303, "/app/login"), \
                    (what, method, path, r.status_code)
            none_shown(r.text, secrets, f"{method} {path} with {what}")
    unchanged(before, snapshot(world.url, logins=False))
    assert app_events(world.url) == events


def test_another_volunteers_session_sees_and_changes_nothing_of_bobs_tasks(world, app):
    """Cat, logged in, asks for each of Bob's tasks: refused (403), no contact detail
    in the page, nothing recorded or handed back."""
    c = client(app)
    log_in(c, world.cat)
    own = form_of(c, world.of(world.cat)[0])
    secrets = contacts_of(world, [world.tasks[t][1] for t in world.of(world.bob)])
    before = snapshot(world.url, logins=False)
    for task in world.of(world.bob):
        for method, path in routes(task):
            if not path.startswith("/app/tasks/"):
                continue
            data = {**own, "outcome": "no_answer", "key": f"cat-{task}-{method}"} \
                if method == "POST" else None
            r = c.request(method, path, data=data, headers=SAME)
            assert r.status_code in (403, 404), (method, path, r.status_code)
            none_shown(r.text, secrets, f"{method} {path}")
    home = c.get("/app/")
    assert home.status_code == 200
    none_shown(home.text, secrets, "Cat's list")
    for name in (world.names[world.tasks[t][1]] for t in world.of(world.bob)):
        assert name not in home.text
    unchanged(before, snapshot(world.url, logins=False))


def test_a_closed_task_shows_no_contact_details(world, app):
    c = client(app)
    log_in(c, world.bob)
    task = world.of(world.bob)[0]
    form = form_of(c, task)
    r = c.post(f"/app/tasks/{task}/record", headers=SAME,
               data={**form, "outcome": "refused"})
    assert r.status_code == 303
    page = c.get(f"/app/tasks/{task}")
    assert page.status_code == 403
    none_shown(page.text, world.contacts[world.tasks[task][1]], "a closed task's card")
    assert f'href="/app/tasks/{task}"' not in c.get("/app/").text


# --- forms from elsewhere ---------------------------------------------------------------------


def test_forms_without_this_origin_or_the_sessions_token_are_refused(world, app):
    c = client(app)
    log_in(c, world.bob)
    task = world.of(world.bob)[0]
    form = form_of(c, task)
    before = snapshot(world.url, logins=False)
    cases = [({}, form["csrf"]),                                        # no Origin, no Referer
             ({"Origin": "https://evil.example"}, form["csrf"]),        # another site
             ({"Origin": "null"}, form["csrf"]),                         # a sandboxed frame
             ({"Referer": "https://evil.example/app/"}, form["csrf"]),
             ({"Origin": "http://testserver.evil.example"}, form["csrf"]),
             (SAME, "0" * 32),                                           # a token not ours
             (SAME, "")]
    for n, (headers, csrf) in enumerate(cases):
        data = {**form, "csrf": csrf, "outcome": "no_answer", "key": f"csrf-{n}"}
        for path in (f"/app/tasks/{task}/record", f"/app/tasks/{task}/release",
                     f"/app/tasks/{task}/link", "/app/logout"):
            r = c.post(path, data=data, headers=headers)
            assert r.status_code == 403, (n, path, r.status_code)
        assert c.post("/app/check", data={"key": "phone", "value": "1", "csrf": csrf},
                      headers=headers).status_code == 403
    unchanged(before, snapshot(world.url, logins=False))
    assert c.get("/app/").status_code == 200, "the session is still there"
    # the login itself: only from this origin
    other = client(app)
    r = other.post("/app/login", data={"code": world.bob},
                   headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and COOKIE not in other.cookies
    # the same origin through its Referer (a browser that sends no Origin): accepted
    r = c.post(f"/app/tasks/{task}/record", headers={"Referer": f"{BASE}/app/tasks/{task}"},
               data={**form, "outcome": "no_answer"})
    assert r.status_code == 303


def _set_cookie(r: httpx.Response) -> str:
    (line,) = [v for k, v in r.headers.multi_items() if k == "set-cookie"
               and v.startswith(COOKIE + "=")]
    return line.lower()


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(world, app, serve):
    r = log_in(client(app), world.bob)
    cookie = _set_cookie(r)
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/app" in cookie
    assert "secure" not in cookie.split(";")[1:].__str__()
    assert "max-age=2592000" in cookie  # 30 days
    token = cookie.split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"s-\d+-[0-9a-f]{64}", token), "256 random bits"
    https = client(app, base="https://testserver")
    r = https.post("/app/login", data={"code": world.bob},
                   headers={"Origin": "https://testserver"})
    assert r.status_code == 303 and "; secure" in _set_cookie(r)
    # behind the trusted proxy: the scheme it forwards
    svc = serve(world.url, trusted_proxies=["127.0.0.1"])
    with httpx.Client(base_url=svc.url) as h:
        r = h.post("/app/login", data={"code": world.bob},
                   headers={"X-Forwarded-Proto": "https", "Origin": "https://"
                            + svc.url.split("//", 1)[1]})
        assert r.status_code == 303 and "; secure" in _set_cookie(r)
        r = h.post("/app/login", data={"code": world.bob},
                   headers={"Origin": svc.url})
        assert r.status_code == 303 and "; secure" not in _set_cookie(r)
    # only the hash is stored
    with session_scope(engine(world.url), write=False) as s:
        stored = s.scalars(select(AppSession.token_hash)).all()
    assert token not in stored and token.rsplit("-", 1)[1] not in stored


def test_the_login_slows_wrong_codes_per_address_as_the_api_does(world, app, monkeypatch):
    waits = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(outreach.tasks.access.permissions, "BASE_DELAY", 1.0)
    monkeypatch.setattr(service.common, "pause", pause)
    c = client(app)
    wrong = world.bob[:-4] + ("AAAA" if not world.bob.endswith("AAAA") else "BBBB")
    for __ in range(3):
        r = c.post("/app/login", data={"code": wrong}, headers=SAME)
        assert r.status_code == 401 and COOKIE not in c.cookies
        assert world.bob not in r.text and wrong not in r.text
    assert waits == [1.0, 2.0, 4.0]
    with session_scope(engine(world.url), write=False) as s:
        assert s.get(LoginFailure, "testclient").failures == 3
    r = c.post("/app/login", data={"code": ""}, headers=SAME)
    assert r.status_code == 400 and len(waits) == 3, "an empty field is no wrong code"
    log_in(c, world.bob)
    assert len(waits) == 3, "a right code waits for nothing"


def test_a_session_ends_at_logout_after_30_idle_days_and_with_a_new_code(world, app):
    from outreach.tasks.access.permissions import authenticate, new_code
    from outreach.db.models import Volunteer

    c = client(app)
    log_in(c, world.bob)
    assert c.get("/app/").status_code == 200
    # used within the hour: not written again; idle 29 days: still good, and touched
    with session_scope(engine(world.url)) as s:
        s.execute(update(AppSession).values(
            last_seen_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=29)))
    assert c.get("/app/").status_code == 200
    with session_scope(engine(world.url), write=False) as s:
        seen = s.scalar(select(AppSession.last_seen_at))
    assert dt.datetime.now(dt.UTC).replace(tzinfo=None) - seen < dt.timedelta(minutes=5)
    _stale(world.url, token_of(c))
    assert c.get("/app/").headers.get("location") == "/app/login"
    log_in(c, world.bob)
    with session_scope(engine(world.url)) as s:  # the coordinator gives Bob a new code
        coord = authenticate(s, world.coord)
        new_code(s, volunteer=s.get(Volunteer, world.vid(world.bob)), actor=coord)
    assert c.get("/app/").headers.get("location") == "/app/login"


# --- the work -------------------------------------------------------------------------------


def test_list_and_card_show_the_volunteers_own_tasks_and_log_the_showing(world, app):
    c = client(app, headers={"Accept-Language": "en"})
    log_in(c, world.bob)
    home = c.get("/app/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    for task in world.of(world.bob):
        assert f'href="/app/tasks/{task}"' in home.text
        assert world.names[world.tasks[task][1]] in home.text
    none_shown(home.text, contacts_of(world, [world.tasks[t][1] for t in world.of(world.bob)]),
               "the list (no contact details on it)")
    task = world.of(world.bob)[0]
    events = app_events(world.url)
    card = c.get(f"/app/tasks/{task}")
    assert card.status_code == 200
    member = world.tasks[task][1]
    phone = min(v for v in world.contacts[member] if v.startswith("555-1"))
    assert f'href="tel:{phone.replace("-", "")}"' in card.text, "the phone: tap to call"
    assert 'href="tel:555' in card.text.split("family", 1)[1], "so is the family contact"
    assert app_events(world.url) == events + 1, "the showing is in the access log (door app)"
    assert 'name="outcome" value="reached"' in card.text
    first_button = re.search(r'name="outcome" value="(\w+)"', card.text).group(1)
    assert first_button == "reached", "the usual done outcome first"
    for page in (home, card, client(app).get("/app/login"), c.get(f"/app/tasks/{task}/release"),
                 c.get("/app/logout"), c.get("/app/static/app.css"),
                 c.get("/app/static/app.js")):
        assert len(page.content) < PAGE_LIMIT
        if page.headers["content-type"].startswith("text/html"):
            assert "default-src 'self'" in page.headers["content-security-policy"]


def test_record_a_failed_attempt_once_per_key_and_a_survey_wrong_then_right(world, app):
    c = client(app)
    log_in(c, world.bob)
    task, survey = world.of(world.bob)[:2]
    form = form_of(c, task)
    sent = {**form, "outcome": "no_answer", "note": "rang twice"}
    r = c.post(f"/app/tasks/{task}/record", data=sent, headers=SAME)
    assert (r.status_code, r.headers["location"]) == (
        303, f"/app/?done={task}&outcome=no_answer")
    again = c.post(f"/app/tasks/{task}/record", data=sent, headers=SAME)  # the queue resends
    assert again.status_code == 303 and attempts(world.url, task) == 1
    # the card shown before that attempt, sent again as a new record: its count is old
    stale = {**form, "key": "another-key", "outcome": "no_answer"}
    r = c.post(f"/app/tasks/{task}/record", data=stale, headers=SAME)
    assert r.status_code == 409 and attempts(world.url, task) == 1
    # a survey: a wrong phone is said next to its field and at the top; nothing recorded
    form = form_of(c, survey)
    bad = {**form, **SURVEY, "a_phone": "call me", "outcome": "reached",
           "answers_for": "reached"}
    r = c.post(f"/app/tasks/{survey}/record", data=bad, headers=SAME)
    assert r.status_code == 422 and attempts(world.url, survey) == 0
    assert 'id="a_phone-error"' in r.text and 'href="#a_phone"' in r.text
    assert 'value="call me"' in r.text, "what was typed is kept"
    form = {n: hidden(r.text, n) for n in ("key", "csrf", "seen_attempts")}
    good = {**bad, **form, "a_phone": "555-7777"}
    r = c.post(f"/app/tasks/{survey}/record", data=good, headers=SAME)
    assert (r.status_code, r.headers["location"]) == (
        303, f"/app/?done={survey}&outcome=reached")
    assert attempts(world.url, survey) == 1
    # a missing required answer: asked for, nothing recorded
    third = world.of(world.bob)[2]
    form = form_of(c, third)
    r = c.post(f"/app/tasks/{third}/record", headers=SAME,
               data={**form, **SURVEY, "a_address": "", "outcome": "reached",
                     "answers_for": "reached"})
    assert r.status_code == 422 and 'id="a_address-error"' in r.text
    assert attempts(world.url, third) == 0


def test_someone_else_recording_meanwhile_is_told_on_the_card(world, app):
    """The page sends the attempts it showed: a coordinator's record in between makes it
    a conflict (409), shown at the top of the card, nothing written."""
    from outreach.tasks.access.permissions import authenticate
    from outreach.tasks.work.outcomes import record_outcome

    c = client(app)
    log_in(c, world.bob)
    task = world.of(world.bob)[0]
    form = form_of(c, task)
    with session_scope(engine(world.url)) as s:
        record_outcome(s, task_id=task, outcome="no_answer", actor=authenticate(s, world.coord))
    r = c.post(f"/app/tasks/{task}/record", headers=SAME,
               data={**form, "outcome": "no_answer"})
    assert r.status_code == 409 and 'class="summary"' in r.text
    assert attempts(world.url, task) == 1


def test_hand_back_and_check_as_typed(world, app):
    c = client(app)
    log_in(c, world.bob)
    task = world.of(world.bob)[0]
    page = c.get(f"/app/tasks/{task}/release")
    assert page.status_code == 200
    data = {n: hidden(page.text, n) for n in ("key", "csrf")}
    r = c.post(f"/app/tasks/{task}/release", data=data, headers=SAME)
    assert (r.status_code, r.headers["location"]) == (303, f"/app/?released={task}")
    assert c.post(f"/app/tasks/{task}/release", data=data, headers=SAME).status_code == 303
    with session_scope(engine(world.url), write=False) as s:
        t = s.get(OutreachTask, task)
        assert (str(t.status), t.volunteer_id) == ("open", None)
    assert c.get(f"/app/tasks/{task}").status_code == 403
    check = {"csrf": data["csrf"], "key": "phone"}
    assert c.post("/app/check", data={**check, "value": "call me"},
                  headers=SAME).json()["error"]
    assert c.post("/app/check", data={**check, "value": "555-1234"},
                  headers=SAME).json() == {"error": None}
    assert c.post("/app/check", data={**check, "key": "nope", "value": "1"},
                  headers=SAME).status_code == 400


def test_language_from_the_browser_and_the_switch_remembered(world, app):
    c = client(app, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = c.get("/app/login")
    assert 'lang="zh-CN"' in page.text[:200]
    log_in(c, world.bob)
    card = c.get(f"/app/tasks/{world.of(world.bob)[0]}")
    assert "已联系上" in card.text and "无人接听" in card.text, "outcome names as the CLI's"
    r = c.get("/app/?lang=en")
    assert 'lang="en"' in r.text[:200] and "reached" not in r.text
    assert "outreach_lang=en" in r.headers["set-cookie"]
    card = c.get(f"/app/tasks/{world.of(world.bob)[0]}")  # remembered over Accept-Language
    assert "已联系上" not in card.text and ">reached<" in card.text


def test_a_long_list_comes_in_pages(world, app, monkeypatch):
    """However many tasks a person holds, a page of the list stays small."""
    monkeypatch.setattr(outreach.service.pages, "PAGE_SIZE", 3)
    c = client(app)
    log_in(c, world.bob)
    mine = world.of(world.bob)
    first, second = c.get("/app/"), c.get("/app/?page=2")
    shown = [set(map(int, re.findall(r'href="/app/tasks/(\d+)"', p.text)))
             for p in (first, second)]
    assert len(shown[0]) == 3 and shown[0] | shown[1] == set(mine) and not shown[0] & shown[1]
    assert 'href="/app/?page=2"' in first.text and 'href="/app/?page=1"' in second.text
    assert c.get("/app/?page=99").status_code == 200


def link_form(c: TestClient, task: int) -> dict[str, str]:
    """The card's "share link" form: its own key and the session's token."""
    page = c.get(f"/app/tasks/{task}")
    form = page.text.split(f'action="/app/tasks/{task}/link"', 1)[1].split("</form>", 1)[0]
    return {n: hidden(form, n) for n in ("key", "csrf")}


def links(url: str) -> list[tuple[int, int]]:
    with session_scope(engine(url), write=False) as s:
        return s.execute(select(MemberLink.member_id, MemberLink.created_by)).all()


def test_a_volunteer_shares_a_link_of_their_own_tasks_member_only(world, app):
    """The card's "share link": a link of the task's member (as `outreach member link`),
    shown once with its share button, its address as text and its QR code (inline SVG),
    never kept by the browser; the same form again shows no address; another volunteer's
    task is refused and makes nothing."""
    from outreach.tasks.links.member_links import open_link

    c = client(app, headers={"Accept-Language": "en"})
    log_in(c, world.bob)
    task = world.of(world.bob)[0]
    member = world.tasks[task][1]
    form = link_form(c, task)
    r = c.post(f"/app/tasks/{task}/link", data=form, headers=SAME)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = re.search(r'data-url="[^"]*/m/([\w-]+)"', r.text).group(1)
    assert re.search(rf'class="linktext" id="link">[^<]*/m/{token}<', r.text)
    assert '<svg role="img" aria-label="QR code of the link"' in r.text
    assert world.names[member] in r.text and len(r.content) < PAGE_LIMIT
    none_shown(r.text, world.contacts[member], "the link page")
    with session_scope(engine(world.url), write=False) as s:
        assert open_link(s, token).member_id == s.get(OutreachTask, task).member_id
    assert links(world.url) == [(world.tasks[task][1], world.vid(world.bob))]
    again = c.post(f"/app/tasks/{task}/link", data=form, headers=SAME)  # a reload
    assert again.status_code == 200 and "/m/" not in again.text
    assert "made already" in again.text and len(links(world.url)) == 1
    # Cat, for one of Bob's tasks: refused, nothing made
    other = client(app)
    log_in(other, world.cat)
    own = link_form(other, world.of(world.cat)[0])
    r = other.post(f"/app/tasks/{task}/link", data={**own, "key": "cat-1"}, headers=SAME)
    assert r.status_code == 403 and "/m/" not in r.text and len(links(world.url)) == 1
