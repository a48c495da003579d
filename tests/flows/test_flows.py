"""A few real flow runs through Prefect (one session-wide test harness)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from outreach.db.models import Attempt, Member, OutreachTask
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger

TODAY = dt.date(2026, 11, 3)
pytestmark = pytest.mark.prefect


@pytest.fixture
def ledger(db_url, prefect_harness):
    eng = make_engine(db_url)
    res = seed_ledger(eng, members=600, volunteers=25, seed=21, today=TODAY)
    coord = next(code for _, _, role, _, code in res.codes if role == "coordinator")
    yield eng, coord  # the coordinator's access code
    eng.dispose()


def ticket(eng, code: str) -> str:
    """A run ticket for record-outcomes, as `outreach outcomes import` makes one."""
    from outreach.tasks.access import tickets

    with session_scope(eng) as s:
        return tickets.issue(s, code, purpose="record-outcomes")


def tasks_of(eng, kind=None) -> int:
    with session_scope(eng, write=False) as s:
        q = select(func.count()).select_from(OutreachTask)
        if kind:
            q = q.where(OutreachTask.kind == kind)
        return s.scalar(q)


def artifacts(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    return asyncio.run(read())


def contact_strings(eng) -> list[str]:
    with session_scope(eng, write=False) as s:
        rows = s.execute(select(Member.phone, Member.home_address, Member.current_address,
                                Member.family_contact_name, Member.family_contact_phone)
                         .limit(200)).all()
    return [v for r in rows for v in r if v and len(v) > 6]


def test_phone_visit_flow_plans_once_and_publishes_counts_only(ledger):
    from outreach.flows.campaigns import phone_visit

    eng, _ = ledger
    state = phone_visit(period="2026-11", today=TODAY, batch_size=150, return_state=True)
    assert state.is_completed()
    out = state.result()
    made = tasks_of(eng, "phone_visit")
    assert out["created"] == made > 0 and out["batches"] == 4
    assert out["targeted"] == made
    again = phone_visit(period="2026-11", today=TODAY, batch_size=150)
    assert again["created"] == 0 and tasks_of(eng, "phone_visit") == made
    arts = artifacts(state.state_details.flow_run_id)
    keys = {a.key for a in arts}
    assert {"phone-visit-2026-11-summary", "phone-visit-2026-11-progress"} <= keys
    text = " ".join(str(a.data) for a in arts)
    for secret in contact_strings(eng):
        assert secret not in text
    progress = next(a for a in arts if a.type == "progress")
    assert float(progress.data) == 100.0


def test_a_bad_branch_fails_the_flow_with_a_clear_error(ledger):
    from outreach.db.errors import NotFound
    from outreach.flows.campaigns import survey

    with pytest.raises(NotFound, match="no branch named 'Atlantis'"):
        survey(period="2026-11", branch="Atlantis", today=TODAY)


def test_results_flow_applies_good_rows_once_and_lists_bad_ones(ledger, tmp_path):
    from outreach.flows.campaigns import survey
    from outreach.flows.outcomes import record_outcomes

    eng, coord = ledger
    survey(period="2026-11", today=TODAY)
    with session_scope(eng, write=False) as s:
        ids = list(s.scalars(select(OutreachTask.id).where(OutreachTask.status == "assigned")
                             .order_by(OutreachTask.id).limit(3)))
    f = tmp_path / "results.csv"
    f.write_text("task_id,outcome,note,answers\n"
                 f"{ids[0]},no_answer,rang,\n"
                 f"{ids[1]},reached,,phone=same; address=same; residence=local; homebound=no\n"
                 f"{ids[2]},delivered,,\n"
                 "999999,no_answer,,\n")
    out = record_outcomes(path=str(f), ticket=SecretStr(ticket(eng, coord)), today=TODAY)
    assert out["applied"] == 2 and out["duplicates"] == 0
    assert [p.split(":")[0] for p in out["problems"]] == ["line 4", "line 5"]
    again = record_outcomes(path=str(f), ticket=SecretStr(ticket(eng, coord)), today=TODAY)
    assert again["applied"] == 0 and again["duplicates"] == 2
    with session_scope(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(Attempt)) == 2
        # Attributed to the coordinator whose code made the ticket, not to an id typed in.
        assert set(s.scalars(select(Attempt.recorded_by))) == {int(coord.split("-")[0])}


def test_follow_up_and_coverage_report(ledger):
    from outreach.flows.campaigns import delivery
    from outreach.flows.followup import follow_up
    from outreach.flows.reports import coverage_report

    eng, _ = ledger
    delivery(material="Booklet", period="2026-11", today=TODAY)
    later = TODAY + dt.timedelta(days=60)
    state = follow_up(today=later, return_state=True)
    out = state.result()
    assert out["expired"] == tasks_of(eng, "delivery") > 0
    keys = {a.key for a in artifacts(state.state_details.flow_run_id)}
    assert {f"reminders-{later}", f"follow-up-{later}"} <= keys
    rep = coverage_report(period="2026-11", today=later, return_state=True)
    assert rep.is_completed() and rep.result()["members"] > 0
    arts = artifacts(rep.state_details.flow_run_id)
    assert any(a.type == "markdown" for a in arts)
    text = " ".join(str(a.data) for a in arts)
    assert not re.search(r"\d{3}-\d{3}-\d{4}", text), "no phone numbers in artifacts"
