"""A member's card (`tasks.ledger.reports.member_card`): the history reasons outreach writes are
read in the reader's language (`tasks.kernel.labels.reason`); what a person typed stays as typed."""

from __future__ import annotations

from outreach.db import state
from outreach.i18n import language
from outreach.tasks.kernel import labels
from outreach.tasks.ledger.reports import member_card
from tests.db import factories as f


def test_history_reasons_are_shown_through_labels_reason(session, monkeypatch):
    br = f.branch(session, name="East")
    coord = f.actor(session, f.coordinator(session, branch_=br))
    m = f.member(session, branch_=br, ledger_no="L1")
    state.move_member(session, m, "unreachable", actor_id=None,
                      reason="3 failed contacts in a row")
    state.move_member(session, m, "active", actor_id=None, reason="called the daughter")
    with language("en"):
        card = member_card(session, ref="L1", actor=coord)
    assert "3 failed contacts in a row" in card and "called the daughter" in card
    with language("zh_CN"):
        card = member_card(session, ref="L1", actor=coord)
        assert labels.reason("3 failed contacts in a row") in card
        assert "called the daughter" in card
    monkeypatch.setattr(labels, "reason", lambda text: f"<{text}>" if text else "")
    card = member_card(session, ref="L1", actor=coord)
    assert "<3 failed contacts in a row>" in card and "<called the daughter>" in card
