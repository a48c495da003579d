"""Shards: a campaign run cut into shards makes exactly the tasks, assigned to exactly the
volunteers, that one unsharded run makes — planned one after another or at the same time,
by plain functions or by the flow, and after a shard killed half-way and run again. Also
the cut itself, the shards' advisory locks (real ones on PostgreSQL), and a shard flow run
that fails or crashes on the pool (the run fails; its retry starts fresh shards).

Each comparison plans two identically built ledgers (seeded, then a middle branch with a
volunteer of its own over two districts, so that some members go up the tree to it) and
compares them on natural keys (campaign, period, member), not task ids. On PostgreSQL
(OUTREACH_TEST_DATABASE_URL) both ledgers are the test database in turn; on SQLite two
files. The flows shard on PostgreSQL only: on SQLite the flow keeps its single path.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import select, text

from outreach.db import session as db_session
from outreach.db.models import Branch, BranchKind, Role, Volunteer
from outreach.db.session import make_engine, session_scope
from outreach.seed.generate import seed_ledger
from outreach.tasks.campaigns import plan_jobs, shard_jobs
from outreach.tasks.ledger.people import add_volunteer
from outreach.tasks.work.assign import REASON_CONTINUITY, REASON_PARENT
from outreach.tasks.campaigns.shards import Part, Shard, pack, parts, plan_ranges, spans
from tests.db.factories import actor

TODAY = dt.date(2026, 11, 3)
PERIOD = "2026-11"
BATCH = 500  # 3,000 members: six ranges
PG = bool(os.environ.get("OUTREACH_TEST_DATABASE_URL"))

SNAPSHOT = {
    "tasks": "SELECT c.name, r.period, t.member_id, t.kind, t.status, t.volunteer_id, "
             "t.status_reason, t.attempts, t.max_attempts, t.due_on, t.closes_on, t.version "
             "FROM outreach_tasks t JOIN campaign_runs r ON r.id = t.run_id "
             "JOIN campaigns c ON c.id = r.campaign_id ORDER BY 1, 2, 3",
    "history": "SELECT c.name, t.member_id, h.from_status, h.to_status, h.volunteer_id, "
               "h.reason FROM task_status_changes h JOIN outreach_tasks t ON t.id = h.task_id "
               "JOIN campaign_runs r ON r.id = t.run_id JOIN campaigns c "
               "ON c.id = r.campaign_id ORDER BY 1, 2, h.id",
}


# --- the cut itself (pure) ----------------------------------------------------------------

def test_a_staffed_root_is_one_part_and_an_unstaffed_one_is_cut_largest_first():
    # 1 ─┬─ 2 ─┬─ 4        members: 1:5, 2:0, 3:7, 4:10, 5:20
    #    │     └─ 5        staffed: 3 and 5
    #    └─ 3
    parent = {1: None, 2: 1, 3: 1, 4: 2, 5: 2}
    members = {1: 5, 3: 7, 4: 10, 5: 20}
    assert parts(parent, {1}, members, want=8) == [Part(1, True, 42)]
    got = parts(parent, {3, 5}, members, want=8)
    # 1 is cut (its own 5 members alone), then 2 (the larger, no members of its own)
    assert sorted(got) == [Part(1, False, 5), Part(3, True, 7), Part(4, True, 10),
                           Part(5, True, 20)]
    # enough parts wanted: the cut stops (1 cut into 2 and 3, plus 1 alone)
    assert sorted(parts(parent, {3, 5}, members, want=3)) == [
        Part(1, False, 5), Part(2, True, 30), Part(3, True, 7)]


def test_pack_gives_the_largest_part_to_the_emptiest_shard():
    found = [Part(4, True, 10), Part(5, True, 20), Part(3, True, 7), Part(1, False, 5)]
    assert pack(found, 2) == [Shard((5,), (), 20), Shard((3, 4), (1,), 22)]
    assert pack(found, 9) == [Shard((5,), (), 20), Shard((4,), (), 10), Shard((3,), (), 7),
                              Shard((), (1,), 5)]
    assert pack([Part(1, True, 3)], 4) == [Shard((1,), (), 3)]


def test_a_shard_plans_its_branches_and_hands_out_only_its_volunteers_slots():
    chains = {1: (1,), 2: (2, 1), 3: (3, 1), 4: (4, 2, 1)}
    shard = Shard((2,), (1,))
    assert shard.targets(chains) == [1, 2, 4]
    assert shard.targets(chains, within=[3, 4]) == [4]
    assert shard.own({7: [4, 10, 0], 8: [1, 10, 0], 9: [3, 10, 0]}, chains) == {7: [4, 10, 0]}
    assert spans(1, 12, 5) == [(1, 6), (6, 11), (11, 12)]


def test_a_branch_whose_cut_would_make_too_many_parts_stays_whole():
    """An unstaffed root over 300 districts: cutting it would make 300 regions, each an
    advisory lock per range of a shard (PostgreSQL's lock table is shared and small), so
    it stays one part; a smaller unstaffed root beside it is still cut."""
    parent = {1: None, **{b: 1 for b in range(2, 302)}, 400: None, 401: 400, 402: 400}
    members = {**{b: 10 for b in range(2, 302)}, 401: 1, 402: 2}
    assert parts(parent, set(), members, want=8) == [
        Part(1, True, 3000), Part(402, True, 2), Part(401, True, 1)]
    got = parts(parent, set(), members, want=8, most=400)
    assert len(got) == 301 and Part(2, True, 10) in got and Part(400, True, 3) in got


def test_a_shards_locks_cover_its_regions_and_the_branches_alone(monkeypatch):
    """Regions exclusive and every branch above them shared; a branch alone shared with
    every branch above it (another run's shard whose region holds it waits) and exclusive
    under a key of its own (another run's shard with the same branch alone waits)."""
    from outreach.tasks.campaigns import shards

    calls = []
    monkeypatch.setattr(shards, "lock_parts", lambda conn, key, part_key, *, shared,
                        exclusive: calls.append((part_key, sorted(shared), sorted(exclusive))))
    chains = {1: (1,), 2: (2, 1), 3: (3, 1), 4: (4, 2, 1), 5: (5, 2, 1)}
    branch, alone = shards.BRANCH_LOCK, shards.ALONE_LOCK
    shards.lock(None, chains, Shard((4,), (2,)))
    assert calls == [(branch, [1, 2], [4]), (alone, [], [2])]
    calls.clear()
    shards.lock(None, chains, Shard((5,), ()))
    assert calls == [(branch, [1, 2], [5])]
    calls.clear()
    shards.lock(None, chains, Shard((), (3,)))
    assert calls == [(branch, [1, 3], []), (alone, [], [3])]


@pytest.mark.skipif(not PG, reason="advisory locks: PostgreSQL")
def test_the_locks_of_two_runs_shards_wait_only_where_they_overlap():
    """Real advisory locks: shards of another run wait for a region that holds theirs and
    for the same branch alone; shards of one cut (a region under a branch alone, two
    regions side by side) do not wait for each other."""
    from sqlalchemy.exc import OperationalError

    from outreach.tasks.campaigns import shards

    chains = {1: (1,), 2: (2, 1), 3: (3, 1), 4: (4, 2, 1), 5: (5, 2, 1)}
    eng = make_engine(os.environ["OUTREACH_TEST_DATABASE_URL"].replace(
        "postgresql://", "postgresql+psycopg://", 1))

    def waits(first: Shard, second: Shard) -> bool:
        with eng.connect() as one, eng.connect() as two:
            with one.begin():
                shards.lock(one, chains, first)
                with two.begin():
                    two.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
                    try:
                        shards.lock(two, chains, second)
                    except OperationalError:
                        return True
            return False

    try:
        cut = Shard((4,), (1, 2)), Shard((3, 5), ())  # one run's shards: 1 and 2 cut
        assert not waits(*cut) and not waits(*reversed(cut))
        assert waits(Shard((), (2,)), Shard((), (2,)))  # the same branch alone, two runs
        assert waits(Shard((2,)), Shard((), (2,)))      # a region holding it
        assert waits(Shard((1,)), Shard((), (2,)))
        assert waits(Shard((), (2,)), Shard((1,)))
        assert not waits(Shard((), (2,)), Shard((4,)))  # a region under it: other members
        assert waits(Shard((1,)), Shard((4,)))          # regions that overlap
    finally:
        eng.dispose()


# --- ledgers ------------------------------------------------------------------------------

def build(url: str) -> None:
    """3,000 seeded members; then "Inner Ring" (with a volunteer of its own) between the
    committee and two of its districts, and twenty members of the committee itself."""
    eng = make_engine(url)
    seed_ledger(eng, members=3000, volunteers=40, seed=7, today=TODAY, meetings=False,
                care=False)
    with session_scope(eng) as s:
        root = s.scalar(select(Branch.id).where(Branch.parent_id.is_(None))
                        .order_by(Branch.id))
        ring = Branch(name="Inner Ring", kind=BranchKind.GEOGRAPHIC, parent_id=root)
        s.add(ring)
        s.flush()
        for d in s.scalars(select(Branch).where(Branch.parent_id == root,
                                                Branch.kind == BranchKind.GEOGRAPHIC,
                                                Branch.id != ring.id)
                           .order_by(Branch.id).limit(2)):
            d.parent_id = ring.id
        coord = s.scalar(select(Volunteer).where(Volunteer.role == Role.COORDINATOR)
                         .order_by(Volunteer.id))
        add_volunteer(s, name="Ring Helper", branch="Inner Ring", capacity=60,
                      actor=actor(s, coord))
        # members of the committee itself (unstaffed, so cut): planned as a branch alone,
        # their tasks stay open as in one run, whoever reached them last
        s.execute(text("UPDATE members SET branch_id = :r WHERE id % 150 = 0"), {"r": root})
    eng.dispose()


def snapshot(url: str) -> dict[str, list[tuple]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return {k: [tuple(r) for r in conn.execute(text(q))] for k, q in SNAPSHOT.items()}
    finally:
        eng.dispose()


def forget_engines() -> None:
    for eng in db_session._engines.values():
        eng.dispose()
    db_session._engines.clear()


@pytest.fixture
def ledgers(template_url, tmp_path):
    """``new()``: a fresh, built ledger's URL (on PostgreSQL the test database, wiped)."""
    from tests.conftest import _wipe_pg

    n = itertools.count()

    def new() -> str:
        forget_engines()
        if PG:
            _wipe_pg(template_url)
            url = template_url
        else:
            url_path = tmp_path / f"ledger{next(n)}.db"
            shutil.copy(template_url.split("///", 1)[1], url_path)
            url = f"sqlite:///{url_path}"
        build(url)
        return url

    yield new
    forget_engines()
    if PG:
        _wipe_pg(template_url)


def plan_both(url: str, run) -> dict:
    """A survey, then a phone-visit run (which sees the survey's loads), by ``run``."""
    eng = make_engine(url)
    try:
        return {kind: run(eng, kind) for kind in ("survey", "phone_visit")}
    finally:
        eng.dispose()


def unsharded(eng, kind: str) -> dict:
    return plan_jobs.plan_campaign(eng, kind, PERIOD, today=TODAY, batch_size=BATCH)


def sharded(eng, kind: str) -> dict:
    return shard_jobs.plan_sharded(eng, kind, PERIOD, today=TODAY, batch_size=BATCH, shards=3)


@pytest.fixture
def calm(ledgers):
    """The unsharded end state, and what it exercised."""
    url = ledgers()
    out = plan_both(url, unsharded)
    want = snapshot(url)
    reasons = {row[6] for row in want["tasks"]}
    statuses = {row[4] for row in want["tasks"]}
    # the comparison is worth something: continuity, up the tree, capacity running out
    assert {REASON_CONTINUITY, REASON_PARENT} <= reasons and statuses == {"assigned", "open"}
    return out, want


COUNTS = ("targeted", "created", "assigned", "continuity", "parent", "unassigned", "busy",
          "still_open")


def test_sharded_runs_make_the_same_tasks_and_assignments_as_one_run(ledgers, calm):
    out, want = calm
    url = ledgers()
    got = plan_both(url, sharded)
    assert all(got[k]["shards"] == 3 for k in got)
    for kind in got:
        assert {c: got[kind][c] for c in COUNTS} == {c: out[kind][c] for c in COUNTS}
    assert snapshot(url) == want


@pytest.mark.skipif(not PG, reason="shards plan at the same time on PostgreSQL only")
def test_shards_planned_at_the_same_time_make_the_same_tasks(ledgers, calm):
    """Three shards in three threads at once (their own locks, not the planners' one)."""
    _, want = calm
    url = ledgers()
    eng = make_engine(url)
    try:
        for kind in ("survey", "phone_visit"):
            with session_scope(eng) as s:
                from outreach.tasks.campaigns.plan import open_run

                run_id = open_run(s, kind, PERIOD).id
            ranges = plan_jobs.id_ranges(eng, size=BATCH)
            found = shard_jobs.split(eng, count=3)
            assert len(found) == 3
            errors: list[BaseException] = []

            def one(shard: Shard) -> None:
                try:
                    plan_ranges(ranges, lambda lo, hi: plan_jobs.plan_range(
                        eng, run_id, lo, hi, today=TODAY, shard=shard))
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=one, args=(s,)) for s in found]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors
            plan_jobs.assign_open(eng, run_id, batch_size=BATCH)
    finally:
        eng.dispose()
    assert snapshot(url) == want


# --- a shard killed half-way --------------------------------------------------------------

KILLED = (
    "import datetime as dt, sys\n"
    "from outreach.db.session import make_engine\n"
    "from outreach.tasks.campaigns import shard_jobs\n"
    "eng = make_engine(sys.argv[1])\n"
    "for kind in ('survey', 'phone_visit'):\n"
    f"    shard_jobs.plan_sharded(eng, kind, {PERIOD!r}, batch_size={BATCH}, shards=3,\n"
    f"                            today=dt.date.fromisoformat({str(TODAY)!r}))\n"
)


@pytest.mark.parametrize("point", [
    "plan.committed:8",  # survey: shard 2 has planned two of its six ranges
    "plan.written:15",   # survey: shard 3, third range written, not committed
    "plan.matched:22",   # phone visits: shard 1, fourth range matched
])
def test_a_shard_killed_half_way_then_rerun_ends_as_an_uninterrupted_run(
        ledgers, calm, point):
    _, want = calm
    url = ledgers()
    forget_engines()
    env = {**os.environ, "OUTREACH_CRASH_AT": point}
    proc = subprocess.run([sys.executable, "-c", KILLED, url], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    partial = snapshot(url)
    assert 0 < len(partial["tasks"]) < len(want["tasks"])
    got = plan_both(url, sharded)
    assert got["survey"]["created"] + got["phone_visit"]["created"] == \
        len(want["tasks"]) - len(partial["tasks"])
    assert snapshot(url) == want
    again = plan_both(url, sharded)
    assert all(again[k]["created"] == 0 for k in again)
    assert snapshot(url) == want


# --- through Prefect ------------------------------------------------------------------------

@pytest.mark.prefect
def test_the_survey_flow_in_shards_plans_as_one_run(ledgers, calm, prefect_harness,
                                                    monkeypatch):
    """Outside a deployment the shards are subflows here, one after another (PostgreSQL);
    on SQLite the flow keeps its one path. Either way: the same tasks."""
    from outreach.flows.campaigns import phone_visit, survey
    from tests.flows.test_flows import artifacts

    out, want = calm
    url = ledgers()
    monkeypatch.setenv("OUTREACH_DATABASE_URL", url)
    forget_engines()
    state = survey(period=PERIOD, today=TODAY, batch_size=BATCH, shards=3, return_state=True)
    got = state.result()
    phone = phone_visit(period=PERIOD, today=TODAY, batch_size=BATCH, shards=3)
    forget_engines()
    assert got["shards"] == (3 if PG else 1) and phone["shards"] == got["shards"]
    assert got["created"] == out["survey"]["created"]
    assert phone["created"] == out["phone_visit"]["created"]
    assert snapshot(url) == want
    arts = {a.key: a for a in artifacts(state.state_details.flow_run_id)}
    assert float(arts["survey-2026-11-progress"].data) == 100.0
    assert ("survey-2026-11-shards" in arts) == PG


FLOW_KILLED = (
    "import datetime as dt\n"
    "from outreach.flows.campaigns import survey\n"
    f"survey(period={PERIOD!r}, today=dt.date.fromisoformat({str(TODAY)!r}),\n"
    f"       batch_size={BATCH}, shards=3)\n"
)


@pytest.mark.prefect
@pytest.mark.skipif(not PG, reason="the flows shard on PostgreSQL only")
def test_a_shard_flow_killed_half_way_then_the_run_again_ends_as_one_run(
        ledgers, calm, prefect_harness, monkeypatch):
    """The survey's second shard (a subflow) dies by SIGKILL after two of its ranges; the
    survey run again, then the phone visits: the same tasks as the unsharded runs."""
    from prefect.settings import PREFECT_API_URL

    from outreach.flows.campaigns import phone_visit, survey

    _, want = calm
    url = ledgers()
    forget_engines()
    env = {**os.environ, "OUTREACH_DATABASE_URL": url,
           "PREFECT_API_URL": PREFECT_API_URL.value(), "OUTREACH_CRASH_AT": "plan.committed:8"}
    proc = subprocess.run([sys.executable, "-c", FLOW_KILLED], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    partial = len(snapshot(url)["tasks"])
    monkeypatch.setenv("OUTREACH_DATABASE_URL", url)
    monkeypatch.delenv("OUTREACH_CRASH_AT", raising=False)
    forget_engines()
    again = survey(period=PERIOD, today=TODAY, batch_size=BATCH, shards=3)
    phone_visit(period=PERIOD, today=TODAY, batch_size=BATCH, shards=3)
    forget_engines()
    assert again["shards"] == 3 and 0 < partial and again["created"] > 0
    assert snapshot(url) == want


# --- a shard that fails or crashes on the pool ----------------------------------------------

class _Steps:
    """A stand-in for the run's progress artifact: counts the steps it is given."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def step(self, n: int = 1) -> None:
        self.done += n


def _play_the_pool(dep_id, keys: list[str], ends: list, seen: list,
                   counts: list | None = None) -> threading.Thread:
    """A thread standing in for the workers: waits for the shard flow runs the run starts
    (by their idempotency keys), then moves each to Running and to its end state; with
    ``counts``, a shard first leaves its counts artifact as `campaign_shard` does (None:
    none for that shard)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.states import Running

    def play() -> None:
        with get_client(sync_client=True) as client:
            for _ in range(600):
                runs = {r.idempotency_key: r for r in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep_id])))}
                if all(k in runs for k in keys):
                    break
                threading.Event().wait(0.05)
            else:
                return
            for i, (key, end) in enumerate(zip(keys, ends)):
                seen.append(runs[key].id)
                client.set_flow_run_state(runs[key].id, Running(), force=True)
                if counts is not None and counts[i] is not None:
                    from prefect.client.schemas.actions import ArtifactCreate

                    from outreach.flows.campaigns import counts_key

                    c = counts[i]
                    client.create_artifact(ArtifactCreate(
                        key=counts_key(c["run_id"], c["shard"]), type="table",
                        data=json.dumps([c]), flow_run_id=runs[key].id))
                client.set_flow_run_state(runs[key].id, end, force=True)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def shard_pool(prefect_harness, monkeypatch):
    """A `campaign-shard` deployment on the harness's server and a campaign run (its
    `_this_run`) that starts its shards there: yields (deployment id, the run)."""
    import uuid
    from types import SimpleNamespace

    from prefect.client.orchestration import get_client

    from outreach.flows import campaigns

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("campaign-shard")
        dep_id = client.create_deployment(flow_id=flow_id, name="campaign-shard")
    run = SimpleNamespace(id=uuid.uuid4(), deployment_id=uuid.uuid4(), run_count=1,
                          work_pool_name="outreach")
    monkeypatch.setattr(campaigns, "_this_run", lambda: run)
    monkeypatch.setattr(campaigns, "SHARD_POLL_S", 0.05)
    try:
        yield dep_id, run
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(dep_id)


