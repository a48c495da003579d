"""Movements (`tasks.ledger.movements`): one row for every change of residence, whichever path it
came by — a ``moved`` outcome, a survey answer, the ledger import, a confirmed move out,
taking a moved-out member back in — with ``away_since`` (members imported as living away
too) and ``transfer_considered_on`` kept; never a street address."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from outreach.db.codes import Residence
from outreach.db.errors import BadInput
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import CampaignKind, Member, Movement
from outreach.tasks.ledger import book as ledger, movements
from outreach.tasks.work.outcomes import confirm, record_outcome
from tests.db import factories as f

TODAY = dt.date(2026, 11, 20)
SURVEY_OK = {"phone": "555 0100", "address": "9 New Road", "residence": "local",
             "homebound": "no"}


def moves(s, member_id) -> list[tuple]:
    return [tuple(r) for r in s.execute(
        select(Movement.kind, Movement.from_place, Movement.to_place, Movement.source,
               Movement.happened_on)
        .where(Movement.member_id == member_id).order_by(Movement.id))]


@pytest.fixture
def w(session):
    br = f.branch(session, name="West")
    coord = f.coordinator(session, branch_=br)
    vol = f.volunteer(session, branch_=br)
    m = f.member(session, branch_=br, ledger_no="MV1", phone="555 0100",
                 home_address="1 Old Street")
    return dict(s=session, br=br, coord=coord, vol=vol, m=m)


def _task(w, kind):
    return f.task(w["s"], member_=w["m"], status=TS.ASSIGNED, volunteer_=w["vol"], kind=kind)


def test_a_moved_outcome_is_a_movement_away_and_sets_away_since(w):
    s, m = w["s"], w["m"]
    t = _task(w, CampaignKind.PHONE_VISIT)
    record_outcome(s, task_id=t.id, outcome="moved", actor=f.actor(s, w["vol"]), today=TODAY,
                   answers={"residence": "away", "address": "5 Far Lane, Shenzhen"})
    assert moves(s, m.id) == [("away", "local", "away", "outcome", TODAY)]
    assert m.away_since == TODAY
    # no street address anywhere in the movement
    row = s.scalars(select(Movement).where(Movement.member_id == m.id)).one()
    assert "Lane" not in f"{row.from_place}{row.to_place}"


def test_a_survey_answer_back_home_is_a_movement_back_and_clears_the_stay(w):
    s, m = w["s"], w["m"]
    m.residence, m.away_since = Residence.AWAY, dt.date(2026, 1, 1)
    m.transfer_considered_on = dt.date(2026, 7, 1)
    s.flush()
    t = _task(w, CampaignKind.SURVEY)
    record_outcome(s, task_id=t.id, outcome="reached", actor=f.actor(s, w["vol"]),
                   today=TODAY, answers=SURVEY_OK)
    assert moves(s, m.id) == [("back", "away", "local", "survey", TODAY)]
    assert (m.away_since, m.transfer_considered_on) == (None, None)


def test_a_survey_that_changes_nothing_writes_no_movement(w):
    s, m = w["s"], w["m"]
    t = _task(w, CampaignKind.SURVEY)
    record_outcome(s, task_id=t.id, outcome="reached", actor=f.actor(s, w["vol"]),
                   today=TODAY, answers=SURVEY_OK)
    assert moves(s, m.id) == []


def test_a_new_address_while_away_is_a_movement_to_another_city(w):
    s, m = w["s"], w["m"]
    m.residence, m.current_address, m.away_since = Residence.AWAY, "2 A St", dt.date(2026, 1, 1)
    s.flush()
    t = _task(w, CampaignKind.PHONE_VISIT)
    record_outcome(s, task_id=t.id, outcome="moved", actor=f.actor(s, w["vol"]), today=TODAY,
                   answers={"residence": "away", "address": "3 B St"})
    assert moves(s, m.id) == [("city", "away", "away", "outcome", TODAY)]
    assert m.away_since == dt.date(2026, 1, 1)  # still the same stay away


def test_a_confirmed_move_out_is_a_movement(w):
    s, m = w["s"], w["m"]
    t = _task(w, CampaignKind.PHONE_VISIT)
    record_outcome(s, task_id=t.id, outcome="moved", actor=f.actor(s, w["vol"]), today=TODAY,
                   answers={"moved_out": "yes"})
    confirm(s, member_ref="MV1", what="moved", actor=f.actor(s, w["coord"]))
    assert [r[:4] for r in moves(s, m.id)] == [("away", "local", "away", "outcome"),
                                              ("moved_out", "away", "moved out", "cli")]


def test_the_ledger_import_writes_its_residence_changes_in_one_go(w):
    s, m = w["s"], w["m"]
    other = f.member(s, branch_=w["br"], ledger_no="MV2")
    rows = ledger.read_ledger(_csv([("MV1", "away"), ("MV2", "local")]))
    ledger.import_ledger(s, rows, actor=f.actor(s, w["coord"]))
    assert [r[:4] for r in moves(s, m.id)] == [("away", "local", "away", "import")]
    assert moves(s, other.id) == []
    assert s.get(Member, m.id).away_since is not None


def _csv(rows) -> bytes:
    import io

    out = io.StringIO()
    out.write("ledger_no,name,birth_date,phone,branch,residence,home_address,current_address,"
              "homebound,family_contact_name,family_contact_phone\n")
    for no, res in rows:
        out.write(f"{no},Name {no},1950-01-01,,West,{res},,,no,,\n")
    return io.BytesIO(out.getvalue().encode())


def test_a_typed_place_is_a_city_never_an_address():
    assert movements.check_place("  Shenzhen ") == "Shenzhen"
    for bad in ("12 Harbour Road", "x" * 81, "a\x07b"):
        with pytest.raises(BadInput):
            movements.check_place(bad)


def test_a_moved_out_member_taken_back_in_is_a_movement_back_in(w):
    from outreach.tasks.ledger.people import reactivate_member

    s, m = w["s"], w["m"]
    t = _task(w, CampaignKind.PHONE_VISIT)
    record_outcome(s, task_id=t.id, outcome="moved", actor=f.actor(s, w["vol"]), today=TODAY,
                   answers={"moved_out": "yes"})
    confirm(s, member_ref="MV1", what="moved", actor=f.actor(s, w["coord"]))
    assert m.status == "moved_out"
    reactivate_member(s, member_ref="MV1", reason="came back to town",
                      actor=f.actor(s, w["coord"]))
    assert m.status == "unverified"
    back = moves(s, m.id)[-1]
    assert back[:4] == ("back_in", "moved out", "away", "cli")
    # still living away (the moved outcome said so): a new stay away from today
    assert m.away_since == back[4] and m.transfer_considered_on is None


def test_a_local_member_taken_back_in_has_no_stay_away(w):
    from outreach.db.state import move_member
    from outreach.tasks.ledger.people import reactivate_member

    s, m = w["s"], w["m"]
    move_member(s, m, "moved_out", actor_id=w["coord"].id, reason="left", coordinator=True)
    reactivate_member(s, member_ref="MV1", reason="back", actor=f.actor(s, w["coord"]))
    assert [r[:3] for r in moves(s, m.id)] == [("back_in", "moved out", "local")]
    assert m.away_since is None


def test_members_imported_as_living_away_are_away_since_the_import(w):
    from outreach.tasks.care import care
    from outreach.tasks.kernel import rules

    s, m = w["s"], w["m"]
    m.residence = Residence.AWAY  # away before, with no date known
    s.flush()
    rows = ledger.read_ledger(_csv([("MV1", "away"), ("MV3", "away"), ("MV4", "local")]))
    ledger.import_ledger(s, rows, actor=f.actor(s, w["coord"]))
    day = rules.real_today()
    new = {x.ledger_no: x for x in s.scalars(select(Member).where(
        Member.ledger_no.in_(["MV3", "MV4"])))}
    assert (new["MV3"].away_since, new["MV4"].away_since, m.away_since) == (day, None, day)
    assert moves(s, m.id) == []  # no change of residence: no movement
    # … so that six months later a coordinator considers their transfer, once
    assert care.plan_transfers(s, today=day + dt.timedelta(days=120)) == 0
    assert care.plan_transfers(s, today=day + dt.timedelta(days=200)) == 2
    assert care.plan_transfers(s, today=day + dt.timedelta(days=240)) == 0
