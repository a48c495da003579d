"""The volunteer's phone pages (issue 26) in real Chromium as a phone (Playwright's
"Pixel 5": its viewport, touch), in Chinese and in English: log in, the list, a task card
with its tap-to-call link, a failed attempt, a survey answered with a wrong then a right
value, the member's link shared (the share sheet, else a copy), hand a task back, log out —
every page checked by axe-core (no serious or critical violation) and photographed into
tests/e2e/screenshots/. Offline: an outcome recorded with
no network is kept on the phone ("1 条待发送"), the page closed, opened again online: the
ledger has it exactly once, also when the phone sends it twice.

The ledger is the access suite's small world (Bob and Cat, survey tasks), served by the
ledger service in a thread of this process.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import func, select

from outreach import i18n
from outreach.db.models import Attempt, OutreachTask
from outreach.db.session import engine, session_scope
from tests.e2e.conftest import axe_violations
from tests.reliability.test_access import world, world_image  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e
LANGS = {"zh": "zh-CN", "en": "en"}


@pytest.fixture(scope="module", autouse=True)
def chinese():
    """The compiled catalog must speak the phone pages' Chinese (`make translations`)."""
    probe = "{n} waiting to be sent"
    if i18n.translations("zh_CN").gettext(probe) == probe:
        pytest.fail("the catalog has no Chinese for the phone pages: run make translations")


@pytest.fixture
def svc(world):
    from tests.service.conftest import Running

    running = Running(world.url)
    yield running
    running.stop()


def words(lang: str):
    """The page's words in ``lang`` (the catalog's)."""
    cat = i18n.translations("zh_CN" if lang == "zh" else "en")
    return cat.gettext


def attempts(url: str, task: int) -> list[str]:
    with session_scope(engine(url), write=False) as s:
        return [str(o) for o in s.scalars(select(Attempt.outcome)
                                          .where(Attempt.task_id == task))]