@pytest.mark.prefect
def test_a_shard_that_fails_or_crashes_on_the_pool_fails_the_run(shard_pool):
    """The run starts its shards on the pool (`run_deployment`), waits; one shard crashes
    (its worker killed), the other completes: the run fails with ShardFailed and does not
    go on to hand out leftovers. Retried (the same flow run, its next attempt) it starts
    fresh shards instead of finding the failed ones again."""
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Crashed, Failed

    from outreach.flows import campaigns

    dep_id, run = shard_pool
    each = [{"run_id": 7, "regions": [3], "alone": [], "today": TODAY, "first_id": 1,
             "stop_id": 11, "batch_size": 5, "shard": i, "of": 2} for i in (1, 2)]

    def keys(attempt: int) -> list[str]:
        return [f"{run.id}-{attempt}-shard-{i}" for i in (1, 2)]

    first: list = []
    pool = _play_the_pool(dep_id, keys(1), [Completed(), Crashed(message="killed")],
                          first)
    steps = _Steps(total=4)
    with pytest.raises(campaigns.ShardFailed) as err:
        campaigns._on_the_pool(each, "survey-2026-11", steps)
    pool.join(10)
    assert "1 of 2 shards" in str(err.value) and "shard 2: Crashed" in str(err.value)
    assert steps.done == steps.total  # it waited for both before it failed
    with get_client(sync_client=True) as client:
        assert [client.read_flow_run(i).state.type.value for i in first] == [
            "COMPLETED", "CRASHED"]

    # the same flow run retried: its next attempt starts two new shards
    run.run_count = 2
    second: list = []
    pool = _play_the_pool(dep_id, keys(2), [Failed(message="boom"), Failed()], second)
    with pytest.raises(campaigns.ShardFailed, match="2 of 2 shards .*shard 1: Failed"):
        campaigns._on_the_pool(each, "survey-2026-11", _Steps(total=4))
    pool.join(10)
    assert len(second) == 2 and not set(second) & set(first)


