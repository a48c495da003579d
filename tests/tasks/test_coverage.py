"""The reports' numbers against a small ledger counted by hand.

The ledger (built in `ledger`, today = 2026-11-20, period 2026-11):

North (under the committee "Committee"), volunteers v1 and coordinator c1:
  n1 local   active       reached 2026-11-01 (first day: in)   tasks r1 done reached, r4 failed
  n2 local   active       reached 2026-10-31 (out)             r2 done reached, r3 expired
  n3 away    active       reached 2026-11-30 (last day: in)    r3 done reached, r5 assigned
                                                                due 11-10 (overdue)
  n4 homebound unreachable                                      r5 done refused, escalation
                                                                assigned to c1 due 11-01 (overdue)
  n5 away + homebound (segment away) active                     r4 done delivered_to_family,
                                                                r5 failed
  n6 deceased (not counted)                                     r5 failed
  n7 moved_out (not counted)
  n8 local   do_not_contact                                     r5 cancelled
South, volunteers v2 and v3 (inactive):
  s1 local   unverified                                         r1 failed, r5 open due 11-20
                                                                (today: not overdue)
  s2 homebound active     reached 2026-12-01 (next period)      r1 assigned due 11-25,
                                                                r2 done delivered
  s3 local   unreachable (moved out and came back before)

Runs by started_at: r1 < r2 < r3 < r4 < r5 < escalation run (created in a scrambled id
order); the last three campaign runs are r3, r4, r5 (escalations are not campaigns).
never reached in r3–r5: n1 (failed), n2 (expired), n4 (refused), n8 (cancelled), s1 (open).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput
from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    Attempt,
    Branch,
    BranchKind,
    Campaign,
    CampaignKind,
    CampaignRun,
    Member,
    MemberChange,
    OutreachTask,
    Residence,
    Role,
    Volunteer,
)
from outreach.db.state import move_member, move_task
from outreach.tasks.campaigns import coverage as cov
from outreach.tasks.access.permissions import SYSTEM, new_credentials

TODAY = dt.date(2026, 11, 20)
D = dt.date


def _add(s: Session, obj):
    s.add(obj)
    s.flush()
    return obj


def _volunteer(s, name, branch, role=Role.VOLUNTEER, active=True):
    _, salt, hashed = new_credentials()
    return _add(s, Volunteer(name=name, branch_id=branch.id, role=role, active=active,
                             code_salt=salt, code_hash=hashed))


def _member(s, key, branch, *, status=MS.ACTIVE, path=(), actor=None, **fields):
    """A member created active (or unverified), then moved along ``path`` legally."""
    first = MS.UNVERIFIED if status == MS.UNVERIFIED else MS.ACTIVE
    m = _add(s, Member(ledger_no=f"T-{key}-{uuid.uuid4().hex[:6]}", name=f"member {key}",
                       branch_id=branch.id, status=first, status_reason="test", **fields))
    for to in path:
        move_member(s, m, to, actor_id=actor.id if actor else None, reason=f"test: {to}",
                    coordinator=True)
    assert m.status == status
    return m


def _task(s, run, member, *, to=TS.ASSIGNED, vol=None, due=D(2026, 11, 30), outcome=None):
    """A task inserted assigned (or open), then moved to ``to``."""
    kind = s.get(Campaign, run.campaign_id).kind
    t = _add(s, OutreachTask(run_id=run.id, member_id=member.id, kind=kind,
                             status=TS.ASSIGNED if vol else TS.OPEN,
                             volunteer_id=vol.id if vol else None, status_reason="test",
                             due_on=due, closes_on=due + dt.timedelta(days=14)))
    if to not in (TS.ASSIGNED, TS.OPEN):
        if outcome is not None:
            t.outcome = outcome
        if to == TS.FAILED:
            t.attempts = t.max_attempts
        move_task(s, t, to, actor_id=vol.id if vol else None, reason=f"test: {to}")
    return t


def _attempt(s, task, vol, outcome, recorded_by=None):
    _add(s, Attempt(task_id=task.id, volunteer_id=vol.id, recorded_by=(recorded_by or vol).id,
                    outcome=outcome, recorded_on=D(2026, 11, 15)))


@pytest.fixture
def ledger(session):
    s = session
    committee = _add(s, Branch(name="Committee", kind=BranchKind.COMMITTEE))
    north = _add(s, Branch(name="North", parent_id=committee.id))
    south = _add(s, Branch(name="South"))
    v1 = _volunteer(s, "Vera One", north)
    c1 = _volunteer(s, "Cora Coord", north, Role.COORDINATOR)
    v2 = _volunteer(s, "Vic Two", south)
    v3 = _volunteer(s, "Val Three", south, active=False)

    away, local = Residence.AWAY, Residence.LOCAL
    n = {
        1: _member(s, "n1", north, last_reached_on=D(2026, 11, 1)),
        2: _member(s, "n2", north, last_reached_on=D(2026, 10, 31)),
        3: _member(s, "n3", north, residence=away, last_reached_on=D(2026, 11, 30)),
        4: _member(s, "n4", north, homebound=True, status=MS.UNREACHABLE,
                   path=[MS.UNREACHABLE], failed_contacts=3, last_contact_on=D(2026, 11, 3),
                   family_contact_name="Fam Four", family_contact_phone="555 0104"),
        5: _member(s, "n5", north, residence=away, homebound=True),
        6: _member(s, "n6", north, status=MS.DECEASED, path=[MS.DECEASED],
                   last_reached_on=D(2026, 11, 5)),
        7: _member(s, "n7", north, status=MS.MOVED_OUT, path=[MS.MOVED_OUT], actor=c1,
                   last_reached_on=D(2026, 11, 6)),
        8: _member(s, "n8", north, status=MS.DO_NOT_CONTACT, path=[MS.DO_NOT_CONTACT],
                   residence=local),
    }
    sm = {
        1: _member(s, "s1", south, status=MS.UNVERIFIED),
        2: _member(s, "s2", south, homebound=True, last_reached_on=D(2026, 12, 1)),
    }
    s3 = _member(s, "s3", south, failed_contacts=4, last_contact_on=D(2026, 11, 9),
                 family_contact_name="Fam S3", family_contact_phone="555 0303")
    move_member(s, s3, MS.MOVED_OUT, actor_id=c1.id, reason="moved to her son")
    move_member(s, s3, MS.ACTIVE, actor_id=v2.id, reason="came back")
    move_member(s, s3, MS.UNREACHABLE, actor_id=None, reason="3 failed contacts")
    sm[3] = s3

    camps = {k: _add(s, Campaign(name=f"test {k} {uuid.uuid4().hex[:6]}", kind=k))
             for k in (CampaignKind.SURVEY, CampaignKind.PHONE_VISIT, CampaignKind.DELIVERY,
                       CampaignKind.ESCALATION)}
    runs = {}
    # Created in a scrambled order: ids do not follow started_at.
    for i, kind in [(3, CampaignKind.PHONE_VISIT), (1, CampaignKind.SURVEY),
                    (6, CampaignKind.ESCALATION), (5, CampaignKind.PHONE_VISIT),
                    (2, CampaignKind.DELIVERY), (4, CampaignKind.DELIVERY)]:
        runs[i] = _add(s, CampaignRun(campaign_id=camps[kind].id, period=f"2026-0{i}",
                                      started_at=dt.datetime(2026, i, 2, 9, 0)))
    r = runs
    O = cov.Outcome
    t = {}
    t["n1r1"] = _task(s, r[1], n[1], vol=v1, to=TS.DONE, outcome=O.REACHED)
    t["n1r4"] = _task(s, r[4], n[1], vol=v1, to=TS.FAILED, outcome=O.NOT_HOME)
    t["n2r2"] = _task(s, r[2], n[2], vol=v1, to=TS.DONE, outcome=O.DELIVERED)
    t["n2r3"] = _task(s, r[3], n[2], vol=v1, to=TS.EXPIRED)
    t["n3r3"] = _task(s, r[3], n[3], vol=v1, to=TS.DONE, outcome=O.REACHED)
    t["n3r5"] = _task(s, r[5], n[3], vol=v1, due=D(2026, 11, 10))
    t["n4r5"] = _task(s, r[5], n[4], vol=v1, to=TS.DONE, outcome=O.REFUSED)
    t["n4esc"] = _task(s, r[6], n[4], vol=c1, due=D(2026, 11, 1))
    t["n5r4"] = _task(s, r[4], n[5], vol=v1, to=TS.DONE, outcome=O.DELIVERED_TO_FAMILY)
    t["n5r5"] = _task(s, r[5], n[5], vol=v1, to=TS.FAILED, outcome=O.NO_ANSWER)
    t["n6r5"] = _task(s, r[5], n[6], vol=v1, to=TS.FAILED, outcome=O.NO_ANSWER)
    t["n8r5"] = _task(s, r[5], n[8], vol=v1, to=TS.CANCELLED)
    t["s1r1"] = _task(s, r[1], sm[1], vol=v2, to=TS.FAILED, outcome=O.NO_ANSWER)
    t["s1r5"] = _task(s, r[5], sm[1], due=TODAY)
    t["s2r1"] = _task(s, r[1], sm[2], vol=v2, due=D(2026, 11, 25))
    t["s2r2"] = _task(s, r[2], sm[2], vol=v2, to=TS.DONE, outcome=O.DELIVERED)

    for key, outcome in [("n1r1", O.REACHED), ("n1r4", O.NO_ANSWER),
                         ("n5r4", O.DELIVERED_TO_FAMILY), ("n4r5", O.REFUSED),
                         ("n3r3", O.REACHED)]:
        _attempt(s, t[key], v1, outcome)
    _attempt(s, t["s1r1"], v2, O.NO_ANSWER)
    _attempt(s, t["s1r1"], v2, O.NO_ANSWER)
    _attempt(s, t["s1r1"], v2, O.NO_ANSWER, recorded_by=c1)  # typed in by the coordinator
    _attempt(s, t["s2r2"], v2, O.DELIVERED)

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for member, old, new, actor, days in [(n[3], "local", "away", v1, 40),
                                          (n[5], "away", "local", None, 20),
                                          (n[5], "local", "away", c1, 2)]:
        _add(s, MemberChange(member_id=member.id, field="residence", old_value=old,
                             new_value=new, actor_id=actor.id if actor else None,
                             reason="test", at=now - dt.timedelta(days=days)))
    _add(s, MemberChange(member_id=n[1].id, field="phone", old_value="1", new_value="2",
                         actor_id=v1.id, reason="test", at=now - dt.timedelta(days=1)))
    return dict(s=s, north=north, south=south, committee=committee, v1=v1, v2=v2, v3=v3,
                c1=c1, n=n, sm=sm, runs=runs, now=now)


COLS = cov.COVERAGE_COLUMNS


def _coordinator(ledger):
    """The ledger's coordinator as an actor (through `authenticate`)."""
    from tests.db.factories import actor

    return actor(ledger["s"], ledger["c1"])


