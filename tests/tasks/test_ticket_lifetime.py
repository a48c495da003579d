"""A run ticket is good for 15 minutes (README: "`outreach outcomes ticket` prints
ticket-12-…: good for one run, 15 minutes"), not 15 hours: issued at T, accepted at
T+14 min, refused at T+16 min. Only the public `issue` / `redeem`; the clock is
`tasks.access.tickets._utcnow`."""

from __future__ import annotations

import datetime as dt

import pytest

from outreach.db.errors import Refused
from outreach.tasks.access import tickets
from tests.db import factories as f

T = dt.datetime(2026, 11, 2, 9, 0, 0)


def _coordinator_code(session) -> str:
    from outreach.tasks.access.permissions import format_code, new_credentials

    boss = f.coordinator(session)
    secret, boss.code_salt, boss.code_hash = new_credentials()
    session.flush()
    return format_code(boss.id, secret)


@pytest.mark.parametrize("minutes_later, accepted", [(0, True), (14, True), (16, False),
                                                     (15 * 60 - 1, False)])
def test_a_ticket_lives_fifteen_minutes(session, monkeypatch, minutes_later, accepted):
    code = _coordinator_code(session)
    monkeypatch.setattr(tickets, "_utcnow", lambda: T)
    ticket = tickets.issue(session, code, purpose="record-outcomes")
    monkeypatch.setattr(tickets, "_utcnow", lambda: T + dt.timedelta(minutes=minutes_later))
    if accepted:
        actor = tickets.redeem(session, ticket, purpose="record-outcomes")
        assert actor.is_coordinator
    else:
        with pytest.raises(Refused, match="expired|wrong or used"):
            tickets.redeem(session, ticket, purpose="record-outcomes")