@pytest.mark.prefect
def test_the_run_reads_its_shards_counts_through_the_server(shard_pool):
    """Shards on other machines: the run takes each shard's counts from the artifact the
    shard left on the Prefect server (never from a result file on the shard's own disk);
    a completed shard that left none fails the run with one line."""
    from prefect.states import Completed

    from outreach.flows import campaigns

    dep_id, run = shard_pool
    each = [{"run_id": 9, "regions": [3], "alone": [], "today": TODAY, "first_id": 1,
             "stop_id": 11, "batch_size": 5, "shard": i, "of": 2} for i in (1, 2)]
    keys = [f"{run.id}-1-shard-{i}" for i in (1, 2)]
    counts = [{"run_id": 9, "shard": i, "of": 2, "created": 10 * i, "assigned": i}
              for i in (1, 2)]
    pool = _play_the_pool(dep_id, keys, [Completed(), Completed()], [], counts)
    got = campaigns._on_the_pool(each, "survey-2026-11", _Steps(total=4))
    pool.join(10)
    assert [(g["shard"], g["created"], g["assigned"]) for g in got] == [(1, 10, 1),
                                                                        (2, 20, 2)]
    run.run_count = 2
    keys = [f"{run.id}-2-shard-{i}" for i in (1, 2)]
    pool = _play_the_pool(dep_id, keys, [Completed(), Completed()], [], [counts[0], None])
    with pytest.raises(campaigns.ShardFailed, match="shard 2 completed but left no counts"):
        campaigns._on_the_pool(each, "survey-2026-11", _Steps(total=4))
    pool.join(10)
