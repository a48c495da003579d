"""Planning a campaign run: targeting per kind, assignment, idempotency, history."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput
from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    CampaignKind,
    CampaignRun,
    Member,
    OutreachTask,
    Residence,
    TaskStatusChange,
)
from outreach.db.session import make_engine
from outreach.tasks.campaigns import plan, plan_jobs
from outreach.tasks.work import engine as task_engine, assign
from outreach.tasks.ledger import tree
from tests.db import factories as f

TODAY = dt.date(2026, 11, 2)
PERIOD = "2026-11"
LONG_AGO = TODAY - dt.timedelta(days=800)


@pytest.fixture
def eng(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


@contextlib.contextmanager
def build(eng):
    """A session whose work is committed (for functions that own their transactions)."""
    with Session(eng, expire_on_commit=False) as s, s.begin():
        yield s


def tasks_of(eng, run_id: int) -> dict[int, OutreachTask]:
    with Session(eng) as s:
        return {t.member_id: t for t in s.scalars(
            select(OutreachTask).where(OutreachTask.run_id == run_id))}


def run_id(eng, kind, period=PERIOD) -> int:
    with build(eng) as s:
        return plan.open_run(s, kind, period).id


# --- campaign, run, ranges ----------------------------------------------------------------


def test_open_run_gets_or_creates_one_run_per_period(session):
    a = plan.open_run(session, CampaignKind.SURVEY, "2026-11", material=None)
    b = plan.open_run(session, "survey", "2026-11")
    c = plan.open_run(session, CampaignKind.SURVEY, "2026-12")
    assert a.id == b.id != c.id
    camp = task_engine.ensure_campaign(session, CampaignKind.SURVEY)
    assert camp.name == "survey" and camp.window_days == 365 and a.campaign_id == camp.id
    d = plan.open_run(session, CampaignKind.DELIVERY, "2026-11", material="Booklet 11")
    assert d.material == "Booklet 11"


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"])
def test_open_run_refuses_a_bad_period(session, period):
    with pytest.raises(BadInput, match="YYYY-MM"):
        plan.open_run(session, CampaignKind.SURVEY, period)


def test_escalations_and_unknown_kinds_are_not_planned(session):
    with pytest.raises(BadInput, match="follow-up"):
        plan.open_run(session, CampaignKind.ESCALATION, PERIOD)
    with pytest.raises(BadInput, match="unknown campaign kind"):
        plan.open_run(session, "census", PERIOD)


def test_closes_on_is_period_end_but_at_least_two_due_windows():
    assert plan.closes_on("2026-11", dt.date(2026, 11, 1), 14) == dt.date(2026, 11, 30)
    assert plan.closes_on("2026-11", dt.date(2026, 11, 25), 14) == dt.date(2026, 12, 23)
    assert plan.period_end("2028-02") == dt.date(2028, 2, 29)


def test_id_ranges_cover_every_member_half_open(eng):
    assert plan_jobs.id_ranges(eng, size=10) == []
    with build(eng) as s:
        b = f.branch(s)
        ids = [f.member(s, branch_=b).id for _ in range(7)]
    ranges = plan_jobs.id_ranges(eng, size=3)
    assert ranges[0][0] == min(ids) and ranges[-1][1] == max(ids) + 1
    assert all(hi - lo <= 3 for lo, hi in ranges)
    assert sum(hi - lo for lo, hi in ranges) == max(ids) - min(ids) + 1
    with pytest.raises(BadInput):
        plan_jobs.id_ranges(eng, size=0)


# --- targeting ----------------------------------------------------------------------------


def _excluded_members(s, b):
    """One member in each state outreach must never target."""
    return [f.member_in(s, st, branch_=b, residence=Residence.AWAY, homebound=True)
            for st in (MS.DECEASED, MS.MOVED_OUT, MS.DO_NOT_CONTACT)]


def test_survey_targets_the_unconfirmed_within_the_window(eng):
    with build(eng) as s:
        b = f.branch(s)
        never = f.member(s, branch_=b)
        old = f.member(s, branch_=b, status=MS.ACTIVE, confirmed_on=LONG_AGO)
        edge = f.member(s, branch_=b, status=MS.ACTIVE,
                        confirmed_on=TODAY - dt.timedelta(days=365))
        recent = f.member(s, branch_=b, status=MS.ACTIVE,
                          confirmed_on=TODAY - dt.timedelta(days=30))
        unreachable = f.member_in(s, MS.UNREACHABLE, branch_=b)
        excluded = _excluded_members(s, b)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    assert set(got) == {never.id, old.id, unreachable.id}
    assert edge.id not in got and recent.id not in got
    assert not set(got) & {m.id for m in excluded}
    assert out["targeted"] == out["created"] == 3 and out["unassigned"] == 3
    t = got[never.id]
    assert t.kind == CampaignKind.SURVEY and t.status == TS.OPEN and t.volunteer_id is None
    assert (t.attempts, t.version, t.max_attempts) == (0, 1, 3)
    assert t.status_reason == "planned"
    assert t.due_on == TODAY + dt.timedelta(days=14)
    assert t.closes_on == dt.date(2026, 11, 30)


def test_phone_visits_target_away_members_not_reached_within_the_cadence(eng):
    with build(eng) as s:
        b = f.branch(s)
        away_never = f.member(s, branch_=b, residence=Residence.AWAY)
        away_old = f.member(s, branch_=b, residence=Residence.AWAY,
                            last_reached_on=TODAY - dt.timedelta(days=31))
        away_recent = f.member(s, branch_=b, residence=Residence.AWAY,
                               last_reached_on=TODAY - dt.timedelta(days=5))
        local = f.member(s, branch_=b, residence=Residence.LOCAL)
        excluded = _excluded_members(s, b)
    out = plan_jobs.plan_campaign(eng, CampaignKind.PHONE_VISIT, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    assert set(got) == {away_never.id, away_old.id}
    assert away_recent.id not in got and local.id not in got
    assert not set(got) & {m.id for m in excluded}
    assert {t.kind for t in got.values()} == {CampaignKind.PHONE_VISIT}


def test_deliveries_go_to_homebound_local_members_only(eng):
    with build(eng) as s:
        b = f.branch(s)
        hb_local = f.member(s, branch_=b, homebound=True, residence=Residence.LOCAL)
        hb_away = f.member(s, branch_=b, homebound=True, residence=Residence.AWAY)
        walker = f.member(s, branch_=b, homebound=False)
        excluded = _excluded_members(s, b)
    out = plan_jobs.plan_campaign(eng, CampaignKind.DELIVERY, PERIOD, today=TODAY,
                             material="Study booklet 11")
    got = tasks_of(eng, out["run_id"])
    assert set(got) == {hb_local.id}
    assert hb_away.id not in got and walker.id not in got
    assert not set(got) & {m.id for m in excluded}
    with Session(eng) as s:
        assert s.get(CampaignRun, out["run_id"]).material == "Study booklet 11"


def test_branch_filter_takes_the_branch_and_all_its_descendants(eng):
    with build(eng) as s:
        top = f.branch(s)
        child = f.branch(s, parent=top)
        grandchild = f.branch(s, parent=child)
        other = f.branch(s)
        sibling_of_top_child = f.branch(s, parent=other)
        in_child = f.member(s, branch_=child)
        in_grand = f.member(s, branch_=grandchild)
        in_top = f.member(s, branch_=top)
        outside = [f.member(s, branch_=other), f.member(s, branch_=sibling_of_top_child)]
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, branch_id=child.id)
    got = tasks_of(eng, out["run_id"])
    assert set(got) == {in_child.id, in_grand.id}
    assert in_top.id not in got and not set(got) & {m.id for m in outside}


def test_members_with_an_open_task_of_the_same_kind_elsewhere_are_skipped(eng):
    with build(eng) as s:
        b = f.branch(s)
        busy = f.member(s, branch_=b)
        busy_assigned = f.member(s, branch_=b)
        finished = f.member(s, branch_=b)
        other_kind = f.member(s, branch_=b)
        free = f.member(s, branch_=b)
        old_run = plan.open_run(s, CampaignKind.SURVEY, "2026-10")
        phone_run = plan.open_run(s, CampaignKind.PHONE_VISIT, "2026-10")
        f.task(s, member_=busy, run=old_run)
        f.task_in(s, TS.ASSIGNED, member_=busy_assigned, run=old_run,
                  volunteer_=f.volunteer(s, branch_=b, active=False))
        f.task_in(s, TS.DONE, member_=finished, run=old_run)
        f.task(s, member_=other_kind, run=phone_run)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    assert set(got) == {finished.id, other_kind.id, free.id}
    assert out["busy"] == 2


# --- assignment ---------------------------------------------------------------------------


def test_assignment_respects_capacity_across_runs_and_counts_the_rest(eng):
    with build(eng) as s:
        b = f.branch(s)
        v = f.volunteer(s, branch_=b, capacity=3)
        earlier = plan.open_run(s, CampaignKind.PHONE_VISIT, "2026-10")
        f.task_in(s, TS.ASSIGNED, run=earlier, volunteer_=v, member_=f.member(s, branch_=b))
        members = [f.member(s, branch_=b) for _ in range(5)]
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    assert {m.id for m in members} <= set(got)
    assigned = [t for t in got.values() if t.status == TS.ASSIGNED]
    assert len(assigned) == 2 and all(t.volunteer_id == v.id for t in assigned)
    assert all(t.status_reason == "assigned" for t in assigned)
    # six targeted (the member with the phone visit too), two assigned, four left open
    assert (out["created"], out["assigned"], out["unassigned"]) == (6, 2, 4)
    opened = [t for t in got.values() if t.status == TS.OPEN]
    assert len(opened) == 4 and all(t.volunteer_id is None for t in opened)


def test_least_loaded_volunteer_fills_first(eng):
    with build(eng) as s:
        b = f.branch(s)
        busy = f.volunteer(s, branch_=b, capacity=10)
        idle = f.volunteer(s, branch_=b, capacity=10)
        earlier = plan.open_run(s, CampaignKind.PHONE_VISIT, "2026-10")
        for _ in range(4):
            f.task_in(s, TS.ASSIGNED, run=earlier, volunteer_=busy,
                      member_=f.member(s, branch_=b, confirmed_on=TODAY))
        for _ in range(8):
            f.member(s, branch_=b)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    per = {busy.id: 0, idle.id: 0}
    for t in got.values():
        per[t.volunteer_id] += 1
    # water-filling: idle takes 4 to catch up, then they alternate: 4 + 2 = 6 for idle
    assert per == {idle.id: 6, busy.id: 2}
    assert out["assigned"] == 8


def test_continuity_prefers_the_volunteer_who_last_reached_the_member(eng):
    with build(eng) as s:
        top = f.branch(s)
        b = f.branch(s, parent=top)
        mine = f.volunteer(s, branch_=b, capacity=1)
        other = f.volunteer(s, branch_=b, capacity=5)
        from_parent = f.volunteer(s, branch_=top, capacity=5)
        gone = f.volunteer(s, branch_=b, capacity=5, active=False)
        stranger = f.volunteer(s, branch_=f.branch(s), capacity=5)
        m1 = f.member(s, branch_=b, last_reached_by=mine.id)
        m2 = f.member(s, branch_=b, last_reached_by=mine.id)  # mine is full after m1
        m3 = f.member(s, branch_=b, last_reached_by=from_parent.id)  # ancestor: allowed
        m4 = f.member(s, branch_=b, last_reached_by=gone.id)  # inactive: not chosen
        m5 = f.member(s, branch_=b, last_reached_by=stranger.id)  # outside the chain
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    assert got[m1.id].volunteer_id == mine.id
    assert got[m1.id].status_reason == "assigned (continuity)"
    assert got[m3.id].volunteer_id == from_parent.id
    for m in (m2, m4, m5):
        assert got[m.id].volunteer_id == other.id
        assert got[m.id].status_reason == "assigned"
    assert out["continuity"] == 2
    assert gone.id not in {t.volunteer_id for t in got.values()}


def test_falls_back_to_the_parent_branch_walking_up(eng):
    with build(eng) as s:
        root = f.branch(s)
        mid = f.branch(s, parent=root)
        leaf = f.branch(s, parent=mid)
        leaf_v = f.volunteer(s, branch_=leaf, capacity=1)
        f.volunteer(s, branch_=mid, capacity=0)  # no room at the parent
        f.volunteer(s, branch_=mid, capacity=9, active=False)
        f.coordinator(s, branch_=mid, capacity=9)  # coordinators keep room for escalations
        root_v = f.volunteer(s, branch_=root, capacity=2)
        members = [f.member(s, branch_=leaf) for _ in range(4)]
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    holders = [got[m.id].volunteer_id for m in members]
    assert holders == [leaf_v.id, root_v.id, root_v.id, None]
    assert [got[m.id].status_reason for m in members] == [
        "assigned", "assigned (parent branch)", "assigned (parent branch)", "planned"]
    assert (out["assigned"], out["parent"], out["unassigned"]) == (3, 2, 1)


def test_own_branch_members_come_before_a_childs_overflow(eng):
    with build(eng) as s:
        parent = f.branch(s)
        child = f.branch(s, parent=parent)
        pv = f.volunteer(s, branch_=parent, capacity=1)
        child_member = f.member(s, branch_=child)  # lower id, but needs the parent
        parent_member = f.member(s, branch_=parent)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    got = tasks_of(eng, out["run_id"])
    assert got[parent_member.id].volunteer_id == pv.id
    assert got[child_member.id].status == TS.OPEN


def test_no_volunteers_means_every_task_stays_open_and_is_counted(eng):
    with build(eng) as s:
        b = f.branch(s)
        f.volunteer(s, branch_=b, active=False)
        for _ in range(3):
            f.member(s, branch_=b)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    assert (out["created"], out["assigned"], out["unassigned"]) == (3, 0, 3)
    with Session(eng) as s:
        rows = plan.summary(s, out["run_id"])
    assert rows == [{"branch_id": b.id, "branch": b.name, "targeted": 3, "assigned": 0,
                     "unassigned": 3}]


def test_assign_open_hands_out_leftovers_when_volunteers_gain_room(eng):
    with build(eng) as s:
        b = f.branch(s)
        v = f.volunteer(s, branch_=b, capacity=1)
        members = [f.member(s, branch_=b) for _ in range(4)]
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    assert out["unassigned"] == 3
    assert plan_jobs.assign_open(eng, out["run_id"])["assigned"] == 0  # nobody has room
    with build(eng) as s:
        s.get(type(v), v.id).capacity = 3
        w = f.volunteer(s, branch_=b, capacity=5)
    res = plan_jobs.assign_open(eng, out["run_id"], batch_size=2)
    assert res == {"assigned": 3, "continuity": 0, "parent": 0, "still_open": 0}
    got = tasks_of(eng, out["run_id"])
    per = {}
    for t in got.values():
        per[t.volunteer_id] = per.get(t.volunteer_id, 0) + 1
    assert per == {v.id: 2, w.id: 2}  # least loaded first: w gets two, v its one free slot
    with Session(eng) as s:
        moved = s.scalar(select(func.count()).select_from(TaskStatusChange).where(
            TaskStatusChange.from_status == "open", TaskStatusChange.to_status == "assigned",
            TaskStatusChange.task_id.in_([t.id for t in got.values()])))
    assert moved == 3
    assert len(members) == 4


def test_summary_per_branch_has_counts_and_no_contact_details(eng):
    with build(eng) as s:
        a, b = f.branch(s, name="A branch"), f.branch(s, name="B branch")
        f.volunteer(s, branch_=a, capacity=1)
        for br in (a, a, b):
            f.member(s, branch_=br, phone="+1 555 0100", home_address="1 Main St")
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    with Session(eng) as s:
        rows = plan.summary(s, out["run_id"])
    assert rows == [
        {"branch_id": a.id, "branch": "A branch", "targeted": 2, "assigned": 1, "unassigned": 1},
        {"branch_id": b.id, "branch": "B branch", "targeted": 1, "assigned": 0, "unassigned": 1},
    ]
    assert "555 0100" not in repr(rows) and "Main" not in repr(rows)


# --- idempotency and history ----------------------------------------------------------------


def _ledger(eng, n=25, spare=0):
    """``n`` members over a root branch and two children, a volunteer in each with
    capacity 3, 4, 5 (+ ``spare``: room left after planning all ``n``)."""
    with build(eng) as s:
        root = f.branch(s)
        branches = [root, f.branch(s, parent=root), f.branch(s, parent=root)]
        for i, br in enumerate(branches):
            f.volunteer(s, branch_=br, capacity=3 + i + spare)
        return [f.member(s, branch_=branches[i % 3]).id for i in range(n)]


def _snapshot(eng, run_id: int):
    """(task per member: (task id, status, volunteer), load per volunteer, history rows)."""
    with Session(eng) as s:
        tasks = {t.member_id: (t.id, str(t.status), t.volunteer_id) for t in s.scalars(
            select(OutreachTask).where(OutreachTask.run_id == run_id))}
        load = dict(s.execute(select(OutreachTask.volunteer_id, func.count())
                              .where(OutreachTask.status == TS.ASSIGNED)
                              .group_by(OutreachTask.volunteer_id)).all())
        history = s.scalar(select(func.count()).select_from(TaskStatusChange))
    return tasks, load, history


def test_a_rerun_with_room_left_assigns_nothing_twice_and_keeps_the_loads(eng):
    """Volunteers with spare capacity: a rerun that re-matched members already in the run
    would hand them out again; it must change nothing."""
    ids = _ledger(eng, spare=20)
    first = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=7)
    assert first["created"] == first["assigned"] == len(ids)  # room for everyone
    before = _snapshot(eng, first["run_id"])
    second = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=4)
    assert (second["created"], second["assigned"], second["assigned_later"]) == (0, 0, 0)
    assert second["targeted"] == len(ids)
    assert _snapshot(eng, first["run_id"]) == before  # same tasks, volunteers, loads, history
    assert plan_jobs.assign_open(eng, first["run_id"])["assigned"] == 0
    assert _snapshot(eng, first["run_id"]) == before


def test_a_rerun_after_a_crash_with_room_left_keeps_what_was_planned(eng):
    ids = _ledger(eng, spare=20)
    rid = run_id(eng, CampaignKind.SURVEY)
    for lo, hi in plan_jobs.id_ranges(eng, size=5)[:2]:
        plan_jobs.plan_range(eng, rid, lo, hi, today=TODAY)
    tasks_before, load_before, _ = _snapshot(eng, rid)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=5)
    tasks_after, load_after, _ = _snapshot(eng, rid)
    assert out["created"] == len(ids) - len(tasks_before)
    assert set(tasks_after) == set(ids)  # one task per member, none twice
    assert {m: tasks_after[m] for m in tasks_before} == tasks_before
    assert sum(load_after.values()) == sum(load_before.values()) + out["created"]


def test_a_second_plan_of_the_same_period_creates_nothing(eng):
    ids = _ledger(eng)
    first = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=7)
    second = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=4)
    assert first["run_id"] == second["run_id"]
    assert first["created"] == len(ids) and second["created"] == 0
    assert second["targeted"] == len(ids) and second["assigned"] == 0
    assert len(tasks_of(eng, first["run_id"])) == len(ids)


def test_a_run_killed_half_way_finishes_on_rerun_without_duplicates(eng):
    ids = _ledger(eng)
    rid = run_id(eng, CampaignKind.SURVEY)
    ranges = plan_jobs.id_ranges(eng, size=5)
    for lo, hi in ranges[:2]:  # the "crash": only the first ranges were planned
        plan_jobs.plan_range(eng, rid, lo, hi, today=TODAY)
    done_before = tasks_of(eng, rid)
    assert 0 < len(done_before) < len(ids)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=5)
    assert out["run_id"] == rid
    assert out["created"] == len(ids) - len(done_before)
    after = tasks_of(eng, rid)
    assert set(after) == set(ids)
    with Session(eng) as s:
        n = s.scalar(select(func.count()).select_from(OutreachTask)
                     .where(OutreachTask.run_id == rid))
        load = dict(s.execute(select(OutreachTask.volunteer_id, func.count())
                              .where(OutreachTask.volunteer_id.is_not(None))
                              .group_by(OutreachTask.volunteer_id)).all())
    assert n == len(ids)
    assert sorted(load.values()) == [3, 4, 5]  # capacities still hold across the rerun


def test_every_planned_task_has_its_history_row(eng):
    _ledger(eng, n=12)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=5)
    with Session(eng) as s:
        tasks = s.scalars(select(OutreachTask).where(OutreachTask.run_id == out["run_id"])).all()
        hist = {h.task_id: h for h in s.scalars(select(TaskStatusChange).where(
            TaskStatusChange.task_id.in_([t.id for t in tasks])))}
    assert len(tasks) == 12 and set(hist) == {t.id for t in tasks}
    for t in tasks:
        h = hist[t.id]
        assert (h.from_status, h.to_status, h.volunteer_id) == ("new", t.status, t.volunteer_id)
        assert h.reason == t.status_reason and h.actor_id is None


def test_dry_run_counts_exactly_what_the_run_makes(eng):
    """Issue 11, defect 9: members with an open task of the same kind elsewhere, and
    members already planned in this period's run, are not counted by the dry run."""
    ids = _ledger(eng, n=30)
    with build(eng) as s:
        old_run = plan.open_run(s, CampaignKind.SURVEY, "2026-10")
        for mid in ids[:7]:  # busy: an open survey task of last month
            f.task(s, member_=s.get(Member, mid), run=old_run)
    rid = run_id(eng, CampaignKind.SURVEY)
    lo, hi = plan_jobs.id_ranges(eng, size=12)[1]
    planned = plan_jobs.plan_range(eng, rid, lo, hi, today=TODAY)["created"]
    assert planned > 0
    rows = plan_jobs.preview(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    would = sum(r["targeted"] for r in rows)
    assert sum(r["busy"] for r in rows) == 7 and sum(r["planned"] for r in rows) == planned
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY, batch_size=12)
    assert would == out["created"] == len(ids) - 7 - planned
    assert sum(r["targeted"] for r in plan_jobs.preview(
        eng, CampaignKind.SURVEY, PERIOD, today=TODAY)) == 0


