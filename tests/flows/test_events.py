"""Our flows emit Prefect events a coordinator (or an automation) can act on: campaign
planned, members became unreachable, escalations created — ids and counts only."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from outreach.db.machines import MemberStatus as MS
from outreach.db.models import OutreachTask
from outreach.db.session import make_engine, session_scope
from tests.db import factories as f

TODAY = dt.date(2026, 11, 3)
pytestmark = pytest.mark.prefect


def read_events(prefix: str, since: dt.datetime, want: int, timeout: float = 30.0,
                resource: str | None = None) -> list:
    """Events named ``prefix``* since ``since`` (about ``resource`` only, if given); the
    server persists them in the background, so wait (bounded) until ``want`` are there."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    async def once():
        async with get_client() as client:
            page = await client.read_events(filter=EventFilter(
                occurred=EventOccurredFilter(since=since),
                event=EventNameFilter(prefix=[prefix])), limit=50)
            return page.events

    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in asyncio.run(once()) if resource in (None, e.resource.id)]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def scalar_payload(event) -> None:
    """Ids and counts only: every payload value is a number or a short code."""
    for k, v in event.payload.items():
        assert isinstance(v, (int, str)), (k, v)
        if isinstance(v, str):
            assert len(v) <= 20 and not any(c.isspace() for c in v), (k, v)


@pytest.fixture
def ledger(db_url, prefect_harness):
    eng = make_engine(db_url)
    with session_scope(eng) as s:
        top = f.branch(s, name="North")
        b = f.branch(s, name="North Riverside", parent=top)
        f.coordinator(s, branch_=top)
        f.volunteer(s, branch_=b, capacity=10)
        for _ in range(4):
            f.member(s, branch_=b, residence="away")
        failing = [f.member_in(s, MS.ACTIVE, branch_=b, failed_contacts=3).id
                   for _ in range(2)]
    yield eng, failing
    eng.dispose()


def test_campaign_planned_event_carries_the_run_id_and_counts(ledger):
    from outreach.flows.campaigns import phone_visit

    eng, _ = ledger
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    state = phone_visit(period="2026-11", today=TODAY, return_state=True)
    out = state.result()
    assert out["created"] > 0
    mine = read_events("outreach.campaign.planned", since, want=1,
                       resource=f"outreach.campaign-run.{out['run_id']}")
    assert len(mine) == 1, [e.event for e in mine]
    ev = mine[0]
    assert ev.payload == {"kind": "phone_visit", "period": "2026-11",
                          "created": out["created"], "still_open": out["still_open"]}
    scalar_payload(ev)
    # Prefect relates the event to the flow run that emitted it: automations can match it.
    flow_run_id = str(state.state_details.flow_run_id)
    assert f"prefect.flow-run.{flow_run_id}" in {r.id for r in ev.related}


def test_follow_up_emits_unreachable_and_escalation_events(ledger):
    from outreach.flows.followup import follow_up

    eng, failing = ledger
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    out = follow_up(today=TODAY)
    assert out["unreachable"] == 2 and out["escalations"] == 2
    with session_scope(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(OutreachTask)
                        .where(OutreachTask.kind == "escalation")) == 2
    # Each name on its own: other tests' events (a campaign planned seconds ago) must not
    # fill the count while the follow-up's are still being written.
    here = f"outreach.follow-up.{TODAY}"
    events = (read_events("outreach.members.unreachable", since, want=1, resource=here)
              + read_events("outreach.escalations.created", since, want=1, resource=here))
    by_name = {e.event: e for e in events if e.resource.id == f"outreach.follow-up.{TODAY}"}
    assert by_name["outreach.members.unreachable"].payload == {"count": 2}
    assert by_name["outreach.escalations.created"].payload == {"count": 2}
    for ev in by_name.values():
        scalar_payload(ev)
    # A second sweep has nothing new to say: no event with a zero count.
    since = dt.datetime.now(dt.UTC)
    again = follow_up(today=TODAY)
    assert again["unreachable"] == 0 and again["escalations"] == 0
    assert read_events("outreach.", since, want=1, timeout=4) == []
