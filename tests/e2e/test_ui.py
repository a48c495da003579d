"""A coordinator starts a phone-visit campaign from the Prefect UI, in a real browser.

The stack is the one `outreach stack up` starts; the browser is headless Chromium; the
form is filled by roles and labels only. What the run did is checked against our own
database, with the targeting rule computed here independently in SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.conftest import TODAY, login, open_submitted_run
from tests.reliability.leaks import Details, files_under, scan_files

pytestmark = pytest.mark.e2e
PERIOD = f"{TODAY:%Y-%m}"
#: Chosen in the form's "not_reached_within" dropdown (the flow's default is 30).
CADENCE = 60
CONTACTABLE = ("unverified", "active", "unreachable")


def branch_to_plan(eng) -> str:
    """A district with members living away (the largest one): the coordinator's branch."""
    with eng.connect() as conn:
        return conn.execute(text("""
            SELECT b.name FROM branches b JOIN members m ON m.branch_id = b.id
            WHERE b.kind = 'geographic' AND m.residence = 'away'
            GROUP BY b.id, b.name ORDER BY COUNT(*) DESC, b.name LIMIT 1""")).scalar_one()


def expected_members(eng, branch: str, today: dt.date) -> set[int]:
    """The phone-visit rule, written again: living away, contactable, not reached in CADENCE
    days, in the branch or below it, and without an open phone visit already."""
    with eng.connect() as conn:
        rows = conn.execute(text(f"""
            WITH RECURSIVE subtree (id) AS (
                SELECT id FROM branches WHERE name = :branch
                UNION ALL
                SELECT b.id FROM branches b JOIN subtree s ON b.parent_id = s.id)
            SELECT m.id FROM members m
            WHERE m.branch_id IN (SELECT id FROM subtree)
              AND m.residence = 'away'
              AND m.status IN ({", ".join(f"'{s}'" for s in CONTACTABLE)})
              AND (m.last_reached_on IS NULL OR m.last_reached_on < :since)
              AND NOT EXISTS (SELECT 1 FROM outreach_tasks t WHERE t.member_id = m.id
                              AND t.kind = 'phone_visit' AND t.status IN ('open', 'assigned'))
            """), {"branch": branch, "since": today - dt.timedelta(days=CADENCE)}).scalars()
        return set(rows)


def planned_members(eng, period: str) -> list[int]:
    with eng.connect() as conn:
        return list(conn.execute(text("""
            SELECT t.member_id FROM outreach_tasks t
            JOIN campaign_runs r ON r.id = t.run_id JOIN campaigns c ON c.id = r.campaign_id
            WHERE c.kind = 'phone_visit' AND r.period = :period"""),
                                 {"period": period}).scalars())


