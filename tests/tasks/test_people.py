"""People and their decisions: coordinators, branch names, confirming a death,
reactivating a member, reassigning a task (issue 11, defects 2, 4, 5, 10, 13)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from outreach.db.errors import BadInput, Refused
from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import Attempt, CampaignKind, MemberStatusChange, TaskStatusChange
from outreach.db.state import move_member
from outreach.tasks.work import outcomes as oc
from outreach.tasks.ledger import people
from outreach.tasks.access.permissions import SYSTEM, new_code
from tests.db import factories as f


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- 2. the last active coordinator ------------------------------------------------------


def test_the_last_active_coordinator_cannot_be_made_inactive(session):
    br = f.branch(session)
    only = f.coordinator(session, branch_=br)
    me = f.actor(session, only)
    with pytest.raises(Refused, match="last active coordinator"):
        people.set_volunteer_active(session, volunteer=only, active=False, actor=me)
    assert only.active
    second = f.coordinator(session, branch_=br)
    assert people.set_volunteer_active(session, volunteer=only, active=False, actor=me)
    assert not only.active
    with pytest.raises(Refused, match="last active coordinator"):
        people.set_volunteer_active(session, volunteer=second, active=False,
                                    actor=f.actor(session, second))


def test_a_coordinator_made_active_again_is_a_coordinator_from_now(session):
    br = f.branch(session)
    boss = f.actor(session, f.coordinator(session, branch_=br))
    back = f.coordinator(session, branch_=br, active=False)
    before = _now()
    assert people.set_volunteer_active(session, volunteer=back, active=True, actor=boss)
    assert back.active and back.coordinator_since >= before
    assert not people.set_volunteer_active(session, volunteer=back, active=True, actor=boss)


# --- 4. the two-person rule for a death --------------------------------------------------


def _death(session):
    """A coordinator records a death on their own task; returns (member, recorder)."""
    br = f.branch(session)
    rec = f.coordinator(session, branch_=br)
    member = f.member(session, branch_=br)
    task = f.task(session, member_=member, status=TS.ASSIGNED, volunteer_=rec)
    oc.record_outcome(session, task_id=task.id, outcome="deceased", actor=f.actor(session, rec))
    return member, rec, br


def test_a_coordinator_added_after_the_death_cannot_confirm_it(session):
    """The bypass: the recorder adds a second coordinator and confirms with their code."""
    member, rec, br = _death(session)
    new, code, _ = people.add_volunteer(session, name="Fresh Coord", branch=br.name,
                                        coordinator=True, actor=f.actor(session, rec))
    assert new.coordinator_since >= session.scalar(select(Attempt.recorded_at))
    with pytest.raises(Refused, match="became a coordinator after"):
        oc.confirm(session, member_ref=member.ledger_no, what="deceased",
                   actor=f.actor(session, new, code.split("-", 1)[1]))
    assert member.status != MS.DECEASED


def test_a_coordinator_given_a_new_code_by_the_recorder_cannot_confirm(session):
    member, rec, br = _death(session)
    old = f.coordinator(session, branch_=br)  # a coordinator since long ago …
    # … whose new code the recorder now knows:
    code = new_code(session, volunteer=old, actor=f.actor(session, rec))
    with pytest.raises(Refused, match="became a coordinator after"):
        oc.confirm(session, member_ref=member.ledger_no, what="deceased",
                   actor=f.actor(session, old, code.split("-", 1)[1]))


def test_a_coordinator_of_before_the_death_confirms_it(session):
    member, rec, br = _death(session)
    other = f.coordinator(session, branch_=br)  # coordinator since 2000
    with pytest.raises(Refused, match="another coordinator"):
        oc.confirm(session, member_ref=member.ledger_no, what="deceased",
                   actor=f.actor(session, rec))
    oc.confirm(session, member_ref=member.ledger_no, what="deceased",
               actor=f.actor(session, other))
    assert member.status == MS.DECEASED
    with pytest.raises(Refused, match="scheduled job"):
        oc.confirm(session, member_ref=member.ledger_no, what="deceased", actor=SYSTEM)


# --- 5. undoing do-not-contact -----------------------------------------------------------


def _do_not_contact(session):
    br = f.branch(session)
    vol = f.volunteer(session, branch_=br)
    member = f.member(session, branch_=br)
    task = f.task(session, member_=member, status=TS.ASSIGNED, volunteer_=vol)
    oc.record_outcome(session, task_id=task.id, outcome="do_not_contact",
                      actor=f.actor(session, vol))
    assert member.status == MS.DO_NOT_CONTACT
    return member, vol, br


def test_a_coordinator_reactivates_a_do_not_contact_member_with_a_reason(session):
    member, vol, br = _do_not_contact(session)
    coord = f.actor(session, f.coordinator(session, branch_=br))
    with pytest.raises(Refused, match="only a coordinator"):
        people.reactivate_member(session, member_ref=member.ledger_no, reason="asked",
                                 actor=f.actor(session, vol))
    with pytest.raises(BadInput, match="needs a reason"):
        people.reactivate_member(session, member_ref=member.ledger_no, reason="  ",
                                 actor=coord)
    people.reactivate_member(session, member_ref=member.ledger_no,
                             reason="her son asked us to call again", actor=coord)
    assert member.status == MS.UNVERIFIED
    last = session.scalars(select(MemberStatusChange).where(
        MemberStatusChange.member_id == member.id)
        .order_by(MemberStatusChange.id.desc())).first()
    assert (last.from_status, last.to_status, last.actor_id) == \
        ("do_not_contact", "unverified", coord.id)
    assert "her son asked us to call again" in last.reason
    with pytest.raises(Refused, match="not do_not_contact"):
        people.reactivate_member(session, member_ref=member.ledger_no, reason="again",
                                 actor=coord)


# --- 10. reassignment respects capacity and branch ---------------------------------------


def _reassign_world(session):
    top = f.branch(session)
    north = f.branch(session, parent=top)
    south = f.branch(session, parent=top)
    coord = f.actor(session, f.coordinator(session, branch_=top))
    member = f.member(session, branch_=north)
    run = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.PHONE_VISIT))
    task = f.task(session, member_=member, run=run)
    return dict(top=top, north=north, south=south, coord=coord, member=member, task=task,
                run=run)


def test_reassign_refuses_a_full_volunteer_or_another_branch_unless_forced(session):
    w = _reassign_world(session)
    full = f.volunteer(session, branch_=w["north"], capacity=0)
    stranger = f.volunteer(session, branch_=w["south"], capacity=5)
    for vol, why in ((full, "is full"), (stranger, "not of member")):
        with pytest.raises(Refused, match=why) as err:
            oc.reassign(session, task_id=w["task"].id, volunteer_id=vol.id, actor=w["coord"])
        assert "--force" in str(err.value)
        assert w["task"].volunteer_id is None
    oc.reassign(session, task_id=w["task"].id, volunteer_id=stranger.id, actor=w["coord"],
                force=True)
    assert w["task"].volunteer_id == stranger.id
    reason = session.scalars(select(TaskStatusChange.reason).where(
        TaskStatusChange.task_id == w["task"].id).order_by(TaskStatusChange.id.desc())).first()
    assert "forced" in reason and "not of member" in reason


def test_reassign_to_a_volunteer_with_room_in_the_branch_or_above_it(session):
    w = _reassign_world(session)
    above = f.volunteer(session, branch_=w["top"], capacity=1)
    oc.reassign(session, task_id=w["task"].id, volunteer_id=above.id, actor=w["coord"])
    assert w["task"].volunteer_id == above.id
    other = f.task(session, member_=f.member(session, branch_=w["north"]), run=w["run"])
    with pytest.raises(Refused, match="is full"):  # now at capacity 1
        oc.reassign(session, task_id=other.id, volunteer_id=above.id, actor=w["coord"])


# --- 13. branch names --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["North\u200b", "\u202eNorth", "No\u00adrth", "\ufeffNorth",
                                  "North\u2060"])
def test_branch_names_with_invisible_characters_are_refused(session, name):
    with pytest.raises(BadInput, match="invisible character"):
        people.get_or_create_branch(session, name=name)


def test_a_branch_name_is_stored_in_nfc_and_found_in_any_form(session):
    nfc, nfd = "N\u00f6rth-13", "No\u0308rth-13"
    a, created = people.get_or_create_branch(session, name=nfd)
    assert created and a.name == nfc
    b, created = people.get_or_create_branch(session, name=nfc)
    assert b.id == a.id and not created
    assert people.get_branch(session, name=nfd).id == a.id


@pytest.mark.parametrize("twin", ["north side 13", "North  Side 13", "NORTHSIDE 13",
                                  " North\u00a0Side 13 "])
def test_a_branch_differing_only_by_case_or_spacing_is_refused_naming_the_one(session, twin):
    people.get_or_create_branch(session, name="North Side 13")
    if " ".join(twin.split()) == "North Side 13":  # the same name, spacing evened out
        assert people.get_or_create_branch(session, name=twin)[1] is False
        return
    with pytest.raises(BadInput, match="'North Side 13' exists already"):
        people.get_or_create_branch(session, name=twin)


# --- seeding (defect 1) and the first coordinator (defect 3) -----------------------------


def test_seeding_a_ledger_without_a_coordinator_needs_the_codes_kept(session):
    people.check_seed(session, actor=None, codes_kept=True)
    with pytest.raises(BadInput, match="--codes"):
        people.check_seed(session, actor=None, codes_kept=False)
    boss = f.actor(session, f.coordinator(session))
    people.check_seed(session, actor=boss, codes_kept=False)
    with pytest.raises(Refused, match="coordinator's access code"):
        people.check_seed(session, actor=None, codes_kept=True)


def test_the_first_coordinator_needs_no_code_and_is_a_coordinator_from_now(session):
    before = _now()
    with pytest.raises(Refused, match="no coordinator yet"):
        people.add_volunteer(session, name="Vol", branch="B-first", actor=None)
    first, _, _ = people.add_volunteer(session, name="Ann", branch="B-first", coordinator=True,
                                       actor=None)
    assert first.coordinator_since >= before
    with pytest.raises(Refused, match="coordinator's access code"):
        people.add_volunteer(session, name="Eve", branch="B-first", coordinator=True,
                             actor=None)
    vol, _, _ = people.add_volunteer(session, name="Bob", branch="B-first",
                                     actor=f.actor(session, first))
    assert vol.coordinator_since is None


def test_the_system_cannot_mark_a_member_or_move_them(session):
    """SYSTEM runs jobs; a person's decisions stay with a person."""
    m = f.member(session)
    move_member(session, m, MS.DO_NOT_CONTACT, actor_id=None, reason="test")
    with pytest.raises(Refused, match="scheduled job"):
        people.reactivate_member(session, member_ref=m.ledger_no, reason="x", actor=SYSTEM)
    assert m.status == MS.DO_NOT_CONTACT
