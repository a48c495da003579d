"""End-to-end fixtures: the real stack (`outreach stack up`'s own code) on a temporary
OUTREACH_HOME with a seeded SQLite ledger — one for the whole session, started by a
caller whose shell holds a coordinator's OUTREACH_TOKEN (none of the stack's processes
may see it) — and headless Debian Chromium driven by Playwright, allowed to reach
127.0.0.1 only, logging in to the locked UI with the stack's auth string.

Chromium (apt `chromium`) and Playwright (pip) are installed by `.ci/run`; elsewhere the
browser tests skip when either is missing (in CI they fail instead).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from outreach.db import migrate, session as db_session
from outreach.db.session import make_engine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LOCAL = ("http://127.0.0.1", "http://localhost", "data:", "blob:")
SCREENSHOTS = Path(__file__).parent / "screenshots"
TODAY = dt.date(2026, 11, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing_browser() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing (pip install playwright)"
    return None


@pytest.fixture(scope="session")
def browser():
    why = _missing_browser()
    if why:  # `make test-e2e` installs both; a missing browser is a failure, not a skip
        pytest.fail(why)
    from playwright.sync_api import sync_playwright

    global _PLAYWRIGHT
    with sync_playwright() as pw:
        _PLAYWRIGHT = pw
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
        _PLAYWRIGHT = None


#: The running Playwright (its device profiles), while the session's browser is open.
_PLAYWRIGHT = None
#: axe-core's browser build, from npm (`make test-e2e` runs `npm ci`).
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def _local_only(ctx) -> list[str]:
    refused: list[str] = []

    def route(r):
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    return refused


@pytest.fixture
def phone(browser):
    """``phone(lang)``: a new browser context as a phone (Playwright's "Pixel 5": its
    viewport, touch, mobile), asking for ``lang`` (``zh-CN`` / ``en``), reaching this machine
    only (``ctx.refused`` lists the rest). CSP is bypassed so that the tests can inject
    axe-core (`axe_violations`); the pages themselves run no inline script. Closed at
    teardown."""
    made = []

    def open_context(lang: str = "en"):
        ctx = browser.new_context(**_PLAYWRIGHT.devices["Pixel 5"], locale=lang,
                                  extra_http_headers={"Accept-Language": lang},
                                  bypass_csp=True)
        ctx.set_default_timeout(30_000)
        ctx.refused = _local_only(ctx)
        made.append(ctx)
        return ctx

    yield open_context
    for ctx in made:
        ctx.close()


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core run on the page as it is now (WCAG 2.1 A/AA and best practice): the
    violations of these impacts, as "id (n nodes): help"."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test-e2e does)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag', values:
        ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [f"{v['id']} ({len(v['nodes'])} nodes): {v['help']}"
            for v in result["violations"] if v["impact"] in impacts]


@pytest.fixture
def page(browser):
    """A page that reaches this machine only; every other request is refused and listed."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    refused: list[str] = []

    def route(r):
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    pg = ctx.new_page()
    pg.refused = refused
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """Save a screenshot under pytest's tmp dir and copy it to tests/e2e/screenshots/."""
    folder = tmp_path_factory.mktemp("screenshots")
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, SCREENSHOTS / path.name)
        return path

    return take


def _reset_engines() -> None:
    for eng in db_session._engines.values():
        eng.dispose()
    db_session._engines.clear()


@dataclass
class Running:
    """The session's stack, its ledger and the seeded coordinators' access codes."""

    stack: object
    eng: object
    codes: dict[int, str]  # coordinator id → access code
    env: dict[str, str]    # OUTREACH_HOME and OUTREACH_DATABASE_URL of this ledger

    def __iter__(self):  # `stack, eng = sqlite_stack`
        return iter((self.stack, self.eng))


@pytest.fixture(scope="session")
def sqlite_stack(tmp_path_factory):
    """`outreach stack up` on a fresh home with a seeded ledger; `down` at the end. The
    caller's shell holds the first coordinator's OUTREACH_TOKEN."""
    from outreach.cli import stack
    from outreach.seed.generate import seed_ledger

    home = tmp_path_factory.mktemp("stack-home")
    url = f"sqlite:///{home / 'outreach.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTREACH_HOME", str(home))
        mp.setenv("OUTREACH_DATABASE_URL", url)
        _reset_engines()
        eng = make_engine(url)
        migrate.upgrade(eng)                                    # `outreach db upgrade`
        res = seed_ledger(eng, members=2000, seed=11, today=TODAY)
        codes = {c[0]: c[4] for c in res.codes if c[2] == "coordinator"}
        mp.setenv("OUTREACH_TOKEN", codes[min(codes)])
        try:
            started = stack.up(port=free_port(), workers=1, timeout=240,
                               service_port=free_port())
            yield Running(started, eng, codes,
                          {"OUTREACH_HOME": str(home), "OUTREACH_DATABASE_URL": url})
        finally:
            stack.down()
            eng.dispose()
            _reset_engines()


def login(page, url: str, auth: str) -> None:
    """The locked UI asks for the stack's auth string before anything else."""
    page.goto(url + "/")
    box = page.get_by_placeholder("admin:pass")
    deployments = page.get_by_role("link", name="Deployments").first
    box.or_(deployments).first.wait_for()
    if box.is_visible():  # not yet logged in in this browser context
        box.fill(auth)
        page.get_by_role("button", name="Login").click()
    deployments.wait_for()


def open_submitted_run(page, stack, timeout: float = 120) -> str:
    """Submit the custom-run form and open the run it made; its flow-run id. A person
    follows the toast's "View run"; on a loaded machine (CI runs the PostgreSQL suite on
    the other core) the toast can come and go between two looks, so the run is also found
    through the API by the name the form gave it, and opened by its address."""
    import json
    import time
    import urllib.request

    from outreach.cli.stack import auth_string, basic

    box = page.get_by_role("textbox", name="Run Name")
    name = box.input_value(timeout=5000) if box.count() else None
    page.get_by_role("button", name="Submit").click()
    view = page.get_by_role("link", name="View run")
    deadline = time.monotonic() + timeout
    while True:
        if view.count():
            href = view.last.get_attribute("href", timeout=5000)
            if href:
                view.last.click()
                return href.rstrip("/").rsplit("/", 1)[-1]
        if name:
            req = urllib.request.Request(
                f"{stack.api_url}/flow_runs/filter", method="POST",
                data=json.dumps({"flow_runs": {"name": {"any_": [name]}}}).encode(),
                headers={"Authorization": basic(auth_string()),
                         "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                runs = json.loads(resp.read())
            if runs:
                page.goto(f"{stack.url}/runs/flow-run/{runs[0]['id']}")
                return runs[0]["id"]
        assert time.monotonic() < deadline, f"the form made no run in {timeout:.0f} s"
        page.wait_for_timeout(1000)
