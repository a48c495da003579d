"""Organisational life (`tasks.meetings.meetings`): planning and invitations, notices, marks, the
attendance file, closing with make-up study, roles, cadence, and the meetings report with
its figures worked out by hand on a small ledger. SQLite, and PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set (the ``session`` fixture)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from outreach.db.codes import MakeUpHow, Residence
from outreach.db.errors import BadInput, NotFound, Refused
from outreach.db.machines import AttendanceStatus as AS
from outreach.db.machines import MeetingStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    Attendance,
    Campaign,
    CampaignKind,
    CampaignRun,
    Meeting,
    MeetingStatusChange,
    OutreachTask,
)
from outreach.db.state import move_attendance
from outreach.tasks.meetings import life as mlife
from outreach.tasks.meetings import meetings as mt
from outreach.tasks.meetings import rules as meeting_rules
from outreach.tasks.kernel import rules
from outreach.tasks.work import rules as work_rules
from outreach.tasks.access.permissions import SYSTEM
from outreach.tasks.work.outcomes import record_outcome
from outreach.tasks.ledger.reports import member_card
from tests.db import factories as f

TODAY = dt.date(2026, 3, 2)
PHONE = "555 0100"


@pytest.fixture
def w(session):
    """Branch Root with a nested branch Child, and an unrelated branch Other. In Root: a
    local member, one living away, a homebound one and one who moved out; in Child: one
    living away; in Other: a local member. A coordinator and a volunteer in Root."""
    root = f.branch(session, name="Root")
    child = f.branch(session, name="Child", parent=root)
    other = f.branch(session, name="Other")
    coord = f.coordinator(session, branch_=root)
    vol = f.volunteer(session, branch_=root, capacity=50)
    members = dict(
        local=f.member(session, branch_=root, ledger_no="L1", phone=PHONE,
                       home_address="1 Main St"),
        away=f.member(session, branch_=root, ledger_no="A1", residence=Residence.AWAY),
        home=f.member(session, branch_=root, ledger_no="H1", homebound=True),
        gone=f.member_in(session, "moved_out", ledger_no="G1", branch_=root),
        child=f.member(session, branch_=child, ledger_no="C1", residence=Residence.AWAY),
        other=f.member(session, branch_=other, ledger_no="O1"),
    )
    return dict(s=session, root=root, child=child, other=other, m=members,
                coord=f.actor(session, coord), vol=f.actor(session, vol), vol_row=vol)


def _plan(w, on, kind="group", **kw):
    return mt.plan_meeting(w["s"], branch="Root", kind=kind, on=on, actor=w["coord"],
                           today=TODAY, **kw)


def _marks(s, meeting_id) -> dict[str, str]:
    s.expire_all()
    from outreach.db.models import Member

    return {no: str(st) for no, st in s.execute(
        select(Member.ledger_no, Attendance.status)
        .join(Member, Member.id == Attendance.member_id)
        .where(Attendance.meeting_id == meeting_id))}


def _tasks(s, meeting_id, kind) -> dict[str, OutreachTask]:
    from outreach.db.models import Member

    s.expire_all()
    return {no: t for t, no in s.execute(
        select(OutreachTask, Member.ledger_no)
        .join(CampaignRun, CampaignRun.id == OutreachTask.run_id)
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .join(Member, Member.id == OutreachTask.member_id)
        .where(CampaignRun.meeting_id == meeting_id, Campaign.kind == kind))}


# --- planning and invitations -------------------------------------------------------------


def test_a_future_meeting_invites_branch_and_nested_and_notifies_away_and_homebound(w):
    on = TODAY + dt.timedelta(days=10)
    out = _plan(w, on, kind="assembly", topic="Annual", remote="phone")
    assert out["status"] == "planned" and out["invited"] == 4
    assert _marks(w["s"], out["id"]) == {"L1": "invited", "A1": "invited", "H1": "invited",
                                         "C1": "invited"}
    notices = _tasks(w["s"], out["id"], CampaignKind.NOTICE)
    assert sorted(notices) == ["A1", "C1", "H1"]  # living away or homebound, not L1
    assert out["notices"] == {"created": 3, "assigned": 3, "open": 0}
    for t in notices.values():
        assert t.volunteer_id == w["vol_row"].id and t.status == TS.ASSIGNED
        assert t.due_on == on - dt.timedelta(days=meeting_rules.NOTICE_LEAD_DAYS)
        assert t.kind == CampaignKind.NOTICE


def test_a_meeting_less_than_the_notice_days_ahead_sends_no_notices(w):
    out = _plan(w, TODAY + dt.timedelta(days=meeting_rules.NOTICE_DAYS.default - 1))
    assert out["status"] == "planned" and out["notices"]["created"] == 0
    assert _tasks(w["s"], out["id"], CampaignKind.NOTICE) == {}
    out = _plan(w, TODAY + dt.timedelta(days=meeting_rules.NOTICE_DAYS.default))
    assert out["notices"]["created"] == 3


def test_a_past_date_records_a_meeting_already_held_and_marks_at_once(w):
    out = _plan(w, TODAY - dt.timedelta(days=3))
    m = w["s"].get(Meeting, out["id"])
    assert (m.status, m.held_on) == (MS.HELD, TODAY - dt.timedelta(days=3))
    assert out["notices"]["created"] == 0
    mt.mark_attendance(w["s"], meeting_id=m.id, ref="L1", status="present", actor=w["coord"],
                       today=TODAY)
    assert _marks(w["s"], m.id)["L1"] == "present"


def test_a_committee_meeting_invites_the_committee_only(w):
    s = w["s"]
    mt.set_role(s, ref="L1", branch="Root", role="secretary", actor=w["coord"], today=TODAY)
    mt.set_role(s, ref="C1", branch="Root", role="committee", actor=w["coord"], today=TODAY)
    out = _plan(w, TODAY - dt.timedelta(days=1), kind="committee")
    assert _marks(s, out["id"]) == {"L1": "invited", "C1": "invited"}
    view = mt.meeting_view(s, meeting_id=out["id"], actor=w["coord"])
    assert {(r["ledger_no"], r["role"]) for r in view["roles"]} == {("L1", "secretary"),
                                                                   ("C1", "committee")}
    assert "secretary of Root" in member_card(s, ref="L1", actor=w["coord"])


def test_roles_are_set_changed_cleared_and_only_in_the_members_branch_line(w):
    s, c = w["s"], w["coord"]
    assert mt.set_role(s, ref="L1", branch="Root", role="deputy", actor=c, today=TODAY)["changed"]
    assert not mt.set_role(s, ref="L1", branch="Root", role="deputy", actor=c,
                           today=TODAY)["changed"]
    with pytest.raises(Refused, match="not a member of branch 'Other'"):
        mt.set_role(s, ref="L1", branch="Other", role="deputy", actor=c, today=TODAY)
    with pytest.raises(Refused, match="moved_out"):
        mt.set_role(s, ref="G1", branch="Root", role="committee", actor=c, today=TODAY)
    with pytest.raises(BadInput, match="unknown role"):
        mt.set_role(s, ref="L1", branch="Root", role="king", actor=c, today=TODAY)
    assert mt.set_role(s, ref="L1", branch="Root", role="none", actor=c, today=TODAY)["changed"]
    assert "roles" not in member_card(s, ref="L1", actor=c)


def test_bad_plans_are_one_clear_line(w):
    with pytest.raises(BadInput, match="unknown kind of meeting 'party'"):
        _plan(w, TODAY, kind="party")
    with pytest.raises(NotFound, match="no branch named"):
        mt.plan_meeting(w["s"], branch="Nowhere", kind="group", on=TODAY, actor=w["coord"],
                        today=TODAY)
    with pytest.raises(BadInput, match="remote option"):
        _plan(w, TODAY, remote="pigeon")


def test_move_and_cancel_carry_the_notices_along(w):
    s = w["s"]
    on = TODAY + dt.timedelta(days=20)
    out = _plan(w, on)
    later = on + dt.timedelta(days=7)
    moved = mt.move_meeting_date(s, meeting_id=out["id"], on=later, actor=w["coord"],
                                 today=TODAY)
    assert moved["notices_moved"] == 3
    assert {t.due_on for t in _tasks(s, out["id"], CampaignKind.NOTICE).values()} == {
        later - dt.timedelta(days=meeting_rules.NOTICE_LEAD_DAYS)}
    hist = s.scalars(select(MeetingStatusChange.planned_on)
                     .where(MeetingStatusChange.meeting_id == out["id"])
                     .order_by(MeetingStatusChange.id)).all()
    assert hist == [on, later]
    with pytest.raises(BadInput, match="today or a later date"):
        mt.move_meeting_date(s, meeting_id=out["id"], on=TODAY - dt.timedelta(days=1),
                             actor=w["coord"], today=TODAY)
    with pytest.raises(BadInput, match="say why"):
        mt.cancel_meeting(s, meeting_id=out["id"], actor=w["coord"], reason=" ")
    got = mt.cancel_meeting(s, meeting_id=out["id"], actor=w["coord"], reason="flood")
    assert got["notices_cancelled"] == 3
    assert {str(t.status) for t in _tasks(s, out["id"], CampaignKind.NOTICE).values()} == {
        "cancelled"}
    with pytest.raises(Refused):
        mt.mark_attendance(s, meeting_id=out["id"], ref="L1", status="excused", reason="x",
                           actor=w["coord"], today=TODAY)


# --- marks and the attendance file ----------------------------------------------------------


def test_mark_rules(w):
    s, c = w["s"], w["coord"]
    future = _plan(w, TODAY + dt.timedelta(days=3))["id"]
    with pytest.raises(BadInput, match="needs a reason"):
        mt.mark_attendance(s, meeting_id=future, ref="A1", status="excused", actor=c,
                           today=TODAY)
    with pytest.raises(BadInput, match="was not invited"):
        mt.mark_attendance(s, meeting_id=future, ref="O1", status="excused", reason="ill",
                           actor=c, today=TODAY)
    with pytest.raises(Refused, match="cannot be held before it happens"):
        mt.mark_attendance(s, meeting_id=future, ref="A1", status="present", actor=c,
                           today=TODAY)
    with pytest.raises(BadInput, match="must be one of"):
        mt.mark_attendance(s, meeting_id=future, ref="A1", status="asleep", actor=c,
                           today=TODAY)
    mt.mark_attendance(s, meeting_id=future, ref="A1", status="excused", reason="abroad",
                       actor=c, today=TODAY)
    assert _marks(s, future)["A1"] == "excused"
    assert s.get(Meeting, future).status == MS.PLANNED
    # its day has come: marking someone present holds it
    mt.mark_attendance(s, meeting_id=future, ref="L1", status="present", actor=c,
                       today=TODAY + dt.timedelta(days=3))
    assert s.get(Meeting, future).status == MS.HELD
    again = mt.mark_attendance(s, meeting_id=future, ref="L1", status="present", actor=c,
                               today=TODAY + dt.timedelta(days=3))
    assert again["changed"] is False


def _csv(*lines: str) -> bytes:
    return ("\n".join(("ledger_no,attendance,reason",) + lines) + "\n").encode()


def test_attendance_file_is_all_or_nothing_with_every_problem_by_line(w):
    s = w["s"]
    mid = _plan(w, TODAY - dt.timedelta(days=1))["id"]
    bad = _csv("L1,present,",          # line 2: fine
               "ZZ9,present,",         # 3: unknown ledger number
               "O1,present,",          # 4: not invited
               "A1,sleeping,",         # 5: bad status
               "H1,excused,",          # 6: excused without reason
               "L1,absent,",           # 7: repeated
               f"{PHONE},present,",    # 8: a phone number in the ledger column
               f"C1,{PHONE},")         # 9: a phone number as the status
    with pytest.raises(mt.AttendanceFileError) as err:
        mt.import_attendance(s, meeting_id=mid, data=bad, actor=w["coord"], today=TODAY)
    problems = err.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8, 9)]
    assert "unknown ledger number" in problems[0]
    assert "was not invited" in problems[1]
    assert "must be one of" in problems[2]
    assert "needs a reason" in problems[3]
    assert "already on line 2" in problems[4]
    assert PHONE not in str(err.value)
    assert set(_marks(s, mid).values()) == {"invited"}  # nothing marked
    good = _csv("L1,present,", "A1,remote,", "H1,excused,in hospital", "C1,absent,")
    out = mt.import_attendance(s, meeting_id=mid, data=good, actor=w["coord"], today=TODAY)
    assert out["marked"] == 4
    assert _marks(s, mid) == {"L1": "present", "A1": "remote", "H1": "excused",
                              "C1": "absent"}
    with pytest.raises(BadInput, match="header"):
        mt.import_attendance(s, meeting_id=mid, data=b"a,b\n1,2\n", actor=w["coord"],
                             today=TODAY)


# --- closing and make-up study ----------------------------------------------------------------


def test_close_marks_the_rest_absent_and_gives_make_ups_once(w):
    s, c = w["s"], w["coord"]
    mid = _plan(w, TODAY - dt.timedelta(days=2), material="Booklet 4")["id"]
    mt.mark_attendance(s, meeting_id=mid, ref="L1", status="present", actor=c, today=TODAY)
    mt.mark_attendance(s, meeting_id=mid, ref="H1", status="excused", reason="ill", actor=c,
                       today=TODAY)
    mt.mark_attendance(s, meeting_id=mid, ref="A1", status="absent", actor=c, today=TODAY)
    out = mt.close_meeting(s, meeting_id=mid, actor=c, today=TODAY, chair="Li",
                           recorder="Wang", minutes="budget agreed")
    assert out["closed"] and out["marked_absent"] == 1  # C1 was still invited
    assert out["make_up"]["created"] == 3
    assert _marks(s, mid) == {"L1": "present", "H1": "excused", "A1": "absent", "C1": "absent"}
    made = _tasks(s, mid, CampaignKind.MAKE_UP)
    assert sorted(made) == ["A1", "C1", "H1"]
    assert all(t.due_on == TODAY + dt.timedelta(days=30) for t in made.values())
    m = s.get(Meeting, mid)
    assert (m.status, m.chair, m.recorder, m.minutes) == (MS.CLOSED, "Li", "Wang",
                                                          "budget agreed")
    again = mt.close_meeting(s, meeting_id=mid, actor=c, today=TODAY)
    assert (again["closed"], again["make_up"]["created"]) == (False, 0)
    assert len(_tasks(s, mid, CampaignKind.MAKE_UP)) == 3
    assert mt.give_make_ups(s, meeting_id=mid, actor=SYSTEM, today=TODAY)["created"] == 0
    assert mt.meetings_lacking_make_ups(s, actor=SYSTEM, since=TODAY - dt.timedelta(days=90)) == []


def test_closing_a_future_or_cancelled_meeting_is_refused(w):
    s, c = w["s"], w["coord"]
    mid = _plan(w, TODAY + dt.timedelta(days=2))["id"]
    with pytest.raises(Refused, match="before it happens"):
        mt.close_meeting(s, meeting_id=mid, actor=c, today=TODAY)
    mt.cancel_meeting(s, meeting_id=mid, actor=c, reason="no room")
    with pytest.raises(Refused, match="cancelled"):
        mt.close_meeting(s, meeting_id=mid, actor=c, today=TODAY)


def test_completing_a_make_up_task_moves_the_attendance_to_made_up(w):
    s, c = w["s"], w["coord"]
    mid = _plan(w, TODAY - dt.timedelta(days=2))["id"]
    mt.mark_attendance(s, meeting_id=mid, ref="H1", status="excused", reason="ill", actor=c,
                       today=TODAY)
    mt.close_meeting(s, meeting_id=mid, actor=c, today=TODAY)
    task = _tasks(s, mid, CampaignKind.MAKE_UP)["H1"]
    record_outcome(s, task_id=task.id, outcome="visited", actor=w["vol"],
                   today=TODAY + dt.timedelta(days=1))
    s.expire_all()
    att = s.scalars(select(Attendance).where(Attendance.meeting_id == mid,
                                             Attendance.member_id == w["m"]["home"].id)).one()
    assert (att.status, att.made_up_how, att.made_up_on) == (
        AS.MADE_UP, MakeUpHow.VISIT, TODAY + dt.timedelta(days=1))


def test_the_monthly_job_finds_a_closed_meeting_that_lacks_make_ups(w):
    s, c = w["s"], w["coord"]
    meeting = f.meeting(s, branch_=w["root"], status=MS.HELD, planned_on=TODAY)
    f.attendance(s, meeting_=meeting, member_=w["m"]["away"], status=AS.ABSENT)
    from outreach.db.state import move_meeting

    move_meeting(s, meeting, MS.CLOSED, actor_id=None, reason="closed elsewhere")
    assert mt.meetings_lacking_make_ups(s, actor=SYSTEM, since=TODAY) == [meeting.id]
    assert mt.give_make_ups(s, meeting_id=meeting.id, actor=SYSTEM, today=TODAY)["created"] == 1
    assert mt.meetings_lacking_make_ups(s, actor=SYSTEM, since=TODAY) == []


# --- who may ------------------------------------------------------------------------------------


def test_volunteers_are_refused_and_see_no_meeting(w):
    s, v = w["s"], w["vol"]
    mid = _plan(w, TODAY - dt.timedelta(days=1))["id"]
    for call in (lambda: mt.plan_meeting(s, branch="Root", kind="group", on=TODAY, actor=v,
                                         today=TODAY),
                 lambda: mt.meeting_view(s, meeting_id=mid, actor=v),
                 lambda: mt.mark_attendance(s, meeting_id=mid, ref="L1", status="present",
                                            actor=v, today=TODAY),
                 lambda: mt.close_meeting(s, meeting_id=mid, actor=v, today=TODAY),
                 lambda: mlife.meetings_report(s, actor=v, today=TODAY)):
        with pytest.raises(Refused, match="only a coordinator"):
            call()
    with pytest.raises(Refused):
        mlife.members_without_life(s, actor=SYSTEM, today=TODAY, names=True)


# --- cadence, life, report ----------------------------------------------------------------------


def test_quarters_and_periods():
    assert rules.check_quarter("2026-q3") == "2026-Q3"
    assert rules.quarter_bounds("2026-Q1", TODAY) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert rules.period_bounds("2026-Q4", TODAY) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert rules.period_bounds("2026-02", TODAY) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    for bad in ("2026-Q5", "2026Q1", "26-Q1"):
        with pytest.raises(BadInput, match="YYYY-Qn"):
            rules.check_quarter(bad)
    with pytest.raises(BadInput, match="YYYY-MM or YYYY-Qn"):
        rules.period_bounds("2026-13", TODAY)
    assert rules.quarter_of(dt.date(2026, 11, 30)) == "2026-Q4"


def test_cadence_file_overrides_and_bad_files_are_refused(tmp_path):
    assert meeting_rules.cadence(tmp_path / "none.json") == meeting_rules.CADENCE
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"lecture": 1, "committee": 0}))
    assert meeting_rules.cadence(p) == {**meeting_rules.CADENCE, "lecture": 1, "committee": 0}
    p.write_text(json.dumps({"lecture": 2}))
    with pytest.raises(BadInput, match="1 \\(monthly\\), 3"):
        meeting_rules.cadence(p)
    p.write_text(json.dumps({"party": 1}))
    with pytest.raises(BadInput, match="unknown kind 'party'"):
        meeting_rules.cadence(p)


def test_branches_behind_their_cadence_are_flagged(w, tmp_path, monkeypatch):
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    s = w["s"]
    day = dt.date(2026, 4, 15)  # last month: March; last quarter: Q1
    mt.plan_meeting(s, branch="Root", kind="group", on=dt.date(2026, 3, 10), actor=w["coord"],
                    today=day)  # a group meeting of Root held in March
    flagged = {(r["branch"], r["kind"]) for r in mlife.branches_behind(s, actor=SYSTEM, today=day)}
    assert ("Root", "group") not in flagged
    assert {("Root", "committee"), ("Root", "assembly"), ("Child", "group"),
            ("Other", "group")} <= flagged
    (tmp_path / "cadence.json").write_text(json.dumps({"committee": 0}))
    flagged = {(r["branch"], r["kind"]) for r in mlife.branches_behind(s, actor=SYSTEM, today=day)}
    assert not any(k == "committee" for _, k in flagged)


def test_report_figures_recomputed_by_hand(w):
    """Q1 2026, as of 15 April. Root held one group meeting (10 Feb): L1 present, A1
    remote, H1 excused and made up, C1 absent. Due in the quarter: monthly kinds 3,
    quarterly 1. Without organisational life since 15 Oct 2025: C1 and O1 (G1 moved out)."""
    s, c = w["s"], w["coord"]
    day = dt.date(2026, 4, 15)
    mid = mt.plan_meeting(s, branch="Root", kind="group", on=dt.date(2026, 2, 10), actor=c,
                          today=day)["id"]
    mt.import_attendance(s, meeting_id=mid, actor=c, today=day,
                         data=_csv("L1,present,", "A1,remote,", "H1,excused,ill",
                                   "C1,absent,"))
    mt.close_meeting(s, meeting_id=mid, actor=c, today=day)
    att = s.scalars(select(Attendance).where(Attendance.meeting_id == mid,
                                             Attendance.member_id == w["m"]["home"].id)).one()
    move_attendance(s, att, AS.MADE_UP, actor_id=None, reason="test", made_up_on=day,
                    made_up_how=MakeUpHow.VISIT)
    out = mlife.meetings_report(s, actor=SYSTEM, today=day, period="2026-q1")
    assert (out["period"], out["from"], out["to"]) == ("2026-Q1", dt.date(2026, 1, 1),
                                                       dt.date(2026, 3, 31))
    rows = {(r["branch"], r["kind"]): r for r in out["rows"]}
    assert rows[("Root", "group")] == {
        "branch": "Root", "kind": "group", "due": 3, "held": 1, "invited": 4, "present": 1,
        "remote": 1, "excused": 0, "absent": 1, "made_up": 1, "attendance_rate": 0.5,
        "makeup_rate": 0.5}
    assert rows[("Root", "assembly")]["due"] == 1 and rows[("Root", "assembly")]["held"] == 0
    assert rows[("Root", "assembly")]["attendance_rate"] is None
    assert set(rows) == {(b, k) for b in ("Root", "Child", "Other") for k in mt.KIND_ORDER}
    assert out["members_without_life"] == 2
    scoped = mlife.meetings_report(s, actor=c, today=day, period="2026-Q1", branch="Root")
    assert {r["branch"] for r in scoped["rows"]} == {"Root", "Child"}
    assert scoped["members_without_life"] == 1
    life = mlife.members_without_life(s, actor=c, today=day, names=True)
    assert life["count"] == 2 and [m["ledger_no"] for m in life["members"]] == ["C1", "O1"]
    assert mlife.members_without_life(s, actor=SYSTEM, today=day) == {
        "months": 6, "as_of": day, "count": 2}
    # the quarter in progress: only the months that have ended are due
    now = mlife.meetings_report(s, actor=SYSTEM, today=dt.date(2026, 2, 15), period="2026-Q1")
    assert {(r["branch"], r["kind"]): r["due"] for r in now["rows"]}[("Root", "group")] == 1


def test_list_meetings_by_branch_and_period(w):
    s, c = w["s"], w["coord"]
    a = _plan(w, dt.date(2026, 2, 10))["id"]
    b = mt.plan_meeting(s, branch="Other", kind="lecture", on=dt.date(2026, 5, 2), actor=c,
                        today=TODAY)["id"]
    assert [r["id"] for r in mt.list_meetings(s, actor=c, today=TODAY, period="2026-Q1")] == [a]
    assert [r["id"] for r in mt.list_meetings(s, actor=c, today=TODAY, period="2026-05")] == [b]
    rows = mt.list_meetings(s, actor=c, today=TODAY, period="2026-02", branch="Root")
    assert [(r["id"], r["invited"]) for r in rows] == [(a, 4)]
    assert mt.list_meetings(s, actor=c, today=TODAY, period="2026-02", branch="Child") == []


def test_a_meeting_held_in_the_future_of_the_real_today_is_refused(w, monkeypatch):
    """``--today`` may be moved, the real calendar may not: a meeting "already held" on a
    day after the real today (plus a day for time zones) is a typo."""
    monkeypatch.setattr(rules, "real_today", lambda: dt.date(2026, 3, 1))
    with pytest.raises(BadInput, match="in the future"):
        mt.plan_meeting(w["s"], branch="Root", kind="group", on=dt.date(2026, 3, 5),
                        actor=w["coord"], today=dt.date(2026, 3, 9))
    mid = _plan(w, dt.date(2026, 3, 5))["id"]  # planned (TODAY is 2 March)
    with pytest.raises(BadInput, match="in the future"):
        mt.hold_meeting(w["s"], meeting_id=mid, actor=w["coord"], today=dt.date(2026, 3, 9))


def test_without_life_counts_the_same_through_the_index_or_a_scan(w, monkeypatch):
    """SQLite picks how it finds who took part (`SCAN_SHARE`); both ways count alike. A
    meeting held before the six months does not count as organisational life."""
    s, c = w["s"], w["coord"]
    day = dt.date(2026, 9, 15)
    old = mt.plan_meeting(s, branch="Root", kind="group", on=dt.date(2026, 1, 10), actor=c,
                          today=day)["id"]
    new = mt.plan_meeting(s, branch="Root", kind="lecture", on=dt.date(2026, 8, 10), actor=c,
                          today=day)["id"]
    mt.mark_attendance(s, meeting_id=old, ref="A1", status="present", actor=c, today=day)
    mt.mark_attendance(s, meeting_id=new, ref="L1", status="remote", actor=c, today=day)
    mt.mark_attendance(s, meeting_id=new, ref="H1", status="excused", reason="ill", actor=c,
                       today=day)
    counts = set()
    for share in (0.0, 2.0):  # always scan, never scan
        monkeypatch.setattr(mlife, "SCAN_SHARE", share)
        got = mlife.members_without_life(s, actor=c, today=day, names=True)
        counts.add((got["count"], tuple(m["ledger_no"] for m in got["members"])))
    assert counts == {(4, ("C1", "O1", "A1", "H1"))}  # by branch, then ledger number


def test_a_make_up_task_says_how_visit_when_homebound_call_when_away(w):
    from outreach.tasks.work.worklist import task_view

    s, c = w["s"], w["coord"]
    mid = _plan(w, TODAY - dt.timedelta(days=2))["id"]
    mt.close_meeting(s, meeting_id=mid, actor=c, today=TODAY)
    made = _tasks(s, mid, CampaignKind.MAKE_UP)
    how = {ref: task_view(s, task_id=t.id, actor=c, today=TODAY)["how"]
           for ref, t in made.items()}
    assert how["H1"] == "visit" and how["A1"] == "phone" and how["L1"] == "materials"
    from outreach.cli.volunteer import render_card

    card = render_card(task_view(s, task_id=made["A1"].id, actor=c, today=TODAY))
    assert "call the member (living away)" in card and "record reached" in card


@pytest.mark.parametrize("homebound, away, want", [
    (True, False, MakeUpHow.VISIT), (True, True, MakeUpHow.VISIT),
    (False, True, MakeUpHow.PHONE), (False, False, MakeUpHow.MATERIALS)])
def test_make_up_how_follows_the_members_situation(homebound, away, want):
    assert work_rules.make_up_how(homebound=homebound, away=away) == want


def test_self_study_is_off_by_default_and_a_coordinators_setting_of_one_branch(w):
    """`set_self_study`: off by default; on and off for the named branch only (a nested
    branch keeps its own); reading changes nothing; a volunteer is refused; the member's
    "I have studied it" follows it (`tasks.links.member_links.confirm_study`)."""
    s, c = w["s"], w["coord"]
    assert mt.set_self_study(s, branch="Root", actor=c) == {
        "branch": "Root", "self_study": False, "changed": False}
    assert mt.set_self_study(s, branch="Root", actor=c, on=True)["changed"]
    assert not mt.set_self_study(s, branch="Root", actor=c, on=True)["changed"]
    assert w["root"].self_study and not w["child"].self_study
    with pytest.raises(Refused):
        mt.set_self_study(s, branch="Root", actor=w["vol"], on=False)
    with pytest.raises(NotFound, match="no branch named"):
        mt.set_self_study(s, branch="Nowhere", actor=c, on=True)
    out = mt.set_self_study(s, branch="Root", actor=c, on=False)
    assert out == {"branch": "Root", "self_study": False, "changed": True}
    assert not w["root"].self_study
