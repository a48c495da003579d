"""Recording outcomes: each code's effect on the task and the member (PRODUCT.md's table),
refusals that write nothing, release / reassign / skip / confirm, optimistic locking."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import BadInput, Conflict, NotFound, Refused
from db.machines import MemberStatus as MS
from db.machines import TaskStatus as TS
from db.models import (
    Attempt,
    Branch,
    Campaign,
    CampaignKind,
    CampaignRun,
    Member,
    MemberChange,
    MemberStatusChange,
    OutreachTask,
    Residence,
    TaskStatusChange,
    Volunteer,
)
from db.session import make_engine, session_scope
from tasks import outcomes as oc
from tasks.access import Actor
from tests.db import factories as f

K = CampaignKind
TODAY = dt.date(2026, 11, 2)
EARLIER = dt.date(2025, 3, 1)
SURVEY_OK = {"phone": "same", "address": "same", "residence": "same", "homebound": "same"}


def actor(v: Volunteer) -> Actor:
    return Actor(id=v.id, name=v.name, role=str(v.role), branch_id=v.branch_id)


@dataclass
class World:
    branch: Branch
    vol: Volunteer
    coord: Volunteer
    member: Member
    campaign: Campaign
    run: CampaignRun
    task: OutreachTask

    @property
    def a(self) -> Actor:
        return actor(self.vol)


def world(s: Session, kind: str = K.PHONE_VISIT, *, member_state: str = MS.UNVERIFIED,
          retry_days: int = 2, max_attempts: int = 3, coordinator: bool = True,
          **member_fields) -> World:
    br = f.branch(s)
    vol = f.volunteer(s, branch_=br)
    coord = f.coordinator(s, branch_=br) if coordinator else None
    m = f.member_in(s, member_state, branch_=br, **member_fields)
    camp = f.campaign(s, kind=kind, retry_days=retry_days, max_attempts=max_attempts)
    run = f.campaign_run(s, campaign_=camp)
    t = f.task(s, member_=m, run=run, status=TS.ASSIGNED, volunteer_=vol,
               max_attempts=max_attempts)
    return World(br, vol, coord, m, camp, run, t)


def other_task(s: Session, w: World, kind: str, status: str = TS.ASSIGNED) -> OutreachTask:
    """Another task of the same member in another run."""
    run = f.campaign_run(s, campaign_=f.campaign(s, kind=kind))
    return f.task_in(s, status, member_=w.member, run=run, volunteer_=w.vol)


def record(s: Session, w: World, outcome: str, *, who: Actor | None = None, **kw):
    kw.setdefault("today", TODAY)
    return oc.record_outcome(s, task_id=w.task.id, outcome=outcome, actor=who or w.a, **kw)


def counts(s: Session) -> dict[str, int]:
    s.flush()
    return {m.__name__: s.scalar(select(func.count()).select_from(m)) for m in (
        Attempt, TaskStatusChange, MemberStatusChange, MemberChange, OutreachTask,
        CampaignRun, Campaign)}


def task_history(s: Session, task_id: int) -> list[tuple]:
    return [tuple(r) for r in s.execute(
        select(TaskStatusChange.from_status, TaskStatusChange.to_status,
               TaskStatusChange.volunteer_id, TaskStatusChange.actor_id)
        .where(TaskStatusChange.task_id == task_id).order_by(TaskStatusChange.id))]


def member_history(s: Session, member_id: int) -> list[tuple[str, str]]:
    return [tuple(r) for r in s.execute(
        select(MemberStatusChange.from_status, MemberStatusChange.to_status)
        .where(MemberStatusChange.member_id == member_id).order_by(MemberStatusChange.id))]


def changes(s: Session, member_id: int) -> dict[str, tuple]:
    return {c.field: (c.old_value, c.new_value, c.actor_id) for c in s.scalars(
        select(MemberChange).where(MemberChange.member_id == member_id)
        .order_by(MemberChange.id))}


def attempts_of(s: Session, task_id: int) -> list[Attempt]:
    return list(s.scalars(select(Attempt).where(Attempt.task_id == task_id)
                          .order_by(Attempt.id)))


def refused_writes_nothing(s: Session, exc: type[Exception], fn, *args, **kw):
    before = counts(s)
    with pytest.raises(exc) as info:
        with s.begin_nested():
            fn(*args, **kw)
    assert counts(s) == before
    return str(info.value)


# --- reached ------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [MS.UNVERIFIED, MS.UNREACHABLE])
def test_a_survey_that_reached_activates_confirms_and_applies_answers(session, start):
    w = world(session, K.SURVEY, member_state=start, phone="555 0100",
              home_address="1 Old Street", family_contact_name="Old Ann",
              failed_contacts=2, phone_verified_on=EARLIER)
    answers = {"phone": "555 0199", "address": "2 New Street", "residence": "local",
               "homebound": "yes", "family_contact_name": "Ann", "family_contact_phone":
               "555 0111", "needs": "large print", "interests": "choir,chess"}
    res = record(session, w, "reached", answers=answers, note="a nice chat")

    assert (res.task_status, res.member_status, res.outcome) == ("done", "active", "reached")
    m, t = w.member, w.task
    assert t.status == TS.DONE and t.outcome == "reached" and t.next_attempt_on is None
    assert m.status == MS.ACTIVE
    assert m.confirmed_on == m.phone_verified_on == m.address_verified_on \
        == m.family_contact_verified_on == TODAY
    assert (m.phone, m.home_address, m.homebound) == ("555 0199", "2 New Street", True)
    assert (m.family_contact_name, m.family_contact_phone) == ("Ann", "555 0111")
    assert (m.needs, m.interests) == ("large print", "choir,chess")
    assert m.current_address is None and m.residence == Residence.LOCAL
    assert (m.failed_contacts, m.last_reached_on, m.last_reached_by) == (0, TODAY, w.vol.id)
    assert m.last_contact_on == TODAY
    got = changes(session, m.id)
    assert got["phone"] == ("555 0100", "555 0199", w.vol.id)
    assert got["home_address"] == ("1 Old Street", "2 New Street", w.vol.id)
    assert got["homebound"] == ("no", "yes", w.vol.id)
    assert got["family_contact_name"] == ("Old Ann", "Ann", w.vol.id)
    assert got["family_contact_phone"] == (None, "555 0111", w.vol.id)
    assert {"needs", "interests"} <= set(got) and "residence" not in got
    assert member_history(session, m.id)[-1] == (start, "active")
    assert task_history(session, t.id)[-1] == ("assigned", "done", w.vol.id, w.vol.id)
    [a] = attempts_of(session, t.id)
    assert (a.outcome, a.volunteer_id, a.recorded_by, a.recorded_on, a.note) == \
        ("reached", w.vol.id, w.vol.id, TODAY, "a nice chat")
    assert '"555 0199"' in a.answers


def test_survey_answers_same_keep_the_values_and_write_no_changes(session):
    w = world(session, K.SURVEY, member_state=MS.ACTIVE, phone="555 0100",
              home_address="1 Old Street", homebound=True, family_contact_name="Ann")
    record(session, w, "reached", answers={**SURVEY_OK, "family_contact_name": "same"})
    m = w.member
    assert (m.phone, m.home_address, m.homebound, m.family_contact_name) == \
        ("555 0100", "1 Old Street", True, "Ann")
    assert m.confirmed_on == TODAY and m.status == MS.ACTIVE
    assert changes(session, m.id) == {}
    assert member_history(session, m.id) == [("new", "active")]  # active stays active


def test_survey_residence_away_puts_the_address_into_current_address(session):
    w = world(session, K.SURVEY, home_address="1 Old Street")
    record(session, w, "reached", answers={**SURVEY_OK, "residence": "away",
                                           "address": "9 Far Road, Springfield"})
    m = w.member
    assert m.residence == Residence.AWAY
    assert (m.home_address, m.current_address) == ("1 Old Street", "9 Far Road, Springfield")
    got = changes(session, m.id)
    assert got["residence"][:2] == ("local", "away")
    assert got["current_address"][:2] == (None, "9 Far Road, Springfield")
    assert "home_address" not in got


def test_survey_of_an_away_member_updates_the_current_address(session):
    w = world(session, K.SURVEY, residence=Residence.AWAY, home_address="1 Old Street",
              current_address="9 Far Road")
    record(session, w, "reached", answers={**SURVEY_OK, "address": "10 Far Road"})
    assert (w.member.home_address, w.member.current_address) == ("1 Old Street", "10 Far Road")


@pytest.mark.parametrize("kind", [K.PHONE_VISIT, K.SURVEY])
def test_reached_resets_failed_contacts_and_sets_last_reached(session, kind):
    w = world(session, kind, member_state=MS.ACTIVE, failed_contacts=2,
              last_reached_on=EARLIER)
    answers = SURVEY_OK if kind == K.SURVEY else None
    res = record(session, w, "reached", answers=answers)
    m = w.member
    assert res.task_status == "done" and w.task.outcome == "reached"
    assert (m.last_reached_on, m.last_reached_by, m.failed_contacts) == (TODAY, w.vol.id, 0)
    assert m.last_contact_on == TODAY and m.status == MS.ACTIVE


def test_reached_on_a_phone_visit_activates_an_unverified_member(session):
    w = world(session, K.PHONE_VISIT)
    record(session, w, "reached")
    assert w.member.status == MS.ACTIVE
    assert w.member.confirmed_on is None  # only a survey confirms the whole record


@pytest.mark.parametrize("code", ["delivered", "delivered_to_family"])
def test_delivery_outcomes_close_the_task_and_update_last_contact(session, code):
    w = world(session, K.DELIVERY, member_state=MS.ACTIVE, failed_contacts=1,
              homebound=True)
    res = record(session, w, code)
    m = w.member
    assert res.task_status == "done" and w.task.outcome == code and w.task.attempts == 0
    assert m.last_contact_on == TODAY and m.failed_contacts == 0
    assert m.status == MS.ACTIVE
    if code == "delivered":
        assert (m.last_reached_on, m.last_reached_by) == (TODAY, w.vol.id)
    assert task_history(session, w.task.id)[-1][:2] == ("assigned", "done")


# --- attempts -----------------------------------------------------------------------------

FAILED_CONTACT = [(K.PHONE_VISIT, "no_answer"), (K.PHONE_VISIT, "left_message"),
                  (K.SURVEY, "no_answer"), (K.SURVEY, "not_home"), (K.DELIVERY, "not_home")]
NO_FAILED_CONTACT = [(K.PHONE_VISIT, "callback_requested"), (K.SURVEY, "callback_requested"),
                     (K.SURVEY, "inaccessible"), (K.DELIVERY, "inaccessible"),
                     (K.PHONE_VISIT, "temporarily_away"), (K.DELIVERY, "temporarily_away")]


@pytest.mark.parametrize("kind,code", FAILED_CONTACT)
def test_a_failed_contact_counts_an_attempt_and_schedules_a_retry(session, kind, code):
    w = world(session, kind, member_state=MS.ACTIVE, retry_days=5, failed_contacts=1)
    res = record(session, w, code, note="rang twice")
    t, m = w.task, w.member
    assert (t.status, t.attempts, t.next_attempt_on) == (TS.ASSIGNED, 1, TODAY + dt.timedelta(5))
    assert t.volunteer_id == w.vol.id and t.outcome is None
    assert (res.task_status, res.attempts, res.next_attempt_on) == \
        ("assigned", 1, TODAY + dt.timedelta(5))
    assert m.failed_contacts == 2 and m.status == MS.ACTIVE and m.last_contact_on == TODAY
    assert [a.outcome for a in attempts_of(session, t.id)] == [code]
    assert task_history(session, t.id) == [("new", "assigned", w.vol.id, None)]


@pytest.mark.parametrize("kind,code", NO_FAILED_CONTACT)
def test_other_attempts_retry_without_a_failed_contact(session, kind, code):
    w = world(session, kind, member_state=MS.ACTIVE, retry_days=3, failed_contacts=2)
    res = record(session, w, code)
    assert (w.task.status, w.task.attempts) == (TS.ASSIGNED, 1)
    assert w.task.next_attempt_on == TODAY + dt.timedelta(3)
    assert w.member.failed_contacts == 2 and w.member.status == MS.ACTIVE
    assert res.escalation_task_id is None


@pytest.mark.parametrize("code", ["no_answer", "callback_requested"])
def test_when_attempts_run_out_the_task_fails(session, code):
    w = world(session, K.PHONE_VISIT, max_attempts=2)
    record(session, w, code)
    res = record(session, w, code, today=TODAY + dt.timedelta(2))
    t = w.task
    assert (t.status, t.attempts, t.outcome, t.next_attempt_on) == (TS.FAILED, 2, code, None)
    assert res.task_status == "failed"
    assert task_history(session, t.id)[-1][:2] == ("assigned", "failed")
    assert len(attempts_of(session, t.id)) == 2
    msg = refused_writes_nothing(session, Refused, record, session, w, code)
    assert "failed" in msg


def test_wrong_number_unverifies_the_phone_and_the_record(session):
    w = world(session, K.PHONE_VISIT, member_state=MS.ACTIVE, phone="555 0100",
              phone_verified_on=EARLIER, confirmed_on=EARLIER, address_verified_on=EARLIER)
    res = record(session, w, "wrong_number")
    m = w.member
    assert res.task_status == "assigned" and w.task.attempts == 1
    assert m.phone_verified_on is None and m.confirmed_on is None
    assert m.address_verified_on == EARLIER and m.phone == "555 0100"
    assert m.failed_contacts == 1
    assert changes(session, m.id)["phone_verified_on"][:2] == (EARLIER.isoformat(), None)


def test_three_failed_contacts_in_a_row_make_the_member_unreachable_and_escalate(session):
    w = world(session, K.PHONE_VISIT, member_state=MS.ACTIVE, max_attempts=5)
    for i, code in enumerate(["no_answer", "left_message"]):
        res = record(session, w, code, today=TODAY + dt.timedelta(i))
        assert res.escalation_task_id is None and w.member.status == MS.ACTIVE
    res = record(session, w, "no_answer", today=TODAY + dt.timedelta(2))
    m = w.member
    assert m.status == MS.UNREACHABLE and res.member_status == "unreachable"
    assert member_history(session, m.id)[-1] == ("active", "unreachable")
    assert w.task.status == TS.ASSIGNED  # attempts remain: 3 of 5
    esc = session.get(OutreachTask, res.escalation_task_id)
    assert (esc.kind, esc.status, esc.volunteer_id, esc.member_id) == \
        (K.ESCALATION, TS.ASSIGNED, w.coord.id, m.id)
    assert task_history(session, esc.id) == [("new", "assigned", w.coord.id, w.vol.id)]
    # one more failed contact does not make a second escalation
    res = record(session, w, "no_answer", today=TODAY + dt.timedelta(3))
    n = session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.member_id == m.id, OutreachTask.kind == K.ESCALATION))
    assert n == 1 and m.failed_contacts == 4


def test_a_contact_in_between_breaks_the_row(session):
    w = world(session, K.PHONE_VISIT, member_state=MS.ACTIVE, max_attempts=5)
    record(session, w, "no_answer")
    record(session, w, "no_answer")
    other = other_task(session, w, K.DELIVERY)
    oc.record_outcome(session, task_id=other.id, outcome="delivered", actor=w.a, today=TODAY)
    res = record(session, w, "no_answer")
    assert w.member.failed_contacts == 1 and res.member_status == "active"


def test_escalation_goes_to_the_nearest_ancestors_coordinator(session):
    far = f.branch(session)
    f.coordinator(session, branch_=far)  # lower id, but not above the member's branch
    top = f.branch(session)
    mid = f.branch(session, parent=top)
    coord_top = f.coordinator(session, branch_=top)
    f.coordinator(session, branch_=mid, active=False)
    leaf = f.branch(session, parent=mid)
    vol = f.volunteer(session, branch_=leaf)
    m = f.member_in(session, MS.ACTIVE, branch_=leaf, failed_contacts=2)
    t = f.task(session, member_=m, status=TS.ASSIGNED, volunteer_=vol)
    res = oc.record_outcome(session, task_id=t.id, outcome="no_answer", actor=actor(vol),
                            today=TODAY)
    esc = session.get(OutreachTask, res.escalation_task_id)
    assert esc.volunteer_id == coord_top.id and esc.status == TS.ASSIGNED


# --- closing outcomes ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [K.DELIVERY, K.PHONE_VISIT, K.SURVEY])
def test_moved_away_updates_residence_and_cancels_open_deliveries(session, kind):
    w = world(session, kind, member_state=MS.ACTIVE, home_address="1 Old Street",
              homebound=True)
    delivery = other_task(session, w, K.DELIVERY)
    open_delivery = other_task(session, w, K.DELIVERY, TS.OPEN)
    phone = other_task(session, w, K.PHONE_VISIT)
    res = record(session, w, "moved", answers={"residence": "away",
                                               "address": "9 Far Road, Springfield"})
    m = w.member
    assert res.task_status == "done" and w.task.outcome == "moved"
    assert not w.task.pending_confirmation and m.status == MS.ACTIVE
    assert m.residence == Residence.AWAY and m.current_address == "9 Far Road, Springfield"
    assert m.home_address == "1 Old Street"
    got = changes(session, m.id)
    assert got["residence"][:2] == ("local", "away") and "current_address" in got
    assert delivery.status == TS.CANCELLED and open_delivery.status == TS.CANCELLED
    assert phone.status == TS.ASSIGNED
    assert task_history(session, delivery.id)[-1][:2] == ("assigned", "cancelled")


def test_moved_without_answers_means_away(session):
    w = world(session, K.PHONE_VISIT)
    record(session, w, "moved")
    assert w.member.residence == Residence.AWAY
    assert changes(session, w.member.id)["residence"][:2] == ("local", "away")


def test_moved_back_home_keeps_deliveries(session):
    w = world(session, K.PHONE_VISIT, residence=Residence.AWAY, current_address="9 Far Road")
    delivery = other_task(session, w, K.DELIVERY)
    record(session, w, "moved", answers={"residence": "local", "address": "1 Home Street"})
    m = w.member
    assert m.residence == Residence.LOCAL and m.home_address == "1 Home Street"
    assert delivery.status == TS.ASSIGNED


def test_moved_out_waits_for_confirmation(session):
    w = world(session, K.PHONE_VISIT, member_state=MS.ACTIVE)
    record(session, w, "moved", answers={"moved_out": "yes"})
    assert w.task.pending_confirmation and w.member.status == MS.ACTIVE
    oc.confirm(session, member_ref=str(w.member.id), what="moved", actor=actor(w.coord))
    assert w.member.status == MS.MOVED_OUT and not w.task.pending_confirmation


@pytest.mark.parametrize("kind", [K.SURVEY, K.PHONE_VISIT, K.DELIVERY])
def test_refused_closes_the_task_and_leaves_the_member_alone(session, kind):
    w = world(session, kind, member_state=MS.ACTIVE)
    res = record(session, w, "refused", note="not today")
    assert res.task_status == "done" and w.task.outcome == "refused"
    assert w.member.status == MS.ACTIVE and member_history(session, w.member.id) == \
        [("new", "active")]
    assert changes(session, w.member.id) == {}


@pytest.mark.parametrize("kind", [K.SURVEY, K.PHONE_VISIT, K.DELIVERY])
def test_do_not_contact_stops_everything(session, kind):
    w = world(session, kind, member_state=MS.ACTIVE)
    assigned = other_task(session, w, K.PHONE_VISIT)
    opened = other_task(session, w, K.SURVEY, TS.OPEN)
    done = other_task(session, w, K.DELIVERY, TS.DONE)
    res = record(session, w, "do_not_contact")
    assert res.task_status == "done" and res.member_status == "do_not_contact"
    assert w.member.status == MS.DO_NOT_CONTACT
    assert member_history(session, w.member.id)[-1] == ("active", "do_not_contact")
    assert (assigned.status, opened.status, done.status) == \
        (TS.CANCELLED, TS.CANCELLED, TS.DONE)
    assert w.task.status == TS.DONE


# --- deceased and confirmation ------------------------------------------------------------


def test_deceased_waits_for_another_coordinator(session):
    w = world(session, K.PHONE_VISIT, member_state=MS.ACTIVE)
    other = other_task(session, w, K.DELIVERY)
    c2 = f.coordinator(session, branch_=w.branch)
    res = record(session, w, "deceased", who=actor(w.coord), note="the neighbour said so")
    assert res.task_status == "done" and res.pending_confirmation
    assert w.task.pending_confirmation and w.member.status == MS.ACTIVE
    assert other.status == TS.ASSIGNED
    ref = str(w.member.id)

    msg = refused_writes_nothing(session, Refused, oc.confirm, session, member_ref=ref,
                                 what="deceased", actor=actor(w.coord))
    assert "another coordinator" in msg
    refused_writes_nothing(session, Refused, oc.confirm, session, member_ref=ref,
                           what="deceased", actor=w.a)
    assert w.member.status == MS.ACTIVE

    m = oc.confirm(session, member_ref=w.member.ledger_no, what="deceased", actor=actor(c2))
    assert m.status == MS.DECEASED and not w.task.pending_confirmation
    assert other.status == TS.CANCELLED
    assert member_history(session, m.id)[-1] == ("active", "deceased")
    [a] = attempts_of(session, w.task.id)
    assert a.confirmed_by == c2.id and a.confirmed_at is not None
    assert (a.volunteer_id, a.recorded_by) == (w.vol.id, w.coord.id)
    # nothing left to confirm
    refused_writes_nothing(session, Refused, oc.confirm, session, member_ref=ref,
                           what="deceased", actor=actor(w.coord))


def test_deceased_recorded_by_a_volunteer_is_confirmed_by_a_coordinator(session):
    w = world(session, K.DELIVERY)
    record(session, w, "deceased")
    assert w.member.status == MS.UNVERIFIED
    oc.confirm(session, member_ref=str(w.member.id), what="deceased", actor=actor(w.coord))
    assert w.member.status == MS.DECEASED


def test_confirm_refuses_bad_input(session):
    w = world(session, K.PHONE_VISIT)
    with pytest.raises(BadInput):
        oc.confirm(session, member_ref=str(w.member.id), what="alive", actor=actor(w.coord))
    with pytest.raises(NotFound):
        oc.confirm(session, member_ref="no-such-ledger", what="deceased", actor=actor(w.coord))
    with pytest.raises(Refused, match="no deceased outcome"):
        oc.confirm(session, member_ref=str(w.member.id), what="deceased",
                   actor=actor(w.coord))


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind,code", [(K.PHONE_VISIT, "delivered"), (K.PHONE_VISIT, "not_home"),
                                       (K.DELIVERY, "reached"), (K.DELIVERY, "no_answer"),
                                       (K.DELIVERY, "wrong_number"),
                                       (K.SURVEY, "delivered_to_family")])
def test_an_outcome_that_does_not_fit_the_kind_is_refused(session, kind, code):
    w = world(session, kind)
    msg = refused_writes_nothing(session, BadInput, record, session, w, code)
    assert f"does not fit a {kind} task" in msg
    for fit in oc.OUTCOMES_BY_KIND[kind]:
        assert fit.value in msg
    assert w.task.attempts == 0 and w.task.status == TS.ASSIGNED


@pytest.mark.parametrize("code", ["reachd", "", "REACHED; DROP TABLE members", "x" * 200])
def test_an_unknown_outcome_is_refused(session, code):
    w = world(session, K.PHONE_VISIT)
    msg = refused_writes_nothing(session, BadInput, record, session, w, code)
    assert "unknown outcome" in msg and "no_answer" in msg
    assert len(msg) < 400


def test_outcome_codes_are_case_and_space_tolerant(session):
    w = world(session, K.PHONE_VISIT)
    assert record(session, w, " No_Answer ").outcome == "no_answer"


BAD_PHONE = "555-0123 ring Bob"


@pytest.mark.parametrize("answers,fragment", [
    ({**SURVEY_OK, "phone": BAD_PHONE}, "phone is not a phone number"),
    ({**SURVEY_OK, "family_contact_phone": BAD_PHONE}, "family_contact_phone"),
    ({**SURVEY_OK, "mobile": BAD_PHONE}, "'mobile' does not fit"),
    ({**SURVEY_OK, "residence": "abroad"}, "residence must be"),
    ({**SURVEY_OK, "homebound": "sometimes"}, "homebound must be"),
    ({**SURVEY_OK, "needs": "x\x07y"}, "control characters"),
    ({**SURVEY_OK, "needs": "x" * 501}, "too long"),
])
def test_malformed_answers_are_refused_without_echoing_them(session, answers, fragment):
    w = world(session, K.SURVEY, phone="555 0100")
    msg = refused_writes_nothing(session, BadInput, record, session, w, "reached",
                                 answers=answers)
    assert fragment in msg
    assert BAD_PHONE not in msg and "555-0123" not in msg and "abroad" not in msg
    assert w.member.phone == "555 0100"


def test_answers_are_refused_for_outcomes_that_take_none(session):
    w = world(session, K.PHONE_VISIT)
    msg = refused_writes_nothing(session, BadInput, record, session, w, "no_answer",
                                 answers={"phone": BAD_PHONE})
    assert "does not fit" in msg and BAD_PHONE not in msg


@pytest.mark.parametrize("pairs", [["phone"], ["=555"], ["phone=1", "PHONE=2"]])
def test_parse_answers_refuses_malformed_pairs(pairs):
    with pytest.raises(BadInput):
        oc.parse_answers(pairs)


def test_parse_answers_reads_key_value_pairs():
    assert oc.parse_answers(["Phone = 555 0100", "address=1 A=B Street"]) == \
        {"phone": "555 0100", "address": "1 A=B Street"}


def test_a_survey_reached_without_its_answers_is_refused(session):
    w = world(session, K.SURVEY)
    msg = refused_writes_nothing(session, BadInput, record, session, w, "reached")
    for key in oc.SURVEY_REQUIRED:
        assert key in msg
    msg = refused_writes_nothing(session, BadInput, record, session, w, "reached",
                                 answers={"phone": "same", "address": "same"})
    assert "residence" in msg and "homebound" in msg
    assert "phone (" not in msg and "address (" not in msg
    assert w.member.status == MS.UNVERIFIED and w.member.confirmed_on is None


def test_a_note_with_control_characters_is_refused(session):
    w = world(session, K.PHONE_VISIT)
    refused_writes_nothing(session, BadInput, record, session, w, "no_answer", note="a\x1bb")


def test_someone_elses_task_is_refused(session):
    w = world(session, K.PHONE_VISIT)
    intruder = f.volunteer(session, branch_=w.branch)
    msg = refused_writes_nothing(session, Refused, record, session, w, "reached",
                                 who=actor(intruder))
    assert "not yours" in msg
    refused_writes_nothing(session, Refused, oc.release, session, task_id=w.task.id,
                           actor=actor(intruder))
    assert w.task.volunteer_id == w.vol.id


@pytest.mark.parametrize("state", [TS.OPEN, TS.DONE, TS.CANCELLED, TS.EXPIRED])
def test_a_task_that_is_not_assigned_takes_no_outcome(session, state):
    w = world(session, K.PHONE_VISIT)
    t = f.task_in(session, state, member_=f.member(session, branch_=w.branch), run=w.run,
                  volunteer_=w.vol)
    for who in (w.a, actor(w.coord)):
        with pytest.raises(Refused):
            with session.begin_nested():
                before = counts(session)
                oc.record_outcome(session, task_id=t.id, outcome="no_answer", actor=who,
                                  today=TODAY)
        assert counts(session) == before
    assert t.attempts == 0


def test_an_unknown_task_is_not_found(session):
    w = world(session, K.PHONE_VISIT)
    with pytest.raises(NotFound):
        oc.record_outcome(session, task_id=w.task.id + 10_000, outcome="reached", actor=w.a)


@pytest.mark.parametrize("bad", [0, -5, 2**31, 2**63, 10**20])
def test_ids_out_of_range_are_not_found(session, bad):
    w = world(session, K.PHONE_VISIT)
    with pytest.raises(NotFound):
        oc.record_outcome(session, task_id=bad, outcome="reached", actor=w.a)
    with pytest.raises(NotFound):
        oc.reassign(session, task_id=w.task.id, volunteer_id=bad, actor=actor(w.coord))


def test_a_coordinator_may_record_on_a_volunteers_task(session):
    w = world(session, K.PHONE_VISIT)
    record(session, w, "no_answer", who=actor(w.coord))
    [a] = attempts_of(session, w.task.id)
    assert (a.volunteer_id, a.recorded_by) == (w.vol.id, w.coord.id)


def test_a_replayed_source_key_records_once(session):
    w = world(session, K.PHONE_VISIT)
    first = record(session, w, "no_answer", source_key="results:abc")
    again = record(session, w, "no_answer", source_key="results:abc")
    assert not first.duplicate and again.duplicate
    assert w.task.attempts == 1 and len(attempts_of(session, w.task.id)) == 1


def test_expected_version_refuses_a_stale_view(session):
    w = world(session, K.PHONE_VISIT)
    seen = w.task.version
    record(session, w, "no_answer")
    refused_writes_nothing(session, Refused, record, session, w, "no_answer",
                           expected_version=seen)


# --- release, reassign, skip --------------------------------------------------------------


def test_release_hands_the_task_back(session):
    w = world(session, K.PHONE_VISIT)
    oc.release(session, task_id=w.task.id, actor=w.a)
    assert w.task.status == TS.OPEN and w.task.volunteer_id is None
    assert task_history(session, w.task.id)[-1] == ("assigned", "open", None, w.vol.id)
    refused_writes_nothing(session, Refused, oc.release, session, task_id=w.task.id,
                           actor=w.a)  # open now: not yours any more


def test_a_coordinator_may_release_but_not_a_closed_task(session):
    w = world(session, K.PHONE_VISIT)
    record(session, w, "refused")
    refused_writes_nothing(session, Refused, oc.release, session, task_id=w.task.id,
                           actor=actor(w.coord))
    w2 = world(session, K.PHONE_VISIT)
    oc.release(session, task_id=w2.task.id, actor=actor(w2.coord))
    assert w2.task.status == TS.OPEN


def test_reassign_moves_the_task_and_writes_history(session):
    w = world(session, K.PHONE_VISIT)
    v2 = f.volunteer(session, branch_=w.branch)
    oc.reassign(session, task_id=w.task.id, volunteer_id=v2.id, actor=actor(w.coord))
    assert (w.task.status, w.task.volunteer_id) == (TS.ASSIGNED, v2.id)
    assert task_history(session, w.task.id)[-1] == ("assigned", "assigned", v2.id, w.coord.id)
    # the new holder may record, the old one may not
    refused_writes_nothing(session, Refused, record, session, w, "no_answer")
    record(session, w, "no_answer", who=actor(v2))
    assert w.task.attempts == 1


def test_reassign_an_open_task(session):
    w = world(session, K.PHONE_VISIT)
    t = f.task(session, member_=f.member(session, branch_=w.branch), run=w.run)
    oc.reassign(session, task_id=t.id, volunteer_id=w.vol.id, actor=actor(w.coord))
    assert task_history(session, t.id)[-1] == ("open", "assigned", w.vol.id, w.coord.id)


def test_reassign_refusals(session):
    w = world(session, K.PHONE_VISIT)
    v2 = f.volunteer(session, branch_=w.branch)
    gone = f.volunteer(session, branch_=w.branch, active=False)
    c = actor(w.coord)
    msg = refused_writes_nothing(session, Refused, oc.reassign, session, task_id=w.task.id,
                                 volunteer_id=v2.id, actor=w.a)
    assert "coordinator" in msg
    msg = refused_writes_nothing(session, Refused, oc.reassign, session, task_id=w.task.id,
                                 volunteer_id=gone.id, actor=c)
    assert "not active" in msg
    refused_writes_nothing(session, Refused, oc.reassign, session, task_id=w.task.id,
                           volunteer_id=w.vol.id, actor=c)
    refused_writes_nothing(session, NotFound, oc.reassign, session, task_id=w.task.id,
                           volunteer_id=gone.id + 1000, actor=c)
    record(session, w, "refused")
    refused_writes_nothing(session, Refused, oc.reassign, session, task_id=w.task.id,
                           volunteer_id=v2.id, actor=c)
    assert w.task.volunteer_id == w.vol.id


def test_skip_cancels_with_a_reason(session):
    w = world(session, K.PHONE_VISIT)
    c = actor(w.coord)
    refused_writes_nothing(session, Refused, oc.skip, session, task_id=w.task.id,
                           reason="no", actor=w.a)
    refused_writes_nothing(session, BadInput, oc.skip, session, task_id=w.task.id,
                           reason="   ", actor=c)
    oc.skip(session, task_id=w.task.id, reason="in hospital until March", actor=c)
    assert w.task.status == TS.CANCELLED
    reason = session.scalar(select(TaskStatusChange.reason).where(
        TaskStatusChange.task_id == w.task.id, TaskStatusChange.to_status == "cancelled"))
    assert "in hospital until March" in reason
    refused_writes_nothing(session, Refused, oc.skip, session, task_id=w.task.id,
                           reason="again", actor=c)


# --- optimistic locking on a committed database -------------------------------------------


def test_two_sessions_recording_the_same_task_exactly_one_wins(db_url):
    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            w = world(s, K.PHONE_VISIT)
            ids = (w.task.id, w.member.id)
            a = w.a
        s1 = Session(eng, expire_on_commit=False)
        s2 = Session(eng, expire_on_commit=False)
        with s2.begin():  # s2 looked at the task before s1 recorded (keep a reference:
            seen = s2.get(OutreachTask, ids[0])  # the identity map holds objects weakly)
        with s1.begin():
            oc.record_outcome(s1, task_id=ids[0], outcome="reached", actor=a, today=TODAY)
        with pytest.raises(Conflict):
            with s2.begin():
                assert seen.version == 1
                oc.record_outcome(s2, task_id=ids[0], outcome="no_answer", actor=a,
                                  today=TODAY)
        # looking again: the task is done, and a retry is refused plainly
        with pytest.raises(Refused, match="done"):
            with s2.begin():
                s2.refresh(seen)
                oc.record_outcome(s2, task_id=ids[0], outcome="no_answer", actor=a,
                                  today=TODAY)
        s1.close()
        s2.close()
        with session_scope(eng, write=False) as s:
            t = s.get(OutreachTask, ids[0])
            assert (t.status, t.outcome, t.attempts, t.version) == (TS.DONE, "reached", 0, 2)
            assert [x.outcome for x in attempts_of(s, ids[0])] == ["reached"]
            assert s.get(Member, ids[1]).failed_contacts == 0
            assert task_history(s, ids[0])[-1][:2] == ("assigned", "done")
            assert len(task_history(s, ids[0])) == 2
    finally:
        eng.dispose()


def test_a_stale_member_loses_cleanly(db_url):
    """Two different tasks of one member recorded from sessions with a stale member."""
    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            w = world(s, K.PHONE_VISIT, member_state=MS.ACTIVE)
            t2 = other_task(s, w, K.DELIVERY)
            ids, a = (w.task.id, t2.id, w.member.id), w.a
        s1 = Session(eng, expire_on_commit=False)
        s2 = Session(eng, expire_on_commit=False)
        with s2.begin():
            seen = (s2.get(Member, ids[2]), s2.get(OutreachTask, ids[1]))
        with s1.begin():
            oc.record_outcome(s1, task_id=ids[0], outcome="no_answer", actor=a, today=TODAY)
        with pytest.raises(Conflict):
            with s2.begin():
                assert seen[0].version == 1
                oc.record_outcome(s2, task_id=ids[1], outcome="delivered", actor=a,
                                  today=TODAY)
        s1.close()
        s2.close()
        with session_scope(eng, write=False) as s:
            assert s.get(Member, ids[2]).failed_contacts == 1
            assert s.get(OutreachTask, ids[1]).status == TS.ASSIGNED
            assert attempts_of(s, ids[1]) == []
    finally:
        eng.dispose()


@pytest.mark.parametrize("existing_campaign", [False, True])
def test_two_escalations_at_once_share_the_day_s_run(db_url, existing_campaign):
    """Two volunteers' outcomes escalate at the same moment: the second transaction waits
    on the first's uncommitted campaign/run (PostgreSQL: on the unique key; SQLite: on the
    write lock) and then uses it instead of failing (found by the load test)."""
    import threading
    import time

    from db.session import writer

    eng = make_engine(db_url)
    day = dt.date(2026, 11, 4)
    if existing_campaign:  # a later day: the campaign exists, the day's run does not
        with session_scope(eng) as s:
            oc.escalation_run(s, day - dt.timedelta(days=1))
    first = Session(writer(eng))
    first.begin()
    mine = oc.escalation_run(first, day).id
    got: dict = {}

    def second() -> None:
        try:
            with Session(writer(eng)) as s, s.begin():
                got["run"] = oc.escalation_run(s, day).id
        except Exception as exc:  # noqa: BLE001 - the test reports it
            got["error"] = repr(exc)

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    waited = t.is_alive()
    first.commit()
    first.close()
    t.join(60)
    eng.dispose()
    assert waited, "the second transaction ran after the first instead of alongside it"
    assert got == {"run": mine}