def _table(rows, keys=("branch", "segment")):
    return {tuple(r[k] for k in keys): tuple(r[c] for c in COLS) for r in rows}


def test_coverage_per_branch_and_segment(ledger):
    rows = cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY)
    #                             members reached overdue unreachable never_reached_3
    assert _table(rows) == {
        ("North", "local"):        (3, 1, 0, 0, 3),   # n1 n2 n8; n1 reached; all never
        ("North", "away"):         (2, 1, 1, 0, 0),   # n3 n5; n3 reached and overdue
        ("North", "homebound"):    (1, 0, 1, 1, 1),   # n4: escalation overdue
        ("South", "local"):        (2, 0, 0, 1, 0),   # s1 s3; s1's r5 task still open
        ("South", "homebound"):    (1, 0, 0, 0, 0),   # s2 reached in December
        ("TOTAL", "all"):          (9, 2, 2, 2, 4),
    }
    assert [r["branch"] for r in rows][-1] == "TOTAL"
    assert [(r["branch"], r["segment"]) for r in rows[:3]] == [
        ("North", "local"), ("North", "away"), ("North", "homebound")]


def test_coverage_per_segment(ledger):
    rows = cov.coverage_by_segment(ledger["s"], actor=SYSTEM, today=TODAY)
    assert _table(rows, ("segment",)) == {
        ("local",): (5, 1, 0, 1, 3),
        ("away",): (2, 1, 1, 0, 0),
        ("homebound",): (2, 0, 1, 1, 1),
        ("TOTAL",): (9, 2, 2, 2, 4),
    }
    assert rows == cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY, per="segment")


