"""The contact summary the database keeps on each member (revision 0009,
`db.guards.summary_statements`): whatever is done to the attempts — inserted one by one or
many in one statement, in any order of days, changed, moved to another task, deleted —
the four columns equal what the attempts say, worked out here in Python. On SQLite and
PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import text

from outreach.db import guards
from outreach.db.codes import CampaignKind, Outcome
from outreach.tasks.work import rules as work_rules
from outreach.tasks.scorecard.facts import DELIVERED
from tests.db import factories as f

COLUMNS = ("contact_quarter", "contact_quarter_before", "delivery_quarter",
           "delivery_quarter_before")
#: Every kind a task can have here: the member's own (counted) and the coordinator's (not).
KINDS = (CampaignKind.PHONE_VISIT, CampaignKind.DELIVERY, CampaignKind.SURVEY,
         CampaignKind.ESCALATION, CampaignKind.CARE_VISIT)
OUTCOMES = ("reached", "delivered", "delivered_to_family", "no_answer", "visited",
            "refused", "gift_delivered")


def test_the_summary_counts_what_the_rules_count():
    assert set(guards.CONTACT_KINDS) == {str(k) for k in work_rules.MEMBER_KINDS}
    assert set(guards.CONTACT_OUTCOMES) == {str(o) for o in work_rules.SUCCESSFUL_CONTACT}
    assert set(guards.DELIVERY_OUTCOMES) == set(DELIVERED)
    assert guards.DELIVERY_KIND == CampaignKind.DELIVERY.value
    # every outcome used below is a real code
    assert {Outcome(o).value for o in OUTCOMES} == set(OUTCOMES)


def _key(day: dt.date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def _expected(session, member_ids) -> dict[int, tuple]:
    """The two newest quarters of contacts and deliveries of each member, from the
    attempts, in Python."""
    rows = session.execute(text(
        "SELECT t.member_id, t.kind, a.outcome, a.recorded_on FROM attempts a "
        "JOIN outreach_tasks t ON t.id = a.task_id")).all()
    out = {}
    for m in member_ids:
        contacts, deliveries = set(), set()
        for member_id, kind, outcome, day in rows:
            day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
            if member_id != m:
                continue
            if kind in guards.CONTACT_KINDS and outcome in guards.CONTACT_OUTCOMES:
                contacts.add(_key(day))
            if kind == guards.DELIVERY_KIND and outcome in guards.DELIVERY_OUTCOMES:
                deliveries.add(_key(day))
        newest = [sorted(s, reverse=True) + [None, None] for s in (contacts, deliveries)]
        out[m] = (newest[0][0], newest[0][1], newest[1][0], newest[1][1])
    return out


def _held(session, member_ids) -> dict[int, tuple]:
    rows = session.execute(text(f"SELECT id, {', '.join(COLUMNS)} FROM members"))
    return {r[0]: tuple(r[1:]) for r in rows if r[0] in member_ids}


def _day(rng: random.Random) -> dt.date:
    return dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 800))


@pytest.mark.parametrize("seed", range(6))
def test_the_summary_follows_every_change_of_the_attempts(session, seed):
    rng = random.Random(seed)
    vol = f.volunteer(session)
    members = [f.member(session) for _ in range(3)]
    tasks = [f.task(session, member_=m, kind=k, status="assigned", volunteer_=vol).id
             for m in members for k in KINDS]
    ids = {m.id for m in members}
    session.flush()
    insert = text("INSERT INTO attempts (task_id, volunteer_id, recorded_by, outcome, "
                  "recorded_on, recorded_at) VALUES (:t, :v, :v, :o, :d, :at)")
    at = dt.datetime(2026, 1, 1)
    for _step in range(40):
        attempts = session.execute(text("SELECT id FROM attempts")).scalars().all()
        action = rng.choice(["one", "one", "one", "many", "day", "outcome", "task", "delete"]
                            if attempts else ["one", "many"])
        if action == "one":
            session.execute(insert, {"t": rng.choice(tasks), "v": vol.id,
                                     "o": rng.choice(OUTCOMES), "d": _day(rng), "at": at})
        elif action == "many":
            # one statement, several attempts of the same members (PostgreSQL: one run of
            # the statement trigger over all of them)
            chosen = rng.sample(tasks, 4)
            session.execute(text(
                "INSERT INTO attempts (task_id, volunteer_id, recorded_by, outcome, "
                "recorded_on, recorded_at) SELECT id, :v, :v, :o, :d, :at FROM outreach_tasks "
                f"WHERE id IN ({', '.join(map(str, chosen))})"),
                {"v": vol.id, "o": rng.choice(OUTCOMES), "d": _day(rng), "at": at})
        elif action == "day":
            session.execute(text("UPDATE attempts SET recorded_on = :d WHERE id = :a"),
                            {"d": _day(rng), "a": rng.choice(attempts)})
        elif action == "outcome":
            session.execute(text("UPDATE attempts SET outcome = :o WHERE id = :a"),
                            {"o": rng.choice(OUTCOMES), "a": rng.choice(attempts)})
        elif action == "task":
            session.execute(text("UPDATE attempts SET task_id = :t WHERE id = :a"),
                            {"t": rng.choice(tasks), "a": rng.choice(attempts)})
        else:
            session.execute(text("DELETE FROM attempts WHERE id = :a"),
                            {"a": rng.choice(attempts)})
        assert _held(session, ids) == _expected(session, ids), action
    # the run ended with some contact to keep (the comparisons above were not all NULLs)
    assert any(v[0] is not None for v in _held(session, ids).values())


def test_a_change_of_another_column_leaves_the_summary(session):
    """Confirming an attempt (what the code does change on one) neither recounts nor
    breaks anything."""
    vol = f.volunteer(session)
    m = f.member(session)
    t = f.task(session, member_=m, kind=CampaignKind.DELIVERY, status="assigned",
               volunteer_=vol)
    session.flush()
    session.execute(text(
        "INSERT INTO attempts (task_id, volunteer_id, recorded_by, outcome, recorded_on, "
        "recorded_at) VALUES (:t, :v, :v, 'delivered', '2026-11-03', :at)"),
        {"t": t.id, "v": vol.id, "at": dt.datetime(2026, 11, 3)})
    session.execute(text("UPDATE attempts SET confirmed_by = :v, confirmed_at = :at"),
                    {"v": vol.id, "at": dt.datetime(2026, 11, 4)})
    q = 2026 * 4 + 3
    assert _held(session, {m.id})[m.id] == (q, None, q, None)
