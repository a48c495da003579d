"""The weekly scorecard flow through Prefect (one run): the markdown and table artifacts
carry branch names and figures only, and every red cell is an ``outreach.scorecard.red``
event."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from outreach.db.models import Branch, Member
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from outreach.tasks.scorecard import scorecard as sc
from outreach.tasks.access.permissions import SYSTEM
from tests.flows.test_events import read_events, scalar_payload
from tests.flows.test_flows import artifacts, contact_strings

TODAY = dt.date(2026, 11, 3)
pytestmark = pytest.mark.prefect


def test_scorecard_publishes_marks_and_figures_and_an_event_per_red_cell(db_url,
                                                                        prefect_harness):
    from outreach.flows.scorecard import scorecard

    eng = make_engine(db_url)
    try:
        seed_ledger(eng, members=400, volunteers=15, seed=13, today=TODAY)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        state = scorecard(today=TODAY, return_state=True)
        assert state.is_completed()
        out = state.result()
        with session_scope(eng, write=False) as s:
            rows = sc.scorecard(s, actor=SYSTEM, period="2026-Q4")
            ids = dict(s.execute(select(Branch.name, Branch.id)).all())
            names = [n for (n,) in s.execute(select(Member.name).limit(300))]
            ledger_nos = [n for (n,) in s.execute(select(Member.ledger_no).limit(300))]
        red = [r for r in rows if r["status"] == "red"]
        assert out["period"] == "2026-Q4" and out["rows"] == len(rows) > 6
        assert out["red"] == len(red) > 0

        arts = {a.key: a for a in artifacts(state.state_details.flow_run_id)}
        assert {"scorecard-summary-2026-q4", "scorecard-2026-q4"} <= set(arts)
        md = str(arts["scorecard-summary-2026-q4"].data)
        assert "🔴" in md and "**TOTAL**" in md
        for branch in {r["branch"] for r in rows} - {"TOTAL"}:
            assert f"| {branch} |" in md
        text = " ".join(str(a.data) for a in arts.values())
        for secret in contact_strings(eng) + names + ledger_nos:
            assert secret not in text

        events = read_events("outreach.scorecard.red", since, len(red))
        assert len(events) == len(red)
        got = sorted((e.resource.id, e.payload["indicator"]) for e in events)
        want = sorted((f"outreach.branch.{ids[r['branch']]}" if r["branch"] != "TOTAL"
                       else "outreach.branches", r["indicator"]) for r in red)
        assert got == want
        for e in events:
            scalar_payload(e)
    finally:
        eng.dispose()