@pytest.mark.parametrize("period, reached", [("2026-10", 1), ("2026-11", 2), ("2026-12", 1),
                                             ("2026-09", 0)])
def test_reached_follows_the_period_month(ledger, period, reached):
    rows = cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY, period=period)
    assert rows[-1]["reached"] == reached


def test_overdue_is_due_strictly_before_today(ledger):
    # The day after s1's open task was due, and after s2's task (due 11-25): both overdue.
    assert cov.coverage(ledger["s"], actor=SYSTEM, today=D(2026, 11, 21))[-1]["overdue"] == 3
    assert cov.coverage(ledger["s"], actor=SYSTEM, today=D(2026, 11, 26))[-1]["overdue"] == 4
    # Before anything was due.
    assert cov.coverage(ledger["s"], actor=SYSTEM, today=D(2026, 11, 1))[-1]["overdue"] == 0


def test_never_reached_looks_at_the_three_latest_campaign_runs(ledger):
    s, runs = ledger["s"], ledger["runs"]
    assert cov.last_runs(s) == [runs[5].id, runs[4].id, runs[3].id]
    # a meeting's notice and make-up runs are no campaign runs (issue 12): they change nothing
    from outreach.tasks.work import engine
    from tests.db import factories as f

    meeting = f.meeting(s, branch_=ledger["north"])
    for kind in ("notice", "make_up"):
        run = engine.meeting_run(s, kind=kind, meeting_id=meeting.id)
        run.started_at = dt.datetime(2026, 12, 31)
    s.flush()
    assert cov.last_runs(s) == [runs[5].id, runs[4].id, runs[3].id]
    # A newer run (without tasks) pushes r3 out: n2 (only r3, expired) is no longer counted;
    # n3 (r3 reached, r5 still assigned) is not counted either: nobody has been due yet.
    camp = s.get(CampaignRun, runs[5].id).campaign_id
    _add(s, CampaignRun(campaign_id=camp, period="2026-12",
                        started_at=dt.datetime(2026, 12, 1)))
    rows = _table(cov.coverage(s, actor=SYSTEM, today=TODAY))
    assert rows[("North", "local")][4] == 2       # n1 (failed) n8 (cancelled)
    assert rows[("North", "away")][4] == 0        # n3: its r5 task is still assigned
    assert rows[("TOTAL", "all")][4] == 3    # n1 n4 n8 (s1: r5 task still open)