def test_preview_counts_without_writing(db_url):
    """A dry run counts what plan_campaign would target and writes nothing."""
    import datetime as dt

    from sqlalchemy import func, select

    from outreach.db.models import OutreachTask
    from outreach.db.session import make_engine, session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import plan_jobs

    eng = make_engine(db_url)
    today = dt.date(2026, 11, 5)
    seed_ledger(eng, members=300, volunteers=10, seed=2, today=today)
    rows = plan_jobs.preview(eng, "phone_visit", "2026-11", today=today)
    with session_scope(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(OutreachTask)) == 0
    out = plan_jobs.plan_campaign(eng, "phone_visit", "2026-11", today=today)
    assert sum(r["targeted"] for r in rows) == out["created"] > 0
    again = plan_jobs.preview(eng, "phone_visit", "2026-11", today=today)
    assert sum(r["planned"] for r in again) == out["created"]
    assert sum(r["targeted"] for r in again) == 0  # a rerun makes nothing new
    eng.dispose()


# --- the matcher against a one-by-one oracle ------------------------------------------------


def _one_by_one(rows, volunteers, chains):
    """The rule spelled out slowly: continuity, then per depth each waiting row (in key
    order) to the least-loaded volunteer with room of its ancestor (ties: lowest id)."""
    out, waiting = {}, []
    for key, branch, last in rows:
        v = volunteers.get(last)
        if v is not None and v[2] < v[1] and v[0] in chains[branch]:
            v[2] += 1
            out[key] = (key, last, 1)
        else:
            waiting.append((key, branch))
    depth = 0
    while waiting:
        later = []
        for key, branch in waiting:
            chain = chains[branch]
            if depth >= len(chain):
                out[key] = (key, None, 0)
                continue
            room = [(v[2], vid) for vid, v in volunteers.items()
                    if v[0] == chain[depth] and v[2] < v[1]]
            if not room:
                later.append((key, branch))
                continue
            _load, vid = min(room)
            volunteers[vid][2] += 1
            out[key] = (key, vid, 2 if depth == 0 else 3)
        waiting, depth = later, depth + 1
    return [out[key] for key, _b, _l in rows]


