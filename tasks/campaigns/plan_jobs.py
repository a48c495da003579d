"""Planning jobs: plan a campaign run over the whole ledger, hand out what is left open.

Transactions: every function here that takes an Engine owns its transactions — one short
transaction per range of member ids or batch of task ids, committed before the next —
so a run killed half-way leaves whole ranges behind. The rules they apply (targeting,
`match`, closing dates) are in `tasks.campaigns.plan`; the dialect helpers in `db.dialect`.

A campaign over a million members is ten short transactions over ranges of member ids
(`tasks.campaigns.rules.BATCH_SIZE`). In each, the database picks the targets, Python matches them
to volunteers over plain ints, and ONE ``INSERT … SELECT`` writes the range's tasks.
Nothing but ids ever leaves the database. One range, one transaction (`plan_range`):

1. one SELECT returns (member id, branch id, last_reached_by, state) for the range's
   targeted members, state = to plan / already has a task in this run / busy elsewhere
   (`tasks.campaigns.plan.state_sql`, the same expression the dry run `preview` counts with);
2. one SELECT returns the volunteers who may take the range's members and their load
   (`tasks.work.assign.volunteers_with_room`: those of the members' branches and the branches above them, or
   everybody when that is much of the tree);
3. `tasks.campaigns.plan.match` (pure Python) gives each member to plan a volunteer, or none;
4. the picks — (member id, volunteer id or NULL, reason code), three ints a row — go into
   a temporary table (`db.dialect.fill_temp`: executemany on SQLite, COPY on PostgreSQL),
   and one INSERT … SELECT from it writes the tasks, ``assigned`` (an initial transition)
   or ``open``. The database's triggers write one history row per task either way; on
   PostgreSQL they are statement triggers, which is why the rows go in by one statement
   and not by executemany. ``ON CONFLICT (run_id, member_id) DO NOTHING`` backs up
   idempotency.

`plan_and_assign` is the one body of a whole run — plan every range, then hand out the
leftovers — used by `plan_campaign` here and by the campaign flows (which pass their
per-range Prefect tasks).

Concurrency and crashes: SQLite writers queue on ``BEGIN IMMEDIATE``; on PostgreSQL every
range takes a transaction-scoped advisory lock (`tasks.campaigns.plan.ASSIGN_LOCK`) before it reads
its targets and the loads, so two planners never both hand out a volunteer's last free
slot nor plan the same member. Each range commits on its own; the rerun skips members
that already have a task in the run.

Speed (bench/bench_campaign.py, 1,000,000 members, 25,000 volunteers, 624,112 tasks of
which 532,854 assigned, ranges of 100,000, 2 shared cores, medians of 3): SQLite
plan+assign 10.0 s against 5.4 s for the raw INSERT … SELECT of the same targeting as open
tasks (1.84×) and 7.4 s for the raw INSERT … SELECT of exactly the plan's rows (1.35×);
PostgreSQL 26.4 s against 16.5 s and 21.4 s (1.60×, 1.23×). What remains is the INSERT
itself — its indexes, CHECKs, foreign keys and history triggers cost the same in the raw
statement — plus, per range, the target SELECT, the load count, `match` and the
temporary table.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from sqlalchemy import Connection, Date, Engine, bindparam, func, select, text
from sqlalchemy.orm import Session

from outreach.db import crashpoints
from outreach.db.dialect import analyze, fetch, lock
from outreach.db.errors import BadInput
from outreach.db.models import Campaign, CampaignKind, Member
from outreach.db.session import writer
from outreach.i18n import _
from outreach.tasks.campaigns.rules import check_window
from outreach.tasks.campaigns import shards
from outreach.tasks.ledger import tree
from outreach.tasks.work.rules import made_at
from outreach.tasks.campaigns.shards import Shard
from outreach.tasks.campaigns.plan import (
    BUSY, DEFAULT_BATCH, IN_RUN, TO_PLAN, check_period, check_planned, closes_on, open_run,
    run_and_campaign, settings, state_sql, target_params, target_sql,
)
from outreach.tasks.work.assign import (
    ASSIGN_LOCK, ASSIGNED, CONTINUITY, OPEN, OWN, PARENT, REASON_SQL, counts_by_reason,
    insert_tasks, match, volunteers_with_room, write_picks,
)
from outreach.tasks.work.engine import HANDED_OUT_KINDS, PLANNED_KINDS


def id_ranges(engine: Engine | Connection, *, size: int = DEFAULT_BATCH) -> list[tuple[int, int]]:
    """Half-open ranges ``[lo, hi)`` of ``size`` ids covering members.id (min..max)."""
    if not isinstance(size, int) or size <= 0:
        raise BadInput(_("the batch size must be a positive number"))
    stmt = select(func.min(Member.id), func.max(Member.id))
    if isinstance(engine, Connection):
        lo, hi = engine.execute(stmt).one()
    else:
        with engine.connect() as conn:
            lo, hi = conn.execute(stmt).one()
    if lo is None:
        return []
    return [(start, min(start + size, hi + 1)) for start in range(lo, hi + 1, size)]


def plan_range(engine: Engine, run_id: int, lo: int, hi: int, *, today: dt.date,
               branch_id: int | None = None, within_days: int | None = None,
               due_days: int | None = None, max_attempts: int | None = None,
               shard: Shard | None = None) -> dict:
    """Plan and assign the run's tasks for targeted members with ``lo <= id < hi``.

    ``within_days`` overrides the campaign's window (survey) or cadence (phone visits),
    ``due_days`` and ``max_attempts`` its settings for the tasks made now (limits:
    `tasks.kernel.rules`); None keeps the campaign's. One transaction of its own; idempotent.
    Returns counts: ``targeted`` (members the rule picks for this run, planned now or
    before), ``created``, ``assigned``, ``continuity``, ``unassigned`` (created but left
    open), ``busy`` (skipped: an open task of the same kind in another run).
    ``shard`` (`tasks.campaigns.shards`): only its members, its volunteers and its locks.
    """
    with writer(engine).begin() as conn:
        campaign = run_and_campaign(conn, run_id)
        kind = CampaignKind(campaign.kind)
        if kind not in PLANNED_KINDS:
            raise BadInput(_("{kind} tasks are not planned by a campaign")
                           .format(kind=kind.value))
        due, attempts = settings(campaign.due_days if due_days is None else due_days,
                                 campaign.max_attempts if max_attempts is None else max_attempts)
        check_window(kind, within_days)
        chains = tree.chains(conn)
        branches = None if branch_id is None else tree.subtree(chains, branch_id)
        # PostgreSQL: serialise planners from here on (SQLite writers already are), so the
        # targets read below are still without a task when the INSERT runs.
        if shard is None:
            lock(conn, ASSIGN_LOCK)
        else:  # a shard: beside the other shards of the run, not beside other planners
            branches = shard.targets(chains, within=branches)
            shards.lock(conn, chains, shard)
        params: dict = {"lo": lo, "hi": hi, "run": run_id, "kind": kind.value,
                        **target_params(kind, today, within_days or campaign.window_days,
                                        within_days or campaign.cadence_days)}
        found = fetch(conn, f"""
            SELECT m.id, m.branch_id, m.last_reached_by, {state_sql()}
            FROM members m WHERE {target_sql(kind, branches)}
            ORDER BY m.id""", params)
        counts = {TO_PLAN: 0, IN_RUN: 0, BUSY: 0}
        todo: list[tuple[int, int, int | None]] = []
        for mid, branch, last, state in found:
            counts[state] += 1
            if state == TO_PLAN:
                todo.append((mid, branch, last))
        del found
        created, by_reason = 0, counts_by_reason([])
        if todo:
            volunteers = volunteers_with_room(conn, todo, chains)
            if shard is not None:
                volunteers = shard.own(volunteers, chains)
            picks = (match(todo, volunteers, chains) if volunteers
                     else [(k, None, 0) for k, _b, _l in todo])
            del todo
            by_reason = counts_by_reason(picks)
            crashpoints.reach("plan.matched")
            write_picks(conn, picks)
            del picks
            created = insert_tasks(conn, run_id, kind.value, attempts,
                                    today + dt.timedelta(days=due),
                                    closes_on(campaign.period, today, due), made_at(today))
            crashpoints.reach("plan.written")
    crashpoints.reach("plan.committed")
    n_assigned = by_reason[CONTINUITY] + by_reason[OWN] + by_reason[PARENT]
    return {
        "lo": lo, "hi": hi,
        "targeted": counts[TO_PLAN] + counts[IN_RUN],
        "created": created,
        "assigned": n_assigned,
        "continuity": by_reason[CONTINUITY],
        "parent": by_reason[PARENT],
        "unassigned": created - n_assigned,
        "busy": counts[BUSY],
    }


def assign_open(engine: Engine, run_id: int | None = None, *,
                batch_size: int = DEFAULT_BATCH) -> dict:
    """Hand out open planned tasks, notices and make-up studies (`plan.HANDED_OUT_KINDS`;
    of one run, or all) to volunteers who now have room.

    Same rule as planning (`match`: continuity, own branch then up the tree, least loaded
    first); open → assigned by one set-based UPDATE per batch whose history the triggers
    write. One short transaction per batch of task ids; nothing when nobody has room.
    Returns counts ``assigned``, ``continuity``, ``parent`` and ``still_open``.

    The branches where some volunteer has room are read once, when the hand-out begins: a
    task none of whose branches (its member's and those above) is one of them is passed
    over without reading any load: nobody could take it, and room only shrinks as tasks
    are handed out. (Room a volunteer gains meanwhile is used by the next hand-out: the
    daily follow-up runs one.) At 5,000,000 members most of a survey's leftovers were of
    branches whose volunteers were all full, and every batch read every load: 88 s for
    nothing handed out.
    """
    kinds = ", ".join(f"'{k.value}'" for k in HANDED_OUT_KINDS)
    run_filter = "" if run_id is None else " AND t.run_id = :run"
    params = {} if run_id is None else {"run": run_id}
    with engine.connect() as conn:
        lo, hi = conn.execute(text(
            f"SELECT MIN(t.id), MAX(t.id) FROM outreach_tasks t "
            f"WHERE t.status = '{OPEN}' AND t.kind IN ({kinds}){run_filter}"), params).one()
        room = ({branch for branch, _cap, _load in volunteers_with_room(conn).values()}
                if lo is not None else set())
    totals = {"assigned": 0, "continuity": 0, "parent": 0}
    if room:
        for start in range(lo, hi + 1, batch_size):
            with writer(engine).begin() as conn:
                lock(conn, ASSIGN_LOCK)
                found = conn.execute(text(f"""
                    SELECT t.id, m.branch_id, m.last_reached_by, t.released_by
                    FROM outreach_tasks t JOIN members m ON m.id = t.member_id
                    WHERE t.id >= :lo AND t.id < :hi AND t.status = '{OPEN}'
                      AND t.kind IN ({kinds}){run_filter}
                    ORDER BY t.id"""), {**params, "lo": start, "hi": start + batch_size}).all()
                if not found:
                    continue
                chains = tree.chains(conn)
                # only the tasks of branches where somebody (in them or above) had room
                rows = [(key, branch, last) for key, branch, last, _who in found
                        if not room.isdisjoint(chains.get(branch) or (branch,))]
                # whoever handed a task back does not get it again (a coordinator may give it)
                barred = {key: who for key, _b, _l, who in found if who is not None}
                if not rows:
                    continue
                volunteers = volunteers_with_room(conn, rows, chains)
                if not volunteers:
                    continue  # their room was taken since the hand-out began
                picks = [p for p in match(rows, volunteers, chains, barred) if p[2]]
                if not picks:
                    continue
                write_picks(conn, picks)
                analyze(conn, "plan_pick")
                conn.exec_driver_sql(f"""
                    UPDATE outreach_tasks SET
                        status = '{ASSIGNED}', volunteer_id = p.volunteer_id,
                        status_by = NULL, status_reason = {REASON_SQL},
                        version = outreach_tasks.version + 1
                    FROM plan_pick p
                    WHERE outreach_tasks.id = p.key AND outreach_tasks.status = '{OPEN}'""")
                crashpoints.reach("assign.written")
                by_reason = counts_by_reason(picks)
                totals["assigned"] += len(picks)
                totals["continuity"] += by_reason[CONTINUITY]
                totals["parent"] += by_reason[PARENT]
    with engine.connect() as conn:
        totals["still_open"] = conn.execute(text(
            f"SELECT COUNT(*) FROM outreach_tasks t "
            f"WHERE t.status = '{OPEN}' AND t.kind IN ({kinds}){run_filter}"),
            params).scalar_one()
    return totals


# --- the whole run --------------------------------------------------------------------------


def plan_and_assign(spans: list[tuple[int, int]], plan_one: Callable[[int, int], dict],
                    assign_rest: Callable[[], dict], *,
                    step: Callable[[], None] | None = None) -> dict:
    """The body of a whole run: ``plan_one(lo, hi)`` for every range in turn, then
    ``assign_rest()`` (hand out what was left open). `plan_campaign` passes `plan_range`
    and `assign_open`; the flows pass their Prefect tasks wrapping the same functions.

    Returns the summed counts of the ranges, ``ranges``, ``assigned_later`` (handed out by
    ``assign_rest``) and ``still_open`` (open tasks of the run afterwards).
    """
    totals = {"ranges": 0, "targeted": 0, "created": 0, "assigned": 0, "continuity": 0,
              "parent": 0, "unassigned": 0, "busy": 0}
    for lo, hi in spans:
        counts = plan_one(lo, hi)
        totals["ranges"] += 1
        for key, value in counts.items():
            if key not in ("lo", "hi"):
                totals[key] = totals.get(key, 0) + value
        if step is not None:
            step()
    rest = assign_rest()
    totals["assigned_later"] = rest.get("assigned", 0)
    totals["still_open"] = rest.get("still_open", 0)
    return totals


def plan_campaign(engine: Engine, kind: CampaignKind | str, period: str, *, today: dt.date,
                  branch_id: int | None = None, material: str | None = None,
                  batch_size: int = DEFAULT_BATCH, within_days: int | None = None,
                  due_days: int | None = None, max_attempts: int | None = None) -> dict:
    """Open the run, plan every range in turn and hand out leftovers (`plan_and_assign`).

    Returns the run id and the counts of `plan_and_assign`.
    """
    # Refused before anything is written (plan_range checks them again, per range).
    check_window(check_planned(kind), within_days)
    settings(1 if due_days is None else due_days, 1 if max_attempts is None else max_attempts)
    with Session(writer(engine), expire_on_commit=False) as session, session.begin():
        run_id = open_run(session, kind, period, material=material).id

    def plan_one(lo: int, hi: int) -> dict:
        return plan_range(engine, run_id, lo, hi, today=today, branch_id=branch_id,
                          within_days=within_days, due_days=due_days,
                          max_attempts=max_attempts)

    totals = plan_and_assign(id_ranges(engine, size=batch_size), plan_one,
                             lambda: assign_open(engine, run_id, batch_size=batch_size))
    return {"run_id": run_id, **totals}


def preview(engine: Engine, kind: CampaignKind | str, period: str, *, today: dt.date,
            branch_id: int | None = None, within_days: int | None = None) -> list[dict]:
    """A dry run: per branch, how many tasks the run would make now; writes nothing.

    ``targeted`` counts exactly the members `plan_range` would give a task — the rule's
    members without a task in this period's run and without an open task of the same kind
    elsewhere; ``busy`` the members skipped for such an open task, ``planned`` those who
    already have a task in the run. Same targeting and state expressions as `plan_range`.
    """
    kind = check_planned(kind)
    period = check_period(period)
    check_window(kind, within_days)
    with engine.connect() as conn:
        camp = conn.execute(select(Campaign.id, Campaign.window_days, Campaign.cadence_days)
                            .where(Campaign.name == kind.value)).first()
        cols = Campaign.__table__.c
        window = within_days or (camp.window_days if camp else cols.window_days.default.arg)
        cadence = within_days or (camp.cadence_days if camp else cols.cadence_days.default.arg)
        run_id = -1  # no run yet: nobody has a task in it
        if camp is not None:
            found = conn.execute(text(
                "SELECT id FROM campaign_runs WHERE campaign_id = :c AND period = :p"),
                {"c": camp.id, "p": period}).scalar()
            run_id = found if found is not None else -1
        lo, hi = conn.execute(select(func.min(Member.id), func.max(Member.id))).one()
        if lo is None:
            return []
        branches = None
        if branch_id is not None:
            branches = tree.subtree(tree.chains(conn), branch_id)
        params: dict = {"lo": lo, "hi": hi + 1, "kind": kind.value, "run": run_id,
                        **target_params(kind, today, window, cadence)}
        stmt = text(f"""
            SELECT b.id, b.name,
                   SUM(CASE WHEN s.state = {TO_PLAN} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN s.state = {BUSY} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN s.state = {IN_RUN} THEN 1 ELSE 0 END)
            FROM (SELECT m.branch_id AS branch_id, {state_sql()} AS state
                  FROM members m WHERE {target_sql(kind, branches)}) s
            JOIN branches b ON b.id = s.branch_id
            GROUP BY b.id, b.name ORDER BY b.name""")
        if "since" in params:
            stmt = stmt.bindparams(bindparam("since", type_=Date))
        return [{"branch_id": r[0], "branch": r[1], "targeted": int(r[2] or 0),
                 "busy": int(r[3] or 0), "planned": int(r[4] or 0)}
                for r in conn.execute(stmt, params)]

