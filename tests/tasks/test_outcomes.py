"""Recording outcomes: each code's effect on the task and the member (PRODUCT.md's table),
refusals that write nothing, release / reassign / skip / confirm, optimistic locking."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from outreach.db.errors import BadInput, Conflict, NotFound, Refused
from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
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
from outreach.db.session import make_engine, session_scope, writer
from outreach.tasks.work import outcomes as oc
from outreach.tasks.access.permissions import Actor
from tests.db import factories as f

K = CampaignKind
TODAY = dt.date(2026, 11, 2)
EARLIER = dt.date(2025, 3, 1)
SURVEY_OK = {"phone": "same", "address": "same", "residence": "same", "homebound": "same"}


def actor(v: Volunteer) -> Actor:
    """The volunteer as an actor, through `authenticate` (tests.db.factories.actor)."""
    return f.actor(object_session(v), v)


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


def _alongside(eng, first: Session, second) -> tuple[bool, dict]:
    """Run ``second(session)`` in its own transaction on another thread while ``first``'s
    transaction is open; commit ``first`` half a second later. Returns whether the second
    was still waiting then, and ``{"result": …}`` or ``{"error": exception}``."""
    import threading
    import time

    got: dict = {}

    def run() -> None:
        try:
            with Session(writer(eng)) as s, s.begin():
                got["result"] = second(s)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            got["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    waited = t.is_alive()
    first.commit()
    first.close()
    t.join(60)
    return waited, got


@pytest.mark.parametrize("first_outcome", ["refused", "reached"])
def test_a_second_hand_queues_behind_the_first_and_sees_the_task_done(db_url, first_outcome):
    """A second outcome for a task whose first is written, not committed: it waits, then
    is refused because the task is done, whatever the first outcome locked (PostgreSQL:
    ``reached`` locks the member on inserting its attempt, ``refused`` the task first).
    Without the row locks `load_task` takes first (the member's, then the task's), the
    second read the task before the first committed and lost on the version instead, or
    the two deadlocked (seen in CI)."""
    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            w = world(s, K.PHONE_VISIT, member_state=MS.ACTIVE)
            tid, a = w.task.id, w.a
        first = Session(writer(eng), expire_on_commit=False)
        first.begin()
        oc.record_outcome(first, task_id=tid, outcome=first_outcome, actor=a, today=TODAY)
        waited, got = _alongside(eng, first, lambda s2: oc.record_outcome(
            s2, task_id=tid, outcome="reached", actor=a, today=TODAY))
        assert waited, "the second hand did not wait for the first"
        err = got.get("error")
        assert type(err) is Refused and "done" in str(err), repr(got)
        with session_scope(eng, write=False) as s:
            assert [x.outcome for x in attempts_of(s, tid)] == [first_outcome]
            assert s.get(OutreachTask, tid).status == TS.DONE
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
    eng = make_engine(db_url)
    day = dt.date(2026, 11, 4)
    if existing_campaign:  # a later day: the campaign exists, the day's run does not
        with session_scope(eng) as s:
            oc.escalation_run(s, day - dt.timedelta(days=1))
    first = Session(writer(eng))
    first.begin()
    mine = oc.escalation_run(first, day).id
    waited, got = _alongside(eng, first, lambda s: oc.escalation_run(s, day).id)
    eng.dispose()
    assert waited, "the second transaction ran after the first instead of alongside it"
    assert got == {"result": mine}


# --- the outcome table against a hand-written oracle --------------------------------------
# Written out by hand from PRODUCT.md's outcome table and issue 11, never read from
# `tasks.kernel.rules`: a row of the table edited wrongly (an outcome on the wrong kind, an effect
# added or dropped) fails here. Change it only together with the product rule.
#
# kind → outcome → (closes the task, what it does to the member). Tags:
#   tried      last_contact_on = the day (a family call is no try at the member)
#   contact    failed contacts back to 0        failed   one more failed contact
#   reached    last_reached_on = the day        active   unverified → active
#   phone_ok / phone_bad     phone verified today / marked unverified
#   confirmed / unconfirmed  whole record confirmed today / no longer confirmed
#   family_ok / family_bad   family contact verified today / marked unverified
#   away       residence away, open deliveries cancelled
#   dnc        → do_not_contact, every other open task cancelled
#   pending    the task waits for a coordinator's confirmation

_T = "tried"
_CALL_ORACLE = {
    "reached": (True, {_T, "contact", "reached", "phone_ok", "active"}),
    "no_answer": (False, {_T, "failed"}),
    "left_message": (False, {_T, "failed"}),
    "callback_requested": (False, {_T}),
    "wrong_number": (False, {_T, "failed", "phone_bad", "unconfirmed"}),
    "moved": (True, {_T, "away"}),
    "refused": (True, {_T}),
    "do_not_contact": (True, {_T, "dnc"}),
    "deceased": (True, {_T, "pending"}),
    "temporarily_away": (False, {_T}),
}
ORACLE: dict[str, dict[str, tuple[bool, set[str]]]] = {
    "survey": {
        **_CALL_ORACLE,
        "reached": (True, {_T, "contact", "reached", "phone_ok", "confirmed", "family_ok",
                           "active"}),
        "not_home": (False, {_T, "failed"}),
        "inaccessible": (False, {_T}),
    },
    "phone_visit": dict(_CALL_ORACLE),
    "delivery": {
        "delivered": (True, {_T, "contact", "reached"}),
        "delivered_to_family": (True, {_T, "contact"}),
        "not_home": (False, {_T, "failed"}),
        "moved": (True, {_T, "away"}),
        "refused": (True, {_T}),
        "do_not_contact": (True, {_T, "dnc"}),
        "deceased": (True, {_T, "pending"}),
        "inaccessible": (False, {_T}),
        "temporarily_away": (False, {_T}),
    },
    "escalation": {  # a coordinator calls the family contact of an unreachable member
        "reached": (True, {"family_ok"}),
        "no_answer": (False, set()),
        "left_message": (False, set()),
        "callback_requested": (False, set()),
        "wrong_number": (False, {"family_bad"}),
        "moved": (True, {"away"}),
        "refused": (True, set()),
        "do_not_contact": (True, {"dnc"}),
        "deceased": (True, {"pending"}),
        "temporarily_away": (False, set()),
    },
    # organisational life (issue 12): a notice is a call (the answer about the meeting is
    # checked in the attendance tests below); a make-up study is a call, a delivery of the
    # material or a visit — done by any of them, failed as a call or a doorstep would be
    "notice": dict(_CALL_ORACLE),
    "make_up": {
        **_CALL_ORACLE,
        "delivered": (True, {_T, "contact", "reached"}),
        "delivered_to_family": (True, {_T, "contact"}),
        "visited": (True, {_T, "contact", "reached"}),
        "not_home": (False, {_T, "failed"}),
        "inaccessible": (False, {_T}),
    },
}
# care (issue 13): a care visit is done by a visit (with a gift, with help arranged), and
# fails as a call or a doorstep would; a transfer is a coordinator's decision about the
# membership, no contact with the member ("reached": considered)
ORACLE["care_visit"] = {
    **{o: r for o, r in _CALL_ORACLE.items() if o != "reached"},
    "visited": (True, {_T, "contact", "reached"}),
    "gift_delivered": (True, {_T, "contact", "reached"}),
    "help_arranged": (True, {_T, "contact", "reached"}),
    "not_home": (False, {_T, "failed"}),
    "inaccessible": (False, {_T}),
}
ORACLE["transfer"] = {
    "reached": (True, set()),
    "moved": (True, {"away"}),
    "refused": (True, set()),
    "do_not_contact": (True, {"dnc"}),
    "deceased": (True, {"pending"}),
    "temporarily_away": (False, set()),
}
ORACLE_DONE = {"survey": "reached", "phone_visit": "reached", "delivery": "delivered",
               "escalation": "reached", "notice": "reached", "make_up": "delivered",
               "care_visit": "visited", "transfer": "reached"}
ALL_CODES = ["reached", "delivered", "delivered_to_family", "no_answer", "not_home",
             "left_message", "callback_requested", "wrong_number", "moved", "refused",
             "do_not_contact", "deceased", "inaccessible", "temporarily_away", "visited",
             "gift_delivered", "help_arranged"]
PAIRS = [(k, o) for k in ORACLE for o in ALL_CODES]


def test_the_outcome_table_is_the_oracle():
    from outreach.tasks.work import rules as work_rules

    assert sorted(str(o) for o in O_ALL()) == sorted(ALL_CODES)
    for kind, rows in ORACLE.items():
        assert {str(o) for o in work_rules.OUTCOMES_BY_KIND[kind]} == set(rows), kind
        assert str(work_rules.DONE_OUTCOME[kind]) == ORACLE_DONE[kind]
        # the help lists exactly these, from the table
        line = next(x for x in work_rules.describe_outcomes(brief=True).splitlines()
                    if x.startswith(f"{kind}:"))
        assert set(line.split(": ", 1)[1].split(" (done")[0].split(", ")) == set(rows)
    closing = {o for rows in ORACLE.values() for o, (closes, _) in rows.items() if closes}
    assert {str(o) for o in work_rules.CLOSING} == closing
    assert {str(o) for o in work_rules.SUCCESSFUL_CONTACT} == {
        "reached", "delivered", "delivered_to_family", "visited", "gift_delivered",
        "help_arranged"}


def O_ALL():
    from outreach.db.models import Outcome

    return list(Outcome)


def _expected(kind: str, code: str) -> dict:
    closes, tags = ORACLE[kind][code]
    return {
        "task": "done" if closes else "assigned",
        "attempts": 0 if closes else 1,
        "status": "active" if "active" in tags else
                  "do_not_contact" if "dnc" in tags else "unverified",
        "failed_contacts": 0 if "contact" in tags else 2 if "failed" in tags else 1,
        "last_contact_on": TODAY if _T in tags else None,
        "last_reached_on": TODAY if "reached" in tags else None,
        "phone_verified_on": TODAY if "phone_ok" in tags else
                             None if "phone_bad" in tags else EARLIER,
        "confirmed_on": TODAY if "confirmed" in tags else
                        None if "unconfirmed" in tags else EARLIER,
        "address_verified_on": TODAY if "confirmed" in tags else EARLIER,
        "family_contact_verified_on": TODAY if "family_ok" in tags else
                                      None if "family_bad" in tags else EARLIER,
        "residence": "away" if "away" in tags else "local",
        "pending_confirmation": "pending" in tags,
        "open_delivery": "cancelled" if tags & {"away", "dnc"} else "open",
        "other_phone_visit": "cancelled" if "dnc" in tags else "assigned",
        "escalation": None,
    }


def _observed(s: Session, w: World, delivery: OutreachTask, phone: OutreachTask,
              res) -> dict:
    m, t = w.member, w.task
    return {
        "task": str(t.status), "attempts": t.attempts, "status": str(m.status),
        "failed_contacts": m.failed_contacts, "last_contact_on": m.last_contact_on,
        "last_reached_on": m.last_reached_on, "phone_verified_on": m.phone_verified_on,
        "confirmed_on": m.confirmed_on, "address_verified_on": m.address_verified_on,
        "family_contact_verified_on": m.family_contact_verified_on,
        "residence": str(m.residence), "pending_confirmation": t.pending_confirmation,
        "open_delivery": str(delivery.status), "other_phone_visit": str(phone.status),
        "escalation": res.escalation_task_id,
    }


@pytest.mark.parametrize("kind,code", PAIRS)
def test_every_outcome_on_every_kind_does_what_the_oracle_says(session, kind, code):
    """Each (kind, outcome) pair: refused when it does not fit, else exactly its effects."""
    w = world(session, kind, phone="555 0100", home_address="1 Old Street",
              failed_contacts=1, phone_verified_on=EARLIER, confirmed_on=EARLIER,
              address_verified_on=EARLIER, family_contact_verified_on=EARLIER,
              family_contact_name="Ann", family_contact_phone="555 0111")
    delivery = other_task(session, w, K.DELIVERY, TS.OPEN)
    phone = other_task(session, w, K.PHONE_VISIT)
    if code not in ORACLE[kind]:
        msg = refused_writes_nothing(session, BadInput, record, session, w, code,
                                     answers=SURVEY_OK if code == "reached" else None)
        assert f"does not fit a {kind} task" in msg
        assert (w.task.status, w.task.attempts) == (TS.ASSIGNED, 0)
        return
    answers = SURVEY_OK if (kind, code) == ("survey", "reached") else None
    res = record(session, w, code, answers=answers)
    assert _observed(session, w, delivery, phone, res) == _expected(kind, code)
    assert res.outcome == code and [a.outcome for a in attempts_of(session, w.task.id)] == [code]
    assert w.task.outcome == (code if ORACLE[kind][code][0] else None)
    assert (w.member.phone, w.member.home_address) == ("555 0100", "1 Old Street")


# --- escalations: a coordinator calls the family of an unreachable member ------------------


def escalation_world(s: Session, **member) -> World:
    """An unreachable member (three failed contacts) and the escalation task a coordinator
    of the branch holds."""
    member.setdefault("member_state", MS.UNREACHABLE)
    member.setdefault("failed_contacts", 3)
    w = world(s, K.ESCALATION, **member)
    oc.reassign(s, task_id=w.task.id, volunteer_id=w.coord.id, actor=actor(w.coord),
                force=True)
    return w


def coord_record(s: Session, w: World, outcome: str, **kw):
    return record(s, w, outcome, who=actor(w.coord), **kw)


def test_a_reached_family_contact_verifies_it_and_leaves_the_member_unreachable(session):
    w = escalation_world(session, phone_verified_on=EARLIER, family_contact_name="Ann",
                         family_contact_phone="555 0111")
    before = member_history(session, w.member.id)
    res = coord_record(session, w, "reached", note="the daughter says she is well")
    m = w.member
    assert res.task_status == "done" and w.task.outcome == "reached"
    assert m.family_contact_verified_on == TODAY
    assert (res.member_status, m.status, m.failed_contacts) == ("unreachable", MS.UNREACHABLE, 3)
    assert (m.last_reached_on, m.last_reached_by, m.last_contact_on) == (None, None, None)
    assert m.phone_verified_on == EARLIER and m.confirmed_on is None
    assert member_history(session, m.id) == before
    assert res.escalation_task_id is None


@pytest.mark.parametrize("code", ["no_answer", "left_message", "callback_requested"])
def test_a_failed_family_call_does_not_count_against_the_member(session, code):
    w = escalation_world(session, member_state=MS.ACTIVE, failed_contacts=2, max_attempts=5)
    res = coord_record(session, w, code)
    res = coord_record(session, w, code, today=TODAY + dt.timedelta(1))
    m = w.member
    assert (m.status, m.failed_contacts, m.last_contact_on) == (MS.ACTIVE, 2, None)
    assert res.escalation_task_id is None and res.member_status == "active"
    assert (w.task.status, w.task.attempts) == (TS.ASSIGNED, 2)
    assert w.task.next_attempt_on == TODAY + dt.timedelta(1 + 2)
    n = session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.member_id == m.id, OutreachTask.kind == K.ESCALATION))
    assert n == 1  # no second escalation either


def test_a_wrong_family_number_unverifies_the_family_contact_not_the_members_phone(session):
    w = escalation_world(session, phone_verified_on=EARLIER,
                         family_contact_verified_on=EARLIER)
    coord_record(session, w, "wrong_number")
    m = w.member
    assert m.family_contact_verified_on is None and m.phone_verified_on == EARLIER
    assert m.failed_contacts == 3 and m.status == MS.UNREACHABLE
    assert changes(session, m.id)["family_contact_verified_on"][:2] == \
        (EARLIER.isoformat(), None)


def test_moved_on_an_escalation_updates_residence_and_cancels_deliveries(session):
    w = escalation_world(session, home_address="1 Old Street")
    delivery = other_task(session, w, K.DELIVERY)
    phone = other_task(session, w, K.PHONE_VISIT)
    res = coord_record(session, w, "moved", answers={"residence": "away",
                                                     "address": "9 Far Road, Springfield"})
    m = w.member
    assert res.task_status == "done" and not w.task.pending_confirmation
    assert (m.residence, m.current_address) == (Residence.AWAY, "9 Far Road, Springfield")
    assert (delivery.status, phone.status) == (TS.CANCELLED, TS.ASSIGNED)
    assert (m.status, m.failed_contacts) == (MS.UNREACHABLE, 3)  # still not reached


def test_moved_out_on_an_escalation_waits_for_another_coordinator(session):
    w = escalation_world(session)
    coord_record(session, w, "moved", answers={"moved_out": "y"})
    assert w.task.pending_confirmation and w.member.status == MS.UNREACHABLE
    c2 = f.coordinator(session, branch_=w.branch)
    oc.confirm(session, member_ref=str(w.member.id), what="moved", actor=actor(c2))
    assert w.member.status == MS.MOVED_OUT


def test_deceased_on_an_escalation_waits_for_another_coordinator(session):
    w = escalation_world(session)
    phone = other_task(session, w, K.PHONE_VISIT)
    res = coord_record(session, w, "deceased", note="the son called back")
    assert res.pending_confirmation and w.member.status == MS.UNREACHABLE
    assert phone.status == TS.ASSIGNED
    refused_writes_nothing(session, Refused, oc.confirm, session,
                           member_ref=str(w.member.id), what="deceased", actor=actor(w.coord))
    c2 = f.coordinator(session, branch_=w.branch)
    oc.confirm(session, member_ref=str(w.member.id), what="deceased", actor=actor(c2))
    assert w.member.status == MS.DECEASED and phone.status == TS.CANCELLED


def test_do_not_contact_on_an_escalation_stops_everything(session):
    w = escalation_world(session)
    phone = other_task(session, w, K.PHONE_VISIT)
    res = coord_record(session, w, "do_not_contact")
    assert res.member_status == "do_not_contact" and phone.status == TS.CANCELLED
    assert member_history(session, w.member.id)[-1] == ("unreachable", "do_not_contact")


# --- answers: same keeps, none clears an optional field or is refused (issue 11, 6) ----------

#: Hand-written: the answer keys, and those that `none` may clear.
ANSWER_KEYS = {"phone", "address", "residence", "homebound", "family_contact_name",
               "family_contact_phone", "needs", "interests", "moved_out",
               "attendance", "reason"}  # the last two: a notice's answer (issue 12)
CLEARABLE = {"family_contact_name", "family_contact_phone", "needs", "interests"}


@pytest.mark.parametrize("key", sorted(ANSWER_KEYS))
def test_same_keeps_and_none_clears_or_is_refused_the_same_way_for_every_key(key):
    from outreach.tasks.work import rules as work_rules
    from outreach.tasks.kernel import rules

    assert set(work_rules.ANSWERS) == ANSWER_KEYS
    assert work_rules.check_answer(key, " Same ") == rules.SAME
    if key in CLEARABLE:
        assert work_rules.check_answer(key, "NONE") is None
    else:
        with pytest.raises(BadInput, match=f"answer {key} cannot be 'none'"):
            work_rules.check_answer(key, "none")
    with pytest.raises(BadInput, match=f"answer {key} is empty"):
        work_rules.check_answer(key, "  ")


@pytest.mark.parametrize("key,typed,stored", [
    ("homebound", "y", "yes"), ("homebound", "N", "no"), ("homebound", "TRUE", "yes"),
    ("homebound", "0", "no"), ("moved_out", "n", "no"), ("residence", " Away ", "away"),
    ("phone", "+1 (555) 010-0199", "+1 (555) 010-0199"),
])
def test_answers_are_normalised(key, typed, stored):
    from outreach.tasks.work import rules as work_rules

    assert work_rules.check_answer(key, typed) == stored


@pytest.mark.parametrize("key,typed", [("homebound", "maybe"), ("phone", "none of that"),
                                       ("phone", "12"), ("phone", "x" * 5),
                                       ("residence", "abroad"), ("mobile", "555 0100")])
def test_bad_single_answers_are_refused_without_echoing_them(key, typed):
    from outreach.tasks.work import rules as work_rules

    with pytest.raises(BadInput) as info:
        work_rules.check_answer(key, typed)
    assert typed not in str(info.value)


def test_phone_none_is_refused_and_stores_nothing(session):
    """Issue 11, defect 6: ``phone=none`` stored the text "none"."""
    w = world(session, K.SURVEY, phone="555 0100")
    msg = refused_writes_nothing(session, BadInput, record, session, w, "reached",
                                 answers={**SURVEY_OK, "phone": "none"})
    assert "phone cannot be 'none'" in msg
    assert w.member.phone == "555 0100" and w.task.status == TS.ASSIGNED
    w2 = world(session, K.PHONE_VISIT, phone="555 0100")
    refused_writes_nothing(session, BadInput, record, session, w2, "moved",
                           answers={"phone": "none"})


def test_none_clears_optional_answers_and_same_keeps_them(session):
    w = world(session, K.SURVEY, family_contact_name="Ann", family_contact_phone="555 0111",
              needs="large print", interests="choir")
    record(session, w, "reached", answers={**SURVEY_OK, "family_contact_name": "None",
                                           "family_contact_phone": "none", "needs": "none",
                                           "interests": "same", "homebound": "y"})
    m = w.member
    assert (m.family_contact_name, m.family_contact_phone, m.needs) == (None, None, None)
    assert m.interests == "choir" and m.homebound is True
    got = changes(session, m.id)
    assert got["needs"][:2] == ("large print", None) and "interests" not in got
    [a] = attempts_of(session, w.task.id)
    assert '"needs": null' in a.answers and '"homebound": "yes"' in a.answers


def test_what_a_survey_stores_exports_and_imports_back(session):
    """Issue 11, defect 6: the next export must import."""
    import io

    from outreach.tasks.ledger.book import export_ledger, read_ledger

    w = world(session, K.SURVEY, phone="555 0100", family_contact_phone="555 0111")
    record(session, w, "reached", answers={
        "phone": "+1 (555) 010-0199", "address": "=2 New Street", "residence": "local",
        "homebound": "n", "family_contact_name": "none", "family_contact_phone": "none"})
    out = io.StringIO()
    export_ledger(session, out, actor=actor(w.coord))
    rows = {r["ledger_no"]: r for r in read_ledger(io.BytesIO(out.getvalue().encode()))}
    back = rows[w.member.ledger_no]
    assert (back["phone"], back["home_address"], back["homebound"]) == \
        ("+1 (555) 010-0199", "=2 New Street", False)
    assert back["family_contact_name"] is None and back["family_contact_phone"] is None


# --- dates: nothing in the future, nothing before the task (issue 11, defect 7) ------------


def test_a_visit_in_the_future_is_refused(session):
    from outreach.tasks.kernel.rules import real_today

    w = world(session, K.PHONE_VISIT, member_state=MS.ACTIVE)
    msg = refused_writes_nothing(session, BadInput, record, session, w, "reached",
                                 today=dt.date(2099, 1, 1))
    assert "in the future" in msg and w.member.last_reached_on is None
    refused_writes_nothing(session, BadInput, record, session, w, "no_answer",
                           today=real_today() + dt.timedelta(2))
    res = record(session, w, "reached", today=real_today() + dt.timedelta(1))  # time zones
    assert res.task_status == "done"


def test_a_visit_before_the_task_existed_is_refused(session):
    w = world(session, K.PHONE_VISIT)
    w.task.created_at = dt.datetime(2026, 11, 5, 9, 30)
    msg = refused_writes_nothing(session, BadInput, record, session, w, "no_answer",
                                 today=dt.date(2026, 11, 4))
    assert "before the task existed" in msg
    assert record(session, w, "no_answer", today=dt.date(2026, 11, 5)).attempts == 1


def test_the_task_is_made_on_the_organisations_day_not_utcs(session, monkeypatch):
    """created_at is UTC: 00:30 UTC on 5 November is the evening of the 4th in New York
    (a visit that evening was refused as before the task existed: the e2e run of 1
    December 00:10 UTC caught it) and the morning of the 5th in Beijing."""
    w = world(session, K.PHONE_VISIT)
    w.task.created_at = dt.datetime(2026, 11, 5, 0, 30)
    monkeypatch.setenv("OUTREACH_TIMEZONE", "Asia/Shanghai")
    msg = refused_writes_nothing(session, BadInput, record, session, w, "no_answer",
                                 today=dt.date(2026, 11, 4))
    assert "before the task existed (made 2026-11-05)" in msg
    monkeypatch.setenv("OUTREACH_TIMEZONE", "America/New_York")
    assert record(session, w, "no_answer", today=dt.date(2026, 11, 4)).attempts == 1


def test_a_back_dated_plan_counts_from_its_day():
    from outreach.tasks.work.rules import made_at
    from outreach.tasks.kernel.rules import real_today

    assert made_at(dt.date(2026, 11, 2)) == dt.datetime(2026, 11, 2)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert before <= made_at(real_today()) <= dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- release: whoever handed a task back does not get it again (issue 11, defect 8) --------


def test_match_never_gives_a_row_to_the_volunteer_barred_from_it():
    from outreach.tasks.work.assign import match

    chains = {1: (1,)}
    vols = {10: [1, 5, 0], 11: [1, 5, 3]}
    # row 100 was handed back by 10, who is also its continuity volunteer and least loaded
    picks = match([(100, 1, 10), (101, 1, None)], vols, chains, {100: 10})
    assert dict((k, v) for k, v, _ in picks) == {100: 11, 101: 10}
    assert vols[10][2] == 1 and vols[11][2] == 4
    # nobody else has room: the row stays open
    picks = match([(100, 1, None)], {10: [1, 5, 0], 11: [1, 3, 3]}, chains, {100: 10})
    assert picks == [(100, None, 0)]


def test_a_released_task_goes_to_someone_else_or_stays_open(db_url):
    from outreach.tasks.campaigns.plan_jobs import assign_open

    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            b = f.branch(s)
            quitter = f.volunteer(s, branch_=b)
            busy = f.volunteer(s, branch_=b, capacity=3)
            coord = f.coordinator(s, branch_=b)
            m = f.member_in(s, MS.ACTIVE, branch_=b, last_reached_by=None)
            run = f.campaign_run(s, campaign_=f.campaign(s, kind=K.PHONE_VISIT))
            t = f.task(s, member_=m, run=run, status=TS.ASSIGNED, volunteer_=quitter)
            for _ in range(2):
                f.task(s, member_=f.member(s, branch_=b), run=run, status=TS.ASSIGNED,
                       volunteer_=busy)
            m.last_reached_by = quitter.id  # continuity would pick them too
            oc.release(s, task_id=t.id, actor=actor(quitter))
            assert (t.status, t.volunteer_id, t.released_by) == (TS.OPEN, None, quitter.id)
            ids = (t.id, run.id, quitter.id, busy.id, coord.id)
        out = assign_open(eng, ids[1])
        with session_scope(eng) as s:
            t = s.get(OutreachTask, ids[0])
            assert out["assigned"] == 1 and t.volunteer_id == ids[3]  # not the quitter (load 0)
            # busy hands it back too, and is now full-ish: only the quitter has room → open
            oc.release(s, task_id=t.id, actor=actor(s.get(Volunteer, ids[3])))
            s.get(Volunteer, ids[3]).capacity = 2
        out = assign_open(eng, ids[1])
        with session_scope(eng) as s:
            t = s.get(OutreachTask, ids[0])
            assert out["assigned"] == 1 and t.volunteer_id == ids[2]  # the earlier quitter
            oc.release(s, task_id=t.id, actor=actor(s.get(Volunteer, ids[2])))
        out = assign_open(eng, ids[1])
        with session_scope(eng) as s:
            t = s.get(OutreachTask, ids[0])
            assert (out["assigned"], out["still_open"], t.status) == (0, 1, TS.OPEN)
            # a coordinator may give it back, which forgets who released it
            oc.reassign(s, task_id=t.id, volunteer_id=ids[2], actor=actor(s.get(Volunteer,
                                                                               ids[4])))
            assert (t.volunteer_id, t.released_by) == (ids[2], None)
    finally:
        eng.dispose()


# --- notices and make-up study: the answer reaches the member's attendance (issue 12) ------


def meeting_world(s: Session, kind: str, meeting_state: str, mark: str) -> tuple[World, object]:
    """A member invited to (or marked at) a meeting of their branch, and a ``kind`` task of
    that meeting's run (`tasks.work.engine.meeting_run`) held by a volunteer."""
    from outreach.db.models import Attendance
    from outreach.tasks.work import engine

    w = world(s, kind)
    meeting = f.meeting_in(s, meeting_state, branch_=w.branch, material="Booklet 4")
    att = f.attendance(s, meeting_=meeting, member_=w.member, status=mark)
    run = engine.meeting_run(s, kind=kind, meeting_id=meeting.id)
    w.task = f.task(s, member_=w.member, run=run, status=TS.ASSIGNED, volunteer_=w.vol)
    assert isinstance(att, Attendance)
    return w, att