def _random_tree(rng, most: int):
    """A random branch tree of 1 to ``most`` - 1 branches: (branch → parent, branch →
    chain)."""
    parent: dict[int, int | None] = {1: None}
    for b in range(2, rng.randint(2, most)):
        parent[b] = rng.choice(list(parent))
    chains = {}
    for b, up in parent.items():
        chain, cur = [b], up
        while cur is not None:
            chain.append(cur)
            cur = parent[cur]
        chains[b] = tuple(chain)
    return parent, chains


@pytest.mark.parametrize("seed", range(40))
def test_match_equals_handing_out_one_by_one_to_the_least_loaded(seed):
    import copy
    import random

    rng = random.Random(seed)
    parent, chains = _random_tree(rng, 9)
    volunteers = {}
    for vid in rng.sample(range(1, 500), rng.randint(0, 25)):
        cap = rng.randint(0, 6)
        volunteers[vid] = [rng.choice(list(parent)), cap, rng.randint(0, cap)]
    volunteers = {k: v for k, v in volunteers.items() if v[2] < v[1]}
    ids = list(volunteers) + [999, 1000]  # some last_reached_by are gone or inactive
    rows = [(key, rng.choice(list(parent)), rng.choice(ids + [None] * 3))
            for key in sorted(rng.sample(range(1, 10_000), rng.randint(0, 120)))]
    expected_vols = copy.deepcopy(volunteers)
    expected = _one_by_one(rows, expected_vols, chains)
    assert assign.match(rows, volunteers, chains) == expected
    assert volunteers == expected_vols  # loads updated in place, the same way
    assert all(v[2] <= v[1] for v in volunteers.values())


