"""The scorecard's one pass over the members for a quarter and the one before it
(`tasks.scorecard.facts.branch_counts`): the figures of both quarters stay the hand-written SQL's
(`tests.tasks.test_scorecard._oracle`) when the status history is read for either quarter
or both, when a member has several marks for the same assembly (present and notified, or
notified twice), and when the members are read in two halves. SQLite, and PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import datetime as dt

import pytest

from outreach.db.codes import CampaignKind, MeetingKind
from outreach.db import dialect
from outreach.tasks.scorecard import facts
from outreach.tasks.scorecard import scorecard as sc
from outreach.tasks.access.permissions import SYSTEM
from tests.db import factories as f
from tests.tasks.test_scorecard import LAST, PERIOD, PREVIOUS, _cells, _oracle, ledger  # noqa: F401


def _figures(rows) -> dict[tuple[str, str], tuple[int, int]]:
    return {k: (r["numerator"], r["denominator"]) for k, r in _cells(rows).items()
            if k[0] != "TOTAL"}


def _expected(session, period: str) -> dict[tuple[str, str], tuple[int, int]]:
    branches = {b for b, _n in _oracle(session, period)}
    got = _oracle(session, period)
    return {(b, n): got.get((b, n), (0, 0)) for b in branches for n in sc.INDICATORS}


def _check_both(session) -> list[dict]:
    """The scorecard of PERIOD (its previous quarter computed in the same pass) and of
    PREVIOUS alone: every branch's figures as the oracle's, and the change as the
    difference of the two."""
    now = sc.scorecard(session, actor=SYSTEM, period=PERIOD)
    before = sc.scorecard(session, actor=SYSTEM, period=PREVIOUS)
    for rows, period in ((now, PERIOD), (before, PREVIOUS)):
        figures = _figures(rows)
        expected = _expected(session, period)
        assert {k: v for k, v in figures.items() if k in expected} == expected, period
        assert all(v == (0, 0) for k, v in figures.items() if k not in expected)
    old = {(r["branch"], r["indicator"]): r["percent"] for r in before}
    for r in now:
        prev = old.get((r["branch"], r["indicator"]))
        if r["percent"] is not None and prev is not None:
            assert r["change"] == round(r["percent"] - prev, 1), r
    return now


@pytest.mark.parametrize("history", ["none", "both", "this", "previous"])
def test_both_quarters_in_one_pass_match_the_sql_whichever_reads_the_history(
        session, ledger, monkeypatch, history):  # noqa: F811
    """The status history is read only for a quarter after whose last day some status
    changed (`_changed_since`); forcing it for either quarter must not change a figure
    (nothing changed after either last day here, so both ways give the same status)."""
    plain = _check_both(session)
    forced = {"none": lambda last: False, "both": lambda last: True,
              "this": lambda last: last == LAST, "previous": lambda last: last != LAST}[history]
    monkeypatch.setattr(facts, "changed_since", lambda _session, last: forced(last))
    assert _check_both(session) == plain


def test_an_assembly_counts_once_per_member_however_many_marks(session, ledger):  # noqa: F811
    """B holds a second assembly in the quarter: b1 present at the first and notified of
    it too, absent at the second; b3 notified of the first by two notice runs; b2
    notified of the first only. Nobody took part in both: 0 of 3 — counting marks
    instead of assemblies would give b1 and b3 two."""
    b, m, boss = ledger["b"], ledger["m"], ledger["boss"]
    first = next(a for a in _assemblies(session, b.id))
    second = f.meeting_in(session, "held", branch_=b, kind=MeetingKind.ASSEMBLY,
                          planned_on=dt.date(2027, 3, 2))
    for key in ("b1", "b2", "b3"):
        f.attendance_in(session, "absent", meeting_=second, member_=m[key], actor=boss)
    for _ in range(2):
        run = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.NOTICE),
                             meeting_id=first)
        f.task_in(session, "done", member_=m["b3"], run=run)
    run = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.NOTICE),
                         meeting_id=first)
    f.task_in(session, "done", member_=m["b1"], run=run)
    now = _check_both(session)
    assert _figures(now)[("B-branch", "rights")] == (0, 3)
    boss_actor = f.actor(session, boss)
    assert [r["ledger_no"] for r in sc.scorecard_members(
        session, actor=boss_actor, period=PERIOD, branch_id=b.id, indicator="rights")] == [
        "L-b1", "L-b2", "L-b3"]


def _assemblies(session, branch_id: int) -> list[int]:
    from sqlalchemy import select

    from outreach.db.models import Meeting

    return list(session.scalars(select(Meeting.id).where(
        Meeting.branch_id == branch_id, Meeting.kind == MeetingKind.ASSEMBLY.value)
        .order_by(Meeting.id)))


def test_quarters_older_than_the_summary_read_the_attempts(session, ledger):  # noqa: F811
    """The database keeps each member's two newest quarters with a contact (and with a
    delivery) on the member (`db.guards.summary_statements`). Contacts and deliveries
    recorded in two later quarters push both scored quarters below them, so the scorecard
    works those out from the attempts (`_summary_bits`' probe): the same figures as the
    SQL's, and as before the later ones were recorded."""
    from sqlalchemy import text

    from tests.tasks.test_scorecard import _attempt

    m = ledger["m"]
    plain = _check_both(session)
    later = (dt.date(2027, 5, 2), dt.date(2027, 8, 2))
    for key, kind, outcome in (("a1", CampaignKind.PHONE_VISIT, "reached"),
                               ("b2", CampaignKind.PHONE_VISIT, "reached"),
                               ("a5", CampaignKind.DELIVERY, "delivered")):
        run = f.campaign_run(session, campaign_=f.campaign(session, kind=kind))
        task = f.task_in(session, "done", member_=m[key], run=run)
        for day in later:
            _attempt(session, task, outcome, day)
    q2, q3 = (facts.quarter_key(day) for day in later)
    held = dict(session.execute(text(
        "SELECT ledger_no, contact_quarter || '/' || contact_quarter_before FROM members "
        "WHERE ledger_no IN ('L-a1', 'L-b2', 'L-a5')")).all())
    assert held == {f"L-{k}": f"{q3}/{q2}" for k in ("a1", "b2", "a5")}
    assert _check_both(session) == plain


@pytest.mark.parametrize("bits", [63, 31, 13, 1])
def test_the_packed_fields_read_back_however_many_columns_they_take(
        session, ledger, monkeypatch, bits):  # noqa: F811
    """`_grouped` packs each member's branch, facts and counts of marks in integer columns
    (`facts._Layout`: 63 bits to a column on SQLite, 31 on PostgreSQL, either on both here).
    With fewer bits the fields spread over more columns (1: a column each) and every
    figure stays the SQL's."""
    plain = _check_both(session)
    monkeypatch.setattr(dialect, "SUM_BITS", {"sqlite": bits, "postgresql": bits})
    layout = facts._layout(session, [facts.quarter_facts(session, *facts.quarter(PERIOD)[1:])])
    assert layout.columns == {63: 1, 31: 1, 13: 2, 1: len(layout.fields)}[bits]
    assert _check_both(session) == plain


def test_a_column_filled_to_its_last_bit_reads_back_exactly(session, ledger,  # noqa: F811
                                                            monkeypatch):
    """The branch as the highest field of a full column (an empty field before it, as
    wide as the column has room): its sums reach 2 ** 62 on SQLite and 2 ** 30 in
    PostgreSQL's integers, and every figure stays the SQL's."""
    plain = _check_both(session)
    of = facts._Layout.of

    def padded(widths, bits):
        used = sum(w for _n, w in widths)
        return of([*widths[:-1], ("pad", bits - used), widths[-1]], bits)

    monkeypatch.setattr(facts._Layout, "of", padded)
    layout = facts._layout(session, [facts.quarter_facts(session, *facts.quarter(PERIOD)[1:])])
    col, shift, width = layout.fields["branch"]
    assert (layout.columns, col, shift + width) == (1, 0, layout.bits)
    assert _check_both(session) == plain


def test_a_layout_starts_a_column_where_the_next_field_would_pass_its_bits():
    layout = facts._Layout.of([("here", 1), ("word", 61), ("e0", 2), ("branch", 40)], 63)
    assert layout.fields == {"here": (0, 0, 1), "word": (0, 1, 61), "e0": (1, 0, 2),
                             "branch": (1, 2, 40)}
    row = (1 | 5 << 1 | 1 << 61, 3 | 123456789 << 2)
    assert [layout.reader(name)(row) for name in ("here", "word", "e0", "branch")] == [
        1, 5 | 1 << 60, 3, 123456789]


def test_a_member_with_several_care_occasions_in_a_quarter(session, ledger):  # noqa: F811
    """Each occasion counts: a1 has four in the quarter (three visited). Their counts are
    fields of the member's packed row, as wide as the most occasions one member has
    (`facts._most_occasions`): 3 bits here, where one occasion each needed 1."""
    a1 = ledger["m"]["a1"]
    for day, state in ((dt.date(2027, 1, 20), "visited"), (dt.date(2027, 3, 1), "visited"),
                       (dt.date(2027, 3, 10), "missed")):
        f.care_in(session, state, member_=a1, occasion_on=day)
    now = _check_both(session)
    assert _figures(now)[("A-branch", "care")] == (3, 5)  # and a2's, due
    q = facts.quarter_facts(session, *facts.quarter(PERIOD)[1:])
    before = facts.quarter_facts(session, *facts.quarter(PREVIOUS)[1:])
    assert facts._most_occasions(session, [q, before]) == [4, 1]
    assert facts._layout(session, [q]).fields["o0"][2] == 3