def test_coverage_of_a_branch_includes_nested_branches(ledger):
    rows = cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY, branch_id=ledger["committee"].id)
    assert {r["branch"] for r in rows} == {"North", "TOTAL"}
    assert _table(rows)[("TOTAL", "all")] == (6, 2, 2, 1, 4)
    south = cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY, branch_id=ledger["south"].id)
    assert _table(south)[("TOTAL", "all")] == (3, 0, 0, 1, 0)


def test_coverage_refuses_a_bad_period(ledger):
    with pytest.raises(BadInput, match="YYYY-MM"):
        cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY, period="2026-13")


def test_coverage_of_an_empty_ledger(session):
    rows = cov.coverage(session, actor=SYSTEM, today=TODAY)
    assert rows == [{"branch": "TOTAL", "segment": "all", **dict.fromkeys(COLS, 0)}]
    assert "No members" in cov.coverage_markdown(rows)


def test_volunteer_workload(ledger):
    rows = {r["name"]: r for r in cov.volunteer_workload(ledger["s"], actor=SYSTEM, today=TODAY)}
    pick = ("branch", "role", "active", "open", "done", "overdue", "attempts", "success rate")
    got = {name: tuple(r[k] for k in pick) for name, r in rows.items()}
    assert got == {
        "Vera One": ("North", "volunteer", "yes", 1, 5, 1, 5, "60.0"),
        "Cora Coord": ("North", "coordinator", "yes", 1, 0, 1, 0, "-"),
        "Vic Two": ("South", "volunteer", "yes", 1, 1, 0, 4, "25.0"),
        "Val Three": ("South", "volunteer", "no", 0, 0, 0, 0, "-"),
    }
    assert rows["Vera One"]["id"] == ledger["v1"].id


def test_unreachable_list_has_family_contacts(ledger):
    rows = cov.unreachable_list(ledger["s"], actor=_coordinator(ledger), today=TODAY)
    n4, s3 = ledger["n"][4], ledger["sm"][3]
    assert [(r["id"], r["branch"], r["failed_contacts"], r["last_contact_on"],
             r["family_contact_name"], r["family_contact_phone"]) for r in rows] == [
        (n4.id, "North", 3, D(2026, 11, 3), "Fam Four", "555 0104"),
        (s3.id, "South", 4, D(2026, 11, 9), "Fam S3", "555 0303"),
    ]
    assert rows[0]["ledger_no"] == n4.ledger_no and rows[0]["name"] == "member n4"