def test_match_balances_a_branch_within_one_task():
    volunteers = {vid: [1, 50, 0] for vid in range(10, 20)}
    volunteers[15][2] = 7  # already busy: catches up last
    rows = [(k, 1, None) for k in range(1, 71)]
    picks = assign.match(rows, volunteers, {1: (1,)})
    loads = sorted(v[2] for v in volunteers.values())
    assert loads[-1] - loads[0] <= 1 and sum(loads) == 70 + 7
    assert [p[1] for p in picks[:9]] == [10, 11, 12, 13, 14, 16, 17, 18, 19]


def test_assign_open_uses_continuity_and_the_parent_branch(eng):
    with build(eng) as s:
        top = f.branch(s)
        leaf = f.branch(s, parent=top)
        old_friend = f.volunteer(s, branch_=leaf, capacity=0)
        m1 = f.member(s, branch_=leaf, last_reached_by=old_friend.id)
        m2 = f.member(s, branch_=leaf)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    assert out["unassigned"] == 2
    with build(eng) as s:
        s.get(type(old_friend), old_friend.id).capacity = 1
        helper = f.volunteer(s, branch_=top, capacity=5)
    res = plan_jobs.assign_open(eng, out["run_id"])
    assert res == {"assigned": 2, "continuity": 1, "parent": 1, "still_open": 0}
    got = tasks_of(eng, out["run_id"])
    assert got[m1.id].volunteer_id == old_friend.id
    assert got[m1.id].status_reason == "assigned (continuity)"
    assert got[m2.id].volunteer_id == helper.id
    assert got[m2.id].status_reason == "assigned (parent branch)"