def att_history(s: Session, att_id: int) -> list[tuple]:
    from outreach.db.models import AttendanceStatusChange as H

    return [tuple(r) for r in s.execute(select(H.from_status, H.to_status, H.actor_id)
                                        .where(H.attendance_id == att_id).order_by(H.id))]


def test_a_notice_that_takes_an_excuse_excuses_the_member(session):
    w, att = meeting_world(session, K.NOTICE, "planned", "invited")
    res = record(session, w, "reached", answers={"attendance": "Excused",
                                                 "reason": "in hospital until May"})
    session.refresh(att)
    assert res.task_status == "done" and w.member.last_reached_on == TODAY
    assert (att.status, att.reason) == ("excused", "in hospital until May")
    assert att_history(session, att.id)[-1] == ("invited", "excused", w.vol.id)


def test_an_excuse_without_a_reason_is_refused_and_writes_nothing(session):
    w, att = meeting_world(session, K.NOTICE, "planned", "invited")
    msg = refused_writes_nothing(session, BadInput, record, session, w, "reached",
                                 answers={"attendance": "excused"})
    assert "needs answer reason" in msg
    assert att.status == "invited" and w.task.status == TS.ASSIGNED


@pytest.mark.parametrize("said,note", [("remote", "will join remotely"),
                                       ("present", "will come")])
