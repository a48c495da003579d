"""The daily care flow through Prefect (one seeded ledger, two runs): its counts are the
database's, a rerun makes nothing, and the artifacts carry counts only."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.db.models import CareOccasion, Member, OutreachTask
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from tests.flows.test_flows import artifacts, contact_strings

SPRING = dt.date(2027, 2, 6)
pytestmark = pytest.mark.prefect


def test_the_care_flow_plans_the_spring_festival_once_and_publishes_counts_only(
        db_url, prefect_harness):
    from outreach.flows.care import care

    eng = make_engine(db_url)
    try:
        seed_ledger(eng, members=500, volunteers=20, seed=5, today=SPRING, meetings=False)
        state = care(today=SPRING, return_state=True)
        assert state.is_completed()
        out = state.result()
        with session_scope(eng, write=False) as s:
            festival = s.scalar(select(func.count()).select_from(CareOccasion)
                                .where(CareOccasion.kind == "spring_festival"))
            visits = s.scalar(select(func.count()).select_from(OutreachTask)
                              .where(OutreachTask.kind == "care_visit"))
            transfers = s.scalar(select(func.count()).select_from(OutreachTask)
                                 .where(OutreachTask.kind == "transfer"))
            names = [n for (n,) in s.execute(select(Member.name).limit(300))]
        assert out["occasions"]["spring_festival"] == festival > 0
        assert out["created"] == visits > 0 and out["transfers"] == transfers > 0
        again = care(today=SPRING)
        assert again["created"] == again["transfers"] == 0
        assert sum(again["occasions"].values()) == 0
        arts = artifacts(state.state_details.flow_run_id)
        assert {f"care-{SPRING}", f"care-occasions-{SPRING}"} <= {a.key for a in arts}
        text = " ".join(str(a.data) for a in arts)
        for secret in contact_strings(eng) + names:
            assert secret not in text
    finally:
        eng.dispose()