def test_a_run_can_override_window_due_days_and_attempts(db_url):
    """The flows' form settings reach the tasks: a longer cadence targets fewer members,
    due days and attempts are written on every task of the run."""
    import datetime as dt

    from sqlalchemy import func, select

    from outreach.db.errors import BadInput
    from outreach.db.models import OutreachTask
    from outreach.db.session import make_engine, session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import plan_jobs

    eng = make_engine(db_url)
    today = dt.date(2026, 11, 5)
    seed_ledger(eng, members=400, volunteers=12, seed=4, today=today)
    wide = sum(r["targeted"] for r in plan_jobs.preview(
        eng, "phone_visit", "2026-11", today=today, within_days=14))
    narrow = sum(r["targeted"] for r in plan_jobs.preview(
        eng, "phone_visit", "2026-11", today=today, within_days=90))
    assert wide > narrow
    out = plan_jobs.plan_campaign(eng, "phone_visit", "2026-11", today=today,
                                  within_days=90, due_days=3, max_attempts=1)
    assert out["created"] == narrow
    with session_scope(eng, write=False) as s:
        rows = s.execute(select(OutreachTask.max_attempts, OutreachTask.due_on,
                                func.count()).group_by(OutreachTask.max_attempts,
                                                       OutreachTask.due_on)).all()
    assert rows == [(1, today + dt.timedelta(days=3), narrow)]
    # the limits of `tasks.kernel.rules`, the same the CLI and the flow forms offer
    for bad in (dict(due_days=500), dict(due_days=91), dict(max_attempts=6),
                dict(max_attempts=20), dict(within_days=45)):
        with pytest.raises(BadInput):
            plan_jobs.plan_campaign(eng, "phone_visit", "2026-11", today=today, **bad)
    with pytest.raises(BadInput, match="takes one of"):
        plan_jobs.preview(eng, "survey", "2026-11", today=today, within_days=30)
    eng.dispose()