def all_tasks(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM outreach_tasks")).scalar_one()


def artifact_key(*parts: str) -> str:
    """flows.common.key, written again: lowercase, anything else a dash."""
    raw = "-".join(parts)
    return "".join(c if c.isalnum() else "-" for c in raw.lower()).strip("-")


def typed_parameters(api_url: str, deployment: str) -> dict:
    """The deployment's parameter schema, as the UI reads it (with the auth string)."""
    from outreach.cli.stack import auth_string, basic

    req = urllib.request.Request(f"{api_url}/deployments/name/{deployment}",
                                 headers={"Authorization": basic(auth_string())})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["parameter_openapi_schema"]["properties"]


def open_custom_run(page, url: str, deployment: str = "phone-visit") -> None:
    from outreach.cli.stack import auth_string

    login(page, url, auth_string())
    page.get_by_role("link", name="Deployments").first.click()
    # The deployment's link, not the flow's of the same name beside it.
    page.locator('a[href*="/deployments/deployment/"]').filter(
        has_text=re.compile(rf"^{re.escape(deployment)}$")).first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Custom run").click()
    page.get_by_role("heading", name="Parameters").wait_for()


def fill_form(page, *, period: str, branch: str, today: dt.date, props: dict) -> None:
    """Period and branch are plain text boxes, today a date picker."""
    page.get_by_role("spinbutton", name=re.compile("batch_size")).wait_for()
    page.get_by_role("textbox", name="period (Optional)", exact=True).fill(period)
    page.get_by_role("textbox", name="branch (Optional)", exact=True).fill(branch)
    page.get_by_role("tab", name="date", exact=True).click()
    page.get_by_role("button", name="Pick a date").click()
    page.get_by_role("textbox", name="Date (yyyy-MM-dd)").fill(today.isoformat())
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    picked = f"{today:%B} {today.day}"
    page.get_by_role("tabpanel", name="date").get_by_role(
        "button", name=re.compile(rf"^{picked}\w\w, {today.year}$")).wait_for()
    # Typed parameters get typed widgets, not a raw JSON box.
    assert page.get_by_role("spinbutton", name=re.compile("batch_size")).is_visible()
    assert page.get_by_role("switch", name=re.compile("dry_run")).is_visible()
    assert page.get_by_role("textbox", name=re.compile("json", re.I)).count() == 0
    for name, schema in props.items():  # a Literal / Enum parameter is a dropdown
        if "enum" in json.dumps(schema):
            assert page.get_by_role("button", name=f"Select {name}").count() >= 1, name
    # The coordinator picks the cadence from its dropdown.
    page.get_by_role("button", name="Select not_reached_within").click()
    page.get_by_role("option", name=str(CADENCE), exact=True).click()
    assert page.get_by_role("button", name="Select not_reached_within").inner_text().strip() \
        == str(CADENCE)


def submit_and_wait(page, stack, shots, name: str, artifact: str) -> str:
    """Submit the form, follow the toast to the run, wait until the UI shows Completed
    and the run's ``artifact`` in its Artifacts tab; then take the screenshot."""
    flow_run_id = open_submitted_run(page, stack)
    header = page.get_by_role("main")
    deadline = time.monotonic() + 150
    while not header.get_by_text("Completed", exact=True).first.is_visible():
        assert not header.get_by_text(re.compile(r"^(Failed|Crashed|Cancelled)$")).count(), \
            "the run did not complete"
        assert time.monotonic() < deadline, "the run did not complete in 150 s"
        page.wait_for_timeout(1000)
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text(artifact).first.wait_for()
    shots(page, name)
    return flow_run_id


def test_coordinator_starts_phone_visits_from_the_ui(sqlite_stack, page, shots):
    stack, eng = sqlite_stack
    branch = branch_to_plan(eng)
    want = expected_members(eng, branch, TODAY)
    assert want, "the seeded ledger has members to call in that branch"
    props = typed_parameters(stack.api_url, "phone-visit/phone-visit")
    assert {"period", "branch", "today"} <= set(props)

    t0 = time.monotonic()
    open_custom_run(page, stack.url)
    fill_form(page, period=PERIOD, branch=branch, today=TODAY, props=props)
    shots(page, "1-parameter-form")
    # The run's summary artifact must show in the UI (its key names the branch).
    slug = artifact_key("phone-visit", PERIOD, branch)
    submit_and_wait(page, stack, shots, "2-completed-run", f"{slug}-summary")
    first_run_s = time.monotonic() - t0

    got = planned_members(eng, PERIOD)
    assert len(got) == len(set(got)), "one task per member"
    assert set(got) == want

    # The same period again, from the UI: nothing new.
    before = all_tasks(eng)
    open_custom_run(page, stack.url)
    fill_form(page, period=PERIOD, branch=branch, today=TODAY, props=props)
    submit_and_wait(page, stack, shots, "3-completed-rerun", f"{slug}-summary")
    assert all_tasks(eng) == before
    assert sorted(planned_members(eng, PERIOD)) == sorted(got)

    assert all(not u.startswith(("http://127.0.0.1", "http://localhost"))
               for u in page.refused)
    # Privacy: no member's contact details in the Prefect database, its home or the
    # stack's logs (server, worker) after these UI-triggered runs.
    details = Details.of(eng)
    assert details.count > 1000
    files = files_under(Path(stack.home))
    assert any(f.name == "prefect.db" for f in files)
    assert scan_files(details, files) == {}
    print(f"\ne2e timings: stack {stack.timings}, first UI run {first_run_s:.1f} s")
