"""The coordinator's campaign commands, through Prefect, in-process (CliRunner)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from outreach.db.models import OutreachTask
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from tests.cli.helpers import outreach

TODAY = dt.date(2026, 11, 6)
pytestmark = pytest.mark.prefect


@pytest.fixture
def coord(db_url, prefect_harness):
    eng = make_engine(db_url)
    res = seed_ledger(eng, members=500, volunteers=20, seed=8, today=TODAY)
    eng.dispose()
    codes = {role: code for _, _, role, _, code in res.codes}
    return codes["coordinator"], codes["volunteer"], db_url


def count(url, kind):
    with session_scope(make_engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(OutreachTask)
                        .where(OutreachTask.kind == kind))


def test_campaign_commands_end_to_end(coord, tmp_path):
    code, vol, url = coord
    r = outreach("campaign", "run", "phone_visit", "--period", "2026-11", "--today",
                 str(TODAY), code=vol)
    assert r.exit_code == 1 and "only a coordinator" in r.stderr
    r = outreach("campaign", "run", "survey", "--period", "2026-11", "--today", str(TODAY),
                 "--dry-run", code=code)
    assert r.exit_code == 0 and "would be targeted; nothing was written" in r.stdout
    assert count(url, "survey") == 0
    would = int(re.search(r": (\d+) members would be targeted", r.stdout).group(1))
    r = outreach("campaign", "run", "survey", "--period", "2026-11", "--today", str(TODAY),
                 code=code)
    assert r.exit_code == 0, r.output
    made = count(url, "survey")
    assert f"{made} new tasks" in r.stdout and "unassigned" in r.stdout
    assert would == made > 0  # the dry run counted exactly what the run made
    r = outreach("campaign", "run", "survey", "--period", "2026-11", "--today", str(TODAY),
                 "--dry-run", code=code)  # issue 11, defect 9: not the members planned
    assert r.exit_code == 0 and ": 0 members would be targeted" in r.stdout
    r = outreach("campaign", "run", "survey", "--period", "2026-11", "--today", str(TODAY),
                 code=code)
    assert r.exit_code == 0 and "0 new tasks" in r.stdout and count(url, "survey") == made
    r = outreach("campaign", "run", "survey", "--period", "2026-13", code=code)
    assert r.exit_code == 2 and "YYYY-MM" in r.stderr
    r = outreach("campaign", "run", "survey", "--period", "2026-11", "--branch", "Atlantis",
                 code=code)
    assert r.exit_code == 2 and "no branch named 'Atlantis'" in r.stderr
    r = outreach("campaign", "run", "survey", "--material", "x", code=code)
    assert r.exit_code == 2
    r = outreach("campaign", "run", "delivery", "--within-days", "30", code=code)
    assert r.exit_code == 2 and "takes one of: none" in r.stderr
    r = outreach("campaign", "run", "phone_visit", "--within-days", "31", code=code)
    assert r.exit_code == 2 and "14, 30, 60, 90" in r.stderr

    tasks = json.loads(outreach("tasks", "--all", "--status", "assigned", "--format", "json",
                                code=code).stdout)
    sheet = tmp_path / "results.csv"
    sheet.write_text("task_id,outcome,note,answers\n"
                     + "".join(f"{t['id']},no_answer,,\n" for t in tasks[:5])
                     + "abc,no_answer,,\n")
    r = outreach("outcomes", "import", str(sheet), "--today", str(TODAY), code=code)
    assert r.exit_code == 2 and "5 applied" in r.stdout and "line 7" in r.stderr
    r = outreach("outcomes", "import", str(sheet), "--today", str(TODAY), code=code)
    assert "0 applied, 5 already applied" in r.stdout

    with session_scope(make_engine(url), write=False) as s:
        still_open = s.scalar(select(func.count()).select_from(OutreachTask)
                              .where(OutreachTask.status.in_(["open", "assigned"])))
    r = outreach("follow-up", "--today", "2100-12-31", code=code)  # issue 11, defect 7
    assert r.exit_code == 2 and "in the future" in r.stderr
    with session_scope(make_engine(url), write=False) as s:
        assert s.scalar(select(func.count()).select_from(OutreachTask)
                        .where(OutreachTask.status.in_(["open", "assigned"]))) == still_open
    r = outreach("follow-up", "--today", str(TODAY + dt.timedelta(days=90)), code=code)
    assert r.exit_code == 0 and f"{still_open} expired" in r.stdout
    r = outreach("report", "coverage", "--format", "json", "--period", "2026-11", code=code)
    rows = json.loads(r.stdout)
    assert rows[-1]["branch"] == "TOTAL" and rows[-1]["members"] == 500
    assert outreach("report", "unreachable", code=vol).exit_code == 1
    for which in ("volunteers", "unreachable", "movements"):
        assert outreach("report", which, "--format", "csv", code=code).exit_code == 0


def test_history_replays_to_every_current_state_after_a_busy_run(coord, tmp_path):
    """After campaigns, outcomes of every kind and follow-up, every member's and task's
    state is what its history rows replay to; and the Prefect API holds no contact
    details in its logs or artifacts."""
    import asyncio

    from prefect.client.orchestration import get_client

    from outreach.db.models import Member
    from outreach.tasks.ledger.audit import replay

    code, _, url = coord
    for kind in ("survey", "phone_visit", "delivery"):
        assert outreach("campaign", "run", kind, "--period", "2026-11", "--today", str(TODAY),
                        code=code).exit_code == 0
    tasks = json.loads(outreach("tasks", "--all", "--status", "assigned", "--format", "json",
                                code=code).stdout)
    mix = ["reached", "no_answer", "moved", "refused", "do_not_contact", "deceased",
           "wrong_number", "left_message"]
    lines = []
    for i, t in enumerate(tasks[:160]):
        outcome = mix[i % len(mix)]
        if t["kind"] == "delivery":
            outcome = {"reached": "delivered", "no_answer": "not_home",
                       "left_message": "not_home", "wrong_number": "inaccessible"}.get(outcome,
                                                                                         outcome)
        answers = ("phone=same; address=same; residence=same; homebound=same"
                   if (t["kind"], outcome) == ("survey", "reached") else "")
        lines.append(f"{t['id']},{outcome},,{answers}\n")
    sheet = tmp_path / "mix.csv"
    sheet.write_text("task_id,outcome,note,answers\n" + "".join(lines))
    r = outreach("outcomes", "import", str(sheet), "--today", str(TODAY), code=code)
    assert "applied" in r.stdout
    assert outreach("follow-up", "--today", str(TODAY + dt.timedelta(days=20)),
                    code=code).exit_code == 0
    r = outreach("db", "check")
    assert r.exit_code == 0 and "all consistent" in r.stdout
    with session_scope(make_engine(url), write=False) as s:
        out = replay(s)
        secrets = {v for row in s.execute(select(
            Member.phone, Member.home_address, Member.current_address,
            Member.family_contact_name, Member.family_contact_phone)) for v in row if v}
    assert out["members"] == 500 and out["tasks"] > 0
    assert all(v == 0 for k, v in out.items() if k not in ("members", "tasks")), out

    async def everything():
        async with get_client() as client:
            logs = await client.read_logs()
            arts = await client.read_artifacts()
        return [lg.message for lg in logs] + [str(a.data) for a in arts] + \
            [str(a.description) for a in arts]

    published = "\n".join(asyncio.run(everything()))
    assert published, "the flows published logs and artifacts"
    leaks = [s for s in secrets if len(s) > 5 and s in published]
    assert not leaks, f"{len(leaks)} contact details published"