# --- only the volunteers a range can use (work.assign.volunteers_with_room, relevant_branches) -------


@pytest.mark.parametrize("seed", range(40))
def test_match_over_the_rows_relevant_volunteers_picks_the_same(seed):
    """`match` given only the volunteers of the rows' branches and those above them (what
    `volunteers_with_room` reads for a range) picks exactly what it picks given everybody."""
    import copy
    import random

    rng = random.Random(1000 + seed)
    parent, chains = _random_tree(rng, 14)
    volunteers = {}
    for vid in rng.sample(range(1, 500), rng.randint(0, 30)):
        cap = rng.randint(1, 6)
        volunteers[vid] = [rng.choice(list(parent)), cap, rng.randint(0, cap - 1)]
    some = rng.sample(list(parent), rng.randint(1, len(parent)))  # the range's branches
    ids = list(volunteers) + [999]
    rows = [(key, rng.choice(some), rng.choice(ids + [None] * 3))
            for key in sorted(rng.sample(range(1, 10_000), rng.randint(0, 80)))]
    barred = {key: rng.choice(ids) for key, _b, _l in rows if rng.random() < 0.2}
    relevant = assign.relevant_branches(rows, chains)
    assert relevant == {b for _k, branch, _l in rows for b in chains[branch]}
    everybody = copy.deepcopy(volunteers)
    few = {vid: list(v) for vid, v in volunteers.items() if v[0] in relevant}
    assert assign.match(rows, few, chains, barred) == assign.match(rows, everybody, chains, barred)
    assert few == {vid: v for vid, v in everybody.items() if vid in few}  # the same loads


