"""Prefect in Chinese: the forms (parameter schemas), the deployments' texts and schedules
(the localised prefect.yaml `outreach stack up` deploys from), and the artifacts of real
flow runs; and the organisation's time zone.

The schemas are built as ``prefect deploy`` builds them — import the flow of each
entrypoint of prefect.yaml in a fresh process with ``OUTREACH_LANG`` set, then
`prefect.utilities.callables.parameter_schema` — because the titles are fixed at import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from outreach import i18n
from outreach.db import settings
from outreach.db.errors import BadInput
from outreach.flows import deployfile

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 3)
HAN = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"`[^`]*`")
WORD = re.compile(r"[A-Za-z][A-Za-z_]*")
#: What stays as it is in Chinese text: formats, codes people pick or type, names.
KEPT = {"YYYY", "MM", "Qn", "CSV", "task_id", "outcome", "note", "answers", "assembly",
        "committee", "group", "lecture", "theme_day", "none", "phone", "video", "Prefect",
        "outreach", "scorecard", "red", "meeting", "PostgreSQL", "SQLite", "Q"}
#: Deployments no person starts (their runs start them): no form to read.
INTERNAL = {"campaign-shard"}


def chinese(text: str) -> bool:
    """Chinese text: Han characters, and no English word outside `code` spans besides the
    formats and codes people type (`KEPT`)."""
    rest = CODE.sub("", text)
    return bool(HAN.search(text)) and not set(WORD.findall(rest)) - KEPT


def schemas(lang: str) -> dict[str, dict]:
    """Every deployment's parameter schema as `prefect deploy` makes it in ``lang``."""
    code = (
        "import json, yaml\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        "from prefect.utilities.callables import parameter_schema\n"
        "out = {}\n"
        "for d in yaml.safe_load(open('prefect.yaml'))['deployments']:\n"
        "    flow = load_flow_from_entrypoint(d['entrypoint'])\n"
        "    out[d['name']] = parameter_schema(flow).model_dump()\n"
        "print(json.dumps(out))\n")
    env = {**os.environ, "OUTREACH_LANG": lang, "PREFECT_LOGGING_LEVEL": "ERROR"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the forms -------------------------------------------------------------------------------


def test_the_forms_are_chinese_when_deployed_in_chinese():
    zh = schemas("zh_CN")
    assert {"survey", "phone-visit", "delivery", "plan-meeting", "record-outcomes"} <= set(zh)
    for name, schema in zh.items():
        if name in INTERNAL:
            continue
        for param, prop in schema["properties"].items():
            assert chinese(prop["title"]), (name, param, prop["title"])
            assert chinese(prop.get("description", "")), (name, param, prop.get("description"))
    phone = zh["phone-visit"]["properties"]
    assert phone["period"]["title"] == i18n.translations("zh_CN").gettext("Period (YYYY-MM)")
    # The form keeps what makes it a form: order, types, dropdowns, limits, defaults.
    assert [p["position"] for p in phone.values()] == list(range(len(phone)))
    assert phone["not_reached_within"]["enum"] and phone["batch_size"]["minimum"] >= 1
    assert zh["delivery"]["properties"]["material"]["default"] == \
        i18n.translations("zh_CN").gettext("Monthly study materials")
    assert zh["plan-meeting"]["properties"]["ticket"]["writeOnly"] is True


def test_english_forms_are_as_before():
    en = schemas("en")
    phone = en["phone-visit"]["properties"]
    # Prefect's own titles (the parameters' names) and the docstrings' help texts: the
    # browser test (tests/e2e/test_ui.py) finds the fields by these names.
    assert all(prop["title"] == param for param, prop in phone.items())
    assert phone["period"]["description"].startswith("The month this run covers")
    assert en["delivery"]["properties"]["material"]["default"] == "Monthly study materials"


# --- the deployments' texts and schedules ----------------------------------------------------


def test_every_text_of_prefect_yaml_is_in_the_catalog_list():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    missing = [t for t in deployfile.texts(config) if t not in deployfile.TEXTS]
    assert not missing, f"add to flows/deployfile.py TEXTS: {missing}"
    assert all(d.get("description") for d in config["deployments"])


def test_the_deploy_file_in_chinese(tmp_path):
    with i18n.language("zh_CN"):
        path = deployfile.write(ROOT / "prefect.yaml", tmp_path / "prefect.yaml",
                                timezone=settings.timezone({"OUTREACH_LANG": "zh_CN"}))
    zh = yaml.safe_load(path.read_text(encoding="utf-8"))
    en = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert [d["name"] for d in zh["deployments"]] == [d["name"] for d in en["deployments"]]
    assert [d["entrypoint"] for d in zh["deployments"]] == \
        [d["entrypoint"] for d in en["deployments"]]
    for d in zh["deployments"]:
        assert chinese(d["description"]), d["name"]
        for t in d.get("triggers") or []:
            assert chinese(t["name"]) and chinese(t["description"])
            assert t["match_related"] == next(
                x for x in en["deployments"] if x["name"] == d["name"])["triggers"][0][
                    "match_related"]  # what it matches stays: names of deployments
        for s in d.get("schedules") or []:
            assert s["timezone"] == "Asia/Shanghai"
    delivery = next(d for d in zh["deployments"] if d["name"] == "delivery")
    assert chinese(delivery["parameters"]["material"])
    # What Prefect does with the copy: the same deployments, pull step and pool.
    assert zh["pull"] == en["pull"]
    assert {d["work_pool"]["name"] for d in zh["deployments"]} == {"outreach"}


def test_the_deploy_file_in_english_is_the_original(tmp_path):
    with i18n.language("en"):
        path = deployfile.write(ROOT / "prefect.yaml", tmp_path / "prefect.yaml",
                                timezone=settings.timezone({}))
    got = yaml.safe_load(path.read_text(encoding="utf-8"))
    want = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert got == want


def test_the_stack_deploys_the_localised_copy_with_language_and_zone(tmp_path, monkeypatch):
    from outreach.cli import stack

    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    monkeypatch.setenv("OUTREACH_LANG", "zh_CN")
    monkeypatch.delenv("OUTREACH_TIMEZONE", raising=False)
    st = stack.Stack(port=4999, url="http://127.0.0.1:4999", home=str(tmp_path),
                     ledger="sqlite:///x.db")
    env = stack.environment(st, None, "outreach:x")
    assert env["OUTREACH_LANG"] == "zh_CN" and env["OUTREACH_TIMEZONE"] == "Asia/Shanghai"
    path = stack.deploy_file(tmp_path, env)
    assert path == tmp_path / "prefect.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert chinese(config["deployments"][0]["description"])

    monkeypatch.setenv("OUTREACH_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("OUTREACH_LANG", "en")
    env = stack.environment(st, None, "outreach:x")
    assert env["OUTREACH_LANG"] == "en" and env["OUTREACH_TIMEZONE"] == "Europe/Berlin"
    config = yaml.safe_load(stack.deploy_file(tmp_path, env).read_text(encoding="utf-8"))
    assert {s["timezone"] for d in config["deployments"] for s in d.get("schedules") or []} \
        == {"Europe/Berlin"}


# --- the organisation's time zone ------------------------------------------------------------


def test_the_time_zone_rule():
    assert settings.timezone({}) == "America/New_York"
    assert settings.timezone({"OUTREACH_LANG": "zh_CN"}) == "Asia/Shanghai"
    assert settings.timezone({"LANG": "zh_CN.UTF-8"}) == "Asia/Shanghai"
    assert settings.timezone({"OUTREACH_LANG": "en", "LANG": "zh_CN.UTF-8"}) == \
        "America/New_York"
    assert settings.timezone({"OUTREACH_LANG": "zh_CN",
                              "OUTREACH_TIMEZONE": "Asia/Urumqi"}) == "Asia/Urumqi"
    with pytest.raises(BadInput, match="not a time zone"):
        settings.timezone({"OUTREACH_TIMEZONE": "Mars/Olympus"})


def test_today_is_the_organisations(monkeypatch):
    from zoneinfo import ZoneInfo

    for zone in ("Asia/Shanghai", "America/New_York", "Pacific/Kiritimati"):
        monkeypatch.setenv("OUTREACH_TIMEZONE", zone)
        before = dt.datetime.now(ZoneInfo(zone)).date()
        assert settings.today() in (before, before + dt.timedelta(days=1))
    # Kiritimati (UTC+14) and Pago Pago (UTC-11) are never on the same day.
    monkeypatch.setenv("OUTREACH_TIMEZONE", "Pacific/Kiritimati")
    east = settings.today()
    monkeypatch.setenv("OUTREACH_TIMEZONE", "Pacific/Pago_Pago")
    assert settings.today() < east


# --- artifacts of real flow runs ---------------------------------------------------------------


@pytest.fixture
def in_chinese():
    before = i18n.current()
    i18n.use("zh_CN")
    try:
        yield
    finally:
        i18n.use(before)


@pytest.mark.prefect
def test_flow_runs_write_chinese_artifacts(db_url, prefect_harness, in_chinese):
    from outreach.db.session import make_engine
    from outreach.flows.campaigns import phone_visit, survey
    from outreach.flows.care import care
    from outreach.flows.followup import follow_up
    from outreach.flows.meetings import organisational_life
    from outreach.flows.reports import coverage_report
    from outreach.flows.scorecard import scorecard
    from outreach.seed.generate import seed_ledger
    from tests.flows.test_flows import artifacts, contact_strings

    eng = make_engine(db_url)
    try:
        seed_ledger(eng, members=600, volunteers=20, seed=3, locale="zh_CN", today=TODAY)
        with eng.connect() as conn:
            branch = conn.exec_driver_sql(
                "SELECT name FROM branches WHERE kind = 'geographic' ORDER BY id").scalar()
        runs = [
            survey(today=TODAY, dry_run=True, return_state=True),
            # A Chinese branch name in the artifact keys (ASCII only in Prefect).
            phone_visit(today=TODAY, branch=branch, return_state=True),
            phone_visit(today=TODAY, return_state=True),
            care(today=TODAY, return_state=True),
            follow_up(today=TODAY + dt.timedelta(days=20), return_state=True),
            coverage_report(today=TODAY, return_state=True),
            scorecard(today=TODAY, return_state=True),
            organisational_life(today=TODAY, return_state=True),
        ]
        assert all(r.is_completed() for r in runs)
        arts = [a for r in runs for a in artifacts(r.state_details.flow_run_id)]
        secrets = contact_strings(eng)
    finally:
        eng.dispose()
    assert all(re.fullmatch(r"[a-z0-9-]+", a.key) for a in arts)
    assert len({a.key for a in arts if a.key.startswith("phone-visit")}) == 4
    kinds = {a.type for a in arts}
    assert {"markdown", "table", "progress"} <= kinds, kinds
    for a in arts:
        assert chinese(a.description or ""), (a.key, a.description)
        if a.type == "markdown":
            assert HAN.search(a.data), a.key
        if a.type == "table":
            rows = json.loads(a.data) if isinstance(a.data, str) else a.data
            assert rows
            for header in rows[0]:
                assert chinese(header), (a.key, header)
    text = "\n".join(str(a.data) for a in arts)
    assert not [s for s in secrets if len(s) > 5 and s in text]
    # The same words a coordinator reads in the glossary.
    assert "电话走访" in " ".join(a.description for a in arts)
