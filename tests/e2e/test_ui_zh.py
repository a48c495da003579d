"""The browser test once in Chinese: `outreach stack up` with ``OUTREACH_LANG=zh_CN`` on a
Chinese ledger; a coordinator opens the phone-visit form, which shows the Chinese titles
and help texts, fills it, the run completes, and its artifact is Chinese. The deployments'
descriptions are Chinese and their schedules run on Beijing time. (The Prefect UI's own
words — "Run", "Custom run", "Completed" — stay English: it cannot be localised.)
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.request

import pytest
from sqlalchemy import text

from outreach import i18n
from tests.e2e.conftest import TODAY, _reset_engines, free_port, login, open_submitted_run
from tests.e2e.test_ui import artifact_key, branch_to_plan, open_custom_run, planned_members

pytestmark = pytest.mark.e2e
PERIOD = f"{TODAY:%Y-%m}"
HAN = re.compile(r"[\u4e00-\u9fff]")


def zh(message: str) -> str:
    return i18n.translations("zh_CN").gettext(message)


@pytest.fixture(scope="module")
def zh_stack(tmp_path_factory):
    """A second stack, in Chinese, on its own home and Chinese ledger (module-wide)."""
    from outreach.cli import stack
    from outreach.db import migrate
    from outreach.db.session import make_engine
    from outreach.seed.generate import seed_ledger

    home = tmp_path_factory.mktemp("stack-home-zh")
    url = f"sqlite:///{home / 'outreach.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTREACH_HOME", str(home))
        mp.setenv("OUTREACH_DATABASE_URL", url)
        mp.setenv("OUTREACH_LANG", "zh_CN")
        mp.delenv("OUTREACH_TIMEZONE", raising=False)
        mp.delenv("OUTREACH_TOKEN", raising=False)
        _reset_engines()
        eng = make_engine(url)
        migrate.upgrade(eng)
        seed_ledger(eng, members=1500, seed=12, locale="zh_CN", today=TODAY, care=False)
        try:
            t0 = time.monotonic()
            started = stack.up(port=free_port(), workers=1, timeout=240,
                               service_port=free_port())
            started.timings["up_s"] = round(time.monotonic() - t0, 1)
            yield started, eng
        finally:
            stack.down()
            eng.dispose()
            _reset_engines()


def api(stack, path: str, body: dict | None = None):
    from outreach.cli.stack import auth_string, basic

    req = urllib.request.Request(
        f"{stack.api_url}{path}", data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"Authorization": basic(auth_string()), "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_a_coordinator_plans_phone_visits_in_chinese(zh_stack, page, shots):
    stack, eng = zh_stack
    t0 = time.monotonic()
    # Deployed in Chinese: descriptions, form, Beijing time.
    dep = api(stack, "/deployments/name/phone-visit/phone-visit")
    assert dep["description"] == zh("Monthly phone visits to members living away who were "
                                    "not reached in the last 30 days.")
    assert HAN.search(dep["description"])
    assert {s["schedule"]["timezone"] for s in dep["schedules"]} == {"Asia/Shanghai"}
    props = dep["parameter_openapi_schema"]["properties"]
    assert all(HAN.search(p["title"]) for p in props.values())
    period_title, branch_title = props["period"]["title"], props["branch"]["title"]
    assert period_title == zh("Period (YYYY-MM)") and branch_title == zh("Branch")

    branch = branch_to_plan(eng)
    assert HAN.search(branch)
    open_custom_run(page, stack.url)
    # The form: Chinese titles and help texts (Prefect's own words stay English).
    page.get_by_text(props["not_reached_within"]["title"]).first.wait_for()
    page.get_by_text(props["period"]["description"]).first.wait_for()
    page.get_by_role("textbox", name=re.compile("^" + re.escape(period_title))).fill(PERIOD)
    page.get_by_role("textbox", name=re.compile("^" + re.escape(branch_title))).fill(branch)
    shots(page, "zh-1-parameter-form")

    flow_run_id = open_submitted_run(page, stack)
    main = page.get_by_role("main")
    deadline = time.monotonic() + 120
    while not main.get_by_text("Completed", exact=True).first.is_visible():
        assert not main.get_by_text(re.compile(r"^(Failed|Crashed|Cancelled)$")).count(), \
            "the run did not complete"
        assert time.monotonic() < deadline, "the run did not complete in 120 s"
        page.wait_for_timeout(1000)
    page.get_by_role("tab", name="Artifacts").click()
    # flows.common.key, written again: a Chinese branch name is "u" + 8 hex of its SHA-1.
    slug = artifact_key("phone-visit", PERIOD,
                        "u" + hashlib.sha1(branch.encode()).hexdigest()[:8])
    page.get_by_text(f"{slug}-summary").first.wait_for()
    shots(page, "zh-2-completed-run")

    # The run planned the branch's members; its artifacts are Chinese.
    assert planned_members(eng, PERIOD)
    arts = api(stack, "/artifacts/filter",
               {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    summary = next(a for a in arts if a["key"] == f"{slug}-summary")
    assert summary["description"].startswith(zh("phone visit"))
    assert HAN.search(summary["description"])
    rows = summary["data"] if isinstance(summary["data"], list) else json.loads(summary["data"])
    assert rows and all(HAN.search(h) for h in rows[0])
    assert branch in {str(v) for r in rows for v in r.values()}
    # The artifact in the UI: its Chinese table, opened from the run's Artifacts tab.
    page.get_by_text(f"{slug}-summary").first.click()
    page.get_by_text(zh("targeted")).first.wait_for()
    shots(page, "zh-3-artifact")
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM campaign_runs")).scalar_one() == 1
    print(f"\ne2e (Chinese) timings: stack {stack.timings}, "
          f"UI run {time.monotonic() - t0:.1f} s")