def _tree_with_volunteers(s):
    """A root with 24 children, a volunteer in each of the 25 branches."""
    root = f.branch(s)
    kids = [f.branch(s, parent=root) for _ in range(24)]
    vols = {b.id: f.volunteer(s, branch_=b, capacity=3) for b in [root, *kids]}
    return root, kids, vols


def test_volunteers_of_a_range_are_those_its_rows_branches_may_use(eng):
    with build(eng) as s:
        root, kids, vols = _tree_with_volunteers(s)
        busy = f.member(s, branch_=root)
    # one task assigned to the root's volunteer: its load must be read in both ways
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    assert tasks_of(eng, out["run_id"])[busy.id].volunteer_id == vols[root.id].id
    with eng.connect() as conn:
        chains = tree.chains(conn)
        everybody = assign.volunteers_with_room(conn)
        one = assign.volunteers_with_room(conn, [(1, kids[0].id, None)], chains)
        two = assign.volunteers_with_room(conn, [(1, kids[0].id, None), (2, kids[1].id, None)],
                                    chains)
        most = assign.volunteers_with_room(conn, [(i, k.id, None) for i, k in enumerate(kids[:12])],
                                     chains)  # 13 of 25 branches
        none = assign.volunteers_with_room(conn, [], chains)
    assert everybody[vols[root.id].id] == [root.id, 3, 1]
    assert one == {v.id: everybody[v.id] for v in (vols[root.id], vols[kids[0].id])}
    assert set(two) == {vols[b.id].id for b in (root, kids[0], kids[1])}
    assert most == everybody  # more than half the tree: every load read in one pass
    assert none == {}


