"""Sharded planning jobs: split a campaign run into shards (`tasks.campaigns.shards`) and plan each.

Transactions: every function here that takes an Engine either only reads (`split`) or
plans through `tasks.campaigns.plan_jobs.plan_range` (one transaction per range of member ids,
committed before the next) and `tasks.campaigns.plan_jobs.assign_open`; a crash leaves whole
ranges behind, and the rerun — sharded or not — plans what is left.

A shard plans the same ranges of member ids as an unsharded run (every range from the
lowest member id, ``batch_size`` ids each), in id order, restricted to its own branches
and volunteers; so sharded and unsharded runs of the same campaign make the same tasks,
assigned to the same volunteers. The campaign flows run each shard as its own flow run
on the work pool (PostgreSQL); `plan_sharded` runs them one after another, in this
process — the same planning, for tests and scripts.
"""

from __future__ import annotations

import datetime as dt
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.db.models import Member, Volunteer
from outreach.db.session import writer
from outreach.tasks.ledger import tree
from outreach.tasks.work.assign import ASSIGNABLE_ROLES
from outreach.tasks.campaigns.plan import DEFAULT_BATCH, check_planned, open_run, settings
from outreach.tasks.campaigns.plan_jobs import assign_open, id_ranges, plan_range
from outreach.tasks.campaigns.rules import check_window
from outreach.tasks.campaigns.shards import PARTS_PER_SHARD, Shard, add, pack, parts, plan_ranges


def split(engine: Engine, *, count: int, branch_id: int | None = None) -> list[Shard]:
    """The run cut into at most ``count`` shards of about as many members each (members
    under ``branch_id`` only, if given); fewer when the tree cannot be cut so far (one
    staffed root: one shard). Reads only: the branch tree, which branches are staffed
    and how many members each holds."""
    v = Volunteer
    with engine.connect() as conn:
        parent = tree.parents(conn)
        staffed = set(conn.scalars(
            select(v.branch_id).where(v.active.is_(True), v.role.in_(ASSIGNABLE_ROLES),
                                      v.capacity > 0).distinct()))
        held = dict(conn.execute(select(Member.branch_id, func.count())
                                 .group_by(Member.branch_id)).all())
        if branch_id is not None:
            under = set(tree.subtree(tree.chains_of(parent), branch_id))
            held = {b: n for b, n in held.items() if b in under}
    return pack(parts(parent, staffed, held, want=count * PARTS_PER_SHARD), count)


def plan_sharded(engine: Engine, kind: str, period: str, *, today: dt.date, shards: int,
                 branch_id: int | None = None, material: str | None = None,
                 batch_size: int = DEFAULT_BATCH, within_days: int | None = None,
                 due_days: int | None = None, max_attempts: int | None = None) -> dict:
    """`tasks.campaigns.plan_jobs.plan_campaign` in ``shards`` shards, one after another: open the
    run, plan every shard (`tasks.campaigns.shards.plan_ranges`), hand out leftovers. PostgreSQL
    and SQLite alike (the flows shard on PostgreSQL only). Returns the run id, ``shards``
    and the counts."""
    check_window(check_planned(kind), within_days)
    settings(1 if due_days is None else due_days, 1 if max_attempts is None else max_attempts)
    with Session(writer(engine), expire_on_commit=False) as session, session.begin():
        run_id = open_run(session, kind, period, material=material).id
    ranges = id_ranges(engine, size=batch_size)
    found = split(engine, count=shards, branch_id=branch_id)
    totals: dict = {"ranges": 0}
    for shard in found:
        add(totals, plan_ranges(ranges, lambda lo, hi, shard=shard: plan_range(
            engine, run_id, lo, hi, today=today, branch_id=branch_id,
            within_days=within_days, due_days=due_days, max_attempts=max_attempts,
            shard=shard)))
    rest = assign_open(engine, run_id, batch_size=batch_size)
    return {"run_id": run_id, "shards": len(found), **totals,
            "assigned_later": rest.get("assigned", 0), "still_open": rest.get("still_open", 0)}
