"""The history replay check finds what does not add up."""

from __future__ import annotations

from sqlalchemy import text

from outreach.tasks.ledger.audit import replay
from tests.db import factories as f


def test_replay_is_clean_then_flags_a_forged_row(session):
    m = f.member_in(session, "active")
    t = f.task_in(session, "done")
    base = replay(session)
    assert base["members_mismatch"] == base["members_broken_chain"] == 0
    assert base["tasks_mismatch"] == base["tasks_broken_chain"] == 0
    # A legal pair written straight into history (the guards allow inserting it), which
    # the member never went through: the last row no longer says "active".
    session.execute(text("INSERT INTO member_status_changes (member_id, from_status, "
                         "to_status, reason) VALUES (:m, 'unverified', 'unreachable', 'forged')"),
                    {"m": m.id})
    session.execute(text("INSERT INTO task_status_changes (task_id, from_status, to_status, "
                         "reason) VALUES (:t, 'open', 'expired', 'forged')"), {"t": t.id})
    out = replay(session)
    assert out["members_mismatch"] == 1 and out["members_broken_chain"] == 1
    assert out["tasks_mismatch"] == 1 and out["tasks_broken_chain"] == 1