def test_assign_open_goes_on_past_a_batch_nobody_it_may_use_has_room_for(eng):
    with build(eng) as s:
        root = f.branch(s)
        a, b = f.branch(s, parent=root), f.branch(s, parent=root)
        f.volunteer(s, branch_=a, capacity=0)
        first = f.member(s, branch_=a)  # lower id: the first batch, no room for it
        second = f.member(s, branch_=b)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    assert out["unassigned"] == 2
    with build(eng) as s:
        helper = f.volunteer(s, branch_=b, capacity=2)
    res = plan_jobs.assign_open(eng, out["run_id"], batch_size=1)
    assert res == {"assigned": 1, "continuity": 0, "parent": 0, "still_open": 1}
    got = tasks_of(eng, out["run_id"])
    assert got[second.id].volunteer_id == helper.id
    assert got[first.id].status == TS.OPEN


def test_assign_open_passes_over_full_branches_but_not_a_parent_with_room(eng):
    with build(eng) as s:
        top = f.branch(s)
        leaf, full = f.branch(s, parent=top), f.branch(s)  # ``full``: a tree of its own
        f.volunteer(s, branch_=leaf, capacity=0)
        f.volunteer(s, branch_=full, capacity=0)
        m_full, m_leaf = f.member(s, branch_=full), f.member(s, branch_=leaf)
    out = plan_jobs.plan_campaign(eng, CampaignKind.SURVEY, PERIOD, today=TODAY)
    assert out["unassigned"] == 2
    with build(eng) as s:
        helper = f.volunteer(s, branch_=top, capacity=5)  # room above the leaf only
    res = plan_jobs.assign_open(eng, out["run_id"], batch_size=1)
    assert res == {"assigned": 1, "continuity": 0, "parent": 1, "still_open": 1}
    got = tasks_of(eng, out["run_id"])
    assert got[m_leaf.id].volunteer_id == helper.id
    assert got[m_full.id].status == TS.OPEN
