"""A member's own link (`tasks.links.member_links`, issue 26): who may make and revoke one, the
token (random, stored hashed, expiring, revocable), what the member sees (masked, their
own only), and what they can do — confirm or correct their details through the ledger's
rules and history, answer a notice, confirm make-up study (self-study on and off) — each
in history with the link as its source and counted by the scorecard. SQLite, and
PostgreSQL when ``OUTREACH_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.db.codes import CampaignKind, MakeUpHow, MemberAnswer, RemoteOption, Residence
from outreach.db.errors import BadInput, Refused
from outreach.db.machines import AttendanceStatus as AS
from outreach.db.machines import MeetingStatus as MS
from outreach.db.machines import MemberStatus
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    AccessEvent,
    AttendanceStatusChange,
    MemberChange,
    MemberLink,
    Movement,
)
from outreach.tasks.links import member_links as ml
from outreach.tasks.kernel import rules as kernel
from outreach.tasks.work import rules
from outreach.tasks.access.permissions import SYSTEM
from tests.db import factories as f

NOW = dt.datetime(2026, 3, 1, 9, 0)
TODAY = dt.date(2026, 3, 1)
PHONE = "138 1234 5678"


@pytest.fixture
def w(session):
    """Branch Root: a coordinator, a volunteer with an open task for member A, another
    volunteer; members A (local, phone, address, family contact) and B (living away)."""
    root = f.branch(session, name="Root")
    coord = f.coordinator(session, branch_=root)
    vol = f.volunteer(session, branch_=root)
    other = f.volunteer(session, branch_=root)
    a = f.member(session, branch_=root, ledger_no="A1", name="Wang Fang", phone=PHONE,
                 home_address="12 Elm Street Apt. 4, Springfield",
                 family_contact_name="Li Ming", family_contact_phone="139 0000 1111")
    b = f.member(session, branch_=root, ledger_no="B1", name="Zhao Lei",
                 residence=Residence.AWAY, phone="555 0199",
                 current_address="8 Oak Road, Far City")
    f.task(session, member_=a, status=TS.ASSIGNED, volunteer_=vol)
    return dict(s=session, root=root, a=a, b=b, coord=f.actor(session, coord),
                vol=f.actor(session, vol), other=f.actor(session, other))


def _grant(w, who="a", **kw):
    made = ml.make_link(w["s"], ref=w[who].ledger_no, actor=w["coord"], now=NOW, **kw)
    return made, ml.open_link(w["s"], made.token, now=NOW)


# --- making, hashing, expiry, revoking ------------------------------------------------------


def test_a_link_is_random_long_and_stored_hashed(w):
    made = ml.make_link(w["s"], ref="A1", actor=w["coord"], now=NOW)
    other = ml.make_link(w["s"], ref="A1", actor=w["coord"], now=NOW)
    assert made.token != other.token
    assert len(made.token) >= 22  # 128 bits in URL-safe base64 at least
    rows = w["s"].scalars(select(MemberLink)).all()
    assert len(rows) == 2
    for row in rows:
        assert made.token not in row.token_hash and len(row.token_hash) == 64
    row = w["s"].get(MemberLink, made.link_id)
    assert row.token_hash == ml.hash_token(made.token)
    assert row.expires_at == NOW + dt.timedelta(days=30)  # the README's "30 days"
    assert row.created_by == w["coord"].id


def test_the_address_starts_with_the_public_url(monkeypatch):
    monkeypatch.delenv("OUTREACH_PUBLIC_URL", raising=False)
    assert ml.link_url("T" * 32) == "http://127.0.0.1:8765/m/" + "T" * 32
    monkeypatch.setenv("OUTREACH_PUBLIC_URL", "https://outreach.example.org/")
    assert ml.link_url("T" * 32) == "https://outreach.example.org/m/" + "T" * 32


def test_who_may_make_a_link(w):
    s = w["s"]
    assert ml.make_link(s, ref="A1", actor=w["vol"], now=NOW).member_id == w["a"].id
    with pytest.raises(Refused, match="not in your open tasks"):
        ml.make_link(s, ref="B1", actor=w["vol"], now=NOW)
    with pytest.raises(Refused):
        ml.make_link(s, ref="A1", actor=w["other"], now=NOW)
    with pytest.raises(Refused):
        ml.revoke_links(s, ref="A1", actor=w["other"], now=NOW)
    with pytest.raises(Refused):
        ml.make_link(s, ref="A1", actor=SYSTEM, now=NOW)
    with pytest.raises(BadInput):
        ml.make_link(s, ref="A1", actor=w["coord"], days=0)
    with pytest.raises(BadInput):
        ml.make_link(s, ref="A1", actor=w["coord"], days=366)


def test_wrong_expired_and_revoked_links_are_refused_alike(w):
    s = w["s"]
    made = ml.make_link(s, ref="A1", actor=w["coord"], now=NOW, days=2)
    assert ml.open_link(s, made.token, now=NOW).member_id == w["a"].id
    messages = set()
    for token, now in ((made.token[:-1] + ("A" if made.token[-1] != "A" else "B"), NOW),
                       ("not a token", NOW), ("", NOW), (None, NOW),
                       (made.token, NOW + dt.timedelta(days=2)),
                       (made.token, NOW + dt.timedelta(days=3))):
        with pytest.raises(ml.LinkNotValid) as exc:
            ml.open_link(s, token, now=now)
        messages.add(str(exc.value))
    assert ml.revoke_links(s, ref="A1", actor=w["vol"], now=NOW) == 1
    with pytest.raises(ml.LinkNotValid) as exc:
        ml.open_link(s, made.token, now=NOW)
    messages.add(str(exc.value))
    assert len(messages) == 1 and "not valid" in messages.pop()
    assert ml.revoke_links(s, ref="A1", actor=w["coord"], now=NOW) == 0  # none live


def test_a_member_no_longer_contactable_has_no_valid_link(w):
    from outreach.db.state import move_member

    made, _grant_ = _grant(w)
    move_member(w["s"], w["a"], MemberStatus.DO_NOT_CONTACT, actor_id=w["coord"].id,
                reason="asked")
    with pytest.raises(ml.LinkNotValid):
        ml.open_link(w["s"], made.token, now=NOW)


def test_a_grant_is_made_by_open_link_only():
    with pytest.raises(TypeError):
        ml.Grant(link_id=1, member_id=1)


# --- what the member sees --------------------------------------------------------------------


def test_masking():
    assert ml.mask_phone("13812345678") == "138****5678"
    assert ml.mask_phone("138 1234 5678") == "138****5678"
    assert ml.mask_phone(None) is None
    assert ml.street_of("北京市朝阳区建国路88号3栋502室") == "建国路"
    assert ml.street_of("12 Elm Street Apt. 4, Springfield") == "Elm Street"
    assert ml.street_of("8 Oak Road\nFar City, ST 12345") == "Oak Road"
    assert ml.mask_name("Li Ming").startswith("L") and "Ming" not in ml.mask_name("Li Ming")


def test_the_page_shows_the_member_only_and_masked(w):
    _made, grant = _grant(w)
    page = ml.member_page(w["s"], grant=grant, today=TODAY)
    text = repr(page)
    assert page["name"] == "Wang Fang" and page["branch"] == "Root"
    assert page["phone"] == "138****5678" and page["address"] == "Elm Street"
    assert "1234 5678" not in text and "12 Elm" not in text and "Apt" not in text
    assert "139 0000 1111" not in text and "Li Ming" not in text
    assert "Zhao Lei" not in text and "555 0199" not in text  # nothing of another member
    # the member seeing their own details is no volunteer's showing: no access-log row
    assert w["s"].scalar(select(func.count()).select_from(AccessEvent)) == 0


# --- confirm or correct ------------------------------------------------------------------------


def _history(s, member_id):
    return s.execute(select(MemberChange.field, MemberChange.new_value, MemberChange.reason,
                            MemberChange.actor_id)
                     .where(MemberChange.member_id == member_id)
                     .order_by(MemberChange.id)).all()


def test_confirming_counts_as_confirmed_today(w):
    s = w["s"]
    _made, grant = _grant(w)
    saved = ml.report_details(s, grant=grant, key="k1", today=TODAY, now=NOW)
    assert saved.outcome == "confirmed" and not saved.replay
    a = w["a"]
    assert a.address_verified_on == a.phone_verified_on == TODAY
    assert a.family_contact_verified_on == a.confirmed_on == TODAY
    assert a.status == MemberStatus.ACTIVE  # unverified before: details confirmed now
    rows = _history(s, a.id)
    assert rows and all(r.reason == f"member link {grant.link_id}" and r.actor_id is None
                        for r in rows)
    # the same form sent again: done once
    assert ml.report_details(s, grant=grant, key="k1", today=TODAY, now=NOW).replay
    assert len(_history(s, a.id)) == len(rows)
    with pytest.raises(ml.KeyReused):
        ml.report_details(s, grant=grant, key="k1", changes={"phone": "555 0101"},
                          today=TODAY, now=NOW)
    with pytest.raises(BadInput):
        ml.report_details(s, grant=grant, key=None, today=TODAY, now=NOW)


def test_correcting_goes_through_the_ledger_rules_and_history(w):
    s = w["s"]
    _made, grant = _grant(w)
    with pytest.raises(BadInput, match="phone"):
        ml.report_details(s, grant=grant, key="bad", changes={"phone": "call me"},
                          today=TODAY, now=NOW)
    with pytest.raises(BadInput):
        ml.report_details(s, grant=grant, key="bad2", changes={"status": "active"},
                          today=TODAY, now=NOW)
    saved = ml.report_details(s, grant=grant, key="k2", today=TODAY, now=NOW,
                              changes={"residence": "away", "address": "5 Pine Lane, Hill"})
    assert saved.outcome == "corrected"
    a = w["a"]
    assert a.residence == Residence.AWAY and a.current_address == "5 Pine Lane, Hill"
    assert a.home_address.startswith("12 Elm")  # the home address stays on record
    assert a.address_verified_on == TODAY and a.phone_verified_on is None  # phone untouched
    fields = {r.field: r for r in _history(s, a.id)}
    assert {"residence", "current_address", "address_verified_on"} <= set(fields)
    assert fields["residence"].reason == f"member link {grant.link_id}"
    move = s.scalars(select(Movement).where(Movement.member_id == a.id)).one()
    assert str(move.kind) == "away" and str(move.source) == "member_link"
    assert move.recorded_by is None
    assert "Pine" not in (move.to_place or "")  # a movement never holds a street address


def test_a_confirmation_counts_for_movements_recorded(w):
    from outreach.tasks.scorecard.scorecard import scorecard

    s = w["s"]
    from outreach.db import settings

    today = settings.today()
    period = kernel.quarter_of(today)

    def movements():
        rows = scorecard(s, actor=SYSTEM, period=period, branch_id=w["root"].id)
        r = next(r for r in rows if r["branch"] == "Root" and r["indicator"] == "movements")
        return r["numerator"], r["denominator"]

    before = movements()
    _made, grant = _grant(w)
    ml.report_details(s, grant=grant, key="k3", today=today)
    after = movements()
    assert after[0] == before[0] + 1


# --- notices -------------------------------------------------------------------------------------


def _invited(w, who="a", remote=RemoteOption.PHONE, on=TODAY + dt.timedelta(days=10),
             status=MS.PLANNED):
    mt = f.meeting(w["s"], branch_=w["root"], status=status, planned_on=on, remote=remote,
                   topic="Spring assembly", material="The new rules")
    att = f.attendance(w["s"], meeting_=mt, member_=w[who])
    return mt, att


def test_answering_a_notice_is_an_intention_on_the_invitation(w):
    s = w["s"]
    mt, att = _invited(w)
    _other_mt, other_att = _invited(w, who="b")
    _made, grant = _grant(w)
    page = ml.member_page(s, grant=grant, today=TODAY)
    assert [n["meeting_id"] for n in page["notices"]] == [mt.id]
    with pytest.raises(BadInput, match="why"):
        ml.answer_notice(s, grant=grant, key="n0", meeting_id=mt.id, answer="excused",
                         today=TODAY, now=NOW)
    saved = ml.answer_notice(s, grant=grant, key="n1", meeting_id=mt.id, answer="excused",
                             reason="in hospital", today=TODAY, now=NOW)
    assert saved.outcome == "excused"
    assert att.member_answer == MemberAnswer.EXCUSED and att.member_reason == "in hospital"
    assert att.answered_at == NOW and att.status == AS.INVITED  # the coordinator marks
    ml.answer_notice(s, grant=grant, key="n2", meeting_id=mt.id, answer="remote",
                     today=TODAY, now=NOW)
    assert att.member_answer == MemberAnswer.REMOTE and att.member_reason is None
    # another member's meeting is "no such meeting", as is one that does not exist
    for mid in (_other_mt.id, 10**6, "1"):
        with pytest.raises(BadInput, match="no such meeting"):
            ml.answer_notice(s, grant=grant, key="n3", meeting_id=mid, answer="remote",
                             today=TODAY, now=NOW)
    assert other_att.member_answer is None
    rows = [r for r in _history(s, w["a"].id) if r.field == ml.ANSWER_FIELD]
    assert [r.new_value for r in rows] == [f"{mt.id}:excused", f"{mt.id}:remote"]
    view = __import__("outreach.tasks.meetings.meetings", fromlist=["x"]).meeting_view(
        s, meeting_id=mt.id, actor=w["coord"])
    row = next(r for r in view["invited"] if r["ledger_no"] == "A1")
    assert row["member_answer"] == "remote" and row["attendance"] == "invited"


def test_no_phone_answer_without_a_remote_option_and_no_answer_once_past(w):
    s = w["s"]
    mt, _att = _invited(w, remote=RemoteOption.NONE)
    past, _att2 = _invited(w, on=TODAY - dt.timedelta(days=1))
    _made, grant = _grant(w)
    with pytest.raises(BadInput, match="phone"):
        ml.answer_notice(s, grant=grant, key="r1", meeting_id=mt.id, answer="remote",
                         today=TODAY, now=NOW)
    with pytest.raises(BadInput):
        ml.answer_notice(s, grant=grant, key="r2", meeting_id=past.id, answer="excused",
                         reason="away", today=TODAY, now=NOW)
    with pytest.raises(BadInput):
        ml.answer_notice(s, grant=grant, key="r3", meeting_id=mt.id, answer="present",
                         today=TODAY, now=NOW)


# --- make-up study -------------------------------------------------------------------------------


def _missed(w, *, self_study: bool):
    s = w["s"]
    w["root"].self_study = self_study
    mt = f.meeting(s, branch_=w["root"], status=MS.HELD, planned_on=TODAY - dt.timedelta(days=5),
                   material="Lecture notes: the new rules")
    att = f.attendance(s, meeting_=mt, member_=w["a"], status=AS.ABSENT)
    camp = f.campaign(s, kind=CampaignKind.MAKE_UP)
    run = f.campaign_run(s, campaign_=camp, meeting_id=mt.id)
    task = f.task(s, member_=w["a"], run=run, status=TS.OPEN)
    return mt, att, task


def test_self_study_where_the_branch_accepts_it(w):
    s = w["s"]
    mt, att, task = _missed(w, self_study=True)
    _made, grant = _grant(w)
    page = ml.member_page(s, grant=grant, today=TODAY)
    assert [x["material"] for x in page["studies"]] == ["Lecture notes: the new rules"]
    saved = ml.confirm_study(s, grant=grant, key="s1", meeting_id=mt.id, today=TODAY, now=NOW)
    assert saved.outcome == "made_up"
    assert att.status == AS.MADE_UP and att.made_up_how == MakeUpHow.SELF_STUDY
    assert att.made_up_on == TODAY
    change = s.scalars(select(AttendanceStatusChange).where(
        AttendanceStatusChange.attendance_id == att.id,
        AttendanceStatusChange.to_status == "made_up")).one()
    assert change.reason == f"member link {grant.link_id}" and change.actor_id is None
    assert task.status == TS.CANCELLED  # nothing left for a volunteer to do
    assert ml.confirm_study(s, grant=grant, key="s1", meeting_id=mt.id, today=TODAY,
                            now=NOW).replay
    with pytest.raises(BadInput, match="nothing to catch up"):
        ml.confirm_study(s, grant=grant, key="s2", meeting_id=mt.id, today=TODAY, now=NOW)


def test_without_self_study_the_volunteer_sees_the_note(w):
    from outreach.tasks.work.worklist import task_view

    s = w["s"]
    mt, att, task = _missed(w, self_study=False)
    _made, grant = _grant(w)
    saved = ml.confirm_study(s, grant=grant, key="s3", meeting_id=mt.id, today=TODAY, now=NOW)
    assert saved.outcome == "noted"
    assert att.status == AS.ABSENT and att.studied_at == NOW
    assert task.status == TS.OPEN
    rows = [r for r in _history(s, w["a"].id) if r.field == ml.STUDY_FIELD]
    assert [r.reason for r in rows] == [f"member link {grant.link_id}"]
    view = task_view(s, task_id=task.id, actor=w["coord"])
    assert view["meeting"]["studied_at"].startswith("2026-03-01")


def test_the_daily_sweep_forgets_link_keys_older_than_30_days(w):
    """`purge_keys` (the follow-up flow's sweep, as for Idempotency-Keys): keys of every
    link older than `KEEP_DAYS` go, younger ones stay (a form sent again is still once)."""
    from outreach.db.models import MemberLinkKey

    s = w["s"]
    __, grant = _grant(w)
    __, other = _grant(w, "b")
    ml.report_details(s, grant=grant, key="old", today=TODAY, now=NOW)
    ml.report_details(s, grant=other, key="old-b", today=TODAY, now=NOW)
    later = NOW + dt.timedelta(days=20)
    ml.report_details(s, grant=grant, key="young", today=TODAY, now=later)
    assert s.scalar(select(func.count()).select_from(MemberLinkKey)) == 3
    assert ml.purge_keys(s, now=NOW + dt.timedelta(days=29)) == 0
    assert ml.purge_keys(s, now=NOW + dt.timedelta(days=30, seconds=1)) == 2
    assert s.scalars(select(MemberLinkKey.key)).all() == ["young"]
    assert ml.report_details(s, grant=grant, key="young", today=TODAY, now=later).replay


def test_the_task_cards_share_link_is_the_holders_for_their_tasks_member(w):
    """`task_link_once` (the phone's "share link"): the task's volunteer gets a link of
    that member (once per key: a repeat gives no address); another volunteer, and the
    holder once the task is closed, are refused; nothing is made for them."""
    from outreach.db.models import OutreachTask

    s = w["s"]
    task = s.scalars(select(OutreachTask)).one()
    out = ml.task_link_once(s, task_id=task.id, actor=w["vol"], key="share-1")
    assert out["ledger_no"] == "A1" and out["name"] == "Wang Fang" and not out["replay"]
    token = out["url"].rsplit("/m/", 1)[1]
    assert ml.open_link(s, token).member_id == w["a"].id
    again = ml.task_link_once(s, task_id=task.id, actor=w["vol"], key="share-1")
    assert again["replay"] and again["url"] is None
    with pytest.raises(Refused, match="not yours"):
        ml.task_link_once(s, task_id=task.id, actor=w["other"], key="share-2")
    task.status = TS.DONE
    s.flush()
    with pytest.raises(Refused, match="not in your open tasks"):
        ml.task_link_once(s, task_id=task.id, actor=w["vol"], key="share-3")
    assert s.scalar(select(func.count()).select_from(MemberLink)) == 1
