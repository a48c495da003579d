"""The organisational-life and plan-meeting flows through Prefect (few runs: ~1 s each)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from outreach.db.errors import Refused
from outreach.db.models import Meeting, Member, OutreachTask
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from outreach.tasks.meetings import life
from outreach.tasks.access.permissions import SYSTEM
from tests.flows.test_events import read_events, scalar_payload
from tests.flows.test_flows import artifacts, contact_strings

TODAY = dt.date(2026, 11, 3)
pytestmark = pytest.mark.prefect


@pytest.fixture
def ledger(db_url, prefect_harness):
    eng = make_engine(db_url)
    res = seed_ledger(eng, members=600, volunteers=25, seed=31, today=TODAY)
    coord = next(code for _, _, role, _, code in res.codes if role == "coordinator")
    yield eng, coord
    eng.dispose()


def make_ups(eng) -> int:
    with session_scope(eng, write=False) as s:
        return s.scalar(select(func.count()).select_from(OutreachTask)
                        .where(OutreachTask.kind == "make_up"))


def test_organisational_life_gives_missing_make_ups_once_and_counts_only(ledger):
    from outreach.flows.meetings import organisational_life

    eng, _ = ledger
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    assert make_ups(eng) == 0
    state = organisational_life(today=TODAY, return_state=True)
    assert state.is_completed()
    out = state.result()
    # The seed's meetings of the last 30 days left excused/absent members without a
    # make-up task: the flow gives them out; the seed's year is on cadence.
    made = make_ups(eng)
    assert out["make_up"]["created"] == made > 0
    assert out["behind"] == []
    with session_scope(eng, write=False) as s:
        lonely = life.members_without_life(s, actor=SYSTEM, today=TODAY)["count"]
    assert out["members_without_life"] == lonely
    again = organisational_life(today=TODAY)
    assert again["make_up"]["created"] == 0 and make_ups(eng) == made

    arts = artifacts(state.state_details.flow_run_id)
    assert {"meetings-behind", "meetings-life"} <= {a.key for a in arts}
    text = " ".join(str(a.data) for a in arts)
    with session_scope(eng, write=False) as s:
        names = [n for (n,) in s.execute(select(Member.name).limit(300))]
    for secret in contact_strings(eng) + names:
        assert secret not in text
    checked = read_events("outreach.meeting.life-checked", since, 1)
    assert checked and checked[0].payload["members_without_life"] == lonely
    scalar_payload(checked[0])

    # Two months on, nothing held in November or December: every branch is behind.
    later = organisational_life(today=dt.date(2027, 1, 5))
    with session_scope(eng, write=False) as s:
        branches = s.scalar(select(func.count(func.distinct(Meeting.branch_id))))
    assert len({r["branch_id"] for r in later["behind"]}) == branches
    flagged = read_events("outreach.meeting.branch-behind", since, branches)
    assert len({e.resource.id for e in flagged}) == branches
    for e in flagged:
        scalar_payload(e)


def test_plan_meeting_form_plans_as_the_ticket_holder_only(ledger):
    from outreach.flows.meetings import plan_meeting
    from outreach.tasks.access import tickets

    eng, coord = ledger
    with session_scope(eng, write=False) as s:
        branch = s.scalar(select(Meeting.branch_id).limit(1))
        from outreach.db.models import Branch

        name = s.get(Branch, branch).name
    with session_scope(eng) as s:
        wrong = tickets.issue(s, coord, purpose="record-outcomes")
        good = tickets.issue(s, coord, purpose="plan-meeting")
    before = _meetings(eng)
    with pytest.raises(Refused, match="for record-outcomes, not plan-meeting"):
        plan_meeting(branch=name, kind="lecture", on=TODAY + dt.timedelta(days=20),
                     ticket=SecretStr(wrong), today=TODAY)
    assert _meetings(eng) == before
    out = plan_meeting(branch=name, kind="lecture", on=TODAY + dt.timedelta(days=20),
                       ticket=SecretStr(good), topic="Law for everyday life",
                       remote="video", today=TODAY)
    with session_scope(eng, write=False) as s:
        m = s.get(Meeting, out["id"])
        coordinator_id = int(coord.split("-", 1)[0])
        assert (m.status, m.kind, m.remote, m.status_by) == ("planned", "lecture", "video",
                                                             coordinator_id)
    assert out["invited"] > 0
    # The ticket served once.
    with pytest.raises(Refused, match="wrong or used run ticket.*outreach meeting ticket"):
        plan_meeting(branch=name, kind="lecture", on=TODAY + dt.timedelta(days=21),
                     ticket=SecretStr(good), today=TODAY)
    assert _meetings(eng) == before + 1


def _meetings(eng) -> int:
    with session_scope(eng, write=False) as s:
        return s.scalar(select(func.count()).select_from(Meeting))