def wait_for(predicate, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("not in time")
        time.sleep(0.1)


def accessible(page, what: str) -> None:
    found = axe_violations(page)
    assert found == [], f"{what}: {found}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_volunteers_round_on_the_phone(world, svc, phone, shots, lang):
    T = words(lang)
    done = {"zh": "已联系上", "en": "reached"}[lang]          # PRODUCT.md / the CLI's names
    no_answer = {"zh": "无人接听", "en": "no answer"}[lang]
    ctx = phone(LANGS[lang])
    page = ctx.new_page()
    page.goto(svc.url + "/app/")
    page.wait_for_url("**/app/login")
    assert page.locator("html").get_attribute("lang") == LANGS[lang]
    shots(page, f"pages-{lang}-1-login")
    accessible(page, "login")
    page.get_by_label(T("Your access code")).fill(world.bob)
    page.get_by_role("button", name=T("Log in"), exact=True).tap()
    page.wait_for_url("**/app/")
    first, survey = world.of(world.bob)[:2]
    name = world.names[world.tasks[first][1]]
    page.get_by_role("heading", name=T("My tasks")).wait_for()
    shots(page, f"pages-{lang}-2-list")
    accessible(page, "list")

    # the card: tap to call, then a failed attempt
    page.get_by_role("link", name=re.compile(re.escape(name))).tap()
    page.wait_for_url(f"**/app/tasks/{first}")
    assert page.locator('a[href^="tel:"]').count() >= 2, "the member's and the family's"
    assert page.locator(".button.call").first.get_attribute("href").startswith("tel:")
    shots(page, f"pages-{lang}-3-card")
    accessible(page, "card")
    page.get_by_role("button", name=no_answer, exact=True).tap()
    page.wait_for_url("**/app/?done=*")
    assert attempts(world.url, first) == ["no_answer"]
    page.locator(".banner").wait_for()
    shots(page, f"pages-{lang}-4-recorded")
    accessible(page, "list with its banner")

    # a survey: a wrong phone said while typed and by the server, then the right one
    page.goto(f"{svc.url}/app/tasks/{survey}")
    field = page.locator("#a_phone")
    field.fill("call me")
    page.locator("#a_phone-live").wait_for(state="visible")
    page.get_by_role("button", name=done, exact=True).tap()
    page.locator(".summary").wait_for()
    assert page.locator("#a_phone-error").is_visible()
    assert attempts(world.url, survey) == []
    shots(page, f"pages-{lang}-5-survey-error")
    accessible(page, "card with errors")
    page.locator("#a_phone").fill("555-7777")
    page.locator("#a_phone-live").wait_for(state="hidden")
    page.get_by_role("button", name=done, exact=True).tap()
    page.wait_for_url("**/app/?done=*")
    assert attempts(world.url, survey) == ["reached"]

    # the member's own link: the share sheet (a stand-in here, which refuses: the copy is
    # tried next), the address as text, its QR code
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=svc.url)
    ctx.add_init_script("""navigator.share = function (data) { window.shared = data;
        return Promise.reject(new DOMException("no sheet", "NotAllowedError")); };""")
    page.goto(f"{svc.url}/app/tasks/{first}")
    page.get_by_role("button", name=T("Share the member's link")).tap()
    page.wait_for_url(f"**/app/tasks/{first}/link")
    link = page.locator("#link").inner_text().strip()
    assert "/m/" in link and page.locator(".qr svg").is_visible()
    page.get_by_role("button", name=T("Share the link")).tap()
    page.locator("#share-status").wait_for()
    assert page.evaluate("() => window.shared.url") == link
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    shots(page, f"pages-{lang}-3b-link")
    accessible(page, "the member's link")

    # hand the first one back
    page.goto(f"{svc.url}/app/tasks/{first}")
    page.get_by_role("link", name=T("Hand it back")).tap()
    page.wait_for_url(f"**/app/tasks/{first}/release")
    shots(page, f"pages-{lang}-6-hand-back")
    accessible(page, "hand back")
    page.get_by_role("button", name=T("Yes, hand it back")).tap()
    page.wait_for_url("**/app/?released=*")
    with session_scope(engine(world.url), write=False) as s:
        t = s.get(OutreachTask, first)
        assert (str(t.status), t.volunteer_id) == ("open", None)

    # log out
    page.get_by_role("button", name=T("Log out")).tap()
    page.wait_for_url("**/app/login?bye=1")
    shots(page, f"pages-{lang}-7-logged-out")
    accessible(page, "logged out")
    page.goto(svc.url + "/app/")
    page.wait_for_url("**/app/login")
    assert ctx.refused == [], "nothing from the internet"


def test_an_outcome_recorded_offline_is_sent_once_when_the_network_returns(world, svc,
                                                                           phone, shots):
    ctx = phone("zh-CN")
    page = ctx.new_page()
    page.goto(svc.url + "/app/login")
    page.get_by_label(words("zh")("Your access code")).fill(world.cat)
    page.get_by_role("button", name=words("zh")("Log in"), exact=True).tap()
    page.wait_for_url("**/app/")
    task = world.of(world.cat)[0]
    page.goto(f"{svc.url}/app/tasks/{task}")
    ctx.set_offline(True)
    page.get_by_role("button", name="无人接听", exact=True).tap()
    queue = page.locator("#queue")
    queue.wait_for(state="visible")
    assert "1 条待发送" in queue.inner_text()
    shots(page, "pages-zh-8-offline")
    accessible(page, "card, offline")
    kept = page.evaluate("() => localStorage.getItem('outreach.queue.v1')")
    assert len(json.loads(kept)) == 1
    page.close()
    assert attempts(world.url, task) == [], "nothing reached the ledger"

    ctx.set_offline(False)
    again = ctx.new_page()
    again.goto(svc.url + "/app/")
    wait_for(lambda: attempts(world.url, task) == ["no_answer"])
    again.wait_for_function("() => localStorage.getItem('outreach.queue.v1') === '[]'")
    # the phone sends it once more (its answer lost on the way): still one attempt
    again.evaluate("(kept) => localStorage.setItem('outreach.queue.v1', kept)", kept)
    again.goto(svc.url + "/app/")
    again.wait_for_function("() => localStorage.getItem('outreach.queue.v1') === '[]'")
    assert attempts(world.url, task) == ["no_answer"], "recorded exactly once"
    again.locator("#queue").wait_for(state="hidden")
    shots(again, "pages-zh-9-sent")
    assert ctx.refused == []