def test_a_notice_notes_the_intention_and_leaves_the_member_invited(session, said, note):
    w, att = meeting_world(session, K.NOTICE, "planned", "invited")
    record(session, w, "reached", answers={"attendance": said})
    session.refresh(att)
    assert (att.status, att.reason) == ("invited", note)
    assert att_history(session, att.id) == [("new", "invited", None)]


def test_a_notice_done_without_an_answer_only_closes_the_task(session):
    w, att = meeting_world(session, K.NOTICE, "planned", "invited")
    res = record(session, w, "reached")
    session.refresh(att)
    assert res.task_status == "done" and (att.status, att.reason) == ("invited", None)
    with pytest.raises(BadInput, match="must be one of"):
        record(session, meeting_world(session, K.NOTICE, "planned", "invited")[0],
               "reached", answers={"attendance": "maybe"})


@pytest.mark.parametrize("code,how", [("reached", "phone"), ("delivered", "materials"),
                                      ("delivered_to_family", "materials"),
                                      ("visited", "visit")])
@pytest.mark.parametrize("mark", ["excused", "absent"])
def test_a_make_up_study_done_makes_the_attendance_made_up(session, code, how, mark):
    w, att = meeting_world(session, K.MAKE_UP, "closed", mark)
    res = record(session, w, code)
    session.refresh(att)
    assert res.task_status == "done"
    assert (att.status, att.made_up_on, att.made_up_how) == ("made_up", TODAY, how)
    assert att_history(session, att.id)[-1] == (mark, "made_up", w.vol.id)


def test_a_failed_make_up_attempt_leaves_the_attendance(session):
    w, att = meeting_world(session, K.MAKE_UP, "closed", "absent")
    res = record(session, w, "not_home")
    session.refresh(att)
    assert res.task_status == "assigned" and att.status == "absent"


def test_visited_fits_only_a_make_up_study(session):
    w, _att = meeting_world(session, K.NOTICE, "planned", "invited")
    msg = refused_writes_nothing(session, BadInput, record, session, w, "visited")
    assert "does not fit a notice task" in msg
