"""Who saw what (issue 24): every door that shows a member's phone, address or family
contact leaves a row — who, which members, when, which door, for a file its name and
count — and never the details themselves; the rows cannot be changed; the report finds
them; the purge clears the departed's details."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from sqlalchemy import event, func, select, text

from outreach.db.errors import BadInput, Refused
from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (AccessEvent, AccessEventMember, Attempt, CampaignKind, Member,
                       MemberChange, MemberStatusChange)
from outreach.tasks.ledger.access_log import access_report, note_shown, purge_departed
from tests.db import factories as f
from tests.db.test_guards import refused

PHONE, HOME, FAMILY_PHONE = "555 0101", "1 Main St", "555 0199"


@pytest.fixture
def w(session):
    br = f.branch(session)
    coord = f.coordinator(session, branch_=br)
    bob = f.volunteer(session, branch_=br, name="Bob")
    m = f.member(session, branch_=br, phone=PHONE, home_address=HOME,
                 family_contact_name="Sue", family_contact_phone=FAMILY_PHONE)
    t = f.task(session, member_=m, status=TS.ASSIGNED, volunteer_=bob)
    return dict(s=session, br=br, coord_row=coord, bob_row=bob,
                coord=f.actor(session, coord), bob=f.actor(session, bob), m=m, t=t)


def events(s) -> list[tuple]:
    """(volunteer id, door, file name, members count, sorted member ids) of every event."""
    out = []
    for e in s.scalars(select(AccessEvent).order_by(AccessEvent.id)):
        ids = sorted(s.scalars(select(AccessEventMember.member_id)
                               .where(AccessEventMember.event_id == e.id)))
        out.append((e.volunteer_id, e.door, e.file_name, e.members_count, ids))
    return out


def no_details_in_the_log(s) -> None:
    rows = s.execute(text("SELECT * FROM access_events")).all()
    rows += s.execute(text("SELECT * FROM access_event_members")).all()
    blob = " ".join(str(v) for r in rows for v in r)
    for detail in (PHONE, HOME, FAMILY_PHONE, "Sue"):
        assert detail not in blob


def test_task_show_logs_who_which_member_and_door(w):
    from outreach.tasks.work.worklist import task_view

    s = w["s"]
    task_view(s, task_id=w["t"].id, actor=w["bob"])
    task_view(s, task_id=w["t"].id, actor=w["coord"], door="service")
    assert events(s) == [(w["bob_row"].id, "cli", None, 1, [w["m"].id]),
                         (w["coord_row"].id, "service", None, 1, [w["m"].id])]
    no_details_in_the_log(s)


def test_a_refused_task_show_logs_nothing(w):
    from outreach.tasks.work.worklist import task_view

    s = w["s"]
    other = f.actor(s, f.volunteer(s, branch_=w["br"]))
    with pytest.raises(Refused):
        task_view(s, task_id=w["t"].id, actor=other)
    assert events(s) == []


def test_the_run_sheet_logs_the_members_shown_and_the_file(w):
    from outreach.tasks.work.worklist import list_tasks

    s = w["s"]
    m2 = f.member(s, branch_=w["br"], phone="555 0102")
    f.task(s, member_=m2, status=TS.ASSIGNED, volunteer_=w["bob_row"])
    closed = f.task_in(s, "done", volunteer_=w["bob_row"], member_=f.member(s, phone="555 3"))
    assert list_tasks(s, actor=w["bob"]) and events(s) == []  # no contacts: nothing shown
    rows = list_tasks(s, actor=w["bob"], contacts=True, file_name="/home/bob/round.xlsx")
    assert {r["phone"] for r in rows} == {PHONE, "555 0102"}
    # a volunteer's closed task shows no contact details: not logged
    list_tasks(s, actor=w["bob"], contacts=True, status="done")
    assert closed.id not in [r["id"] for r in rows]
    assert events(s) == [(w["bob_row"].id, "runsheet", "round.xlsx", 2,
                          sorted([w["m"].id, m2.id]))]
    list_tasks(s, actor=w["bob"], contacts=True, door="service")
    assert events(s)[-1][:4] == (w["bob_row"].id, "service", None, 2)
    no_details_in_the_log(s)


def test_the_survey_prompts_showing_values_on_record_are_logged(w):
    from outreach.tasks.work.worklist import AnswerForm, record_or_ask

    s = w["s"]
    t = f.task(s, member_=w["m"], status=TS.ASSIGNED, volunteer_=w["bob_row"],
               run=f.campaign_run(s, campaign_=f.campaign(s, kind=CampaignKind.SURVEY)))
    form = record_or_ask(s, task_id=t.id, outcome="reached", actor=w["bob"], door="service")
    assert isinstance(form, AnswerForm) and form.on_record["phone"] == PHONE
    assert events(s) == [(w["bob_row"].id, "service", None, 1, [w["m"].id])]


def test_the_member_card_is_logged(w):
    from outreach.tasks.ledger.reports import member_card

    s = w["s"]
    card = member_card(s, ref=w["m"].ledger_no, actor=w["bob"])
    assert PHONE in card
    assert events(s) == [(w["bob_row"].id, "member-card", None, 1, [w["m"].id])]


def test_the_unreachable_list_is_logged_with_its_file(w):
    from outreach.tasks.campaigns.coverage import unreachable_list

    s = w["s"]
    u = f.member_in(s, "unreachable", branch_=w["br"], family_contact_phone="555 0777")
    rows = unreachable_list(s, actor=w["coord"], file_name="out/unreachable.xlsx")
    assert [r["id"] for r in rows] == [u.id]
    assert events(s) == [(w["coord_row"].id, "unreachable", "unreachable.xlsx", 1, [u.id])]


def test_every_export_is_logged_with_its_file_and_count(w):
    from outreach.tasks.ledger.book import export_ledger, export_ledger_xlsx, export_rows

    s = w["s"]
    total = s.scalar(select(func.count()).select_from(Member))
    n = export_ledger(s, io.StringIO(), actor=w["coord"], file_name="/tmp/x/ledger.csv")
    export_ledger_xlsx(s, io.BytesIO(), actor=w["coord"], file_name="ledger.xlsx")
    list(export_rows(s, actor=w["coord"], branch_ids=[w["br"].id]))
    ev = events(s)
    assert n == total
    assert [e[:4] for e in ev] == [(w["coord_row"].id, "export", "ledger.csv", total),
                                  (w["coord_row"].id, "export", "ledger.xlsx", total),
                                  (w["coord_row"].id, "export", None, 1)]
    assert len(ev[0][4]) == total and ev[2][4] == [w["m"].id]
    no_details_in_the_log(s)


def test_a_big_export_is_logged_in_a_few_statements(w):
    """A whole ledger is two INSERTs and a count, however many members it holds."""
    s = w["s"]
    for i in range(300):
        f.member(s, branch_=w["br"])
    statements = []
    conn = s.connection()
    listen = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(conn, "before_cursor_execute", listen)
    try:
        note_shown(s, actor=w["coord"], member_ids=select(Member.id), door="export",
                   file_name="all.csv")
    finally:
        event.remove(conn, "before_cursor_execute", listen)
    assert len(statements) <= 3
    assert events(s)[0][3] == s.scalar(select(func.count()).select_from(Member))


def test_nothing_shown_nothing_logged(w):
    assert note_shown(w["s"], actor=w["bob"], member_ids=[], door="cli") is None
    assert events(w["s"]) == []


def test_the_report_finds_them_by_member_and_by_volunteer(w):
    from outreach.tasks.ledger.reports import member_card
    from outreach.tasks.work.worklist import task_view

    s = w["s"]
    other = f.member(s, branch_=w["br"], phone="555 0200")
    task_view(s, task_id=w["t"].id, actor=w["bob"])
    member_card(s, ref=other.ledger_no, actor=w["coord"])
    member_card(s, ref=w["m"].ledger_no, actor=w["coord"])
    by_member = access_report(s, actor=w["coord"], member=w["m"].ledger_no)
    assert [(r["volunteer_id"], r["volunteer"], r["door"], r["members"]) for r in by_member] \
        == [(w["bob_row"].id, "Bob", "cli", 1),
            (w["coord_row"].id, w["coord_row"].name, "member-card", 1)]
    by_bob = access_report(s, actor=w["coord"], volunteer=w["bob_row"].id)
    assert [r["door"] for r in by_bob] == ["cli"]
    today = dt.datetime.now(dt.UTC).date()
    assert len(access_report(s, actor=w["coord"], member=w["m"].ledger_no,
                             since=today - dt.timedelta(days=1),
                             until=today + dt.timedelta(days=1))) == 2
    assert access_report(s, actor=w["coord"], member=w["m"].ledger_no,
                         until=dt.date(2020, 1, 1)) == []
    with pytest.raises(BadInput):
        access_report(s, actor=w["coord"])
    with pytest.raises(Refused):
        access_report(s, actor=w["bob"], member=w["m"].ledger_no)


def test_log_rows_cannot_be_changed_or_deleted(w):
    from outreach.tasks.work.worklist import task_view

    s = w["s"]
    task_view(s, task_id=w["t"].id, actor=w["bob"])
    s.flush()
    for stmt in ("UPDATE access_events SET door = 'x'",
                 "DELETE FROM access_events",
                 "UPDATE access_event_members SET member_id = member_id",
                 "DELETE FROM access_event_members"):
        refused(s, lambda: s.execute(text(stmt)), mark="append-only")
    assert len(events(s)) == 1


# --- the purge ----------------------------------------------------------------------------

DAY = dt.date(2027, 1, 1)  # before the tests' real today (2027-12-31), after the clock's


def _left(s, state: str, *, at: dt.datetime | None = None, **contacts) -> Member:
    """A member deceased or moved out now (before DAY) — or, with ``at``, whose latest
    move into that status is dated ``at`` (after DAY)."""
    m = f.member_in(s, state, **contacts)
    if at is not None:
        s.add(MemberStatusChange(member_id=m.id, from_status="active", to_status=state,
                                 reason="test: later", at=at))
        s.flush()
    return m


def test_purge_clears_exactly_the_departed_before_the_day(w):
    s = w["s"]
    details = dict(phone="555 0300", home_address="2 Elm St", current_address="3 Oak St",
                   family_contact_name="Kim", family_contact_phone="555 0301")
    gone = _left(s, "deceased", **details)
    moved = _left(s, "moved_out", **details)
    later = _left(s, "moved_out", at=dt.datetime(2027, 6, 1), **details)
    active = f.member_in(s, "active", **details)
    t = f.task(s, member_=moved, status=TS.ASSIGNED, volunteer_=w["bob_row"])
    s.add(Attempt(task_id=t.id, volunteer_id=w["bob_row"].id, outcome="reached",
                  answers=json.dumps({"phone": "555 0300", "needs": "a ramp"}),
                  recorded_on=dt.date(2026, 1, 20)))
    history_before = {m.id: s.scalar(select(func.count()).select_from(MemberStatusChange)
                                     .where(MemberStatusChange.member_id == m.id))
                      for m in (gone, moved)}
    done = purge_departed(s, actor=w["coord"], before=DAY)
    assert (done.members, done.fields, done.answers) == (2, 10, 1)
    for m in (gone, moved):
        s.refresh(m)
        assert (m.phone, m.home_address, m.current_address, m.family_contact_name,
                m.family_contact_phone) == (None, None, None, None, None)
        assert s.scalar(select(func.count()).select_from(MemberStatusChange)
                        .where(MemberStatusChange.member_id == m.id)) == history_before[m.id]
        rows = s.execute(select(MemberChange.field, MemberChange.old_value,
                                MemberChange.new_value, MemberChange.actor_id)
                         .where(MemberChange.member_id == m.id)).all()
        assert sorted(r.field for r in rows) == sorted(details)
        assert {(r.old_value, r.new_value, r.actor_id) for r in rows} == \
            {(None, None, w["coord_row"].id)}
    for m in (later, active):
        s.refresh(m)
        assert m.phone == "555 0300" and m.family_contact_phone == "555 0301"
    assert json.loads(s.scalar(select(Attempt.answers).where(Attempt.task_id == t.id))) \
        == {"needs": "a ramp"}
    # a second purge finds nothing left to clear
    assert purge_departed(s, actor=w["coord"], before=DAY).members == 0


def test_purge_is_refused_for_volunteers_and_for_a_future_day(w):
    s = w["s"]
    gone = _left(s, "deceased", phone="555 0400")
    with pytest.raises(Refused):
        purge_departed(s, actor=w["bob"], before=DAY)
    with pytest.raises(BadInput, match="future"):
        purge_departed(s, actor=w["coord"], before=dt.date(2099, 1, 1))
    s.refresh(gone)
    assert gone.phone == "555 0400" and gone.status == MS.DECEASED