def test_movements(ledger):
    n, sm = ledger["n"], ledger["sm"]
    rows = cov.movements(ledger["s"], actor=_coordinator(ledger))
    got = [(r["member_id"], r["change"], r["recorded_by"]) for r in rows]
    assert got == [
        (n[3].id, "local → away", "Vera One"),
        (n[5].id, "away → local", "system"),
        (n[5].id, "local → away", "Cora Coord"),
        (n[7].id, "moved out", "Cora Coord"),
        (sm[3].id, "moved out", "Cora Coord"),
        (sm[3].id, "came back", "Vic Two"),
    ]
    assert {r["branch"] for r in rows} == {"North", "South"}
    since = (ledger["now"] - dt.timedelta(days=30)).date()
    assert len(cov.movements(ledger["s"], actor=_coordinator(ledger), since=since)) == 5
    assert len(cov.movements(ledger["s"], actor=_coordinator(ledger), since=since,
                             branch_id=ledger["south"].id)) == 2


def test_markdown_has_counts_and_no_contact_details(ledger):
    rows = cov.coverage(ledger["s"], actor=SYSTEM, today=TODAY)
    md = cov.coverage_markdown(rows)
    assert "**9**" in md and "| North | 6 | 2 (33.3%) | 2 | 1 | 4 |" in md
    assert "| South | 3 | 0 (0.0%) | 0 | 1 | 0 |" in md
    for secret in ("555", "Fam", "member n"):
        assert secret not in md
    seg = cov.coverage_markdown(cov.coverage_by_segment(ledger["s"], actor=SYSTEM, today=TODAY))
    assert "| away | 2 | 1 | 1 | 0 | 0 |" in seg


def test_the_parallel_path_counts_what_the_plain_path_counts(db_url, monkeypatch):
    """Big SQLite ledgers run the parts on two connections; the figures do not change."""
    from outreach.db.session import make_engine, session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import coverage as cov
    from outreach.tasks.campaigns import plan_jobs

    eng = make_engine(db_url)
    seed_ledger(eng, members=900, volunteers=20, seed=3, today=TODAY)
    for kind in ("survey", "phone_visit", "delivery"):
        plan_jobs.plan_campaign(eng, kind, "2026-11", today=TODAY)
    with session_scope(eng, write=False) as s:
        plain = cov.coverage(s, actor=SYSTEM, today=TODAY + dt.timedelta(days=30), period="2026-11")
    monkeypatch.setattr(cov, "PARALLEL_FROM", 10)
    with session_scope(eng, write=False) as s:
        both = cov.coverage(s, actor=SYSTEM, today=TODAY + dt.timedelta(days=30), period="2026-11")
    assert both == plain and plain[-1]["members"] == 900 and plain[-1]["overdue"] > 0
    eng.dispose()


def test_never_reached_waits_until_the_tasks_of_the_last_runs_are_closed(ledger):
    """Issue 11, defect 18: the day after a run was planned, its open tasks are nobody's
    failure yet; a member counts only once every task of the last three runs is closed
    (done, failed, expired or cancelled) without a successful contact."""
    s, n, sm = ledger["s"], ledger["n"], ledger["sm"]
    camp = s.get(CampaignRun, ledger["runs"][5].id).campaign_id
    new = _add(s, CampaignRun(campaign_id=camp, period="2026-12",
                              started_at=dt.datetime(2026, 12, 1)))
    planned = [_task(s, new, m, to=TS.OPEN) for m in (n[1], n[2], n[4], n[8], sm[1], sm[3])]
    assert cov.coverage(s, actor=SYSTEM, today=TODAY)[-1]["never_reached_3"] == 0
    for t in planned:
        move_task(s, t, TS.EXPIRED, actor_id=None, reason="test: window closed")
    # last runs now: the new one, r5, r4: n1 n2 n4 n8 s3 closed without success; s1 not
    # (its r5 task is still open).
    assert cov.coverage(s, actor=SYSTEM, today=TODAY)[-1]["never_reached_3"] == 5
